"""Trades as a log of versions, read by Trino: the resolved `trades`, the two views over
`trade_reports`, partition pruning on trade_date, and tables free of delete files.

The lake's two landings (``LANDINGS``) carry a late report (T10), a correction in a later
landing (T2), a cancel (T9) and a resend (T1), all of the 15th, in the 16th's landing.
Expected rows are worked out from that input, never with the project's code.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.athena.lake import (
    DATABASE,
    DAYS,
    RAW_BUCKET,
    REPORTS,
    TRADES,
    AthenaLake,
    fetch_rows,
    raw_file,
)

pytestmark = pytest.mark.athena

D15, D16 = (date.fromisoformat(day) for day in DAYS)

# The columns trades shares with v_trades_current: all but the resolving run's.
SHARED_COLUMNS = (
    "trade_id, symbol, side, price, quantity, traded_at, exchange, trade_date, source_file, "
    "account_id, trader_email, report_type, report_seq, landing_date"
)

# Every table the jobs wrote (views aside), by name.
LAKE_TABLES = [
    "daily_volume",
    "job_runs",
    "ohlcv_1m",
    "quality_results",
    "trade_reports",
    "trades",
    "trades_rejected",
]


def source_file(landing: str) -> str:
    return f"s3://{RAW_BUCKET}/{raw_file(landing)}"


def test_trades_hold_the_resolved_reports(cursor: Any) -> None:
    rows = fetch_rows(
        cursor,
        "SELECT trade_id, symbol, side, price, quantity, traded_at, exchange, trade_date, "
        "report_type, report_seq, landing_date, source_file FROM trades",
    )
    expected = [
        {
            "trade_id": t.trade_id,
            "symbol": t.symbol,
            "side": t.side,
            "price": t.price,
            "quantity": t.quantity,
            "traded_at": datetime.fromisoformat(t.timestamp),
            "exchange": t.exchange,
            "trade_date": date.fromisoformat(t.day),
            "report_type": t.report_type,
            "report_seq": t.report_seq,
            "landing_date": date.fromisoformat(t.landing),
            "source_file": source_file(t.landing),
        }
        for t in TRADES
    ]
    key = ("trade_date", "trade_id")
    assert sorted(rows, key=lambda r: [r[k] for k in key]) == sorted(
        expected, key=lambda r: [r[k] for k in key]
    )
    # By hand: T9 is cancelled; T1 is attributed to its resend, T2 to its correction, T10
    # to the landing that first reported it, a day late.
    versions = {(r["trade_id"], r["report_type"], r["report_seq"], r["landing_date"]) for r in rows}
    assert {v for v in versions if v[0] in ("T1", "T2", "T9", "T10")} == {
        ("T1", "new", 0, D16),
        ("T2", "correct", 1, D16),
        ("T10", "new", 0, D16),
    }
    # The 15th's landing's 9 trades but the cancelled T9, the 16th's 5 and the late T10.
    assert len(rows) == 9 - 1 + 5 + 1


def test_the_current_state_view_equals_trades_both_ways(cursor: Any, views: list[str]) -> None:
    for first, second in (("trades", "v_trades_current"), ("v_trades_current", "trades")):
        extra = fetch_rows(
            cursor,
            f"SELECT {SHARED_COLUMNS} FROM {first} EXCEPT SELECT {SHARED_COLUMNS} FROM {second}",
        )
        assert extra == [], f"rows of {first} not in {second}"
    # Not two empty relations: the view has every trade, once.
    counted = fetch_rows(
        cursor,
        "SELECT count(*) AS trades, count(DISTINCT (trade_date, trade_id)) AS distinct_trades "
        "FROM v_trades_current",
    )
    assert counted == [{"trades": len(TRADES), "distinct_trades": len(TRADES)}]


def test_the_history_of_a_corrected_trade(
    cursor: Any, views: list[str], athena_lake: AthenaLake
) -> None:
    rows = fetch_rows(
        cursor,
        "SELECT * FROM v_trade_report_history "
        "WHERE trade_date = DATE '2025-01-15' AND trade_id = 'T2' ORDER BY report_rank",
    )
    runs = [(row.pop("run_id"), row.pop("ingested_at")) for row in rows]
    traded_at = datetime(2025, 1, 15, 14, 30, 40, tzinfo=UTC)
    assert rows == [
        {
            "trade_date": D15,
            "trade_id": "T2",
            "report_rank": 1,
            "report_type": "correct",
            "report_seq": 1,
            "landing_date": D16,
            "lateness_days": 1,
            "outcome": "current",
            "is_current": True,
            "symbol": "AAPL",
            "side": "sell",
            "price": Decimal("101.25000000"),
            "quantity": Decimal("6.00000000"),
            "traded_at": traded_at,
            "exchange": "NASDAQ",
            "source_file": source_file(DAYS[1]),
            "account_id": None,
            "trader_email": None,
        },
        {
            "trade_date": D15,
            "trade_id": "T2",
            "report_rank": 2,
            "report_type": "new",
            "report_seq": 0,
            "landing_date": D15,
            "lateness_days": 0,
            "outcome": "superseded",
            "is_current": False,
            "symbol": "AAPL",
            "side": "sell",
            "price": Decimal("101.50000000"),
            "quantity": Decimal("5.00000000"),
            "traded_at": traded_at,
            "exchange": "NASDAQ",
            "source_file": source_file(DAYS[0]),
            "account_id": None,
            "trader_email": None,
        },
    ]
    # Each report names the ingest of its own landing: the 16th's ran after the 15th's.
    (correction_run, corrected_at), (original_run, original_at) = runs
    assert correction_run != original_run
    started = datetime.fromtimestamp(athena_lake.started_at - 1, UTC)
    finished = datetime.fromtimestamp(athena_lake.finished_at + 1, UTC)
    assert started <= original_at < corrected_at <= finished


def test_the_history_gives_every_report_its_outcome(cursor: Any, views: list[str]) -> None:
    rows = fetch_rows(
        cursor,
        "SELECT trade_id, landing_date, outcome, is_current, lateness_days "
        "FROM v_trade_report_history",
    )
    # By hand: what the 16th's landing did to the reports of the 15th's.
    replaced = {
        ("T1", DAYS[0]): "superseded",  # resent in the 16th's landing
        ("T2", DAYS[0]): "superseded",  # corrected
        ("T9", DAYS[0]): "superseded",  # cancelled...
        ("T9", DAYS[1]): "cancelled",  # ...by this report
    }
    expected = [
        {
            "trade_id": r.trade_id,
            "landing_date": date.fromisoformat(r.landing),
            "outcome": replaced.get((r.trade_id, r.landing), "current"),
            "is_current": (r.trade_id, r.landing) not in replaced,
            "lateness_days": (date.fromisoformat(r.landing) - date.fromisoformat(r.day)).days,
        }
        for r in REPORTS
    ]

    def order(row: dict[str, Any]) -> tuple[str, date]:
        return row["trade_id"], row["landing_date"]

    assert sorted(rows, key=order) == sorted(expected, key=order)
    late = sorted(row["trade_id"] for row in rows if row["lateness_days"] == 1)
    assert late == ["T1", "T10", "T2", "T9"]


@pytest.mark.parametrize("table", ["trades", "trade_reports", "v_trade_report_history"])
def test_a_trade_date_filter_reaches_the_table_scan(
    cursor: Any, views: list[str], table: str
) -> None:
    cursor.execute(f"EXPLAIN SELECT trade_id FROM {table} WHERE trade_date = DATE '2025-01-15'")
    plan = "\n".join(row[0] for row in cursor.fetchall())
    scanned = "trades" if table == "trades" else "trade_reports"
    scans = [line for line in plan.splitlines() if f"{DATABASE}.{scanned}$data" in line]
    assert len(scans) == 1, plan
    assert "constraint on [trade_date]" in scans[0], plan
    assert ":: [[2025-01-15]]" in plan, plan
    # trade_date is an identity partition: the connector enforces the whole predicate.
    assert "ScanFilter" not in plan and "Filter[" not in plan, plan


def test_no_table_has_a_delete_file_and_all_are_format_v2(cursor: Any) -> None:
    tables = fetch_rows(
        cursor,
        "SELECT table_name FROM information_schema.tables "
        f"WHERE table_schema = '{DATABASE}' AND table_type = 'BASE TABLE' ORDER BY table_name",
    )
    assert [row["table_name"] for row in tables] == LAKE_TABLES
    for table in LAKE_TABLES:
        files = fetch_rows(
            cursor,
            "SELECT count(*) AS files, count_if(content <> 0) AS delete_files "
            f'FROM "{table}$files"',
        )
        assert files[0]["delete_files"] == 0, table
        assert files[0]["files"] > 0, table
        version = fetch_rows(
            cursor, f"SELECT value FROM \"{table}$properties\" WHERE key = 'format-version'"
        )
        assert version == [{"value": "2"}], table
