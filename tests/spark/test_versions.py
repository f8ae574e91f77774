"""Trades as a log of versions: late reports, corrections, cancels, resends, landings in any order.

Three landings (L1 = 2025-01-14, L2 = 2025-01-15, L3 = 2025-01-16) with a window of two days
(``TRADELAKE_CONTRACT__MAX_LATENESS_DAYS=2``): a landing may carry trades of its own day and
of the two days before. Expected tables are worked out by hand in the comments.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.spark.rawfiles import day_folder, json_line, write_lines
from tradelake.tables import TRADES, ohlcv_spec

pytestmark = pytest.mark.spark

L0, L1, L2, L3 = "2025-01-13", "2025-01-14", "2025-01-15", "2025-01-16"
D0, D1, D2, D3 = date(2025, 1, 13), date(2025, 1, 14), date(2025, 1, 15), date(2025, 1, 16)


def report(
    trade_id: str,
    at: str,
    *,
    symbol: str = "AAPL",
    side: str = "buy",
    price: str = "100",
    quantity: str = "1",
    report_type: str | None = None,
    seq: int | None = None,
) -> str:
    fields: dict[str, Any] = {
        "trade_id": trade_id, "symbol": symbol, "side": side, "price": Decimal(price),
        "quantity": Decimal(quantity), "timestamp": at, "exchange": "XNAS",
    }  # fmt: skip
    if report_type is not None:
        fields["report_type"] = report_type
    if seq is not None:
        fields["report_seq"] = seq
    return json_line(**fields)


def cancel(trade_id: str, at: str, seq: int) -> str:
    """A cancel carries only what it needs: the trade and its day."""
    return json_line(trade_id=trade_id, timestamp=at, report_type=" CANCEL ", report_seq=str(seq))


LANDINGS = {
    L1: [
        report("T1", "2025-01-14T10:00:00Z", price="100", quantity="2"),
        report("T2", "2025-01-14T11:00:00Z", symbol="MSFT", price="400"),
        report("T3", "2025-01-14T12:00:00Z", price="101"),
    ],
    L2: [
        report("T4", "2025-01-15T10:00:00Z", price="102", quantity="5"),
        # A correction of L1's T1 (a late report of the day before).
        report(
            "T1", "2025-01-14T10:00:00Z", price="100.5", quantity="2", report_type="correct", seq=1
        ),  # fmt: skip
        cancel("T2", "2025-01-14T11:00:00Z", seq=1),
        # A trade of the day before, first reported now; and one at the window's first
        # instant, of a day whose own landing (L0) never ran.
        report("T5", "2025-01-14T13:00:00Z", price="99", quantity="3"),
        report("T8", "2025-01-13T00:00:00Z", symbol="MSFT", price="10"),
        # Just before the window: a dead letter.
        report("T7", "2025-01-12T23:59:59.999999Z", price="1"),
        # A cancel that arrives before its trade (T6 comes in L3).
        cancel("T6", "2025-01-15T14:00:00Z", seq=1),
        # An original and its correction in one landing: two reports, the correction wins.
        report("T9", "2025-01-15T11:00:00Z", price="50"),
        report("T9", "2025-01-15T11:00:00Z", price="51", report_type="correct", seq=1),
    ],
    L3: [
        report("T6", "2025-01-15T14:00:00Z", price="7"),
        report("T10", "2025-01-16T09:30:00Z", symbol="MSFT", price="410", quantity="10"),
        # A resend of L1's T3, identical: it is counted once.
        report("T3", "2025-01-14T12:00:00Z", price="101"),
    ],
}

# trades after all three landings, in any order:
# (trade_id, symbol, price, quantity, trade_date, report_type, report_seq, landing_date)
EXPECTED_TRADES = {
    ("T1", "AAPL", Decimal("100.5"), Decimal("2"), D1, "correct", 1, D2),
    ("T3", "AAPL", Decimal("101"), Decimal("1"), D1, "new", 0, D3),
    ("T5", "AAPL", Decimal("99"), Decimal("3"), D1, "new", 0, D2),
    ("T8", "MSFT", Decimal("10"), Decimal("1"), D0, "new", 0, D2),
    ("T4", "AAPL", Decimal("102"), Decimal("5"), D2, "new", 0, D2),
    ("T9", "AAPL", Decimal("51"), Decimal("1"), D2, "correct", 1, D2),
    ("T10", "MSFT", Decimal("410"), Decimal("10"), D3, "new", 0, D3),
}

# daily_volume of D1 after every landing: AAPL T1 100.5 x 2 (10:00), T3 101 x 1 (12:00),
# T5 99 x 3 (13:00): volume 6, notional 201 + 101 + 297 = 599, vwap 599 / 6 = 99.83333333,
# mean (100.5 + 101 + 99) / 3 = 100.16666667; no MSFT (T2 is cancelled).
EXPECTED_VOLUME_D1 = {
    ("AAPL", 3, Decimal("6"), Decimal("100.16666667"), Decimal("99.83333333"),
     Decimal("100.5"), Decimal("101"), Decimal("99"), Decimal("99")),
}  # fmt: skip


def land(raw_root: str, landing: str, lines: list[str]) -> None:
    folder = day_folder(raw_root, landing)
    for old in folder.iterdir():
        old.unlink()
    write_lines(folder / "reports.jsonl", lines)


def current_trades(spark: Any, settings: Any) -> set[tuple[Any, ...]]:
    rows = spark.table(settings.table(TRADES.name)).select(
        "trade_id", "symbol", "price", "quantity", "trade_date", "report_type", "report_seq",
        "landing_date",
    ).collect()  # fmt: skip
    return {tuple(row) for row in rows}


def volume(spark: Any, settings: Any, day: date) -> set[tuple[Any, ...]]:
    rows = spark.sql(
        f"SELECT symbol, trade_count, total_volume, avg_price, vwap, open_price, high_price, "
        f"low_price, close_price FROM {settings.table('daily_volume')} "
        f"WHERE trade_date = DATE'{day.isoformat()}'"
    ).collect()
    return {tuple(row) for row in rows}


@pytest.fixture
def window_of_two_days(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADELAKE_CONTRACT__MAX_LATENESS_DAYS", "2")


Ingest = Callable[..., Any]


def ingest(run_job: Ingest, landing: str) -> dict[str, Any]:
    run = run_job("ingest", "--date", landing, "--max-reject-ratio", "0.5")
    assert run.exit_code == 0, run.summary
    summary: dict[str, Any] = run.summary
    return summary


def test_late_reports_corrections_and_cancels_reach_their_days(
    spark: Any, lake_env: Any, run_job: Ingest, window_of_two_days: None
) -> None:
    for landing, lines in LANDINGS.items():
        land(lake_env.raw_root, landing, lines)
    first = ingest(run_job, L1)
    assert (first["touched_dates"], first["gold_dates"]) == ([L1], [L1])
    assert first["loaded_by_date"] == {L1: 3}

    second = ingest(run_job, L2)
    # records_read = loaded + duplicates_dropped + rejected: 9 = 8 + 0 + 1 (T7).
    assert (second["records_read"], second["loaded"], second["rejected"]) == (9, 8, 1)
    assert second["rejected_by_reason"] == {"timestamp_outside_partition": 1}
    assert second["loaded_by_date"] == {L0: 1, L1: 3, L2: 4}
    assert second["touched_dates"] == [L0, L1, L2]
    # L1's own landing is published: its gold is rebuilt too; L0's is not (it never ran).
    assert second["gold_dates"] == [L1, L2]
    assert second["resolved"] == {
        L0: {"reports": 1, "current": 1, "cancelled": 0, "superseded": 0},
        # D1: T1 x2, T2 x2, T3, T5; T1's and T2's first reports are superseded.
        L1: {"reports": 6, "current": 3, "cancelled": 1, "superseded": 2},
        # D2: T4, T9 x2, T6's cancel.
        L2: {"reports": 4, "current": 2, "cancelled": 1, "superseded": 1},
    }
    rejected = spark.sql(
        f"SELECT record, reasons FROM {lake_env.table('trades_rejected')} "
        f"WHERE ingest_date = DATE'{L2}'"
    ).collect()
    assert [(json.loads(row["record"])["trade_id"], row["reasons"]) for row in rejected] == [
        ("T7", ["timestamp_outside_partition"])
    ]

    third = ingest(run_job, L3)
    assert third["touched_dates"] == [L1, L2, L3]
    assert third["resolved"][L2] == {"reports": 5, "current": 2, "cancelled": 1, "superseded": 2}
    # T3 twice (L1 and its resend in L3): one trade, the later landing's report.
    assert third["resolved"][L1] == {"reports": 7, "current": 3, "cancelled": 1, "superseded": 3}
    assert current_trades(spark, lake_env) == EXPECTED_TRADES
    reports = spark.table(lake_env.table("trade_reports"))
    assert reports.count() == 3 + 8 + 3

    # L3's gold dates: every day it resolved (each one's own landing is published).
    rebuilt = run_job("backfill", "daily_volume", "--landing", L3)
    assert rebuilt.exit_code == 0, rebuilt.summary
    assert (rebuilt.summary["landing"], rebuilt.summary["succeeded"]) == (L3, [L1, L2, L3])
    for day in (L1, L2, L3):
        assert run_job("ohlcv", "--date", day).exit_code == 0
    assert volume(spark, lake_env, D1) == EXPECTED_VOLUME_D1
    bars = spark.sql(
        f"SELECT date_format(bar_start, 'HH:mm') AS bar, open, close, volume, vwap "
        f"FROM {lake_env.table(ohlcv_spec('1m').name)} "
        f"WHERE trade_date = DATE'{L1}' AND symbol = 'AAPL' ORDER BY bar_start"
    ).collect()
    assert [tuple(row) for row in bars] == [
        ("10:00", Decimal("100.5"), Decimal("100.5"), Decimal("2"), Decimal("100.5")),
        ("12:00", Decimal("101"), Decimal("101"), Decimal("1"), Decimal("101")),
        ("13:00", Decimal("99"), Decimal("99"), Decimal("3"), Decimal("99")),
    ]

    # A rerun of an older landing after a later correction changes nothing.
    before = current_trades(spark, lake_env)
    rerun = ingest(run_job, L1)
    assert rerun["touched_dates"] == [L1]
    assert current_trades(spark, lake_env) == before == EXPECTED_TRADES

    # A landing that shrinks takes its late reports back: L2 without T5 and T1's correction.
    land(lake_env.raw_root, L2, [line for line in LANDINGS[L2] if '"T5"' not in line
                                 and '"correct"' not in line])  # fmt: skip
    shrunk = ingest(run_job, L2)
    assert shrunk["touched_dates"] == [L0, L1, L2]
    after = current_trades(spark, lake_env)
    assert after == (EXPECTED_TRADES - {
        ("T1", "AAPL", Decimal("100.5"), Decimal("2"), D1, "correct", 1, D2),
        ("T5", "AAPL", Decimal("99"), Decimal("3"), D1, "new", 0, D2),
        ("T9", "AAPL", Decimal("51"), Decimal("1"), D2, "correct", 1, D2),
    }) | {
        ("T1", "AAPL", Decimal("100"), Decimal("2"), D1, "new", 0, D1),
        ("T9", "AAPL", Decimal("50"), Decimal("1"), D2, "new", 0, D2),
    }  # fmt: skip


def test_landings_in_any_order_give_the_same_trades_and_gold(
    spark: Any, lake_env: Any, run_job: Ingest, window_of_two_days: None
) -> None:
    for landing, lines in LANDINGS.items():
        land(lake_env.raw_root, landing, lines)
    # Newest first: every late report arrives before the report it supersedes or cancels.
    for landing in (L3, L2, L1):
        ingest(run_job, landing)
    assert current_trades(spark, lake_env) == EXPECTED_TRADES
    assert run_job("daily_volume", "--date", L1).exit_code == 0
    assert volume(spark, lake_env, D1) == EXPECTED_VOLUME_D1


def test_an_existing_lake_gains_the_new_table_and_columns(
    spark: Any, lake_env: Any, run_job: Ingest, tmp_path: Path
) -> None:
    """A lake written by the version before: trades without the version columns."""
    old_columns = ", ".join(
        definition
        for definition in TRADES.column_definitions()
        if definition.split()[0] not in {"report_type", "report_seq", "landing_date"}
    )
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS lake.{lake_env.database}")
    spark.sql(
        f"CREATE TABLE {lake_env.table('trades')} ({old_columns}) USING iceberg "
        "PARTITIONED BY (trade_date) TBLPROPERTIES ('format-version'='2')"
    )
    land(lake_env.raw_root, L1, LANDINGS[L1])
    ingest(run_job, L1)
    columns = spark.table(lake_env.table("trades")).columns
    assert columns[-3:] == ["report_type", "report_seq", "landing_date"]
    assert spark.catalog.tableExists(lake_env.table("trade_reports"))
    assert {row["trade_id"] for row in spark.table(lake_env.table("trades")).collect()} == {
        "T1", "T2", "T3"
    }  # fmt: skip
