"""Gold transforms: per-symbol daily statistics and OHLCV bars, exact DECIMAL throughout.

Input of every transform: rows of ``trades`` for one trade_date. No action is triggered.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from tradelake.decimals import mean_price, notional_parts, vwap_from_sums

FILL_MODES = ("none", "forward")


def _price_volume_aggregates() -> list[Column]:
    whole, fraction = notional_parts(F.col("price"), F.col("quantity"))
    # (traded_at, trade_id) is unique within a day, so the first and the last trade
    # never depend on row order or partitioning.
    trade_order = F.struct("traded_at", "trade_id")
    return [
        F.count(F.lit(1)).alias("trade_count"),
        F.sum("quantity").alias("_volume"),
        F.sum(whole).alias("_notional_whole"),
        F.sum(fraction).alias("_notional_fraction"),
        F.min("price").alias("_low"),
        F.max("price").alias("_high"),
        F.min_by("price", trade_order).alias("_open"),
        F.max_by("price", trade_order).alias("_close"),
    ]


def _vwap() -> Column:
    return vwap_from_sums(F.col("_notional_whole"), F.col("_notional_fraction"), F.col("_volume"))


def daily_volume(trades_day: DataFrame) -> DataFrame:
    """Per-symbol statistics of the day.

    Output, one row per (trade_date, symbol): trade_count, total_volume = sum(quantity),
    avg_price = mean(price), vwap = sum(price × quantity) / sum(quantity), low_price,
    high_price, open_price and close_price (first and last trade by
    (traded_at, trade_id)). Derived prices are rounded half-up to 8 decimals.
    """
    grouped = trades_day.groupBy("trade_date", "symbol").agg(
        *_price_volume_aggregates(), F.sum("price").alias("_price_sum")
    )
    return grouped.select(
        "trade_date",
        "symbol",
        "trade_count",
        F.col("_volume").alias("total_volume"),
        mean_price(F.col("_price_sum"), F.col("trade_count")).alias("avg_price"),
        _vwap().alias("vwap"),
        F.col("_low").alias("low_price"),
        F.col("_high").alias("high_price"),
        F.col("_open").alias("open_price"),
        F.col("_close").alias("close_price"),
    )


def bar_start(traded_at: Column, seconds: int) -> Column:
    """Start of the UTC-aligned tumbling bar of ``seconds`` holding ``traded_at``."""
    epoch_seconds = F.unix_seconds(traded_at)  # whole seconds, floor for post-1970 times
    return F.timestamp_seconds(epoch_seconds - F.pmod(epoch_seconds, F.lit(seconds)))


def ohlcv_bars(trades_day: DataFrame, seconds: int) -> DataFrame:
    """Tumbling OHLCV bars covering [bar_start, bar_start + interval), one per traded bar.

    Output, one row per (trade_date, symbol, bar_start): open, high, low, close, volume,
    trade_count, vwap (rounded half-up to 8 decimals). No row for a bar without trades.
    """
    grouped = trades_day.groupBy(
        "trade_date", "symbol", bar_start(F.col("traded_at"), seconds).alias("bar_start")
    ).agg(*_price_volume_aggregates())
    return grouped.select(
        "trade_date",
        "symbol",
        "bar_start",
        F.col("_open").alias("open"),
        F.col("_high").alias("high"),
        F.col("_low").alias("low"),
        F.col("_close").alias("close"),
        F.col("_volume").alias("volume"),
        "trade_count",
        _vwap().alias("vwap"),
    )


def fill_forward(bars: DataFrame, seconds: int) -> DataFrame:
    """Add empty bars between each symbol's first and last bar of the day.

    An empty bar has open = high = low = close = vwap = the previous bar's close,
    volume 0 and trade_count 0. Input and output: the columns of ``ohlcv_bars``.
    """
    bounds = bars.groupBy("trade_date", "symbol").agg(
        F.min("bar_start").alias("_first"), F.max("bar_start").alias("_last")
    )
    grid = bounds.select(
        "trade_date",
        "symbol",
        F.explode(F.sequence("_first", "_last", F.expr(f"INTERVAL {seconds} SECONDS"))).alias(
            "bar_start"
        ),
    )
    joined = grid.join(bars, ["trade_date", "symbol", "bar_start"], "left")
    up_to_here = (
        Window.partitionBy("trade_date", "symbol")
        .orderBy("bar_start")
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    previous_close = F.last("close", ignorenulls=True).over(up_to_here)
    empty = F.col("trade_count").isNull()
    return joined.select(
        "trade_date",
        "symbol",
        "bar_start",
        *[
            F.when(empty, previous_close).otherwise(F.col(name)).alias(name)
            for name in ("open", "high", "low", "close")
        ],
        F.when(empty, F.lit(0).cast("decimal(28,8)")).otherwise(F.col("volume")).alias("volume"),
        F.when(empty, F.lit(0).cast("bigint")).otherwise(F.col("trade_count")).alias("trade_count"),
        F.when(empty, previous_close).otherwise(F.col("vwap")).alias("vwap"),
    )
