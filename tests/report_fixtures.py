"""A small lake for the operations report, written with pyiceberg (no Spark).

Five days, 2025-01-13 to 2025-01-17, every value chosen by hand so the tests can state
exact expectations:

- 01-13: an ingest gated (exit 3), then rerun ok (100 read = 90 + 4 + 6); gold jobs ok.
- 01-14: ingest gated by reject_ratio 0.4 (50 = 30 + 0 + 20); daily_volume no input (4).
- 01-15: no run at all.
- 01-16: ingest failed (exit 1, no counts), rerun ok with one unreadable file, in the
  summary of the time the files were counted as records (201 = 180 + 5 + 16, which is
  200 records = 180 + 5 + 15 and 1 file); gold jobs ok.
- 01-17: ingest ok, files counted apart (80 = 75 + 2 + 3, 2 unreadable files); then
  daily_volume failed (exit 1), the latest failure; ohlcv not run.

Dead letters on 01-17 hold a ``<script>``, e-mail addresses and account ids.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.lakes import Lake
from tradelake.spec_schema import append_rows, create_table
from tradelake.tables import (
    DAILY_VOLUME,
    JOB_RUNS,
    QUALITY_RESULTS,
    TRADES,
    TRADES_REJECTED,
    ohlcv_spec,
)

DAYS = [date(2025, 1, d) for d in (13, 14, 15, 16, 17)]
D13, D14, D15, D16, D17 = DAYS
FRESHNESS = "<= 6.0 h between the latest trade and the day's end"
SCRIPT_RECORD = (
    '{"trade_id": "T1", "symbol": "AAPL", "side": "hold", "price": "1.5", '
    '"account_id": "ACC-991", "trader_email": "jane.doe@example.com", '
    '"note": "<script>alert(1)</script> mail bob@example.org"}'
)
CSV_RECORD = "T2,MSFT,hold,10.25,3,2025-01-17T10:00:00Z,XNAS,ACC-77,bob@example.org"
BROKEN_RECORD = '{"trade_id": "T3", "account_id": "ACC-5", "side": "hold"'
ZLIB_ERROR = "java.io.EOFException: Unexpected end of ZLIB input stream"
GATE_ERROR = (
    "quality gate failed: reject_ratio (observed 0.4, expected <= 0.1); trades for "
    "2025-01-14 were not published"
)
GOLD_ERROR = "java.lang.IllegalStateException: <b>boom</b> while writing daily_volume"


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def sqlite_catalog(root: Path) -> Any:
    """A pyiceberg SQL catalog in ``root``, laid out like the embedded default (tests/lakes.py)."""
    lake = Lake(root)
    lake.warehouse.mkdir(parents=True, exist_ok=True)
    return lake.catalog()


def _run(
    run_id: str,
    job: str,
    day: date,
    started: datetime,
    status: str,
    exit_code: int,
    seconds: float,
    **summary: Any,
) -> dict[str, Any]:
    body = {
        "run_id": run_id,
        "job": job,
        "date": day.isoformat(),
        "status": status,
        "exit_code": exit_code,
        **summary,
    }
    return {
        "run_id": run_id,
        "job": job,
        "run_date": day,
        "status": status,
        "exit_code": exit_code,
        "published": exit_code == 0,
        "started_at": started,
        "seconds": seconds,
        "summary": json.dumps(body),
    }


def _ingest_counts(
    read: int, loaded: int, dup: int, rejected: int, unreadable: int, reasons: dict[str, int]
) -> dict[str, Any]:
    return {
        "files": {"read": 3, "empty": 0, "ignored": 0, "unreadable": unreadable},
        "unreadable_files": [{"path": f"bad-{n}.gz", "error": "EOF"} for n in range(unreadable)],
        "records_read": read,
        "loaded": loaded,
        "duplicates_dropped": dup,
        "rejected": rejected,
        "rejected_by_reason": reasons,
        "conservation_ok": True,
    }


def job_runs() -> list[dict[str, Any]]:
    return [
        _run("r10", "ingest", date(2025, 1, 10), at(date(2025, 1, 11), 1), "ok", 0, 9.0),
        _run(
            "r13a",
            "ingest",
            D13,
            at(D13, 1),
            "QualityGateError",
            3,
            11.0,
            **_ingest_counts(10, 5, 0, 5, 0, {"price_not_positive": 5}),
            error="quality gate failed: reject_ratio (observed 0.5, expected <= 0.1)",
        ),
        _run(
            "r13b",
            "ingest",
            D13,
            at(D13, 2),
            "ok",
            0,
            12.5,
            **_ingest_counts(100, 90, 4, 6, 0, {"price_not_positive": 6, "symbol_missing": 2}),
        ),
        _run("v13", "daily_volume", D13, at(D13, 3), "ok", 0, 4.25),
        _run("o13", "ohlcv", D13, at(D13, 3, 10), "ok", 0, 5.5),
        _run(
            "r14",
            "ingest",
            D14,
            at(D14, 1),
            "QualityGateError",
            3,
            10.0,
            **_ingest_counts(50, 30, 0, 20, 0, {"side_invalid": 15, "malformed_record": 5}),
            error=GATE_ERROR,
        ),
        _run(
            "v14",
            "daily_volume",
            D14,
            at(D14, 3),
            "NoInputError",
            4,
            1.0,
            error="2025-01-14 not published by ingest",
        ),
        _run(
            "r16a",
            "ingest",
            D16,
            at(D16, 1),
            "failed",
            1,
            3.0,
            error="Py4JJavaError: S3 endpoint unreachable",
        ),
        _run(
            "r16b",
            "ingest",
            D16,
            at(D16, 2),
            "ok",
            0,
            14.0,
            **_ingest_counts(
                201,
                180,
                5,
                16,
                1,
                {"price_not_positive": 10, "symbol_missing": 5, "unreadable_file": 1},
            ),
        ),
        _run("v16", "daily_volume", D16, at(D16, 3), "ok", 0, 4.75),
        _run("o16", "ohlcv", D16, at(D16, 3, 10), "ok", 0, 6.0),
        _run(
            "r17",
            "ingest",
            D17,
            at(D17, 1),
            "ok",
            0,
            8.0,
            **_ingest_counts(80, 75, 2, 3, 2, {"side_invalid": 3}),
        ),
        _run("v17", "daily_volume", D17, at(D17, 3), "failed", 1, 2.5, error=GOLD_ERROR),
    ]


def _check(
    run_id: str,
    job: str,
    day: date,
    check: str,
    passed: bool,
    observed: Any,
    threshold: str,
    recorded: datetime,
    severity: str = "error",
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "job": job,
        "table_name": "trades" if job == "ingest" else job,
        "check_date": day,
        "check": check,
        "severity": severity,
        "passed": passed,
        "observed": json.dumps(observed),
        "threshold": threshold,
        "recorded_at": recorded,
    }


def quality_results() -> list[dict[str, Any]]:
    def ingest(run_id: str, day: date, ratio: float, lag: float, loaded: int, band: str) -> list:
        started = {"r13a": at(D13, 1), "r13b": at(D13, 2), "r14": at(D14, 1)}.get(
            run_id, at(day, 2)
        )
        return [
            _check(run_id, "ingest", day, "reject_ratio", ratio <= 0.1, ratio, "<= 0.1", started),
            _check(run_id, "ingest", day, "freshness", lag <= 6.0, lag, FRESHNESS, started, "warn"),
            _check(run_id, "ingest", day, "volume_anomaly", True, loaded, band, started, "warn"),
        ]

    return [
        *ingest("r13a", D13, 0.5, 1.0, 5, "needs 3 published days, found 0"),
        *ingest("r13b", D13, 0.06, 1.5, 90, "needs 3 published days, found 0"),
        *ingest("r14", D14, 0.4, 2.25, 30, "needs 3 published days, found 1"),
        *ingest("r16b", D16, 0.079602, 7.5, 180, "needs 3 published days, found 1"),
        *ingest(
            "r17", D17, 0.0375, 0.5, 75, "within [67.5, 202.5] (median 135 of the last 2 days)"
        ),
        _check("v13", "daily_volume", D13, "reconcile_volume", True, 0, "= 0", at(D13, 3)),
    ]


def _reject(day: date, source: str, record: str, *reasons: str) -> dict[str, Any]:
    return {
        "ingest_date": day,
        "run_id": f"run-{day.day}",
        "source_file": source,
        "record": record,
        "reasons": list(reasons),
        "rejected_at": at(day, 2),
    }


def rejects() -> list[dict[str, Any]]:
    rows = [_reject(D13, "a.jsonl", '{"price": "-1"}', "price_not_positive") for _ in range(4)]
    rows += [
        _reject(D13, "a.jsonl", '{"price": "0"}', "price_not_positive", "symbol_missing")
        for _ in range(2)
    ]
    rows += [_reject(D14, "a.jsonl", '{"side": "x"}', "side_invalid") for _ in range(15)]
    rows += [_reject(D14, "a.jsonl", "{oops", "malformed_record") for _ in range(5)]
    rows += [_reject(D16, "a.jsonl", '{"price": "-2"}', "price_not_positive") for _ in range(10)]
    rows += [_reject(D16, "a.jsonl", '{"symbol": ""}', "symbol_missing") for _ in range(5)]
    rows += [_reject(D16, "bad-0.gz", ZLIB_ERROR, "unreadable_file")]
    rows += [
        _reject(D17, "b.jsonl", SCRIPT_RECORD, "side_invalid"),
        _reject(D17, "bad-0.gz", ZLIB_ERROR, "unreadable_file"),
        _reject(D17, "day.csv", CSV_RECORD, "side_invalid"),
        _reject(D17, "b.jsonl", BROKEN_RECORD, "side_invalid"),
        _reject(D17, "bad-1.gz", ZLIB_ERROR, "unreadable_file"),
    ]
    return rows


def _volume(day: date, symbol: str, count: int, volume: str) -> dict[str, Any]:
    price = Decimal("10.00000000")
    return {
        "trade_date": day,
        "symbol": symbol,
        "trade_count": count,
        "total_volume": Decimal(volume),
        "avg_price": price,
        "vwap": price,
        "low_price": price,
        "high_price": price,
        "open_price": price,
        "close_price": price,
        "run_id": f"v{day.day}",
    }


def daily_volume() -> list[dict[str, Any]]:
    return [
        _volume(D13, "AAPL", 50, "1234.50000000"),
        _volume(D13, "MSFT", 30, "300.25000000"),
        _volume(D13, "KO", 10, "99.00000001"),
        _volume(D16, "AAPL", 60, "1500.12500000"),
        _volume(D16, "MSFT", 100, "2000.50000000"),
        _volume(D16, "KO", 20, "10.00000000"),
    ]


def _bar(
    day: date, symbol: str, minute: int, ohlc: tuple[str, str, str, str], volume: str, count: int
) -> dict[str, Any]:
    o, h, low, c = (Decimal(v) for v in ohlc)
    return {
        "trade_date": day,
        "symbol": symbol,
        "bar_start": at(day, 10, minute),
        "open": o,
        "high": h,
        "low": low,
        "close": c,
        "volume": Decimal(volume),
        "trade_count": count,
        "vwap": c,
        "run_id": f"o{day.day}",
    }


def bars() -> list[dict[str, Any]]:
    return [
        _bar(D16, "MSFT", 3, ("10.90000000", "11.20000000", "10.80000000", "11.10000000"), "7", 2),
        _bar(
            D16, "MSFT", 0, ("10.50000000", "11.00000000", "10.25000000", "10.75000000"), "40", 30
        ),
        _bar(
            D16, "MSFT", 1, ("10.75000000", "10.80000000", "10.60000000", "10.70000000"), "5.5", 3
        ),
        _bar(
            D16, "AAPL", 0, ("190.00000000", "191.00000000", "189.00000000", "190.50000000"), "9", 4
        ),
        _bar(D13, "MSFT", 0, ("9.00000000", "9.50000000", "8.50000000", "9.25000000"), "1", 1),
    ]


def build_small_lake(catalog: Any, database: str) -> None:
    """Every table the report reads, filled with the rows above; ``trades`` empty."""
    for spec, rows in (
        (JOB_RUNS, job_runs()),
        (QUALITY_RESULTS, quality_results()),
        (TRADES_REJECTED, rejects()),
        (DAILY_VOLUME, daily_volume()),
        (ohlcv_spec("1m"), bars()),
    ):
        append_rows(create_table(catalog, database, spec), rows)
    create_table(catalog, database, TRADES)


def build_empty_lake(catalog: Any, database: str) -> None:
    """The report's tables, created and empty."""
    for spec in (JOB_RUNS, QUALITY_RESULTS, TRADES_REJECTED, DAILY_VOLUME, ohlcv_spec("1m")):
        create_table(catalog, database, spec)
