"""The documented way to run a job: ./spark-submit.sh, a separate JVM, the zip of lib."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.spark.rawfiles import CSV_HEADER, day_folder, write_lines
from tests.submit import spark_submit, submit_env

pytestmark = pytest.mark.spark


def test_spark_submit_runs_ingest_and_tolerates_glue_arguments(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    rows = [f"T{i},AAPL,buy,1.5,1,2025-01-15T20:00:00Z,XNAS" for i in range(3)]
    write_lines(
        day_folder(str(raw), "2025-01-15") / "a.csv",
        [CSV_HEADER, *rows],
    )
    env = submit_env(
        TRADELAKE_RAW_URI=str(raw),
        TRADELAKE_WAREHOUSE=str(tmp_path / "warehouse"),
        TRADELAKE_CATALOG_URI=f"jdbc:sqlite:{tmp_path / 'catalog.db'}",
        SPARK_MASTER="local[1]",
    )
    done = spark_submit(
        "ingest", "--date", "2025-01-15", "--JOB_NAME", "tradelake-ingest", env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["status"], summary["loaded"], summary["rejected"]) == ("ok", 3, 0)


def test_spark_submit_reports_bad_configuration(tmp_path: Path) -> None:
    done = spark_submit("ingest", env={**os.environ, "TRADELAKE_CATALOG_TYPE": "hive"}, timeout=120)
    assert done.returncode == 2
    assert "catalog_type" in done.stderr
