"""Gold transforms: exact daily statistics, OHLCV bars, forward fill and bar intervals.

Every expected number is computed by hand in a comment; derived prices round half-up.
"""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from tests.spark.helpers import assert_frames_equal
from tradelake.config import interval_seconds
from tradelake.errors import ConfigError
from tradelake.gold.transform import daily_volume, fill_forward, ohlcv_bars

pytestmark = pytest.mark.spark

DAY = date(2025, 1, 15)
TRADES_INPUT = (
    "trade_id string, symbol string, side string, price decimal(18,8), "
    "quantity decimal(18,8), traded_at string, exchange string, trade_date date, "
    "source_file string, run_id string, ingested_at string"
)
DAILY = (
    "trade_date date, symbol string, trade_count bigint, total_volume decimal(28,8), "
    "avg_price decimal(18,8), vwap decimal(18,8), low_price decimal(18,8), "
    "high_price decimal(18,8), open_price decimal(18,8), close_price decimal(18,8)"
)
BARS = (
    "trade_date date, symbol string, bar_start string, open decimal(18,8), "
    "high decimal(18,8), low decimal(18,8), close decimal(18,8), volume decimal(28,8), "
    "trade_count bigint, vwap decimal(18,8)"
)
PRICES = ("open", "high", "low", "close", "volume", "trade_count", "vwap")


def trades(spark: Any, rows: list[tuple[str, str, str, str, str]]) -> DataFrame:
    """``trades`` rows of DAY from (trade_id, symbol, price, quantity, UTC time of day)."""
    data = [
        (trade_id, symbol, "buy", Decimal(price), Decimal(quantity), f"2025-01-15 {at}")
        + ("XNAS", DAY, "file:/raw/a.jsonl", "run-1", "2025-01-16 06:00:00")
        for trade_id, symbol, price, quantity, at in rows
    ]
    frame = spark.createDataFrame(data, TRADES_INPUT)
    return frame.withColumns(
        {
            "traded_at": F.to_timestamp("traded_at"),
            "ingested_at": F.to_timestamp("ingested_at"),
        }
    )


def daily(spark: Any, *rows: tuple[Any, ...]) -> DataFrame:
    """Expected daily rows: (symbol, count, volume, avg, vwap, low, high, open, close)."""
    data = [
        (DAY, symbol, count, *[Decimal(value) for value in values])
        for symbol, count, *values in rows
    ]
    return spark.createDataFrame(data, DAILY)


def bar_rows(spark: Any, *rows: tuple[Any, ...]) -> DataFrame:
    """Bars (BARS) from (symbol, HH:MM, open, high, low, close, volume, count, vwap)."""
    data = [
        (DAY, symbol, f"2025-01-15 {hhmm}:00", *[Decimal(v) for v in ohlcv], count, Decimal(vwap))
        for symbol, hhmm, *ohlcv, count, vwap in rows
    ]
    return spark.createDataFrame(data, BARS)


def formatted(bars: DataFrame) -> DataFrame:
    """Bars with bar_start as a UTC wall-clock string, to compare without datetime objects."""
    assert dict(bars.dtypes)["bar_start"] == "timestamp"
    start = F.date_format("bar_start", "yyyy-MM-dd HH:mm:ss").alias("bar_start")
    return bars.select("trade_date", "symbol", start, *PRICES)


# ---------------------------------------------------------------- daily_volume

DAY_TRADES = [
    # AAA: ties on traded_at at the open (09:30) and the close (16:00), listed larger id first.
    ("A-02", "AAA", "20", "1", "09:30:00"),
    ("A-01", "AAA", "21", "2", "09:30:00"),
    ("A-03", "AAA", "25.00000004", "1", "11:00:00"),
    ("A-06", "AAA", "18", "3", "12:00:00"),
    ("A-05", "AAA", "23", "1", "16:00:00"),
    ("A-04", "AAA", "22", "1", "16:00:00"),
    # BBB: both the mean and the VWAP end in an exact 5 at the 9th decimal.
    ("B-1", "BBB", "100.00000002", "0.5", "10:00:00"),
    ("B-2", "BBB", "100.00000003", "0.5", "11:00:00"),
    # CCC: thirds, rounded down.
    ("C-1", "CCC", "1", "0.00000001", "10:00:00"),
    ("C-2", "CCC", "1", "0.00000001", "10:00:01"),
    ("C-3", "CCC", "2", "0.00000001", "10:00:02"),
]


def expected_daily(spark: Any) -> DataFrame:
    return daily(
        spark,
        # AAA: volume 1+2+1+3+1+1 = 9
        #   avg  = (20+21+25.00000004+18+23+22)/6 = 129.00000004/6 = 21.5000000066.. -> 21.50000001
        #   vwap = (20+42+25.00000004+54+23+22)/9 = 186.00000004/9 = 20.6666666711.. -> 20.66666667
        #   open: A-01 (21) before A-02 at 09:30; close: A-05 (23) after A-04 at 16:00
        ("AAA", 6, "9", "21.50000001", "20.66666667", "18", "25.00000004", "21", "23"),
        # BBB: avg = 200.00000005/2 = 100.000000025 -> 100.00000003 (half-even: ...02)
        #   vwap = (50.00000001 + 50.000000015)/1 = 100.000000025 -> 100.00000003
        ("BBB", 2, "1", "100.00000003", "100.00000003")
        + ("100.00000002", "100.00000003", "100.00000002", "100.00000003"),
        # CCC: avg = 4/3 = 1.3333333333.. -> 1.33333333; vwap = 0.00000004/0.00000003 -> same
        ("CCC", 3, "0.00000003", "1.33333333", "1.33333333", "1", "2", "1", "2"),
    )


def test_daily_volume_is_exact_and_rounds_half_up(spark: Any) -> None:
    assert_frames_equal(daily_volume(trades(spark, DAY_TRADES)), expected_daily(spark))


@pytest.mark.parametrize("seed", [None, 1, 2, 3])
def test_daily_volume_ignores_row_order_and_partitioning(spark: Any, seed: int | None) -> None:
    rows = list(reversed(DAY_TRADES))
    if seed is not None:
        random.Random(seed).shuffle(rows)
    frame = trades(spark, rows).repartition(3)
    assert_frames_equal(daily_volume(frame), expected_daily(spark))


def test_daily_volume_extreme_values_do_not_overflow(spark: Any) -> None:
    top_price, top_quantity = "999999.99999999", "9999999999.99999999"
    rows = [(f"M-{n}", "MAX", top_price, top_quantity, f"10:00:0{n}") for n in range(4)]
    rows.append(("M-9", "MAX", "0.00000001", "0.00000001", "10:00:09"))
    rows += [(f"X-{n}", "MIX", top_price, top_quantity, f"11:00:0{n}") for n in range(2)]
    rows.append(("X-9", "MIX", "0.00000001", top_quantity, "11:00:09"))
    actual = daily_volume(trades(spark, rows)).select(
        "symbol", "trade_count", "total_volume", "avg_price", "vwap"
    )
    # P = 1e6 - 1e-8, Q = 1e10 - 1e-8, P*Q = 1e16 - 100 - 0.01 + 1e-16
    #   = 9999999999999899.9900000000000001
    # MAX: volume = 4Q + 1e-8 = 39999999999.99999996 + 0.00000001 = 39999999999.99999997
    #   notional = 4PQ + 1e-16 = 39999999999999599.9600000000000005
    #   vwap = notional/volume = P - (P*1e-8 - 1e-16)/volume = 999999.99999998999975.. -> P
    #   avg = (4P + 1e-8)/5 = 3999999.99999997/5 = 799999.999999994 -> 799999.99999999
    # MIX: volume = 3Q = 29999999999.99999997; every quantity is Q, so
    #   vwap = avg = (2P + 1e-8)/3 = 1999999.99999999/3 = 666666.666666663333.. -> 666666.66666666
    expected = spark.createDataFrame(
        [
            ("MAX", 5, Decimal("39999999999.99999997"), Decimal("799999.99999999"))
            + (Decimal(top_price),),
            ("MIX", 3, Decimal("29999999999.99999997"), Decimal("666666.66666666"))
            + (Decimal("666666.66666666"),),
        ],
        "symbol string, trade_count bigint, total_volume decimal(28,8), "
        "avg_price decimal(18,8), vwap decimal(18,8)",
    )
    assert_frames_equal(actual, expected)


# ---------------------------------------------------------------- ohlcv_bars

BAR_TRADES = [
    # 00:00:00 UTC, e.g. 2025-01-15T02:00:00+02:00 already normalized.
    ("A-01", "AAA", "10", "1", "00:00:00"),
    ("A-02", "AAA", "10", "1", "10:00:00"),
    ("A-03", "AAA", "12", "2", "10:00:30"),
    ("A-04", "AAA", "11", "0.5", "10:00:59.999999"),
    ("A-05", "AAA", "9", "1", "10:01:00"),  # boundary: opens the 10:01 bar
    ("A-06", "AAA", "13", "1", "10:04:59.999999"),
    ("A-07", "AAA", "14", "1", "10:05:00"),  # boundary: opens the 10:05 bar
    ("A-08", "AAA", "16", "1", "23:55:00"),
    # 23:59:59.999999 UTC, e.g. 2025-01-15T18:59:59.999999-05:00 already normalized.
    ("A-09", "AAA", "15", "1", "23:59:59.999999"),
    ("B-01", "BBB", "100.00000001", "3", "23:58:30"),
    ("B-02", "BBB", "100.00000002", "1", "23:59:00"),
    ("B-03", "BBB", "99.99999999", "1", "23:59:30"),
    ("C-01", "CCC", "50", "0.3", "12:34:56"),
    ("D-01", "DDD", "7", "1", "10:00:30"),
    ("D-02", "DDD", "8", "1", "10:02:00"),
    ("E-01", "EEE", "1", "1", "00:00:00.000001"),
]

BARS_1M = [
    ("AAA", "00:00", "10", "10", "10", "10", "1", 1, "10"),
    # notional 10 + 24 + 5.5 = 39.5, volume 3.5: vwap 11.2857142857.. -> 11.28571429
    ("AAA", "10:00", "10", "12", "10", "11", "3.5", 3, "11.28571429"),
    ("AAA", "10:01", "9", "9", "9", "9", "1", 1, "9"),
    ("AAA", "10:04", "13", "13", "13", "13", "1", 1, "13"),
    ("AAA", "10:05", "14", "14", "14", "14", "1", 1, "14"),
    ("AAA", "23:55", "16", "16", "16", "16", "1", 1, "16"),
    ("AAA", "23:59", "15", "15", "15", "15", "1", 1, "15"),
    ("BBB", "23:58", "100.00000001", "100.00000001", "100.00000001", "100.00000001")
    + ("3", 1, "100.00000001"),
    # notional 100.00000002 + 99.99999999 = 200.00000001, /2 = 100.000000005 -> 100.00000001
    ("BBB", "23:59", "100.00000002", "100.00000002", "99.99999999", "99.99999999")
    + ("2", 2, "100.00000001"),
    ("CCC", "12:34", "50", "50", "50", "50", "0.3", 1, "50"),
    ("DDD", "10:00", "7", "7", "7", "7", "1", 1, "7"),
    ("DDD", "10:02", "8", "8", "8", "8", "1", 1, "8"),
    ("EEE", "00:00", "1", "1", "1", "1", "1", 1, "1"),
]

BARS_5M = [
    ("AAA", "00:00", "10", "10", "10", "10", "1", 1, "10"),
    # A-02..A-06: volume 1+2+0.5+1+1 = 5.5, notional 39.5 + 9 + 13 = 61.5
    #   vwap 61.5/5.5 = 11.181818.. -> 11.18181818
    ("AAA", "10:00", "10", "13", "9", "13", "5.5", 5, "11.18181818"),
    ("AAA", "10:05", "14", "14", "14", "14", "1", 1, "14"),
    ("AAA", "23:55", "16", "16", "15", "15", "2", 2, "15.5"),  # 31/2
    # notional 300.00000003 + 100.00000002 + 99.99999999 = 500.00000004
    #   /5 = 100.000000008 -> 100.00000001
    ("BBB", "23:55", "100.00000001", "100.00000002", "99.99999999", "99.99999999")
    + ("5", 3, "100.00000001"),
    ("CCC", "12:30", "50", "50", "50", "50", "0.3", 1, "50"),
    ("DDD", "10:00", "7", "8", "7", "8", "2", 2, "7.5"),  # 15/2
    ("EEE", "00:00", "1", "1", "1", "1", "1", 1, "1"),
]


@pytest.mark.parametrize(("seconds", "expected"), [(60, BARS_1M), (300, BARS_5M)], ids=["1m", "5m"])
def test_ohlcv_bars_are_exact_and_aligned_to_utc(
    spark: Any, seconds: int, expected: list[tuple[Any, ...]]
) -> None:
    actual = ohlcv_bars(trades(spark, BAR_TRADES).repartition(3), seconds)
    assert_frames_equal(formatted(actual), bar_rows(spark, *expected))


# ---------------------------------------------------------------- fill_forward


def test_fill_forward_repeats_the_previous_close_inside_each_symbols_range(spark: Any) -> None:
    bars = bar_rows(
        spark,
        ("AAA", "10:00", "10", "12", "9", "11", "5", 3, "10.5"),
        ("AAA", "10:03", "13", "14", "12.5", "12.75", "2", 2, "13.1"),
        ("BBB", "10:02", "100", "100", "100", "100", "1", 1, "100"),
        ("CCC", "10:00", "5", "5", "5", "5", "1", 1, "5"),
        ("CCC", "10:02", "6", "6", "6", "6", "1", 1, "6"),
        ("CCC", "10:04", "7", "7", "7", "7", "1", 1, "7"),
    ).withColumn("bar_start", F.to_timestamp("bar_start"))
    expected = bar_rows(
        spark,
        ("AAA", "10:00", "10", "12", "9", "11", "5", 3, "10.5"),
        ("AAA", "10:01", "11", "11", "11", "11", "0", 0, "11"),
        ("AAA", "10:02", "11", "11", "11", "11", "0", 0, "11"),
        ("AAA", "10:03", "13", "14", "12.5", "12.75", "2", 2, "13.1"),
        ("BBB", "10:02", "100", "100", "100", "100", "1", 1, "100"),
        ("CCC", "10:00", "5", "5", "5", "5", "1", 1, "5"),
        ("CCC", "10:01", "5", "5", "5", "5", "0", 0, "5"),
        ("CCC", "10:02", "6", "6", "6", "6", "1", 1, "6"),
        ("CCC", "10:03", "6", "6", "6", "6", "0", 0, "6"),
        ("CCC", "10:04", "7", "7", "7", "7", "1", 1, "7"),
    )
    assert_frames_equal(formatted(fill_forward(bars, 60)), expected)


# ---------------------------------------------------------------- interval_seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1m", 60), ("5m", 300), ("15m", 900), ("1h", 3600), ("1d", 86400), ("90m", 5400)],
)
def test_interval_seconds_accepts_intervals_that_divide_a_day(text: str, seconds: int) -> None:
    assert interval_seconds(text) == seconds


@pytest.mark.parametrize("text", ["7m", "0m", "2d", "abc", "1s", ""])
def test_interval_seconds_rejects_other_intervals_naming_valid_ones(text: str) -> None:
    with pytest.raises(ConfigError) as raised:
        interval_seconds(text)
    assert "1m" in str(raised.value)
