"""The reliability tier: jobs run as separate processes on a lake of their own.

Every test here gets a fresh embedded lake (JDBC/SQLite catalog + warehouse + raw root
in a temporary folder) and runs jobs the documented way, ``./spark-submit.sh``, so a
process can be killed, run concurrently or pointed at a standalone cluster. Tables are
read back with pyiceberg, independently of Spark.

How much of it runs is a profile (``TRADELAKE_RELIABILITY_PROFILE``): ``full`` (the
default, what ``make test-reliability`` runs) or ``ci`` (every kind of check, with fewer
kill trials and fuzz examples, so CI stays within its time budget; the resource-bound
day keeps its size in both: it must be larger than the memory bound to prove anything).
``TRADELAKE_RELIABILITY_SCALE=N`` multiplies the profile's counts.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.submit import spark_submit, submit_env, summaries

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test of this folder belongs to the reliability tier (make test-reliability)."""
    for item in items:
        if _HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.reliability)


def scale() -> int:
    """Multiplier of trial and example counts (``TRADELAKE_RELIABILITY_SCALE``, >= 1)."""
    return max(1, int(os.environ.get("TRADELAKE_RELIABILITY_SCALE", "1")))


@dataclass(frozen=True)
class Profile:
    """How many trials and examples each reliability test runs (before ``scale()``)."""

    name: str
    # SIGKILL trials per job (ingest, daily_volume, compact); None: one per kill anchor of
    # the job (every moment kind once: before, between and after its commits).
    crash_trials: int | None
    # Random landing days compared with the reference model, in-process.
    fuzz_examples: int
    # Drawn days run through jobs/ingest.py itself.
    fuzz_job_examples: int


PROFILES = {
    "full": Profile(
        "full",
        crash_trials=10,
        fuzz_examples=1000,
        fuzz_job_examples=5,
    ),
    "ci": Profile(
        "ci",
        crash_trials=None,
        fuzz_examples=50,
        fuzz_job_examples=2,
    ),
}


def profile() -> Profile:
    """The profile ``TRADELAKE_RELIABILITY_PROFILE`` names (``full`` or ``ci``)."""
    name = os.environ.get("TRADELAKE_RELIABILITY_PROFILE", "full")
    if name not in PROFILES:
        raise pytest.UsageError(
            f"TRADELAKE_RELIABILITY_PROFILE={name!r}: use one of {sorted(PROFILES)}"
        )
    return PROFILES[name]


@dataclass
class ProcessLake:
    """An embedded lake in ``root`` and the environment that points jobs at it."""

    root: Path
    database: str = "trading"
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def raw_root(self) -> Path:
        return self.root / "raw"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse"

    @property
    def catalog_db(self) -> Path:
        return self.root / "catalog.db"

    def settings_env(self) -> dict[str, str]:
        """TRADELAKE_* variables of this lake (no PII columns are written by default)."""
        return {
            "TRADELAKE_CONF_DIR": str(REPO / "conf"),
            "TRADELAKE_RAW_URI": str(self.raw_root),
            "TRADELAKE_WAREHOUSE": str(self.warehouse),
            "TRADELAKE_CATALOG_URI": f"jdbc:sqlite:{self.catalog_db}",
            "TRADELAKE_DATABASE": self.database,
            "TRADELAKE_LINEAGE__FILE_PATH": str(self.root / "lineage.jsonl"),
            **self.extra_env,
        }

    def env(self, **overrides: str) -> dict[str, str]:
        """A spark-submit environment (local[2], 1 GiB driver) for this lake."""
        return submit_env(**{**self.settings_env(), **overrides})

    def submit(
        self, job: str, *argv: str, timeout: float = 600, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """``./spark-submit.sh jobs/<job>.py ARGV`` against this lake, waited for."""
        return spark_submit(job, *argv, env=self.env(**env), timeout=timeout)

    def popen(self, job: str, *argv: str, **env: str) -> subprocess.Popen[str]:
        """Start ``./spark-submit.sh jobs/<job>.py ARGV`` in its own process group.

        The group lets a test kill the driver JVM and its Python worker together
        (``os.killpg(proc.pid, signal.SIGKILL)``): spark-submit execs the JVM, so
        ``proc.pid`` is the driver.
        """
        return subprocess.Popen(
            [str(REPO / "spark-submit.sh"), f"jobs/{job}.py", *argv],
            cwd=REPO,
            env=self.env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def catalog(self) -> Any:
        """pyiceberg's SqlCatalog over this lake's catalog: what a reader sees."""
        from pyiceberg.catalog.sql import SqlCatalog

        return SqlCatalog(
            "lake",
            uri=f"sqlite:///{self.catalog_db}",
            warehouse=f"file://{self.warehouse}",
        )

    def rows(self, table: str, row_filter: str = "true") -> list[dict[str, Any]]:
        """Every row of ``<database>.<table>`` (current snapshot) as dicts."""
        loaded = self.catalog().load_table(f"{self.database}.{table}")
        rows: list[dict[str, Any]] = loaded.scan(row_filter=row_filter).to_arrow().to_pylist()
        return rows


@pytest.fixture
def process_lake(tmp_path: Path) -> Iterator[ProcessLake]:
    """A fresh embedded lake for jobs run as separate processes."""
    lake = ProcessLake(tmp_path / "lake")
    lake.raw_root.mkdir(parents=True)
    yield lake


__all__ = ["ProcessLake", "Profile", "profile", "scale", "summaries"]
