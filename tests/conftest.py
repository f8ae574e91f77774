"""Shared fixtures: one local SparkSession with a real Iceberg JDBC catalog for the run."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
_database_numbers = itertools.count(1)


@dataclass(frozen=True)
class Lake:
    """Where the session's catalog and warehouse live."""

    root: Path

    @property
    def catalog_db(self) -> Path:
        return self.root / "catalog.db"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse"


@pytest.fixture(scope="session")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
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
        catalog_uri=f"jdbc:sqlite:{lake.catalog_db}",
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

    for name in list(os.environ):
        if name.startswith("TRADELAKE_") and name != "TRADELAKE_JARS_DIR":
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRADELAKE_CONF_DIR", str(REPO / "conf"))
    monkeypatch.setenv("TRADELAKE_CATALOG_URI", f"jdbc:sqlite:{lake.catalog_db}")
    monkeypatch.setenv("TRADELAKE_WAREHOUSE", str(lake.warehouse))
    monkeypatch.setenv("TRADELAKE_RAW_URI", str(tmp_path / "raw"))
    monkeypatch.setenv("TRADELAKE_DATABASE", f"test_{next(_database_numbers)}")
    monkeypatch.setenv("TRADELAKE_LINEAGE__FILE_PATH", str(tmp_path / "lineage.jsonl"))
    yield load_settings()


def load_job(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"job_{name}", REPO / "jobs" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class JobRun:
    exit_code: int
    summary: dict[str, Any]
    # Everything the run printed (every summary line of a backfill, for instance).
    output: str = ""


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


@dataclass(frozen=True)
class FakeAws:
    """A moto server on 127.0.0.1 speaking S3, Glue, Athena, IAM … over real HTTP."""

    endpoint: str
    region: str = "us-east-1"

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name=self.region)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def fake_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeAws]:
    """One moto server per test session, started as a separate process."""
    import subprocess
    import sys
    import time
    import urllib.request

    port = _free_port()
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
