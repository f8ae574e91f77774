"""The documented way to run a job: ./spark-submit.sh, a separate JVM, the zip of lib."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.spark.rawfiles import CSV_HEADER, day_folder, write_lines

pytestmark = pytest.mark.spark


def test_spark_submit_runs_ingest_and_tolerates_glue_arguments(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    rows = [f"T{i},AAPL,buy,1.5,1,2025-01-15T20:00:00Z,XNAS" for i in range(3)]
    write_lines(
        day_folder(str(raw), "2025-01-15") / "a.csv",
        [CSV_HEADER, *rows],
    )
    env: dict[str, Any] = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TRADELAKE_")},
        "TRADELAKE_JARS_DIR": os.environ.get("TRADELAKE_JARS_DIR", str(REPO / ".jars")),
        "TRADELAKE_RAW_URI": str(raw),
        "TRADELAKE_WAREHOUSE": str(tmp_path / "warehouse"),
        "TRADELAKE_CATALOG_URI": f"jdbc:sqlite:{tmp_path / 'catalog.db'}",
        "SPARK_DRIVER_MEMORY": "1g",
        "SPARK_MASTER": "local[1]",
    }
    done = subprocess.run(
        [
            str(REPO / "spark-submit.sh"),
            "jobs/ingest.py",
            "--date",
            "2025-01-15",
            "--JOB_NAME",
            "tradelake-ingest",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["status"], summary["loaded"], summary["rejected"]) == ("ok", 3, 0)


def test_spark_submit_reports_bad_configuration(tmp_path: Path) -> None:
    env = {**os.environ, "TRADELAKE_CATALOG_TYPE": "hive"}
    done = subprocess.run(
        [str(REPO / "spark-submit.sh"), "jobs/ingest.py"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "catalog_type" in done.stderr
