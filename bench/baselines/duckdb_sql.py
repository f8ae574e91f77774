"""Yardstick: the day's ingest, dedupe and daily volume as DuckDB SQL.

python -m bench.baselines.duckdb_sql --raw RAW_ROOT --date D --out DIR [--threads 2]

Every line is read as text, parsed with DuckDB's JSON functions, validated with
TRY_CAST and regular expressions, deduplicated with a window (latest timestamp wins,
exact copies dropped, other versions rejected), written to Parquet, and aggregated
into the daily volume. Numbers are DuckDB's JSON parsing, not the contract's exact
text path. Not product code.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

import duckdb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baselines.duckdb_sql")
    parser.add_argument("--raw", required=True, type=Path, help="raw root")
    parser.add_argument("--date", required=True, type=date.fromisoformat)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    started = time.monotonic()
    folder = args.raw / "trades" / f"date={args.date.isoformat()}"
    files = [str(p) for p in sorted(folder.glob("*.jsonl"))]
    args.out.mkdir(parents=True, exist_ok=True)
    db = duckdb.connect()
    db.execute(f"SET threads = {int(args.threads)}")
    db.execute("SET preserve_insertion_order = false")
    day = args.date.isoformat()
    db.execute(
        """
        CREATE TEMP TABLE lines AS
        SELECT line FROM read_csv(?, columns = {'line': 'VARCHAR'}, delim = chr(1), quote = '',
                                  escape = '', header = false, auto_detect = false)
        WHERE trim(line) <> ''
        """,
        [files],
    )
    db.execute(
        f"""
        CREATE TEMP TABLE validated AS
        WITH objects AS (
            SELECT line, CASE WHEN json_valid(line) THEN line END AS j FROM lines
        ), checked AS (
            SELECT line, coalesce(json_type(j) = 'OBJECT', false) AS is_object,
                   CASE WHEN json_type(j) = 'OBJECT' THEN j END AS j
            FROM objects
        ), parsed AS (
            SELECT line, is_object,
                   nullif(trim(j ->> '$.trade_id'), '') AS trade_id,
                   upper(nullif(trim(j ->> '$.symbol'), '')) AS symbol,
                   lower(nullif(trim(j ->> '$.side'), '')) AS side,
                   TRY_CAST(trim(j ->> '$.price') AS DECIMAL(38, 18)) AS price,
                   TRY_CAST(trim(j ->> '$.quantity') AS DECIMAL(38, 18)) AS quantity,
                   TRY_CAST(trim(j ->> '$.timestamp') AS TIMESTAMPTZ) AS traded_at,
                   nullif(trim(j ->> '$.exchange'), '') AS exchange
            FROM checked
        )
        SELECT *,
               CASE WHEN NOT is_object THEN ['malformed_record']
               ELSE list_filter([
                   CASE WHEN trade_id IS NULL THEN 'trade_id_missing' END,
                   CASE WHEN symbol IS NULL OR NOT regexp_full_match(symbol, '[A-Z0-9_-]+')
                        THEN 'symbol_invalid' END,
                   CASE WHEN side IS NULL OR side NOT IN ('buy', 'sell') THEN 'side_invalid' END,
                   CASE WHEN price IS NULL OR price <= 0 OR price >= 1000000
                        OR price <> TRY_CAST(price AS DECIMAL(18, 8)) THEN 'price_invalid' END,
                   CASE WHEN quantity IS NULL OR quantity <= 0 OR quantity > 1000000000
                        OR quantity <> TRY_CAST(quantity AS DECIMAL(18, 8))
                        THEN 'quantity_invalid' END,
                   CASE WHEN traded_at IS NULL THEN 'timestamp_invalid'
                        WHEN traded_at < TIMESTAMPTZ '{day} 00:00:00+00'
                          OR traded_at >= TIMESTAMPTZ '{day} 00:00:00+00' + INTERVAL 1 DAY
                        THEN 'timestamp_outside_partition' END,
                   CASE WHEN exchange IS NULL THEN 'exchange_missing' END
               ], lambda r: r IS NOT NULL) END AS reasons
        FROM parsed
        """
    )
    db.execute(
        """
        CREATE TEMP TABLE classified AS
        WITH ranked AS (
            SELECT *,
                   row_number() OVER w AS rank,
                   first_value(struct_pack(symbol, side, price, quantity, traded_at, exchange))
                       OVER w AS winner
            FROM validated WHERE len(reasons) = 0
            WINDOW w AS (PARTITION BY trade_id ORDER BY traded_at DESC, symbol, side, price,
                         quantity, exchange, line)
        )
        SELECT line, trade_id, symbol, side, price::DECIMAL(18, 8) AS price,
               quantity::DECIMAL(18, 8) AS quantity, traded_at, exchange,
               CASE WHEN rank = 1 THEN 'loaded'
                    WHEN struct_pack(symbol, side, price, quantity, traded_at, exchange) = winner
                    THEN 'duplicate' ELSE 'rejected' END AS status,
               CASE WHEN rank = 1 OR struct_pack(symbol, side, price, quantity, traded_at,
                    exchange) = winner THEN [] ELSE ['duplicate_conflict'] END AS reasons
        FROM ranked
        UNION ALL
        SELECT line, trade_id, symbol, side, NULL, NULL, traded_at, exchange, 'rejected', reasons
        FROM validated WHERE len(reasons) > 0
        """
    )
    out = args.out
    db.execute(
        f"""COPY (SELECT trade_id, symbol, side, price, quantity, traded_at, exchange
                  FROM classified WHERE status = 'loaded' ORDER BY symbol, traded_at)
            TO '{out / "trades.parquet"}' (FORMAT parquet)"""
    )
    db.execute(
        f"""COPY (SELECT line AS record, reasons FROM classified WHERE status = 'rejected')
            TO '{out / "trades_rejected.parquet"}' (FORMAT parquet)"""
    )
    db.execute(
        f"""COPY (SELECT DATE '{day}' AS trade_date, symbol, count(*) AS trade_count,
                         sum(quantity) AS volume,
                         sum(price::DECIMAL(20, 8) * quantity) AS notional
                  FROM classified WHERE status = 'loaded' GROUP BY symbol ORDER BY symbol)
            TO '{out / "daily_volume.parquet"}' (FORMAT parquet)"""
    )
    counts = db.execute(
        "SELECT count(*) FILTER (status = 'loaded'), count(*) FILTER (status = 'rejected'), "
        "count(*) FILTER (status = 'duplicate') FROM classified"
    ).fetchone()
    assert counts is not None
    print(
        json.dumps(
            {
                "loaded": counts[0],
                "rejected": counts[1],
                "duplicates_dropped": counts[2],
                "seconds": round(time.monotonic() - started, 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
