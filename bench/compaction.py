"""Scan time of one partition of many small files, before and after compaction.

./spark-submit.sh bench/compaction.py --date D --rows N --files 200

Writes N trades into partition D of ``trades`` as ``--files`` small files (one commit,
as many tiny appends or an unsorted writer leave them), times a full-column scan of
the partition, compacts it with the product's ``maintenance.rewrite_data_files`` (what
``jobs/compact.py`` runs), and times the same scan again. Each timing is the median of
``--repeats`` runs in the same session (the first, cold run included in the list).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import date
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from tradelake import maintenance
from tradelake.config import load_settings
from tradelake.session import build_session
from tradelake.tables import TRADES, ensure_tables

SYMBOLS = ("AAPL", "MSFT", "BTC-USD", "ES_F", "NVDA", "JPM", "ETH-USD", "AMZN", "TSLA", "KO")


def scan(spark: SparkSession, table: str, day: date) -> tuple[float, list[Any]]:
    """Read every column of the partition (aggregated on the executors); seconds, result."""
    started = time.monotonic()
    rows = spark.sql(
        f"SELECT symbol, count(*) AS n, sum(price * quantity) AS notional, "
        f"count(DISTINCT trade_id) AS ids, max(traded_at) AS last, max(exchange) AS ex, "
        f"max(side) AS side, max(source_file) AS src FROM {table} "
        f"WHERE trade_date = DATE'{day.isoformat()}' GROUP BY symbol ORDER BY symbol"
    ).collect()
    return time.monotonic() - started, [tuple(row) for row in rows]


def data_files(spark: SparkSession, table: str, day: date) -> int:
    row = spark.sql(
        f"SELECT count(*) AS n FROM {table}.files "
        f"WHERE partition.trade_date = DATE'{day.isoformat()}'"
    ).first()
    return int(row["n"]) if row is not None else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/compaction.py")
    parser.add_argument("--date", required=True, type=date.fromisoformat)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    settings = load_settings()
    spark = build_session(settings, "bench-compaction")
    ensure_tables(spark, settings, TRADES)
    table = settings.table(TRADES.name)
    n = args.rows
    second = F.col("id") * F.lit(86_399) / F.lit(n)
    values = {
        "trade_id": F.concat(F.lit("B-"), F.col("id").cast("string")),
        "symbol": F.element_at(F.array(*map(F.lit, SYMBOLS)), (F.col("id") % 10 + 1).cast("int")),
        "side": F.when(F.col("id") % 2 == 0, "buy").otherwise("sell"),
        "price": ((F.col("id") * 7919 % 1_000_000) / 100 + 1).cast("decimal(18,8)"),
        "quantity": ((F.col("id") % 500) + 1).cast("decimal(18,8)"),
        "traded_at": F.timestamp_seconds(
            F.unix_timestamp(F.lit(f"{args.date.isoformat()} 00:00:00")) + second.cast("long")
        ),
        "exchange": F.lit("XNAS"),
        "trade_date": F.lit(args.date),
        "source_file": F.lit("bench://compaction"),
        "run_id": F.lit("bench"),
        "ingested_at": F.current_timestamp(),
    }
    columns = spark.table(table).schema
    rows = spark.range(n).select(
        *[values.get(f.name, F.lit(None)).cast(f.dataType).alias(f.name) for f in columns.fields]
    )
    # Unsorted and spread over --files tasks: one small file per task.
    rows.repartition(args.files).writeTo(table).option("distribution-mode", "none").overwrite(
        F.col("trade_date") == F.lit(args.date)
    )
    files_before = data_files(spark, table, args.date)
    before = [scan(spark, table, args.date) for _ in range(args.repeats)]
    started = time.monotonic()
    rewrite = maintenance.rewrite_data_files(
        spark, settings, TRADES, maintenance.PartitionScope(day=args.date), dry_run=False
    )
    compaction_seconds = time.monotonic() - started
    files_after = data_files(spark, table, args.date)
    after = [scan(spark, table, args.date) for _ in range(args.repeats)]
    same = all(result == before[0][1] for _, result in before + after)
    before_s = [round(s, 3) for s, _ in before]
    after_s = [round(s, 3) for s, _ in after]
    print(
        json.dumps(
            {
                "rows": n,
                "files_before": files_before,
                "files_after": files_after,
                "scan_seconds_before": before_s,
                "scan_seconds_after": after_s,
                "scan_median_before": statistics.median(before_s),
                "scan_median_after": statistics.median(after_s),
                "compaction_seconds": round(compaction_seconds, 3),
                "rewrite": rewrite,
                "same_result": same,
            }
        )
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
