"""Quality history: every check of every run lands in quality_results; volume anomaly."""

from __future__ import annotations

from typing import Any

import pytest
from pyspark.sql import functions as F

from tests.spark.rawfiles import CSV_HEADER, day_folder, write_lines

pytestmark = pytest.mark.spark


def land(raw_root: str, day: str, good: int, bad: int = 0) -> None:
    rows = [f"{day}-G{i},AAPL,buy,1.5,1,{day}T20:00:00Z,XNAS" for i in range(good)]
    rows += [f"{day}-B{i},AAPL,buy,-1,1,{day}T20:00:00Z,XNAS" for i in range(bad)]
    write_lines(day_folder(raw_root, day) / "a.csv", [CSV_HEADER, *rows])


def volume_check(summary: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in summary["quality"] if c["check"] == "volume_anomaly")


def test_volume_anomaly_baseline_ignores_failed_runs(
    spark: Any, lake_env: Any, run_job: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADELAKE_QUALITY__VOLUME_ANOMALY_DAYS", "3")
    for day in ("2025-01-10", "2025-01-11", "2025-01-12"):
        land(lake_env.raw_root, day, good=10)
        assert run_job("ingest", "--date", day).exit_code == 0
    # Two gated runs loading 100 each: were they counted, the median would be 100.
    for day in ("2025-01-13", "2025-01-14"):
        land(lake_env.raw_root, day, good=100, bad=50)
        assert run_job("ingest", "--date", day).exit_code == 3

    land(lake_env.raw_root, "2025-01-15", good=10)
    normal = run_job("ingest", "--date", "2025-01-15")
    assert normal.exit_code == 0
    assert volume_check(normal.summary) == {
        "check": "volume_anomaly",
        "severity": "warn",
        "passed": True,
        "observed": 10,
        "threshold": "within [5, 15] (median 10 of the last 3 days)",
    }

    land(lake_env.raw_root, "2025-01-16", good=2)
    low = run_job("ingest", "--date", "2025-01-16")
    assert low.exit_code == 0  # warn level: reported, not blocking
    assert volume_check(low.summary)["passed"] is False

    results = spark.table(lake_env.table("quality_results"))
    rows = results.where(F.col("run_id") == low.summary["run_id"]).collect()
    assert {(r.check, r.passed, r.severity, r.table_name) for r in rows} == {
        ("record_count", True, "error", "trades"),
        ("trade_id_unique", True, "error", "trades"),
        ("required_not_null", True, "error", "trades"),
        ("reject_ratio", True, "error", "trades"),
        ("freshness", True, "warn", "trades"),
        ("volume_anomaly", False, "warn", "trades"),
        ("unreadable_files", True, "warn", "trades"),
    }
    assert {str(r.check_date) for r in rows} == {"2025-01-16"}
    # Gated runs are in the history too, with the check that stopped them.
    gated = results.where((F.col("check") == "reject_ratio") & ~F.col("passed")).collect()
    assert sorted(str(r.check_date) for r in gated) == ["2025-01-13", "2025-01-14"]

    gold = run_job("daily_volume", "--date", "2025-01-16")
    assert gold.exit_code == 0
    gold_rows = results.where(F.col("run_id") == gold.summary["run_id"]).collect()
    assert {r.table_name for r in gold_rows} == {"daily_volume"}
    assert len(gold_rows) == 5
