"""Exact DECIMAL arithmetic for derived prices: no double, no silent precision loss.

Spark types a large DECIMAL division so that its result may keep only 6 decimals, and a
later rounding to 8 would then be double rounding. Derived prices are therefore
computed as integers of 1e-8 units with integral division (``div``, exact on
decimals), and rounded half-up exactly once.

Bounds (prices < 1e6, quantities < 1e10, 1e8 trades per symbol and day): a notional sum
reaches 1e24 with 16 decimals, 40 digits, more than DECIMAL(38) holds. It is kept as
two exact parts: the whole 1e-8 units of each notional, and the sub-unit remainders.
"""

from __future__ import annotations

from decimal import Decimal

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType

from tradelake.contract import MONEY

INTEGRAL = DecimalType(38, 0)
NOTIONAL = DecimalType(37, 16)  # price × quantity of two DECIMAL(18,8), exactly
UNITS_PER_PRICE = 8  # a price is an integer number of 1e-8 units


def as_units(value: Column, scale: int) -> Column:
    """``value × 10^scale`` as DECIMAL(38,0); exact when ``value`` has <= ``scale`` decimals."""
    return (value * F.lit(10**scale).cast(DecimalType(19, 0))).cast(INTEGRAL)


def integral_div(numerator: Column, denominator: Column) -> Column:
    """Exact ``numerator div denominator`` of integral decimals (BIGINT, truncated)."""
    return F.call_function("div", numerator, denominator)


def rounded_quotient(
    numerator: Column, denominator: Column, low: Column | None = None, low_shift: int = 0
) -> Column:
    """``(numerator × 10^low_shift + low) / denominator`` rounded half-up, as BIGINT.

    All operands are integral DECIMAL(38,0) and positive; ``low < 10^low_shift ×
    denominator`` keeps the two-step long division exact even when
    ``numerator × 10^low_shift`` would not fit in 38 digits.
    """
    first = integral_div(numerator, denominator)
    remainder = numerator - first.cast(INTEGRAL) * denominator
    quotient = first
    if low is not None:
        carried = (remainder * F.lit(10**low_shift).cast(DecimalType(19, 0))).cast(INTEGRAL) + low
        second = integral_div(carried, denominator)
        remainder = carried - second.cast(INTEGRAL) * denominator
        quotient = first * F.lit(10**low_shift) + second
    return quotient + F.when(remainder * 2 >= denominator, 1).otherwise(0)


def units_to_money(units: Column) -> Column:
    """BIGINT count of 1e-8 units as DECIMAL(18,8) (exact)."""
    return (units.cast(DecimalType(20, 0)) * F.lit(Decimal("0.00000001"))).cast(MONEY)


def notional_parts(price: Column, quantity: Column) -> tuple[Column, Column]:
    """Per trade: the notional's whole 1e-8 units, and the exact sub-unit remainder."""
    notional = (price * quantity).cast(NOTIONAL)
    whole = F.floor(notional, UNITS_PER_PRICE)
    return whole, notional - whole.cast(NOTIONAL)


def vwap_from_sums(whole_sum: Column, fraction_sum: Column, volume: Column) -> Column:
    """VWAP = sum(price × quantity) / sum(quantity), rounded half-up to 8 decimals.

    ``whole_sum`` and ``fraction_sum`` are the sums of ``notional_parts``; ``volume`` the
    sum of quantities.
    """
    units = rounded_quotient(
        as_units(whole_sum, UNITS_PER_PRICE),
        as_units(volume, UNITS_PER_PRICE),
        low=as_units(fraction_sum, 2 * UNITS_PER_PRICE),
        low_shift=UNITS_PER_PRICE,
    )
    return units_to_money(units)


def mean_price(price_sum: Column, count: Column) -> Column:
    """sum(price) / count, rounded half-up to 8 decimals."""
    return units_to_money(
        rounded_quotient(as_units(price_sum, UNITS_PER_PRICE), count.cast(INTEGRAL))
    )
