"""session.local_frame: small frames of Python values (run records) with no Python worker."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from tradelake.session import local_frame

pytestmark = pytest.mark.spark

SCHEMA = (
    "run_id STRING, run_date DATE, exit_code INT, published BOOLEAN, seconds DOUBLE, "
    "price DECIMAL(18,8), reasons ARRAY<STRING>"
)


def _plan(frame: Any) -> str:
    return str(frame._jdf.queryExecution().executedPlan().toString())


def test_rows_keep_their_values_types_order_and_nulls(spark: Any) -> None:
    rows = [
        ("r-1", date(2025, 1, 15), 0, True, 12.5, Decimal("187.12345678"), ["a", "b"]),
        ("r-2", None, None, None, None, None, None),
        ("r-3", date(2024, 2, 29), 3, False, 0.0, Decimal("0.00000001"), []),
    ]
    frame = local_frame(spark, rows, SCHEMA)
    assert frame.schema.simpleString() == (
        "struct<run_id:string,run_date:date,exit_code:int,published:boolean,seconds:double,"
        "price:decimal(18,8),reasons:array<string>>"
    )
    assert [tuple(row) for row in frame.collect()] == rows
    # Literals only: no scan of a Python RDD, so no Python worker is started for it.
    assert "ExistingRDD" not in _plan(frame)


def test_no_rows_give_an_empty_frame_with_the_schema(spark: Any) -> None:
    frame = local_frame(spark, [], SCHEMA)
    assert frame.columns == [
        "run_id",
        "run_date",
        "exit_code",
        "published",
        "seconds",
        "price",
        "reasons",
    ]
    assert frame.collect() == []


def test_a_row_of_the_wrong_width_is_refused(spark: Any) -> None:
    with pytest.raises(ValueError):
        local_frame(spark, [("r-1", date(2025, 1, 15))], SCHEMA)
