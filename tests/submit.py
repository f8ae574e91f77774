"""Running a job the documented way in tests: ./spark-submit.sh, a JVM of its own."""

from __future__ import annotations

import os
import subprocess

from tests.conftest import REPO, FakeAws
from tradelake.runtime import run_summaries


def submit_env(**settings: str) -> dict[str, str]:
    """This process's environment without TRADELAKE_* settings, plus ``settings``.

    Small Spark (local[2], 1 GiB driver) and the jars cache of the test run. The JVMs
    start fast (``TEST_JVM_OPTIONS``) unless ``settings`` say otherwise.
    """
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("TRADELAKE_")},
        "TRADELAKE_JARS_DIR": os.environ.get("TRADELAKE_JARS_DIR", str(REPO / ".jars")),
        "SPARK_MASTER": "local[2]",
        "SPARK_DRIVER_MEMORY": "1g",
        "SPARK_JAVA_OPTS_EXTRA": TEST_JVM_OPTIONS,
        **TEST_JIT,
        # Tiny data: a stage of 16 tasks (8 per core, the jobs' local default) is mostly
        # scheduling; no UI to start.
        "SPARK_SUBMIT_OPTS_EXTRA": TEST_SPARK_OPTIONS,
        **settings,
    }


# A test job handles a few hundred rows: C1 alone compiles what it runs in a fraction of
# the CPU C2 takes, and the serial collector starts no GC threads (measured on 2 cores:
# a 500-trade ingest 38 s -> 26 s wall, 65 s -> 28 s CPU, with 2 shuffle partitions).
# Behaviour is the same; speed at scale is the benchmarks' business, not the tests'.
TEST_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
TEST_SPARK_OPTIONS = "--conf spark.sql.shuffle.partitions=2 --conf spark.ui.enabled=false"
# Without the production JIT option (-XX:-DontCompileHugeMethods): a tiny job never runs a
# huge generated method long enough to gain from compiling it, and compiling costs (a
# 500-trade ingest 24.7-27.5 s CPU without, 26.2-28.6 s with; the CI run with it on in
# every test job took 1,843 s instead of 1,655 s). The resource-bound test keeps it.
TEST_JIT = {"TRADELAKE_JIT_OPTS": ""}


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


# Every JSON run summary line in a job's output (a backfill prints one per date).
summaries = run_summaries
