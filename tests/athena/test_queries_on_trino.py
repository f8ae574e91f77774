"""Every saved Athena query, and the analysts' views, on Trino over what Spark wrote.

Expected values are computed here from the test's own input (``TRADES``: the trades both
landings' reports resolve to, ``REJECTED``) with Python's Decimal, never with the
project's code. Besides each query's usual parameters (``QUERY_PARAMS``), the edge cases
of binding and bounds: a quote inside a string, limit 0, ties, microseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.athena.lake import (
    DATABASE,
    DAYS,
    REJECTED,
    TRADES,
    VIEWS_DIR,
    AthenaLake,
    Trade,
    fetch_rows,
    half_up,
)
from tradelake.athena import AthenaQuery, list_queries, load_query, render_parameters
from tradelake.errors import ConfigError

pytestmark = pytest.mark.athena

SYMBOLS = sorted({trade.symbol for trade in TRADES})


def ts(text: str) -> datetime:
    """A timestamp as the runner reads one: UTC, whether or not it says so."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def by_time(trades: list[Trade]) -> list[Trade]:
    return sorted(trades, key=lambda t: (ts(t.timestamp), t.trade_id))


def daily_row(day: str, symbol: str) -> dict[str, Any]:
    trades = by_time([t for t in TRADES if t.day == day and t.symbol == symbol])
    volume = sum((t.quantity for t in trades), Decimal(0))
    return {
        "trade_date": date.fromisoformat(day),
        "symbol": symbol,
        "trade_count": len(trades),
        "total_volume": volume,
        "avg_price": half_up(sum((t.price for t in trades), Decimal(0)), Decimal(len(trades))),
        "vwap": half_up(sum((t.price * t.quantity for t in trades), Decimal(0)), volume),
        "open_price": trades[0].price,
        "high_price": max(t.price for t in trades),
        "low_price": min(t.price for t in trades),
        "close_price": trades[-1].price,
    }


def bars(symbol: str, unit: str) -> list[dict[str, Any]]:
    """OHLCV bars of ``symbol`` per minute or hour (UTC), in time order."""
    groups: dict[datetime, list[Trade]] = {}
    for trade in TRADES:
        if trade.symbol == symbol:
            start = ts(trade.timestamp).replace(second=0, microsecond=0)
            if unit == "hour":
                start = start.replace(minute=0)
            groups.setdefault(start, []).append(trade)
    rows = []
    for start, group in sorted(groups.items()):
        ordered = by_time(group)
        volume = sum((t.quantity for t in group), Decimal(0))
        rows.append(
            {
                "symbol": symbol,
                "bar_start": start,
                "open": ordered[0].price,
                "high": max(t.price for t in group),
                "low": min(t.price for t in group),
                "close": ordered[-1].price,
                "volume": volume,
                "trade_count": len(group),
                "vwap": half_up(sum((t.price * t.quantity for t in group), Decimal(0)), volume),
            }
        )
    return rows


def days_between(start: str, end: str) -> list[str]:
    """The lake's trade days in [start, end], both ends included."""
    return [day for day in DAYS if start <= day <= end]


def daily_rows(symbol: str, start: str, end: str) -> list[dict[str, Any]]:
    """daily_volume_by_symbol: the symbol's rows of the days it traded in [start, end]."""
    traded = {t.day for t in TRADES if t.symbol == symbol}
    return [daily_row(day, symbol) for day in days_between(start, end) if day in traded]


def top_symbols(start: str, end: str, limit: int) -> list[dict[str, Any]]:
    """top_symbols_by_notional: ranked by notional, then alphabetically."""
    totals: dict[str, dict[str, Any]] = {}
    for trade in TRADES:
        if start <= trade.day <= end:
            row = totals.setdefault(
                trade.symbol, {"notional": Decimal(0), "volume": Decimal(0), "trade_count": 0}
            )
            row["notional"] += trade.price * trade.quantity
            row["volume"] += trade.quantity
            row["trade_count"] += 1
    ranked = sorted(totals.items(), key=lambda item: (-item[1]["notional"], item[0]))
    return [
        {"notional_rank": rank, "symbol": symbol, **values}
        for rank, (symbol, values) in enumerate(ranked[:limit], start=1)
    ]


def window_bars(symbol: str, start: str, end: str) -> list[dict[str, Any]]:
    """ohlcv_window: the symbol's 1-minute bars with start <= bar_start < end (UTC)."""
    low, high = ts(start), ts(end)
    return [bar for bar in bars(symbol, "minute") if low <= bar["bar_start"] < high]


def reject_counts(start: str, end: str) -> list[dict[str, Any]]:
    """rejects_by_reason: per landing and reason code, a record once under each of its codes."""
    expected = []
    for day in days_between(start, end):
        counts: dict[str, int] = {}
        for _, reasons in REJECTED[day]:
            for reason in reasons:
                counts[reason] = counts.get(reason, 0) + 1
        expected += [
            {"ingest_date": date.fromisoformat(day), "reason": reason, "rejected_records": n}
            for reason, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        ]
    return expected


def run_saved(cursor: Any, query: AthenaQuery, values: Mapping[str, str]) -> list[dict[str, Any]]:
    """PREPARE the query as it is, EXECUTE it USING the runner's literals (Athena's way)."""
    literals = render_parameters(query, values)
    cursor.execute(f"PREPARE {query.name} FROM\n{query.sql}")
    cursor.fetchall()
    using = f" USING {', '.join(literals)}" if literals else ""
    cursor.execute(f"EXECUTE {query.name}{using}")
    rows = cursor.fetchall()
    columns = [column[0] for column in cursor.description]
    cursor.execute(f"DEALLOCATE PREPARE {query.name}")
    cursor.fetchall()
    return [dict(zip(columns, row, strict=True)) for row in rows]


@pytest.fixture(scope="module")
def results(cursor: Any) -> dict[str, list[dict[str, Any]]]:
    """Every saved query's rows, with the parameters of QUERY_PARAMS."""
    return {q.name: run_saved(cursor, q, QUERY_PARAMS[q.name]) for q in list_queries()}


QUERY_PARAMS: dict[str, dict[str, str]] = {
    "daily_volume_by_symbol": {
        "symbol": "AAPL",
        "start_date": DAYS[0],
        "end_date": DAYS[1],
    },
    "top_symbols_by_notional": {"start_date": DAYS[0], "end_date": DAYS[1], "limit": "2"},
    "ohlcv_window": {
        "symbol": "AAPL",
        "start_ts": "2025-01-15 14:30:00",
        "end_ts": "2025-01-15T15:05:00Z",
    },
    "rejects_by_reason": {"start_date": DAYS[0], "end_date": DAYS[1]},
    "freshness": {},
}


def test_every_query_has_parameters_here() -> None:
    assert sorted(QUERY_PARAMS) == sorted(q.name for q in list_queries())


def test_daily_volume_by_symbol(results: dict[str, list[dict[str, Any]]]) -> None:
    assert results["daily_volume_by_symbol"] == daily_rows("AAPL", DAYS[0], DAYS[1])
    # One value by hand: AAPL on the 15th, T2 as corrected (101.25 x 6),
    # (1000 + 607.5 + 1995 + 102) / 37 = 100.12162162 (…1621621 rounded half-up).
    assert results["daily_volume_by_symbol"][0]["vwap"] == Decimal("100.12162162")


@pytest.mark.parametrize(
    ("symbol", "start", "end", "days"),
    [
        ("AAPL", DAYS[1], DAYS[1], [DAYS[1]]),
        # GOOG's one trade is the 15th's, first reported in the 16th's landing.
        ("GOOG", DAYS[0], DAYS[1], [DAYS[0]]),
        ("MSFT", "2025-01-17", "2025-01-31", []),
        # A quote in the value stays inside the string literal: no such symbol, no rows.
        ("O'NEIL", DAYS[0], DAYS[1], []),
    ],
)
def test_daily_volume_by_symbol_ranges(
    cursor: Any, symbol: str, start: str, end: str, days: list[str]
) -> None:
    values = {"symbol": symbol, "start_date": start, "end_date": end}
    rows = run_saved(cursor, load_query("daily_volume_by_symbol"), values)
    assert rows == daily_rows(symbol, start, end)
    assert [row["trade_date"].isoformat() for row in rows] == days


def test_top_symbols_by_notional(results: dict[str, list[dict[str, Any]]]) -> None:
    expected = top_symbols(DAYS[0], DAYS[1], 2)
    assert results["top_symbols_by_notional"] == expected
    assert [row["symbol"] for row in expected] == ["MSFT", "AAPL"]


def test_top_symbols_ties_go_to_the_alphabetically_first(cursor: Any) -> None:
    values = {"start_date": DAYS[0], "end_date": DAYS[1], "limit": "3"}
    rows = run_saved(cursor, load_query("top_symbols_by_notional"), values)
    assert rows == top_symbols(DAYS[0], DAYS[1], 3)
    # GOOG 166.70 x 3 = 500.10 ties TSLA 250.10 x 1.5 + 249.90 x 0.5 = 500.10 (T9, TSLA's
    # third trade, is cancelled): GOOG takes rank 3 and TSLA is left out.
    assert [(row["symbol"], row["notional"]) for row in rows] == [
        ("MSFT", Decimal("7232.00000000")),
        ("AAPL", Decimal("4846.50000000")),
        ("GOOG", Decimal("500.10000000")),
    ]
    assert top_symbols(DAYS[0], DAYS[1], 4)[3]["notional"] == Decimal("500.10")


@pytest.mark.parametrize(
    ("start", "end", "limit", "ranked"),
    [
        (DAYS[0], DAYS[0], "10", ["AAPL", "MSFT", "GOOG", "TSLA"]),
        (DAYS[0], DAYS[1], "0", []),
    ],
)
def test_top_symbols_below_and_at_zero_limit(
    cursor: Any, start: str, end: str, limit: str, ranked: list[str]
) -> None:
    values = {"start_date": start, "end_date": end, "limit": limit}
    rows = run_saved(cursor, load_query("top_symbols_by_notional"), values)
    assert rows == top_symbols(start, end, int(limit))
    assert [row["symbol"] for row in rows] == ranked


def test_ohlcv_window(results: dict[str, list[dict[str, Any]]]) -> None:
    window = window_bars("AAPL", "2025-01-15T14:30:00Z", "2025-01-15T15:05:00Z")
    assert results["ohlcv_window"] == window
    # The trade at exactly 15:05 opens the next bar, outside the window's end.
    assert [bar["bar_start"].strftime("%H:%M") for bar in window] == ["14:30", "14:31"]


@pytest.mark.parametrize(
    ("start", "end", "bar_starts"),
    [
        # [start, end) to the microsecond: the 14:30 bar starts a microsecond before the
        # window, the 14:31 bar a microsecond before its end.
        ("2025-01-15 14:30:00.000001", "2025-01-15 14:31:00.000001", ["14:31"]),
        ("2025-01-15 14:30:00", "2025-01-15 14:31:00", ["14:30"]),
        (
            "2025-01-15T00:00:00Z",
            "2025-01-17 00:00:00",
            ["14:30", "14:31", "15:05", "09:00", "10:00"],
        ),
    ],
)
def test_ohlcv_window_bounds(cursor: Any, start: str, end: str, bar_starts: list[str]) -> None:
    values = {"symbol": "AAPL", "start_ts": start, "end_ts": end}
    rows = run_saved(cursor, load_query("ohlcv_window"), values)
    assert rows == window_bars("AAPL", start, end)
    assert [row["bar_start"].strftime("%H:%M") for row in rows] == bar_starts


def test_rejects_by_reason(results: dict[str, list[dict[str, Any]]]) -> None:
    expected = reject_counts(DAYS[0], DAYS[1])
    assert results["rejects_by_reason"] == expected
    # Counted per element of reasons: X3's two codes once each, side_invalid for X3 and X6.
    assert [(row["reason"], row["rejected_records"]) for row in expected[:4]] == [
        ("side_invalid", 2),
        ("price_not_numeric", 1),
        ("quantity_out_of_range", 1),
        ("symbol_missing", 1),
    ]
    assert len(expected) == 6


def test_rejects_by_reason_of_one_day(cursor: Any) -> None:
    values = {"start_date": DAYS[1], "end_date": DAYS[1]}
    rows = run_saved(cursor, load_query("rejects_by_reason"), values)
    assert rows == reject_counts(DAYS[1], DAYS[1])
    assert [row["reason"] for row in rows] == ["price_too_precise", "timestamp_outside_partition"]


FRESHNESS_COLUMNS = [
    "table_name",
    "latest_partition_date",
    "latest_timestamp",
    "job",
    "latest_run_started_at",
    "latest_run_date",
    "latest_run_status",
    "latest_published_date",
]


def test_freshness(results: dict[str, list[dict[str, Any]]], athena_lake: AthenaLake) -> None:
    rows = results["freshness"]
    assert [list(row) for row in rows] == [FRESHNESS_COLUMNS] * len(rows)
    last_day = date.fromisoformat(DAYS[-1])
    latest_trade = max(ts(t.timestamp) for t in TRADES)
    latest_bar = max(bar["bar_start"] for s in SYMBOLS for bar in bars(s, "minute"))
    expected = {
        "daily_volume": ("daily_volume", None),
        "ohlcv_1m": ("ohlcv", latest_bar),
        "trade_reports": ("ingest", None),
        "trades": ("ingest", latest_trade),
        "trades_rejected": ("ingest", None),
    }
    assert [row["table_name"] for row in rows] == sorted(expected)
    run_window = (
        datetime.fromtimestamp(athena_lake.started_at - 1, UTC),
        datetime.fromtimestamp(athena_lake.finished_at + 1, UTC),
    )
    for row in rows:
        job, latest_timestamp = expected[row["table_name"]]
        assert row["job"] == job
        assert row["latest_partition_date"] == last_day
        assert row["latest_run_date"] == last_day
        assert row["latest_run_status"] == "ok"
        assert row["latest_published_date"] == last_day
        assert run_window[0] <= row["latest_run_started_at"] <= run_window[1]
        if row["table_name"] in ("trade_reports", "trades_rejected"):
            # ingested_at and rejected_at are the ingest run's clock time.
            assert run_window[0] <= row["latest_timestamp"] <= run_window[1]
        else:
            assert row["latest_timestamp"] == latest_timestamp


def test_columns_have_athena_types(cursor: Any) -> None:
    cursor.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        f"WHERE table_schema = '{DATABASE}' AND table_name IN ('trades', 'trade_reports', "
        "'daily_volume', 'ohlcv_1m', 'trades_rejected') ORDER BY table_name, ordinal_position"
    )
    types = {(table, column): kind for table, column, kind in cursor.fetchall()}
    assert types[("trades", "price")] == "decimal(18,8)"
    assert types[("trades", "quantity")] == "decimal(18,8)"
    assert types[("trades", "traded_at")] == "timestamp(6) with time zone"
    assert types[("trades", "trade_date")] == "date"
    assert types[("trades", "report_seq")] == "integer"
    assert types[("trades", "landing_date")] == "date"
    assert types[("trade_reports", "price")] == "decimal(18,8)"
    assert types[("trade_reports", "report_seq")] == "integer"
    assert types[("trade_reports", "landing_date")] == "date"
    assert types[("daily_volume", "total_volume")] == "decimal(28,8)"
    assert types[("ohlcv_1m", "bar_start")] == "timestamp(6) with time zone"
    assert types[("trades_rejected", "reasons")] == "array(varchar)"


def test_views(cursor: Any, views: list[str]) -> None:
    assert views == [
        "v_daily_volume_latest",
        "v_ohlcv_1h",
        "v_trade_report_history",
        "v_trades_current",
    ]

    latest = fetch_rows(cursor, "SELECT * FROM v_daily_volume_latest ORDER BY symbol")
    last_day = {symbol: max(t.day for t in TRADES if t.symbol == symbol) for symbol in SYMBOLS}
    assert [
        {k: row[k] for k in daily_row(last_day[row["symbol"]], row["symbol"])} for row in latest
    ] == [daily_row(last_day[symbol], symbol) for symbol in SYMBOLS]
    # GOOG and TSLA traded on the 15th only: their latest day is not the table's latest day.
    assert [(row["symbol"], row["trade_date"].isoformat()) for row in latest] == [
        ("AAPL", DAYS[1]),
        ("GOOG", DAYS[0]),
        ("MSFT", DAYS[1]),
        ("TSLA", DAYS[0]),
    ]

    hourly = fetch_rows(cursor, "SELECT * FROM v_ohlcv_1h ORDER BY symbol, bar_start")
    expected = []
    for symbol in SYMBOLS:
        for bar in bars(symbol, "hour"):
            bar = {k: v for k, v in bar.items() if k != "vwap"}
            expected.append({"trade_date": bar["bar_start"].date(), **bar})
    assert [{k: row[k] for k in expected[0]} for row in hourly] == expected
    # TSLA's 15:59:59 and 16:00:00 trades fall in two different hours.
    tsla = [row["bar_start"].hour for row in hourly if row["symbol"] == "TSLA"]
    assert tsla == [15, 16]


@pytest.mark.parametrize(
    ("name", "values", "message"),
    [
        (
            "daily_volume_by_symbol",
            {"symbol": "AAPL", "start_date": "2025-01-15"},
            "needs --param end_date=",
        ),
        (
            "top_symbols_by_notional",
            {"start_date": "2025-01-15", "end_date": "2025-01-16", "limit": "ten"},
            "parameter limit (bigint) got 'ten'",
        ),
        (
            "ohlcv_window",
            {"symbol": "AAPL", "start_ts": "2025-01-15", "end_ts": "2025-01-16 00:00:00"},
            "parameter start_ts (timestamp) got '2025-01-15'",
        ),
        (
            "rejects_by_reason",
            {"start_date": "15/01/2025", "end_date": "2025-01-16"},
            "parameter start_date (date) got '15/01/2025'",
        ),
    ],
)
def test_bad_parameters_fail_before_the_engine(
    name: str, values: dict[str, str], message: str
) -> None:
    class NoEngine:
        def execute(self, *args: object) -> None:
            raise AssertionError("the engine was called")

    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_saved(NoEngine(), load_query(name), values)


def test_view_files_are_athena_ddl() -> None:
    for path in sorted(VIEWS_DIR.glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        assert f"CREATE OR REPLACE VIEW {path.stem} AS" in text, path
