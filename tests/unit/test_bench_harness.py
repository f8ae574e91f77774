"""The benchmark harness reads Iceberg's scan metrics from a Spark event log correctly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.run import Plan, label_of, size_analysis, small_day_analysis, table_scans


def _scan(table: str, result_id: int, skipped_id: int) -> dict[str, object]:
    return {
        "nodeName": f"BatchScan lake.bench.{table}",
        "metrics": [
            {"name": "number of result data files", "accumulatorId": result_id},
            {"name": "number of skipped data files", "accumulatorId": skipped_id},
            {"name": "total data file size (bytes)", "accumulatorId": result_id + 100},
        ],
        "children": [],
    }


def test_scans_of_one_table_are_summed_once_per_accumulator(tmp_path: Path) -> None:
    plan = {
        "nodeName": "HashAggregate",
        "metrics": [],
        "children": [_scan("trades", 1, 2), _scan("trades.files", 3, 4), _scan("job_runs", 5, 6)],
    }
    events = [
        {
            "Event": "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart",
            "executionId": 0,
            "sparkPlanInfo": plan,
        },
        # AQE re-plans the same scan: same accumulators, counted once.
        {
            "Event": "org.apache.spark.sql.execution.ui.SparkListenerSQLAdaptiveExecutionUpdate",
            "executionId": 0,
            "sparkPlanInfo": plan,
        },
        {
            "Event": "org.apache.spark.sql.execution.ui.SparkListenerDriverAccumUpdates",
            "executionId": 0,
            "accumUpdates": [[1, 1], [2, 29], [3, 30], [4, 0], [5, 7], [101, 9]],
        },
        {
            "Event": "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart",
            "executionId": 1,
            "sparkPlanInfo": _scan("trades", 11, 12),
        },
        {
            "Event": "org.apache.spark.sql.execution.ui.SparkListenerDriverAccumUpdates",
            "executionId": 1,
            "accumUpdates": [[11, 2], [12, 28]],
        },
        {"Event": "SparkListenerJobStart", "Job ID": 3},
    ]
    folder = tmp_path / "events" / "app-1"
    folder.mkdir(parents=True)
    (folder / "app-1").write_text("".join(json.dumps(e) + "\n" for e in events))

    assert table_scans(tmp_path / "events", "trades") == {
        "data_files_scanned": 3,
        "data_files_skipped": 57,
    }
    assert table_scans(tmp_path / "events", "job_runs") == {
        "data_files_scanned": 7,
        "data_files_skipped": 0,
    }
    assert table_scans(tmp_path / "events", "daily_volume") == {
        "data_files_scanned": 0,
        "data_files_skipped": 0,
    }


def test_size_labels() -> None:
    assert [label_of(n) for n in (2_000, 300_000, 1_000_000, 5_000_000, 1_500)] == [
        "2k",
        "300k",
        "1M",
        "5M",
        "1500",
    ]


def test_the_plans_measure_the_fixed_cost_on_a_small_day() -> None:
    full, smoke = Plan.choose(smoke=False, large=False), Plan.choose(smoke=True, large=False)
    # 2M is the whole-process size of the targets; the smoke's one size is its small day.
    assert full.sizes == (1_000_000, 2_000_000, 5_000_000) and full.small_day == 500
    assert Plan.choose(smoke=False, large=True).sizes[-1] == 10_000_000
    assert smoke.small_day == smoke.sizes[0]


def test_the_small_day_is_compared_with_its_floor_as_whole_processes() -> None:
    plan = Plan.choose(smoke=False, large=False)
    scenarios = {
        "ingest_500": {"wall_seconds": 13.0, "seconds": 9.5},
        "floor_parse_500": {"wall_seconds": 10.0, "seconds": 6.0},
    }
    assert small_day_analysis(plan, scenarios) == {
        "trades": 500,
        "ingest_wall_seconds": 13.0,
        "ingest_seconds": 9.5,
        "parse_floor_wall_seconds": 10.0,
        "parse_floor_seconds": 6.0,
        "wall_ratio": 1.3,
    }


def test_each_size_is_compared_with_the_parse_and_the_design_floor() -> None:
    scenarios: dict[str, dict[str, Any]] = {
        "ingest_1M": {
            "seconds": 60.0,
            "wall_seconds": 64.0,
            "records_read": 1_050_000,
            "peak_rss_mib": 1900.0,
            "timings": {"classify_seconds": 36.0},
        },
        "floor_io_1M": {"seconds": 12.0, "wall_seconds": 15.0},
        "floor_parse_1M": {"seconds": 15.0, "wall_seconds": 18.0},
        "floor_design_1M": {"seconds": 25.0, "wall_seconds": 28.0},
    }
    row = size_analysis(1_000_000, scenarios)
    assert row["design_floor_seconds"] == 25.0
    assert row["ingest_over_parse_floor"] == 4.0
    # The design alone costs 1.667x the parse floor; the ingest's own work 2.4x on top.
    assert row["design_floor_over_parse_floor"] == 1.667
    assert row["ingest_over_design_floor"] == 2.4
    assert row["ingest_wall_over_parse_floor_wall"] == 3.556
