"""Maintenance decisions that need no Spark: the retention share guard, rewrite checks."""

from __future__ import annotations

from datetime import date

import pytest
from pyspark.sql import Row

from tradelake.errors import ConfigError
from tradelake.maintenance import RetentionPlan, check_retention_share, rewrite_mismatches


def plan(table: str, expired: list[tuple[date, int]], total: int) -> RetentionPlan:
    return RetentionPlan(table, 90, date(2025, 1, 1), expired, total)


def test_share_is_rows_deleted_over_table_rows() -> None:
    half = plan("trades", [(date(2024, 1, 1), 30), (date(2024, 1, 2), 20)], 100)
    assert (half.rows, half.share) == (50, 0.5)
    assert plan("trades", [], 0).share == 0.0
    assert half.as_dict()["dates"] == [
        {"date": "2024-01-01", "rows": 30},
        {"date": "2024-01-02", "rows": 20},
    ]


def test_share_guard_refuses_above_the_share_unless_forced() -> None:
    at_share = plan("daily_volume", [(date(2024, 1, 1), 50)], 100)
    over = plan("trades", [(date(2024, 1, 1), 51)], 100)
    check_retention_share([at_share], 0.5, force=False)  # exactly the share: allowed
    with pytest.raises(ConfigError, match=r"trades: 51 of 100 rows \(51%, dates before"):
        check_retention_share([at_share, over], 0.5, force=False)
    check_retention_share([over], 0.5, force=True)


def test_rewrite_mismatches_name_partitions_whose_rows_changed() -> None:
    entries = [
        Row(snapshot_id=7, partition="{2025-01-15}", status=1, records=200),
        Row(snapshot_id=7, partition="{2025-01-15}", status=2, records=200),
        Row(snapshot_id=7, partition="{2025-01-16}", status=1, records=99),
        Row(snapshot_id=7, partition="{2025-01-16}", status=2, records=100),
        # Files removed and nothing added in their place: every row gone.
        Row(snapshot_id=8, partition="{2025-01-17}", status=2, records=5),
    ]
    assert rewrite_mismatches(entries) == [
        "snapshot 7, partition {2025-01-16}: 100 rows replaced by 99",
        "snapshot 8, partition {2025-01-17}: 5 rows replaced by 0",
    ]
    assert rewrite_mismatches(entries[:2]) == []
