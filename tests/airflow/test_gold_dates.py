"""Which days the gold tasks rebuild after an ingest (``orchestration.gold_dates``): the
ingest summary's gold_dates, from its summary line or its row of job_runs, and the
landing's own day, with a warning that says why, when neither can be read. No Spark:
job_runs is written and read with pyiceberg on an embedded lake."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from tests.airflow.job_runs import ingest_run, write_job_runs
from tests.lakes import Lake
from tradelake import orchestration as o
from tradelake.errors import StorageError

pytestmark = pytest.mark.airflow

LANDING = "2025-01-15"
DATABASE = "trading"


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lake:
    """An embedded lake this process's settings point at (no catalog created yet)."""
    lake = Lake(tmp_path / "lake", database=DATABASE)
    lake.root.mkdir()
    lake.use(monkeypatch)
    return lake


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "tradelake.orchestration" and record.levelno == logging.WARNING
    ]


def test_the_summary_line_names_the_gold_dates(caplog: pytest.LogCaptureFixture) -> None:
    summary = {"job": "ingest", "gold_dates": ["2025-01-15", "2025-01-13"]}

    assert o.gold_dates(LANDING, summary) == ["2025-01-13", "2025-01-15"]
    # A landing that touched no day: nothing to rebuild (the mapped gold tasks are skipped).
    assert o.gold_dates(LANDING, {"job": "ingest", "gold_dates": []}) == []
    assert warnings_of(caplog) == []


def test_a_summary_without_gold_dates_rebuilds_the_landing_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="tradelake.orchestration"):
        assert o.gold_dates(LANDING, {"job": "ingest", "loaded": 3}) == [LANDING]

    [warning] = warnings_of(caplog)
    assert warning.startswith(
        "gold dates of landing 2025-01-15: 2025-01-15 only (the ingest's summary line has no "
        "gold_dates). Earlier days the landing carried late reports of keep their gold tables"
    )


def test_without_a_summary_the_latest_published_ingest_of_the_day_in_job_runs_decides(
    lake: Lake, caplog: pytest.LogCaptureFixture
) -> None:
    write_job_runs(
        lake.catalog(),
        DATABASE,
        [
            ingest_run("r1", LANDING, "2025-01-16T00:05:00", gold_dates=[LANDING]),
            # The latest published run of the landing: the one readers see.
            ingest_run("r2", LANDING, "2025-01-16T02:00:00", gold_dates=["2025-01-14", LANDING]),
            # Later, but gated: it published nothing.
            ingest_run("r3", LANDING, "2025-01-16T03:00:00", published=False),
            # Another landing's run, and another job's run of the same date.
            ingest_run("r4", "2025-01-16", "2025-01-17T00:05:00", gold_dates=["2025-01-16"]),
            ingest_run("r5", LANDING, "2025-01-16T04:00:00", job="daily_volume", gold_dates=[]),
        ],
    )

    with caplog.at_level(logging.INFO, logger="tradelake.orchestration"):
        assert o.gold_dates(LANDING) == ["2025-01-14", LANDING]

    assert "gold dates of landing 2025-01-15, from job_runs (ingest run r2): " in caplog.text
    assert warnings_of(caplog) == []


@pytest.mark.parametrize("lake_state", ["no catalog", "no job_runs", "no published run"])
def test_when_job_runs_has_no_ingest_of_the_day_the_landing_alone_is_rebuilt(
    lake_state: str, lake: Lake, caplog: pytest.LogCaptureFixture
) -> None:
    if lake_state == "no job_runs":
        lake.catalog().create_namespace(DATABASE)
    if lake_state == "no published run":
        write_job_runs(
            lake.catalog(),
            DATABASE,
            [ingest_run("r1", LANDING, "2025-01-16T00:05:00", published=False)],
        )

    with caplog.at_level(logging.WARNING, logger="tradelake.orchestration"):
        assert o.gold_dates(LANDING) == [LANDING]

    [warning] = warnings_of(caplog)
    assert warning.startswith(
        "gold dates of landing 2025-01-15: 2025-01-15 only (no published ingest run of "
        f"2025-01-15 in job_runs (jdbc catalog jdbc:sqlite:{lake.catalog_db}, database trading))"
    )


def test_a_catalog_pyiceberg_cannot_read_rebuilds_the_landing_and_names_the_setting(
    lake: Lake, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TRADELAKE_CATALOG_TYPE", "hadoop")

    with caplog.at_level(logging.WARNING, logger="tradelake.orchestration"):
        assert o.gold_dates(LANDING) == [LANDING]

    [warning] = warnings_of(caplog)
    assert warning.startswith(
        "gold dates of landing 2025-01-15: 2025-01-15 only (job_runs cannot be read here: "
        "TRADELAKE_CATALOG_TYPE=hadoop cannot be read by pyiceberg"
    )


def test_job_runs_that_cannot_be_read_fail_the_task_to_be_retried(lake: Lake) -> None:
    """Not a fallback: a read that failed may have missed late days (Airflow retries it)."""
    table: Any = write_job_runs(
        lake.catalog(), DATABASE, [ingest_run("r1", LANDING, "2025-01-16T00:05:00", gold_dates=[])]
    )
    for task in table.scan().plan_files():
        Path(task.file.file_path.removeprefix("file://")).unlink()

    with pytest.raises(StorageError, match=r"cannot read job_runs \(jdbc catalog .*\): "):
        o.gold_dates(LANDING)
