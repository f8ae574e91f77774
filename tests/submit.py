"""Running a job in tests: in-process (``load_job``), or the documented way, ./spark-submit.sh.

A job submitted here runs in a JVM of its own with small Spark (``TEST_JOB_ENV``):
``local[2]``, a 1 GiB driver, spark-submit.sh's ``tiny`` JVM profile and two shuffle
partitions. ``ProcessLake`` is an embedded lake (tests/lakes.py) whose jobs run that way.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from tests.lakes import REPO, FakeAws, Lake

# Tiny data: a stage of 16 tasks (8 per core, the jobs' local default) is mostly
# scheduling; no UI to start.
TEST_SPARK_OPTIONS = "--conf spark.sql.shuffle.partitions=2 --conf spark.ui.enabled=false"
# What every job a test submits runs with. A test job handles a few hundred rows: the
# `tiny` JVM profile of spark-submit.sh (C1 only, the serial collector, no production JIT
# option; why, and what it saves, in spark-submit.sh) starts and runs it in about half
# the CPU. Behaviour is the same; speed at scale is the benchmarks' business, not the
# tests'. The resource-bound test runs the production profile on purpose.
TEST_JOB_ENV = {
    "SPARK_MASTER": "local[2]",
    "SPARK_DRIVER_MEMORY": "1g",
    "TRADELAKE_JVM_PROFILE": "tiny",
    "SPARK_SUBMIT_OPTS_EXTRA": TEST_SPARK_OPTIONS,
}


def submit_env(**settings: str) -> dict[str, str]:
    """This process's environment, ``TEST_JOB_ENV`` and the jars cache, plus ``settings``.

    Without the shell's ``TRADELAKE_*`` settings and extra JVM options
    (``SPARK_JAVA_OPTS_EXTRA``): a test's job sees only what the test says.
    """
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("TRADELAKE_") and name != "SPARK_JAVA_OPTS_EXTRA"
    }
    return {
        **inherited,
        "TRADELAKE_JARS_DIR": os.environ.get("TRADELAKE_JARS_DIR", str(REPO / ".jars")),
        **TEST_JOB_ENV,
        **settings,
    }


def fake_aws_settings(
    fake: FakeAws, *, raw_bucket: str, lake_bucket: str, database: str, **overrides: str
) -> dict[str, str]:
    """What distinguishes a run on AWS from a local one: environment variables only."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": fake.region,
        "AWS_DEFAULT_REGION": fake.region,
        "TRADELAKE_ENV": "aws",
        "TRADELAKE_CONF_DIR": str(REPO / "conf"),
        "TRADELAKE_RAW_URI": f"s3://{raw_bucket}/raw",
        "TRADELAKE_WAREHOUSE": f"s3://{lake_bucket}/warehouse",
        "TRADELAKE_DATABASE": database,
        "TRADELAKE_S3_ENDPOINT": fake.endpoint,
        "TRADELAKE_GLUE_ENDPOINT": fake.endpoint,
        **overrides,
    }


def spark_submit(
    job: str, *argv: str, env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``./spark-submit.sh jobs/<job>.py ARGV`` from the repository, output captured."""
    return subprocess.run(
        [str(REPO / "spark-submit.sh"), f"jobs/{job}.py", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class ProcessLake(Lake):
    """An embedded lake whose jobs run as processes (./spark-submit.sh, ``TEST_JOB_ENV``).

    ``extra_env``: more variables for every job of this lake (settings, Spark flags).
    """

    extra_env: Mapping[str, str] = field(default_factory=dict)

    def settings_env(self) -> dict[str, str]:
        """TRADELAKE_* variables of this lake (no PII columns are written by default)."""
        return {**super().settings_env(), **self.extra_env}

    def env(self, **overrides: str) -> dict[str, str]:
        """A spark-submit environment (``TEST_JOB_ENV``) for this lake."""
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


def load_job(name: str) -> ModuleType:
    """``jobs/<name>.py`` as a module, to call its ``main`` in this process."""
    spec = importlib.util.spec_from_file_location(f"job_{name}", REPO / "jobs" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class JobRun:
    """A job run in-process (the ``run_job`` fixture): exit code and its last summary."""

    exit_code: int
    summary: dict[str, Any]
    # Everything the run printed (every summary line of a backfill, for instance).
    output: str = ""
