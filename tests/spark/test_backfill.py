"""Backfill over a date range: one bad day in the middle, then a resume."""

from __future__ import annotations

from typing import Any

import pytest
from pyspark.sql import functions as F

from tests.spark.rawfiles import CSV_HEADER, day_folder, write_lines

pytestmark = pytest.mark.spark

DAYS = ["2025-02-01", "2025-02-02", "2025-02-03", "2025-02-04"]


def land(raw_root: str, day: str, bad: bool = False) -> None:
    price = "-1" if bad else "1.5"
    rows = [f"{day}-{i},AAPL,buy,{price},1,{day}T20:00:00Z,XNAS" for i in range(5)]
    write_lines(day_folder(raw_root, day) / "a.csv", [CSV_HEADER, *rows])


def test_backfill_reports_the_bad_day_and_resume_reruns_only_what_changed(
    spark: Any, lake_env: Any, run_job: Any
) -> None:
    for day in DAYS:
        land(lake_env.raw_root, day, bad=day == "2025-02-02")
    first = run_job(
        "backfill", "ingest", "--start", DAYS[0], "--end", DAYS[-1], "--concurrency", "2"
    )
    assert first.exit_code == 1
    assert first.summary["failed"] == {"2025-02-02": 3}, first.output
    assert first.summary["succeeded"] == ["2025-02-01", "2025-02-03", "2025-02-04"]
    assert "--resume" in first.summary["error"]

    land(lake_env.raw_root, "2025-02-02")  # fixed upstream
    resumed = run_job("backfill", "ingest", "--start", DAYS[0], "--end", DAYS[-1], "--resume")
    assert resumed.exit_code == 0, resumed.summary
    assert resumed.summary["succeeded"] == ["2025-02-02"]
    assert resumed.summary["skipped"] == ["2025-02-01", "2025-02-03", "2025-02-04"]
    trades = spark.table(lake_env.table("trades"))
    assert trades.count() == 20
    assert trades.select("trade_date").distinct().count() == 4
    # The fingerprint of the input is in the commit's snapshot summary.
    fingerprints = spark.sql(
        f"SELECT summary['tradelake.input-fingerprint'] AS f FROM "
        f"{lake_env.table('trades')}.snapshots"
    ).where(F.col("f").isNotNull())
    assert fingerprints.count() == 4

    gold = run_job("backfill", "daily_volume", "--start", DAYS[0], "--end", DAYS[-1])
    assert gold.exit_code == 0, gold.summary
    again = run_job("backfill", "daily_volume", "--start", DAYS[0], "--end", DAYS[-1], "--resume")
    assert (again.summary["skipped"], again.summary["succeeded"]) == (DAYS, [])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--start", "2025-02-05", "--end", "2025-02-01"), "before --start"),
        (("--start", "2020-01-01", "--end", "2025-01-01"), "exceed backfill.max_days"),
        (("--start", "2025-02-01", "--end", "2025-02-02", "--concurrency", "9"), "between 1"),
    ],
)
def test_bad_ranges_exit_2(
    lake_env: Any, run_job: Any, argv: tuple[str, ...], message: str
) -> None:
    run = run_job("backfill", "ingest", *argv)
    assert run.exit_code == 2
    assert message in run.summary["error"]


@pytest.mark.parametrize(
    ("argv", "exit_code", "message"),
    [
        (("ingest", "--landing", "2025-02-01"), 2, "--landing takes a gold job"),
        (
            ("daily_volume", "--landing", "2025-02-01", "--start", "2025-02-01"),
            2,
            "no --start/--end",
        ),
        (("daily_volume",), 2, "give --start and --end"),
        (("ohlcv", "--landing", "2025-02-01"), 4, "has not been published by an ingest run"),
    ],
)
def test_a_landing_backfill_needs_a_gold_job_and_a_published_landing(
    lake_env: Any, run_job: Any, argv: tuple[str, ...], exit_code: int, message: str
) -> None:
    run = run_job("backfill", *argv)
    assert run.exit_code == exit_code, run.summary
    assert message in run.summary["error"]
