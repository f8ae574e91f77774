"""Column-level tests of every contract rule: input and expected value side by side."""

from __future__ import annotations

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
]


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
