"""Dedupe and classification: exact row sets, deterministic tie-breaks."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from pyspark.sql import functions as F

from tests.spark.helpers import assert_frames_equal, raw_frame
from tradelake.config import ContractSettings, QualitySettings
from tradelake.contract import validate_trades
from tradelake.ingest.checks import batch_stats, evaluate_checks
from tradelake.ingest.classified import LOADED_WITH_ID
from tradelake.ingest.job import without_loaded_text
from tradelake.ingest.transform import classify_records

pytestmark = pytest.mark.spark

DAY = date(2025, 1, 15)
NOW = datetime(2025, 1, 16, 6, 0, tzinfo=UTC)


def classify(spark: Any, *records: dict[str, Any]) -> Any:
    validated = validate_trades(raw_frame(spark, *records), DAY, NOW, ContractSettings())
    return classify_records(validated).select("record", "status", "reasons")


def expected(spark: Any, *rows: tuple[str, str, list[str]]) -> Any:
    return spark.createDataFrame(list(rows), "record string, status string, reasons array<string>")


def test_copies_that_normalize_equal_collapse_into_one(spark: Any) -> None:
    actual = classify(
        spark,
        {"record": "a", "source_file": "file:/raw/b.jsonl"},
        {
            "record": "b",
            "source_file": "file:/raw/a.csv",
            "symbol": " aapl ",
            "price": "187.250",
            "timestamp": "2025-01-15T16:30:00+02:00",
        },
        {"record": "c", "source_file": "file:/raw/c.parquet", "quantity": "1e1"},
    )
    # The copy from the first source file (by name) is the one kept.
    assert_frames_equal(
        actual,
        expected(spark, ("b", "loaded", []), ("a", "duplicate", []), ("c", "duplicate", [])),
    )


def test_conflicting_versions_keep_the_latest_timestamp(spark: Any) -> None:
    actual = classify(
        spark,
        {"record": "old", "price": "100", "timestamp": "2025-01-15T10:00:00Z"},
        {"record": "new", "price": "101", "timestamp": "2025-01-15T10:00:01Z"},
        {"record": "old copy", "price": "100", "timestamp": "2025-01-15T10:00:00Z"},
    )
    assert_frames_equal(
        actual,
        expected(
            spark,
            ("new", "loaded", []),
            ("old", "rejected", ["duplicate_conflict"]),
            ("old copy", "rejected", ["duplicate_conflict"]),
        ),
    )


def test_equal_timestamps_break_ties_by_content_not_by_file_or_order(spark: Any) -> None:
    versions = [
        {"record": "101", "price": "101", "source_file": "file:/raw/a.jsonl"},
        {"record": "100", "price": "100", "source_file": "file:/raw/z.jsonl"},
    ]
    for ordering in (versions, list(reversed(versions))):
        actual = classify(spark, *ordering)
        assert_frames_equal(
            actual,
            expected(spark, ("100", "loaded", []), ("101", "rejected", ["duplicate_conflict"])),
        )


def test_invalid_records_keep_their_reasons_and_do_not_compete(spark: Any) -> None:
    actual = classify(
        spark,
        {"record": "valid", "timestamp": "2025-01-15T10:00:00Z"},
        {"record": "later but invalid", "price": "abc", "timestamp": "2025-01-15T11:00:00Z"},
        {"record": "no id", "trade_id": None},
        {"record": "no id either", "trade_id": None, "side": "hold"},
    )
    assert_frames_equal(
        actual,
        expected(
            spark,
            ("valid", "loaded", []),
            ("later but invalid", "rejected", ["price_not_numeric"]),
            ("no id", "rejected", ["trade_id_missing"]),
            ("no id either", "rejected", ["trade_id_missing", "side_invalid"]),
        ),
    )


def test_grain_one_loaded_row_per_trade_id(spark: Any) -> None:
    records = [
        {"record": f"{trade}-{copy}", "trade_id": trade, "price": str(100 + copy % 2)}
        for trade in ("A", "B", "C")
        for copy in range(4)
    ]
    loaded = classify(spark, *records).where(F.col("status") == "loaded")
    assert sorted(row.record.split("-")[0] for row in loaded.collect()) == ["A", "B", "C"]


def test_each_row_counts_the_loaded_rows_of_its_trade_id(spark: Any) -> None:
    validated = validate_trades(
        raw_frame(
            spark,
            {"record": "A", "trade_id": "A"},
            {"record": "A copy", "trade_id": "A", "source_file": "file:/raw/z.jsonl"},
            {"record": "A bad", "trade_id": "A", "side": "hold"},
            {"record": "B bad", "trade_id": "B", "side": "hold"},
        ),
        DAY,
        NOW,
        ContractSettings(),
    )
    actual = classify_records(validated).select("record", "status", LOADED_WITH_ID)
    assert sorted(tuple(row) for row in actual.collect()) == [
        ("A", "loaded", 1),
        ("A bad", "rejected", 1),
        ("A copy", "duplicate", 1),
        ("B bad", "rejected", 0),
    ]


def test_trade_id_unique_check_sees_loaded_rows_that_share_an_id(spark: Any) -> None:
    """The check does not trust the dedupe: a classified batch with one id loaded twice fails."""
    rows = [
        ("A", "loaded", 2),
        ("A", "loaded", 2),
        ("B", "loaded", 1),
        ("B", "duplicate", 1),
        (None, "rejected", 0),
    ]
    classified = spark.createDataFrame(
        rows, f"trade_id string, status string, {LOADED_WITH_ID} int"
    )
    for name in ("symbol", "side", "price", "quantity", "traded_at", "exchange", "account_id"):
        classified = classified.withColumn(name, F.lit("x"))
    classified = (
        classified.withColumn("trader_email", F.lit(None).cast("string"))
        .withColumn("extra_fields", F.array().cast("array<string>"))
        .withColumn("reasons", F.array().cast("array<string>"))
        .withColumn("traded_at", F.to_timestamp(F.lit("2025-01-15T10:00:00Z")))
        .withColumn("report_type", F.lit("new"))
        .withColumn("report_seq", F.lit(0))
        .withColumn("trade_date", F.to_date("traded_at"))
    )
    stats = batch_stats(classified, unreadable_files=0, trade_dates=[DAY])
    assert (stats.loaded, stats.loaded_sharing_trade_id) == (3, 2)
    assert stats.loaded_by_date == {DAY: 3}
    unique = next(
        c for c in evaluate_checks(stats, DAY, QualitySettings()) if c.check == "trade_id_unique"
    )
    assert (unique.passed, unique.observed) == (False, 2)


def test_the_batch_keeps_raw_text_only_for_dead_letters(spark: Any) -> None:
    validated = validate_trades(
        raw_frame(
            spark,
            {"record": "kept"},
            {"record": "copy", "source_file": "file:/raw/z.jsonl"},
            {"record": "bad", "trade_id": "B", "side": "hold"},
        ),
        DAY,
        NOW,
        ContractSettings(),
    )
    batch = without_loaded_text(classify_records(validated)).select("status", "record")
    assert sorted(tuple(row) for row in batch.collect()) == [
        ("duplicate", None),
        ("loaded", None),
        ("rejected", "bad"),
    ]
