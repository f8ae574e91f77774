"""Shared fixtures: one local SparkSession with a real Iceberg JDBC catalog for the run.

The helpers the tests import live in plain modules: lakes and the equality policy in
tests/lakes.py, running jobs in tests/submit.py.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lakes import REPO, FakeAws, Lake, free_port
from tests.submit import JobRun, load_job

_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """The session's catalog and warehouse; each test writes a database of its own."""
    return Lake(tmp_path_factory.mktemp("lake"))


@pytest.fixture(scope="session")
def spark(lake: Lake) -> Iterator[Any]:
    """One SparkSession for the whole run (a session per test would cost minutes)."""
    from pyspark.sql import SparkSession

    from tradelake.config import Settings
    from tradelake.jars import fetch
    from tradelake.session import spark_conf

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    settings = Settings(
        catalog_type="jdbc",
        catalog_uri=lake.catalog_uri,
        warehouse=str(lake.warehouse),
    )
    builder = (
        SparkSession.builder.master("local[2]")
        .appName("tradelake-tests")
        .config("spark.jars", ",".join(str(path) for path in fetch()))
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "2g")
        .config(
            "spark.driver.extraJavaOptions",
            f"-Dlog4j2.configurationFile=file:{REPO / 'conf' / 'log4j2.properties'}",
        )
    )
    for key, value in spark_conf(settings).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    yield session
    session.stop()


@pytest.fixture
def lake_env(lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Point configuration at the session's catalog, a fresh raw root and a fresh database."""
    from tradelake.config import load_settings

    Lake(lake.root, f"test_{next(_database_numbers)}", files=tmp_path).use(monkeypatch)
    yield load_settings()


@pytest.fixture
def run_job(spark: Any, capsys: pytest.CaptureFixture[str]) -> Callable[..., JobRun]:
    """Run ``jobs/<name>.py`` in-process on the shared session; parse its last stdout line."""

    def run(name: str, *argv: str) -> JobRun:
        capsys.readouterr()
        exit_code = load_job(name).main(list(argv))
        output = capsys.readouterr().out
        lines = output.strip().splitlines()
        return JobRun(exit_code, json.loads(lines[-1]), output)

    return run


@pytest.fixture(scope="session")
def fake_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeAws]:
    """One moto server per test session, started as a separate process."""
    import subprocess
    import sys
    import time
    import urllib.request

    port = free_port()
    log_file = (tmp_path_factory.mktemp("moto") / "moto.log").open("w")
    server = subprocess.Popen(
        # moto's server with the one Glue call it lacks (tests/moto_server.py).
        [sys.executable, "-m", "tests.moto_server", "-H", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError(f"moto server did not start on {endpoint}") from None
            time.sleep(0.2)
    try:
        yield FakeAws(endpoint)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log_file.close()


@pytest.fixture
def aws_env(fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch) -> FakeAws:
    """Dummy credentials and the region for boto3, pyiceberg and the Iceberg AWS clients."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", fake_aws.region)
    monkeypatch.setenv("AWS_DEFAULT_REGION", fake_aws.region)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return fake_aws
