"""How long the operations report takes to build, on the demo lake and on a long history.

    python -m bench.report_history build DIR [--days 30] [--trades-per-day 1000000]
                                             [--symbols 100] [--end 2025-01-30]
    python -m bench.report_history time [--lake DIR] [--since D] [--until D] [--runs 3]

``build`` writes, with pyiceberg, the tables the report reads as a daily history would
leave them, one commit per day and table: ``job_runs`` (ingest, daily_volume and ohlcv
each day, with full summaries), ``quality_results`` (the checks of those runs),
``trades_rejected`` (3% of the day's trades, ~200-byte records), ``daily_volume`` (one
row per symbol) and ``ohlcv_1m`` (symbols x 1440 bars). The rows are synthetic; their
counts and sizes are those of a day of ``--trades-per-day`` trades. ``trades`` is
created empty: the report never reads it.

``time`` runs ``python -m tradelake.report html`` as a user would (a new process each
time, imports included) against ``--lake DIR`` or, without it, the configured lake (the
demo's ``./lake``), and prints one JSON line: wall seconds of each run and the file size.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.lakes import Lake

REPO = Path(__file__).resolve().parents[1]
DATABASE = "trading"
REJECT_SHARE = 0.03
DUPLICATE_SHARE = 0.02
REASONS = (
    "price_out_of_range",
    "timestamp_invalid",
    "symbol_invalid",
    "side_invalid",
    "quantity_out_of_range",
    "malformed_record",
    "duplicate_conflict",
)


def _catalog(root: Path) -> Any:
    """pyiceberg's catalog of an embedded lake in ``root`` (the tests' lake, tests/lakes.py)."""
    lake = Lake(root, DATABASE)
    lake.warehouse.mkdir(parents=True, exist_ok=True)
    return lake.catalog()


def _scaled(values: list[int], scale: str, precision: int) -> Any:
    """Integers in units of ``scale`` as an exact DECIMAL(precision, 8) array."""
    import pyarrow as pa
    import pyarrow.compute as pc

    units = pa.array(values, pa.int64()).cast(pa.decimal128(19, 0))
    step = pa.scalar(Decimal(scale), pa.decimal128(9, 8))
    return pc.multiply(units, step).cast(pa.decimal128(precision, 8))


def _bars_template(symbols: list[str], trades: int, rng: random.Random) -> dict[str, Any]:
    """One day of 1-minute bars (symbols x 1440), reused for every day with its dates moved."""
    import pyarrow as pa

    per_bar = max(1, trades // (len(symbols) * 1440))
    opens, highs, lows, closes, volumes = [], [], [], [], []
    for _ in symbols:
        price = rng.randint(1_000, 500_000)  # cents
        for _ in range(1440):
            move = rng.randint(-50, 50)
            close = max(100, price + move)
            opens.append(price)
            closes.append(close)
            highs.append(max(price, close) + rng.randint(0, 20))
            lows.append(max(1, min(price, close) - rng.randint(0, 20)))
            volumes.append(rng.randint(1, 500) * per_bar)
            price = close
    return {
        "symbol": pa.array([s for s in symbols for _ in range(1440)], pa.string()),
        "minute": [m for _ in symbols for m in range(1440)],
        "open": _scaled(opens, "0.01", 18),
        "high": _scaled(highs, "0.01", 18),
        "low": _scaled(lows, "0.01", 18),
        "close": _scaled(closes, "0.01", 18),
        "volume": _scaled(volumes, "1", 28),
        "trade_count": pa.array([per_bar] * len(opens), pa.int64()),
        "vwap": _scaled(closes, "0.01", 18),
    }


def _bars_of(day: date, template: dict[str, Any], schema: Any) -> Any:
    import pyarrow as pa

    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    rows = len(template["minute"])
    columns = {
        "trade_date": pa.array([day] * rows, pa.date32()),
        "symbol": template["symbol"],
        "bar_start": pa.array(
            [start + timedelta(minutes=m) for m in template["minute"]], pa.timestamp("us", "UTC")
        ),
        **{k: template[k] for k in ("open", "high", "low", "close", "volume", "trade_count")},
        "vwap": template["vwap"],
        "run_id": pa.array([f"ohlcv-{day}"] * rows, pa.string()),
    }
    return pa.Table.from_pydict(columns, schema=schema)


def _rejects_of(day: date, count: int, rng: random.Random, schema: Any) -> Any:
    import pyarrow as pa

    rejected_at = datetime(day.year, day.month, day.day, 2, tzinfo=UTC) + timedelta(days=1)
    records, reasons = [], []
    for n in range(count):
        reason = REASONS[rng.randrange(len(REASONS))]
        records.append(
            f'{{"trade_id": "T{day:%Y%m%d}-{n:07d}", "symbol": "S{n % 97:03d}", '
            f'"side": "buy", "price": "{-rng.randint(1, 99999) / 100}", "quantity": '
            f'"{rng.randint(1, 999)}", "timestamp": "{day}T{n % 24:02d}:{n % 60:02d}:07Z", '
            f'"exchange": "XNAS", "client_tag": "batch-{n % 13}"}}'
        )
        reasons.append([reason] if n % 5 else [reason, "timestamp_invalid"])
    return pa.Table.from_pydict(
        {
            "ingest_date": pa.array([day] * count, pa.date32()),
            "run_id": pa.array([f"ingest-{day}"] * count, pa.string()),
            "source_file": pa.array(
                [f"raw/trades/date={day}/part-{n % 8}.jsonl" for n in range(count)]
            ),
            "record": pa.array(records, pa.string()),
            "reasons": pa.array(reasons, pa.list_(pa.string())),
            "rejected_at": pa.array([rejected_at] * count, pa.timestamp("us", "UTC")),
        },
        schema=schema,
    )


GOLD = ("reconcile_trade_count", "reconcile_volume", "ohlc_ordered", "no_null_keys")


def _check(name: str, severity: str, observed: Any, threshold: str) -> dict[str, Any]:
    return {
        "check": name,
        "severity": severity,
        "passed": True,
        "observed": observed,
        "threshold": threshold,
    }


def _runs_and_checks(day: date, trades: int, loaded_median: int) -> tuple[list[dict], list[dict]]:
    rejected = round(trades * REJECT_SHARE)
    duplicates = round(trades * DUPLICATE_SHARE)
    read = trades + rejected + duplicates
    started = datetime(day.year, day.month, day.day, 1, tzinfo=UTC) + timedelta(days=1)
    reasons = {reason: rejected // len(REASONS) for reason in REASONS}
    band = f"within [{loaded_median * 0.5:g}, {loaded_median * 1.5:g}]"
    quality = [
        _check("record_count", "error", trades, "> 0"),
        _check("trade_id_unique", "error", 0, "0 loaded rows sharing a trade_id"),
        _check("required_not_null", "error", 0, "0 rows with a null required column"),
        _check("reject_ratio", "error", round(rejected / read, 6), "<= 0.1"),
        _check("freshness", "warn", 0.25, "<= 6.0 h between the latest trade and the day's end"),
        _check("volume_anomaly", "warn", trades, f"{band} (median {loaded_median:g} of 14 days)"),
    ]
    ingest = {
        "run_id": f"ingest-{day}",
        "job": "ingest",
        "date": day.isoformat(),
        "files": {"read": 8, "empty": 0, "ignored": 1, "unreadable": 0},
        "unreadable_files": [],
        "records_read": read,
        "loaded": trades,
        "duplicates_dropped": duplicates,
        "rejected": rejected,
        "rejected_by_reason": reasons,
        "schema_drift": {"records": 812, "fields": ["client_tag"]},
        "conservation_ok": True,
        "quality": quality,
        "status": "ok",
        "exit_code": 0,
        "published": True,
        "seconds": 41.5,
    }
    runs, checks = [], []
    for offset, (job, summary) in enumerate(
        (
            ("ingest", ingest),
            ("daily_volume", {"run_id": f"daily_volume-{day}", "status": "ok", "exit_code": 0}),
            ("ohlcv", {"run_id": f"ohlcv-{day}", "status": "ok", "exit_code": 0}),
        )
    ):
        at = started + timedelta(minutes=10 * offset)
        runs.append(
            {
                "run_id": summary["run_id"],
                "job": job,
                "run_date": day,
                "status": "ok",
                "exit_code": 0,
                "published": True,
                "started_at": at,
                "seconds": 41.5 if job == "ingest" else 12.0,
                "summary": json.dumps(summary),
            }
        )
        job_checks = (
            quality if job == "ingest" else [_check(name, "error", 0, "0") for name in GOLD]
        )
        checks += [
            {
                "run_id": summary["run_id"],
                "job": job,
                "table_name": "trades" if job == "ingest" else job,
                "check_date": day,
                "check": check["check"],
                "severity": check["severity"],
                "passed": check["passed"],
                "observed": json.dumps(check["observed"]),
                "threshold": check["threshold"],
                "recorded_at": at,
            }
            for check in job_checks
        ]
    return runs, checks


def build(root: Path, days: int, trades: int, symbols: int, end: date, seed: int) -> dict[str, Any]:
    """Write the history; returns the rows written per table and the seconds it took."""
    from tradelake.spec_schema import append_rows, create_table
    from tradelake.tables import (
        DAILY_VOLUME,
        JOB_RUNS,
        QUALITY_RESULTS,
        TRADES,
        TRADES_REJECTED,
        ohlcv_spec,
    )

    started = time.monotonic()
    rng = random.Random(seed)
    catalog = _catalog(root)
    tables = {
        spec.name: create_table(catalog, DATABASE, spec)
        for spec in (
            JOB_RUNS,
            QUALITY_RESULTS,
            TRADES_REJECTED,
            DAILY_VOLUME,
            ohlcv_spec("1m"),
            TRADES,
        )
    }
    names = [f"S{n:03d}" for n in range(symbols)]
    template = _bars_template(names, trades, rng)
    written = {name: 0 for name in tables if name != "trades"}
    for k in range(days):
        day = end - timedelta(days=days - 1 - k)
        runs, checks = _runs_and_checks(day, trades, trades)
        append_rows(tables["job_runs"], runs)
        append_rows(tables["quality_results"], checks)
        rejects = _rejects_of(
            day, round(trades * REJECT_SHARE), rng, tables["trades_rejected"].schema().as_arrow()
        )
        tables["trades_rejected"].append(rejects)
        per_symbol = trades // symbols
        price = Decimal("100.00000000")
        append_rows(
            tables["daily_volume"],
            [
                {
                    "trade_date": day,
                    "symbol": name,
                    "trade_count": per_symbol + n,
                    "total_volume": Decimal(250 * (per_symbol + n)),
                    "avg_price": price,
                    "vwap": price,
                    "low_price": price - 1,
                    "high_price": price + 1,
                    "open_price": price,
                    "close_price": price,
                    "run_id": f"daily_volume-{day}",
                }
                for n, name in enumerate(names)
            ],
        )
        bars = _bars_of(day, template, tables["ohlcv_1m"].schema().as_arrow())
        tables["ohlcv_1m"].append(bars)
        written["job_runs"] += len(runs)
        written["quality_results"] += len(checks)
        written["trades_rejected"] += rejects.num_rows
        written["daily_volume"] += symbols
        written["ohlcv_1m"] += bars.num_rows
        print(f"report_history: {day} written", file=sys.stderr)
    return {"rows": written, "seconds": round(time.monotonic() - started, 1)}


def time_report(
    lake: Path | None, since: str | None, until: str | None, runs: int, out: Path
) -> dict[str, Any]:
    """Wall seconds of ``python -m tradelake.report html``, each run a new process."""
    env = dict(os.environ)
    if lake is not None:
        env.update(
            TRADELAKE_ENV="local",
            TRADELAKE_CATALOG_TYPE="jdbc",
            TRADELAKE_CATALOG_URI=f"jdbc:sqlite:{lake / 'catalog.db'}",
            TRADELAKE_WAREHOUSE=str(lake / "warehouse"),
            TRADELAKE_DATABASE=DATABASE,
        )
    command = [sys.executable, "-m", "tradelake.report", "html", "--out", str(out)]
    command += [*(["--since", since] if since else []), *(["--until", until] if until else [])]
    seconds, printed = [], ""
    for _ in range(runs):
        started = time.monotonic()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        seconds.append(round(time.monotonic() - started, 2))
        printed = done.stdout.strip()
    return {
        "command": " ".join(command[1:]),
        "seconds": seconds,
        "median_seconds": statistics.median(seconds),
        "bytes": out.stat().st_size,
        "printed": printed,
        "cpus": os.cpu_count(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report_history", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build_command = commands.add_parser("build", help="write a synthetic history")
    build_command.add_argument("dir", type=Path)
    build_command.add_argument("--days", type=int, default=30)
    build_command.add_argument("--trades-per-day", type=int, default=1_000_000)
    build_command.add_argument("--symbols", type=int, default=100)
    build_command.add_argument("--end", type=date.fromisoformat, default=date(2025, 1, 30))
    build_command.add_argument("--seed", type=int, default=7)
    time_command = commands.add_parser("time", help="time the report of a lake")
    time_command.add_argument("--lake", type=Path, help="a lake built here (default: configured)")
    time_command.add_argument("--since")
    time_command.add_argument("--until")
    time_command.add_argument("--runs", type=int, default=3)
    time_command.add_argument("--out", type=Path, default=REPO / "build" / "report-bench.html")
    args = parser.parse_args(argv)
    if args.command == "build":
        if (args.dir / "catalog.db").exists():
            print(
                f"report_history: {args.dir} already holds a lake; remove it first", file=sys.stderr
            )
            return 2
        result = build(args.dir, args.days, args.trades_per_day, args.symbols, args.end, args.seed)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        result = time_report(args.lake, args.since, args.until, args.runs, args.out)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
