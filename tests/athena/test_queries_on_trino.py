"""Every saved Athena query, and the analysts' views, on Trino over what Spark wrote.

Expected values are computed here from the test's own input trades (``TRADES``) with
Python's Decimal, never with the project's code.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

import pytest

from tests.athena.lake import DATABASE, DAYS, REJECTED, TRADES, AthenaLake, Trade, TrinoServer
from tests.lakes import REPO
from tradelake.athena import AthenaQuery, list_queries, load_query, render_parameters
from tradelake.errors import ConfigError

pytestmark = pytest.mark.athena

VIEWS_DIR = REPO / "sql" / "athena" / "views"
EIGHT = Decimal("0.00000001")


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def half_up(numerator: Decimal, denominator: Decimal) -> Decimal:
    with localcontext() as context:
        context.prec = 80
        return (numerator / denominator).quantize(EIGHT, rounding=ROUND_HALF_UP)


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
def cursor(trino_server: TrinoServer) -> Iterator[Any]:
    connection = trino_server.connect()
    yield connection.cursor()
    connection.close()


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
    assert results["daily_volume_by_symbol"] == [daily_row(day, "AAPL") for day in DAYS]
    # One value by hand: AAPL on the 15th, (1000 + 507.5 + 1995 + 102) / 36 = 100.125.
    assert results["daily_volume_by_symbol"][0]["vwap"] == Decimal("100.12500000")


def test_top_symbols_by_notional(results: dict[str, list[dict[str, Any]]]) -> None:
    totals: dict[str, dict[str, Any]] = {}
    for trade in TRADES:
        row = totals.setdefault(
            trade.symbol, {"notional": Decimal(0), "volume": Decimal(0), "trade_count": 0}
        )
        row["notional"] += trade.price * trade.quantity
        row["volume"] += trade.quantity
        row["trade_count"] += 1
    ranked = sorted(totals.items(), key=lambda item: (-item[1]["notional"], item[0]))
    expected = [
        {"notional_rank": rank, "symbol": symbol, **values}
        for rank, (symbol, values) in enumerate(ranked[:2], start=1)
    ]
    assert results["top_symbols_by_notional"] == expected
    assert [row["symbol"] for row in expected] == ["MSFT", "AAPL"]


def test_ohlcv_window(results: dict[str, list[dict[str, Any]]]) -> None:
    window = [
        bar
        for bar in bars("AAPL", "minute")
        if ts("2025-01-15T14:30:00Z") <= bar["bar_start"] < ts("2025-01-15T15:05:00Z")
    ]
    assert results["ohlcv_window"] == window
    # The trade at exactly 15:05 opens the next bar, outside the window's end.
    assert [bar["bar_start"].strftime("%H:%M") for bar in window] == ["14:30", "14:31"]


def test_rejects_by_reason(results: dict[str, list[dict[str, Any]]]) -> None:
    expected = []
    for day in DAYS:
        counts: dict[str, int] = {}
        for _, reasons in REJECTED[day]:
            for reason in reasons:
                counts[reason] = counts.get(reason, 0) + 1
        expected += [
            {"ingest_date": date.fromisoformat(day), "reason": reason, "rejected_records": n}
            for reason, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        ]
    assert results["rejects_by_reason"] == expected
    assert len(expected) == 6


def test_freshness(results: dict[str, list[dict[str, Any]]], athena_lake: AthenaLake) -> None:
    rows = results["freshness"]
    last_day = date.fromisoformat(DAYS[-1])
    latest_trade = max(ts(t.timestamp) for t in TRADES)
    latest_bar = max(
        bar["bar_start"] for s in ("AAPL", "MSFT", "TSLA") for bar in bars(s, "minute")
    )
    expected = {
        "daily_volume": ("daily_volume", None),
        "ohlcv_1m": ("ohlcv", latest_bar),
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
        if row["table_name"] == "trades_rejected":
            # rejected_at is the ingest run's clock time.
            assert run_window[0] <= row["latest_timestamp"] <= run_window[1]
        else:
            assert row["latest_timestamp"] == latest_timestamp


def test_tables_are_iceberg_v2_with_athena_types(cursor: Any) -> None:
    cursor.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        f"WHERE table_schema = '{DATABASE}' AND table_name IN ('trades', 'daily_volume', "
        "'ohlcv_1m', 'trades_rejected') ORDER BY table_name, ordinal_position"
    )
    types = {(table, column): kind for table, column, kind in cursor.fetchall()}
    assert types[("trades", "price")] == "decimal(18,8)"
    assert types[("trades", "quantity")] == "decimal(18,8)"
    assert types[("trades", "traded_at")] == "timestamp(6) with time zone"
    assert types[("trades", "trade_date")] == "date"
    assert types[("daily_volume", "total_volume")] == "decimal(28,8)"
    assert types[("ohlcv_1m", "bar_start")] == "timestamp(6) with time zone"
    assert types[("trades_rejected", "reasons")] == "array(varchar)"
    for table in ("trades", "trades_rejected", "daily_volume", "ohlcv_1m", "job_runs"):
        cursor.execute(f"SELECT value FROM \"{table}$properties\" WHERE key = 'format-version'")
        assert cursor.fetchall() == [["2"]], table


def view_ddl(name: str) -> str:
    return (VIEWS_DIR / f"{name}.sql").read_text(encoding="utf-8")


def test_views(cursor: Any) -> None:
    assert sorted(path.stem for path in VIEWS_DIR.glob("*.sql")) == [
        "v_daily_volume_latest",
        "v_ohlcv_1h",
    ]
    for path in sorted(VIEWS_DIR.glob("*.sql")):
        cursor.execute(path.read_text(encoding="utf-8"))
        cursor.fetchall()

    cursor.execute("SELECT * FROM v_daily_volume_latest ORDER BY symbol")
    columns = [column[0] for column in cursor.description]
    latest = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    last_day = {
        symbol: max(t.day for t in TRADES if t.symbol == symbol)
        for symbol in ("AAPL", "MSFT", "TSLA")
    }
    assert [
        {k: row[k] for k in daily_row(last_day[row["symbol"]], row["symbol"])} for row in latest
    ] == [daily_row(last_day[symbol], symbol) for symbol in sorted(last_day)]
    # TSLA traded on the 15th only: its latest day is not the table's latest day.
    assert [row["trade_date"].isoformat() for row in latest] == [DAYS[1], DAYS[1], DAYS[0]]

    cursor.execute("SELECT * FROM v_ohlcv_1h ORDER BY symbol, bar_start")
    columns = [column[0] for column in cursor.description]
    hourly = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    expected = []
    for symbol in ("AAPL", "MSFT", "TSLA"):
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
