"""Every saved Athena query, run by Spark SQL over tables the real jobs built.

Parameters are bound as literals by the runner's own rendering code (``DATE '…'``,
``TIMESTAMP '…'`` and quoted strings are valid Spark SQL too). Expected rows are worked
out by hand from the raw trades below, in the comments next to them.

One dialect difference is bridged: Spark has no ``UNNEST``; ``rejects_by_reason`` runs
with its ``CROSS JOIN UNNEST(reasons) AS r (reason)`` clause swapped for Spark's
``CROSS JOIN LATERAL explode(reasons) AS r (reason)`` (the same rows: one per element,
none for an empty array). Nothing else in any query is changed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from tests.spark.rawfiles import CSV_HEADER, day_folder, write_lines
from tradelake.athena import inline_parameters, list_queries, load_query, render_parameters

pytestmark = pytest.mark.spark

D1, D2 = "2025-01-15", "2025-01-16"
DAY1, DAY2 = date(2025, 1, 15), date(2025, 1, 16)

RAW = {
    D1: [
        "A1,AAPL,buy,100.00000000,2,2025-01-15T14:30:00Z,XNAS",
        "A2,AAPL,sell,101,1,2025-01-15T14:30:30Z,XNAS",
        "A3,AAPL,buy,99.5,3,2025-01-15T14:32:10Z,XNAS",
        "M1,MSFT,buy,410.1,10,2025-01-15T09:00:00Z,XNAS",
        "B1,AAPL,hold,100,1,2025-01-15T10:00:00Z,XNAS",  # side_invalid
        "B2,AAPL,buy,abc,-1,2025-01-15T10:00:00Z,XNAS",  # price_not_numeric, quantity_out_of_range
        "B5,MSFT,short,10,1,2025-01-15T10:00:00Z,XNAS",  # side_invalid
    ],
    D2: [
        "A4,AAPL,buy,102,5,2025-01-16T10:00:00Z,XNAS",
        "M2,MSFT,sell,400,1,2025-01-16T10:00:00Z,XNAS",
        "G1,GOOG,buy,150.25,4,2025-01-16T10:00:59Z,XNAS",
        "X1,XOM,buy,601,1,2025-01-16T10:00:30Z,XNAS",
        "B3,MSFT,buy,1.123456789,1,2025-01-16T11:00:00Z,XNAS",  # price_too_precise
        "B4,MSFT,sell,10,5,2025-01-16T11:00:00Z,",  # exchange_missing
    ],
}

COLUMNS = {
    "daily_volume_by_symbol": [
        "trade_date", "symbol", "trade_count", "total_volume", "avg_price", "vwap",
        "open_price", "high_price", "low_price", "close_price",
    ],
    "top_symbols_by_notional": ["notional_rank", "symbol", "notional", "volume", "trade_count"],
    "ohlcv_window": [
        "symbol", "bar_start", "open", "high", "low", "close", "volume", "trade_count", "vwap",
    ],
    "rejects_by_reason": ["ingest_date", "reason", "rejected_records"],
    "freshness": [
        "table_name", "latest_partition_date", "latest_timestamp", "job",
        "latest_run_started_at", "latest_run_date", "latest_run_status",
        "latest_published_date",
    ],
}  # fmt: skip


def dec(text: str) -> Decimal:
    return Decimal(text)


# AAPL on D1: volume 2 + 1 + 3 = 6; notional 200 + 101 + 298.5 = 599.5;
# mean (100 + 101 + 99.5) / 3 = 100.1666…67; vwap 599.5 / 6 = 99.91666…67;
# open 100 (14:30:00), close 99.5 (14:32:10). AAPL on D2: one trade of 5 at 102.
AAPL_D1 = (DAY1, "AAPL", 3, dec("6"), dec("100.16666667"), dec("99.91666667"),
           dec("100"), dec("101"), dec("99.5"), dec("99.5"))  # fmt: skip
AAPL_D2 = (DAY2, "AAPL", 1, dec("5"), dec("102"), dec("102"),
           dec("102"), dec("102"), dec("102"), dec("102"))  # fmt: skip

# 1-minute bars of AAPL. 14:30: A1 (100 x 2) then A2 (101 x 1): vwap 301 / 3 = 100.333…;
# 14:32: A3 (99.5 x 3); D2 10:00: A4 (102 x 5).
BAR_1430 = ("AAPL", "2025-01-15 14:30:00", dec("100"), dec("101"), dec("100"), dec("101"),
            dec("3"), 2, dec("100.33333333"))  # fmt: skip
BAR_1432 = ("AAPL", "2025-01-15 14:32:00", dec("99.5"), dec("99.5"), dec("99.5"), dec("99.5"),
            dec("3"), 1, dec("99.5"))  # fmt: skip
BAR_D2 = ("AAPL", "2025-01-16 10:00:00", dec("102"), dec("102"), dec("102"), dec("102"),
          dec("5"), 1, dec("102"))  # fmt: skip

# (parameters, rows in the query's order)
CASES: dict[str, list[tuple[dict[str, str], list[tuple[Any, ...]]]]] = {
    "daily_volume_by_symbol": [
        ({"symbol": "AAPL", "start_date": D1, "end_date": D2}, [AAPL_D1, AAPL_D2]),
        ({"symbol": "AAPL", "start_date": D2, "end_date": D2}, [AAPL_D2]),
        ({"symbol": "MSFT", "start_date": "2025-01-17", "end_date": "2025-01-31"}, []),
        # A quote in the value stays inside the literal.
        ({"symbol": "O'NEIL", "start_date": D1, "end_date": D2}, []),
    ],
    "top_symbols_by_notional": [
        # MSFT 4101 + 400 = 4501 (11 shares, 2 trades); AAPL 599.5 + 510 = 1109.5 (11, 4);
        # GOOG 150.25 x 4 = 601 ties XOM 601 x 1: the alphabetically first symbol wins.
        (
            {"start_date": D1, "end_date": D2, "limit": "3"},
            [
                (1, "MSFT", dec("4501"), dec("11"), 2),
                (2, "AAPL", dec("1109.5"), dec("11"), 4),
                (3, "GOOG", dec("601"), dec("4"), 1),
            ],
        ),
        (
            {"start_date": D1, "end_date": D1, "limit": "10"},
            [(1, "MSFT", dec("4101"), dec("10"), 1), (2, "AAPL", dec("599.5"), dec("6"), 3)],
        ),
        ({"start_date": D1, "end_date": D2, "limit": "0"}, []),
    ],
    "ohlcv_window": [
        # [start, end): the bar starting exactly at the end is left out.
        (
            {"symbol": "AAPL", "start_ts": "2025-01-15 14:30:00", "end_ts": "2025-01-15 14:32:00"},
            [BAR_1430],
        ),
        (
            {"symbol": "AAPL", "start_ts": "2025-01-15T00:00:00Z", "end_ts": "2025-01-17 00:00:00"},
            [BAR_1430, BAR_1432, BAR_D2],
        ),
        (
            {
                "symbol": "AAPL",
                "start_ts": "2025-01-15 14:30:00.000001",
                "end_ts": "2025-01-15 14:32:00.000001",
            },
            [BAR_1432],
        ),
        (
            {"symbol": "MSFT", "start_ts": "2025-01-15 14:00:00", "end_ts": "2025-01-15 15:00:00"},
            [],
        ),
    ],
    "rejects_by_reason": [
        # D1: B1 and B5 side_invalid, B2 price_not_numeric and quantity_out_of_range;
        # D2: B3 price_too_precise, B4 exchange_missing. Count first, then reason.
        (
            {"start_date": D1, "end_date": D2},
            [
                (DAY1, "side_invalid", 2),
                (DAY1, "price_not_numeric", 1),
                (DAY1, "quantity_out_of_range", 1),
                (DAY2, "exchange_missing", 1),
                (DAY2, "price_too_precise", 1),
            ],
        ),
        (
            {"start_date": D2, "end_date": D2},
            [(DAY2, "exchange_missing", 1), (DAY2, "price_too_precise", 1)],
        ),
    ],
}

ATHENA_UNNEST = "CROSS JOIN UNNEST(reasons) AS r (reason)"
SPARK_UNNEST = "CROSS JOIN LATERAL explode(reasons) AS r (reason)"


def spark_sql_text(name: str, values: dict[str, str]) -> str:
    """The query with literals bound by the runner's code, in Spark's dialect."""
    query = load_query(name)
    text = inline_parameters(query, render_parameters(query, values))
    if name == "rejects_by_reason":
        assert text.count(ATHENA_UNNEST) == 1
        text = text.replace(ATHENA_UNNEST, SPARK_UNNEST)
    assert "UNNEST" not in text.upper()
    return text


def run_on_spark(spark: SparkSession, name: str, values: dict[str, str]) -> list[tuple[Any, ...]]:
    """Rows of the query; timestamps as UTC text, independent of the Python time zone."""
    frame = spark.sql(spark_sql_text(name, values))
    assert frame.columns == COLUMNS[name]
    frame = frame.select(
        *[
            F.date_format(column, "yyyy-MM-dd HH:mm:ss").alias(column)
            if kind == "timestamp"
            else F.col(column)
            for column, kind in frame.dtypes
        ]
    )
    return [tuple(row) for row in frame.collect()]


def assert_rows(actual: list[tuple[Any, ...]], expected: list[tuple[Any, ...]]) -> None:
    """Equal values of equal Python types: 599.5 as a float would equal Decimal("599.5")."""
    assert actual == expected
    assert [tuple(map(type, row)) for row in actual] == [tuple(map(type, row)) for row in expected]


def utc_now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def test_every_query_has_spark_cases() -> None:
    assert sorted(query.name for query in list_queries()) == sorted([*CASES, "freshness"])
    assert sorted(COLUMNS) == sorted([*CASES, "freshness"])


def test_athena_queries_give_hand_computed_rows_on_spark(
    spark: Any, lake_env: Any, run_job: Any, subtests: Any
) -> None:
    started = utc_now_text()
    for day, rows in RAW.items():
        write_lines(day_folder(lake_env.raw_root, day) / "x.csv", [CSV_HEADER, *rows])
    # 3 of 7 and 2 of 6 records are rejected on purpose: raise the gate above that.
    # ohlcv runs D2 before D1, so its latest run is not its latest published day.
    for job, day, extra in [
        ("ingest", D1, ("--max-reject-ratio", "0.5")),
        ("ingest", D2, ("--max-reject-ratio", "0.5")),
        ("daily_volume", D1, ()),
        ("daily_volume", D2, ()),
        ("ohlcv", D2, ()),
        ("ohlcv", D1, ()),
    ]:
        run = run_job(job, "--date", day, *extra)
        assert run.exit_code == 0, run.summary
    finished = utc_now_text()

    catalog, database = spark.catalog.currentCatalog(), spark.catalog.currentDatabase()
    spark.sql(f"USE lake.{lake_env.database}")
    try:
        for name, cases in CASES.items():
            for values, expected in cases:
                with subtests.test(query=name, params=values):
                    assert_rows(run_on_spark(spark, name, values), expected)

        with subtests.test(query="freshness"):
            check_freshness(run_on_spark(spark, "freshness", {}), started, finished)
    finally:
        spark.catalog.setCurrentCatalog(catalog)
        spark.catalog.setCurrentDatabase(database)


def check_freshness(rows: list[tuple[Any, ...]], started: str, finished: str) -> None:
    """Dates and event times are fixed by the input; run times fall within the test."""
    fixed = [(row[0], row[1], row[3], row[5], row[6], row[7]) for row in rows]
    assert fixed == [
        ("daily_volume", DAY2, "daily_volume", DAY2, "ok", DAY2),
        # The last ohlcv run was for D1; D2 is still its latest published day.
        ("ohlcv_1m", DAY2, "ohlcv", DAY1, "ok", DAY2),
        ("trades", DAY2, "ingest", DAY2, "ok", DAY2),
        ("trades_rejected", DAY2, "ingest", DAY2, "ok", DAY2),
    ]
    latest = {row[0]: row[2] for row in rows}
    # Latest traded_at is G1 (10:00:59); the latest 1-minute bar starts at 10:00.
    assert latest["trades"] == "2025-01-16 10:00:59"
    assert latest["ohlcv_1m"] == "2025-01-16 10:00:00"
    assert latest["daily_volume"] is None
    assert started <= latest["trades_rejected"] <= finished
    run_started = {row[3]: row[4] for row in rows}
    assert started <= run_started["ingest"] <= run_started["daily_volume"]
    assert run_started["daily_volume"] <= run_started["ohlcv"] <= finished
