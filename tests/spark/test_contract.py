"""Column-level tests of every contract rule: input and expected value side by side."""

from __future__ import annotations

import random
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from chispa import assert_column_equality
from pyspark.sql import functions as F

from tests.spark.helpers import raw_frame
from tradelake.config import ContractSettings
from tradelake.contract import (
    REASON_CODES,
    clean_text,
    parse_decimal,
    parse_timestamp,
    validate_trades,
)

pytestmark = pytest.mark.spark

DAY = date(2025, 1, 15)
NOW = datetime(2025, 1, 16, 6, 0, tzinfo=UTC)


def test_clean_text(spark: Any) -> None:
    frame = spark.createDataFrame(
        [
            ("  a b ", "a b"),
            ("", None),
            ("   ", None),
            (None, None),
            ("\tx\t", "x"),
            ("a\u00a0", "a\u00a0"),
        ],
        "raw string, expected string",
    ).withColumn("actual", clean_text(F.col("raw")))
    # ASCII whitespace is trimmed; a no-break space is content (and breaks the symbol rule).
    assert_column_equality(frame, "actual", "expected")


def test_parse_decimal_is_exact(spark: Any) -> None:
    frame = spark.createDataFrame(
        [
            ("187.25", Decimal("187.25")),
            ("123456789.123456789", Decimal("123456789.123456789")),
            ("1e3", Decimal("1000")),
            ("+.5", Decimal("0.5")),
            ("-2", Decimal("-2")),
            ("1,000.5", None),
            ("NaN", None),
            ("Infinity", None),
            ("0x10", None),
            ("1e400", None),
            ("", None),
            (None, None),
        ],
        "raw string, expected decimal(38,18)",
    ).withColumn("actual", parse_decimal(F.col("raw")))
    assert_column_equality(frame, "actual", "expected")


def test_parse_timestamp_converts_to_utc(spark: Any) -> None:
    frame = spark.createDataFrame(
        [
            ("2025-01-15T10:00:00Z", "2025-01-15 10:00:00"),
            ("2025-01-15T12:00:00+02:00", "2025-01-15 10:00:00"),
            ("2025-01-14T20:00:00-05:00", "2025-01-15 01:00:00"),
            ("2025-01-15 10:00:00.123456", "2025-01-15 10:00:00.123456"),
            ("2025-01-15T10:00", "2025-01-15 10:00:00"),
            # Hours and minutes with a zone, valid ISO-8601 (Spark's parser needs seconds).
            ("2025-01-15T10:00Z", "2025-01-15 10:00:00"),
            ("2025-01-15 12:00+02:00", "2025-01-15 10:00:00"),
            ("2025-01-15T10:00z", None),
            ("2025-01-15", None),
            ("yesterday", None),
            ("1736935200", None),
            ("2025-02-30T10:00:00Z", None),
            (None, None),
        ],
        "raw string, expected_text string",
    )
    frame = frame.select(
        parse_timestamp(F.col("raw")).alias("actual"),
        F.to_timestamp("expected_text").alias("expected"),
    )
    assert_column_equality(frame, "actual", "expected")


CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("valid", {}, []),
    ("normalizes case and spaces", {"symbol": " aapl ", "side": " SELL "}, []),
    ("missing trade_id", {"trade_id": "  "}, ["trade_id_missing"]),
    ("missing symbol", {"symbol": None}, ["symbol_missing"]),
    ("invalid symbol", {"symbol": "AA PL"}, ["symbol_invalid"]),
    ("invalid symbol chars", {"symbol": "$$$"}, ["symbol_invalid"]),
    ("missing side", {"side": ""}, ["side_missing"]),
    ("invalid side", {"side": "hold"}, ["side_invalid"]),
    ("missing price", {"price": None}, ["price_missing"]),
    ("non-numeric price", {"price": "abc"}, ["price_not_numeric"]),
    ("NaN price", {"price": "NaN"}, ["price_not_numeric"]),
    ("zero price", {"price": "0"}, ["price_out_of_range"]),
    ("negative price", {"price": "-1"}, ["price_out_of_range"]),
    ("price at the bound", {"price": "1000000"}, ["price_out_of_range"]),
    ("huge price", {"price": "1e400"}, ["price_out_of_range"]),
    ("nine decimals", {"price": "1.123456789"}, ["price_too_precise"]),
    ("eight decimals", {"price": "999999.99999999"}, []),
    # Decided on the exact value of the text, never on a rounded one.
    ("19 decimals", {"price": "1.0000000000000000001"}, ["price_too_precise"]),
    ("39 digits", {"price": "187.250000000000000000000000000000000001"}, ["price_too_precise"]),
    ("tiny but positive", {"quantity": "1e-19"}, ["quantity_too_precise"]),
    ("astronomically tiny", {"quantity": "1e-99999999999999999999999"}, ["quantity_too_precise"]),
    ("tiny and negative", {"price": "-1e-19"}, ["price_out_of_range"]),
    ("1.5e400", {"price": "1.5e400"}, ["price_out_of_range"]),
    ("astronomically large", {"price": "1e99999999999999999999"}, ["price_out_of_range"]),
    ("just below the bound", {"price": "999999.9999999999999999999"}, ["price_too_precise"]),
    (
        "just above the bound",
        {"quantity": "1000000000.0000000000000000001"},
        ["quantity_out_of_range"],
    ),
    ("trailing zeros", {"price": "187.2500000000000000000000"}, []),
    ("exponent", {"price": "1.8725e2", "quantity": "1000E-2"}, []),
    ("plus sign", {"price": "+187.25"}, []),
    ("zero quantity", {"quantity": "0"}, ["quantity_out_of_range"]),
    ("quantity above bound", {"quantity": "1000000001"}, ["quantity_out_of_range"]),
    ("quantity at bound", {"quantity": "1000000000"}, []),
    ("missing quantity", {"quantity": " "}, ["quantity_missing"]),
    ("text quantity", {"quantity": "ten"}, ["quantity_not_numeric"]),
    ("missing timestamp", {"timestamp": None}, ["timestamp_missing"]),
    ("unparseable timestamp", {"timestamp": "yesterday"}, ["timestamp_invalid"]),
    ("date only", {"timestamp": "2025-01-15"}, ["timestamp_invalid"]),
    ("previous day", {"timestamp": "2025-01-14T23:59:59.999999Z"}, ["timestamp_outside_partition"]),
    ("next midnight", {"timestamp": "2025-01-16T00:00:00Z"}, ["timestamp_outside_partition"]),
    ("offset into the day", {"timestamp": "2025-01-14T23:30:00-01:00"}, []),
    ("missing exchange", {"exchange": ""}, ["exchange_missing"]),
    (
        "every rule at once",
        {
            "trade_id": None,
            "symbol": "a b",
            "side": "x",
            "price": "-5",
            "quantity": "1.000000001",
            "timestamp": "2025-01-10T00:00:00Z",
            "exchange": None,
        },
        [
            "trade_id_missing",
            "symbol_invalid",
            "side_invalid",
            "price_out_of_range",
            "quantity_too_precise",
            "timestamp_outside_partition",
            "exchange_missing",
        ],
    ),
    ("malformed wins over fields", {"malformed": True, "price": "abc"}, ["malformed_record"]),
    # Versions: report_type and report_seq.
    ("a correction", {"report_type": " Correct ", "report_seq": "3"}, []),
    ("an explicit new", {"report_type": "NEW", "report_seq": "0"}, []),
    ("the largest sequence", {"report_seq": "2147483647"}, []),
    ("leading zeros", {"report_seq": "007"}, []),
    ("blank version fields", {"report_type": "  ", "report_seq": " "}, []),
    ("an amend", {"report_type": "amend"}, ["report_type_invalid"]),
    ("a sequence past INT", {"report_seq": "2147483648"}, ["report_seq_invalid"]),
    ("a negative sequence", {"report_seq": "-1"}, ["report_seq_invalid"]),
    ("a decimal sequence", {"report_seq": "1.0"}, ["report_seq_invalid"]),
    ("an exponent sequence", {"report_seq": "1e3"}, ["report_seq_invalid"]),
    ("a huge sequence", {"report_seq": "9" * 40}, ["report_seq_invalid"]),
    (
        "a bare cancel",
        {
            "report_type": "cancel",
            "report_seq": "1",
            "symbol": None,
            "side": None,
            "price": None,
            "quantity": None,
            "exchange": None,
        },
        [],
    ),  # fmt: skip
    (
        "a cancel is checked where it says something",
        {"report_type": "cancel", "side": "hold", "price": "abc", "quantity": None},
        ["side_invalid", "price_not_numeric"],
    ),
    (
        "a cancel names its trade and day",
        {"report_type": "cancel", "trade_id": None, "timestamp": None, "symbol": None},
        ["trade_id_missing", "timestamp_missing"],
    ),
    (
        "an invalid type requires every field",
        {"report_type": "void", "symbol": None},
        ["symbol_missing", "report_type_invalid"],
    ),
]


def test_amounts_are_read_exactly_whatever_their_text(spark: Any) -> None:
    """Exact DECIMAL(18,8) values where the text is exact; the digits never get rounded."""
    raw = raw_frame(
        spark,
        {"record": "zeros", "price": "187.2500000000", "quantity": "0010.000000000000000000000"},
        {"record": "exponent", "price": "1.8725E+2", "quantity": "123456789e-8"},
        {"record": "long", "price": "000999999.99999999000000000000", "quantity": "1000000000"},
    )
    rows = {
        row["record"]: (row["price"], row["quantity"], row["reasons"])
        for row in validate_trades(raw, DAY, NOW, ContractSettings()).collect()
    }
    assert rows == {
        "zeros": (Decimal("187.25"), Decimal("10"), []),
        "exponent": (Decimal("187.25"), Decimal("1.23456789"), []),
        "long": (Decimal("999999.99999999"), Decimal("1000000000"), []),
    }


def _amount_reasons(text: str, name: str, bound: Decimal, inclusive: bool) -> list[str]:
    """The contract's rules for one amount, in plain Python Decimal: the oracle."""
    if not re.fullmatch(r"[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?", text):
        return [f"{name}_not_numeric"]
    value = Decimal(text)
    if value <= 0 or (value > bound if inclusive else value >= bound):
        return [f"{name}_out_of_range"]
    digits = value.as_tuple()
    assert isinstance(digits.exponent, int)
    kept = "".join(map(str, digits.digits)).rstrip("0")
    places = max(0, -(digits.exponent + len(digits.digits) - len(kept))) if kept else 0
    return [f"{name}_too_precise"] if places > 8 else []


def test_amount_rules_agree_with_exact_decimal_arithmetic(spark: Any) -> None:
    """2,000 seeded number texts of every shape: the reasons equal a Decimal oracle's."""
    rng = random.Random(20250115)

    def digits(most: int) -> str:
        return "".join(rng.choice("0123456789") for _ in range(rng.randint(0, most)))

    texts = set()
    while len(texts) < 2000:
        fraction = rng.choice(["", "." + digits(24), "." + digits(8) + "0" * rng.randint(0, 12)])
        exponent = rng.choice(["", "", f"e{rng.choice(['', '+', '-'])}{rng.randint(0, 30)}"])
        text = rng.choice(["", "", "+", "-"]) + digits(22) + fraction + exponent
        if re.fullmatch(r"[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?", text):
            texts.add(text)
    # Bounds with a value on each side of them, closer than 18 decimals can tell.
    texts |= {"999999.9999999999999999999", "1000000.0000000000000000001", "1000000"}
    texts |= {"999999999.9999999999999999999", "1000000000.0000000000000000001"}
    raw = raw_frame(spark, *[{"record": t, "price": t, "quantity": t} for t in sorted(texts)])
    contract = ContractSettings()
    actual = {
        row["record"]: row["reasons"] for row in validate_trades(raw, DAY, NOW, contract).collect()
    }
    expected = {
        text: _amount_reasons(text, "price", contract.max_price, inclusive=False)
        + _amount_reasons(text, "quantity", contract.max_quantity, inclusive=True)
        for text in texts
    }
    assert actual == expected


def test_every_case_gets_exactly_its_reasons(spark: Any) -> None:
    raw = raw_frame(spark, *[{**fields, "record": name} for name, fields, _ in CASES])
    validated = validate_trades(raw, DAY, NOW, ContractSettings())
    actual = {row["record"]: row["reasons"] for row in validated.collect()}
    expected = {name: reasons for name, _, reasons in CASES}
    assert actual == expected
    used = {code for reasons in expected.values() for code in reasons}
    assert used <= set(REASON_CODES)


def test_valid_record_is_parsed_and_normalized(spark: Any) -> None:
    raw = raw_frame(
        spark,
        {
            "trade_id": " T9 ",
            "symbol": " btc-usd ",
            "side": "Sell",
            "price": "42000.12345678",
            "quantity": "0.00000001",
            "timestamp": "2025-01-15T01:02:03.5+01:00",
        },
    )
    row = validate_trades(raw, DAY, NOW, ContractSettings()).first()
    assert row is not None
    assert (row.trade_id, row.symbol, row.side, row.exchange) == ("T9", "BTC-USD", "sell", "XNAS")
    assert row.price == Decimal("42000.12345678")
    assert row.quantity == Decimal("0.00000001")
    assert row.reasons == []
    text = (
        validate_trades(raw, DAY, NOW, ContractSettings())
        .select(F.date_format("traded_at", "yyyy-MM-dd HH:mm:ss.SSS").alias("t"))
        .first()
    )
    assert text is not None and text.t == "2025-01-15 00:02:03.500"


def test_version_fields_are_normalized(spark: Any) -> None:
    raw = raw_frame(
        spark,
        {"record": "plain"},
        {"record": "correction", "report_type": " CORRECT ", "report_seq": " 0012 "},
        {"record": "cancel", "report_type": "Cancel", "report_seq": "2147483647"},
    )
    rows = validate_trades(raw, DAY, NOW, ContractSettings()).collect()
    assert {r.record: (r.report_type, r.report_seq, r.trade_date) for r in rows} == {
        "plain": ("new", 0, DAY),
        "correction": ("correct", 12, DAY),
        "cancel": ("cancel", 2147483647, DAY),
    }


def test_the_window_reaches_back_max_lateness_days_from_the_landing(spark: Any) -> None:
    """Landing 2025-01-15 with two days of lateness: [2025-01-13 00:00Z, 2025-01-16 00:00Z)."""
    raw = raw_frame(
        spark,
        {"record": "first instant", "timestamp": "2025-01-13T00:00:00Z"},
        {"record": "just before", "timestamp": "2025-01-12T23:59:59.999999Z"},
        {"record": "last instant", "timestamp": "2025-01-15T23:59:59.999999Z"},
        {"record": "next day", "timestamp": "2025-01-16T00:00:00Z"},
        {"record": "offset into the window", "timestamp": "2025-01-12T23:30:00-01:00"},
    )
    contract = ContractSettings(max_lateness_days=2)
    rows = validate_trades(raw, DAY, NOW, contract).collect()
    assert {r.record: (r.reasons, r.trade_date) for r in rows} == {
        "first instant": ([], date(2025, 1, 13)),
        "just before": (["timestamp_outside_partition"], date(2025, 1, 12)),
        "last instant": ([], DAY),
        "next day": (["timestamp_outside_partition"], date(2025, 1, 16)),
        "offset into the window": ([], date(2025, 1, 13)),
    }


def test_future_timestamps_are_rejected_relative_to_run_start(spark: Any) -> None:
    now = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
    raw = raw_frame(
        spark,
        {"record": "within tolerance", "timestamp": "2025-01-15T12:04:59Z"},
        {"record": "too late", "timestamp": "2025-01-15T12:05:01Z"},
    )
    actual = {
        r.record: r.reasons for r in validate_trades(raw, DAY, now, ContractSettings()).collect()
    }
    assert actual == {"within tolerance": [], "too late": ["timestamp_in_future"]}


def test_bounds_come_from_configuration(spark: Any) -> None:
    contract = ContractSettings(max_price=Decimal("100"), max_quantity=Decimal("5"))
    raw = raw_frame(
        spark,
        {"record": "ok", "price": "99.99999999", "quantity": "5"},
        {"record": "price", "price": "100"},
        {"record": "quantity", "price": "1", "quantity": "5.00000001"},
    )
    actual = {r.record: r.reasons for r in validate_trades(raw, DAY, NOW, contract).collect()}
    assert actual == {
        "ok": [],
        "price": ["price_out_of_range", "quantity_out_of_range"],
        "quantity": ["quantity_out_of_range"],
    }
