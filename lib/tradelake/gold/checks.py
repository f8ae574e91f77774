"""Quality checks on a gold output, each computed in one aggregation pass."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from tradelake.quality import CheckResult


@dataclass(frozen=True)
class TradesTotals:
    """What the day's ``trades`` partition holds; outputs must reconcile with it."""

    trade_count: int
    quantity: Decimal


@dataclass(frozen=True)
class OutputColumns:
    """Names of the OHLC columns and the key columns of one gold table."""

    open: str
    high: str
    low: str
    close: str
    volume: str
    keys: tuple[str, ...]


DAILY_VOLUME_COLUMNS = OutputColumns(
    "open_price",
    "high_price",
    "low_price",
    "close_price",
    "total_volume",
    ("trade_date", "symbol"),
)
OHLCV_COLUMNS = OutputColumns(
    "open", "high", "low", "close", "volume", ("trade_date", "symbol", "bar_start")
)


def trades_totals(trades_day: DataFrame) -> TradesTotals:
    """Row count and quantity sum of the day's trades (one aggregation)."""
    row = trades_day.agg(F.count(F.lit(1)).alias("n"), F.sum("quantity").alias("quantity")).first()
    assert row is not None
    return TradesTotals(int(row["n"]), row["quantity"] or Decimal(0))


def output_checks(
    output: DataFrame, columns: OutputColumns, totals: TradesTotals
) -> list[CheckResult]:
    """Reconciliation with ``trades``, OHLC ordering and no null keys or aggregates."""
    c = columns
    low, high = F.col(c.low), F.col(c.high)
    ordered = (
        (low <= F.col(c.open))
        & (F.col(c.open) <= high)
        & (low <= F.col(c.close))
        & (F.col(c.close) <= high)
    )
    null_key = F.lit(False)
    for key in c.keys:
        null_key = null_key | F.col(key).isNull()
    null_value = F.lit(False)
    for name in (c.open, c.high, c.low, c.close, c.volume, "trade_count", "vwap"):
        null_value = null_value | F.col(name).isNull()
    row = output.agg(
        F.coalesce(F.sum("trade_count"), F.lit(0)).alias("trade_count"),
        F.coalesce(F.sum(c.volume), F.lit(0)).alias("volume"),
        F.count_if(~ordered).alias("unordered"),
        F.count_if(null_key).alias("null_keys"),
        F.count_if(null_value).alias("null_values"),
    ).first()
    assert row is not None
    volume = Decimal(row["volume"])
    return [
        CheckResult(
            "reconcile_trade_count",
            "error",
            int(row["trade_count"]) == totals.trade_count,
            int(row["trade_count"]),
            f"== {totals.trade_count} rows in trades",
        ),
        CheckResult(
            "reconcile_volume",
            "error",
            volume == totals.quantity,
            str(volume),
            f"== {totals.quantity} sum(quantity) in trades",
        ),
        CheckResult(
            "ohlc_ordered",
            "error",
            row["unordered"] == 0,
            int(row["unordered"]),
            "0 rows outside low <= open, close <= high",
        ),
        CheckResult(
            "no_null_keys",
            "error",
            row["null_keys"] == 0,
            int(row["null_keys"]),
            "0 rows with a null key",
        ),
        CheckResult(
            "no_null_aggregates",
            "error",
            row["null_values"] == 0,
            int(row["null_values"]),
            "0 rows with a null price, volume or count",
        ),
    ]
