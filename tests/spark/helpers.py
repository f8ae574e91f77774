"""Spark test helpers: the one DataFrame equality policy and raw-row builders.

What pyiceberg reads back is compared with tests/lakes.py's policy (rows as a multiset).
"""

from __future__ import annotations

from typing import Any

from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from tests.lakes import VALID_TRADE
from tradelake.contract import RAW_SCHEMA, READ_FIELDS


def assert_frames_equal(actual: DataFrame, expected: DataFrame, *, ordered: bool = False) -> None:
    """Strict comparison; row order ignored unless asked; nullability never compared."""
    assert_df_equality(
        actual, expected, ignore_row_order=not ordered, ignore_nullable=True, ignore_metadata=True
    )


def raw_frame(spark: SparkSession, *records: dict[str, Any]) -> DataFrame:
    """Raw rows (RAW_SCHEMA) from partial dicts: fields default to VALID_TRADE's."""
    rows = []
    for index, overrides in enumerate(records):
        fields = {**VALID_TRADE, **overrides}
        rows.append(
            (
                fields.get("source_file", "file:/raw/a.jsonl"),
                fields.get("record", f"record-{index}"),
                bool(fields.get("malformed", False)),
                *[fields.get(name) for name in READ_FIELDS],
                list(fields.get("extra_fields", [])),
            )
        )
    return spark.createDataFrame(rows, RAW_SCHEMA)
