"""The Athena tier: Athena's own engine (Trino) over the Glue catalog and S3 of moto.

A pinned Trino server (``scripts/trino.sh``: core server + Iceberg plugin from Maven
Central) runs on 127.0.0.1 with its Iceberg connector on the moto server's Glue and S3,
as Athena engine v3 reads the tables Spark wrote through Glue. The Spark jobs run as in
production, through ./spark-submit.sh with only environment variables changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.athena.lake import (
    CSV_HEADER,
    DATABASE,
    DAYS,
    JAVA_HOME,
    LAKE_BUCKET,
    MAX_LATENESS_DAYS,
    RAW_BUCKET,
    REJECTED,
    REPORTS,
    TRINO_VERSION,
    VIEWS_DIR,
    AthenaLake,
    TrinoServer,
    raw_file,
)
from tests.lakes import REPO, FakeAws, free_port
from tests.submit import fake_aws_settings, spark_submit, submit_env
from tradelake.runtime import run_summaries


def _aws_env(fake: FakeAws) -> dict[str, str]:
    """Only environment variables differ from a local run (see README, fake AWS)."""
    env = submit_env(
        **fake_aws_settings(
            fake,
            raw_bucket=RAW_BUCKET,
            lake_bucket=LAKE_BUCKET,
            database=DATABASE,
            # A handful of rows with rejects on purpose: far above the production gate.
            TRADELAKE_QUALITY__MAX_REJECT_RATIO="0.5",
            TRADELAKE_CONTRACT__MAX_LATENESS_DAYS=str(MAX_LATENESS_DAYS),
        )
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        env.pop(name, None)
    return env


def _submit(fake: FakeAws, job: str, *argv: str) -> list[dict[str, Any]]:
    done = spark_submit(job, *argv, env=_aws_env(fake))
    found = run_summaries(done.stdout)
    assert done.returncode == 0 and found, (
        f"{job} {argv} exited {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-3000:]}"
    )
    return found


@pytest.fixture(scope="session")
def trino_process(
    fake_aws: FakeAws, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[TrinoServer]:
    """Trino started (not yet ready) as a subprocess, so it boots while Spark runs."""
    root = tmp_path_factory.mktemp("trino")
    etc, data = root / "etc", root / "data"
    (etc / "catalog").mkdir(parents=True)
    data.mkdir()
    port = free_port()
    (etc / "node.properties").write_text(
        f"node.environment=test\nnode.id=tradelake-tests\nnode.data-dir={data}\n"
        "node.internal-address=127.0.0.1\n"
    )
    # Trino's recommended JVM flags, with a small heap.
    (etc / "jvm.config").write_text(
        "\n".join(
            [
                "-server",
                "-Xmx1500M",
                "-XX:+UseG1GC",
                "-XX:G1HeapRegionSize=32M",
                "-XX:+ExplicitGCInvokesConcurrent",
                "-XX:+ExitOnOutOfMemoryError",
                "-XX:-OmitStackTraceInFastThrow",
                "-XX:ReservedCodeCacheSize=256M",
                "-XX:PerMethodRecompilationCutoff=10000",
                "-XX:PerBytecodeRecompilationCutoff=10000",
                "-XX:+EnableDynamicAgentLoading",
                "--enable-native-access=ALL-UNNAMED",
                "-Djdk.attach.allowAttachSelf=true",
                "-Djdk.nio.maxCachedBufferSize=2000000",
                "-Dfile.encoding=UTF-8",
                "-Duser.timezone=UTC",
                "",
            ]
        )
    )
    (etc / "config.properties").write_text(
        "\n".join(
            [
                "coordinator=true",
                "node-scheduler.include-coordinator=true",
                f"http-server.http.port={port}",
                f"discovery.uri=http://127.0.0.1:{port}",
                "query.max-memory=512MB",
                "query.max-memory-per-node=512MB",
                "",
            ]
        )
    )
    (etc / "log.properties").write_text("io.trino=INFO\n")
    (etc / "catalog" / "iceberg.properties").write_text(
        "\n".join(
            [
                "connector.name=iceberg",
                "iceberg.catalog.type=glue",
                f"hive.metastore.glue.region={fake_aws.region}",
                f"hive.metastore.glue.endpoint-url={fake_aws.endpoint}",
                "hive.metastore.glue.aws-access-key=testing",
                "hive.metastore.glue.aws-secret-key=testing",
                "fs.native-s3.enabled=true",
                f"s3.endpoint={fake_aws.endpoint}",
                f"s3.region={fake_aws.region}",
                "s3.path-style-access=true",
                "s3.aws-access-key=testing",
                "s3.aws-secret-key=testing",
                "",
            ]
        )
    )
    log = root / "server.log"
    env = {**os.environ, "TRINO_JAVA_HOME": JAVA_HOME, "PYTHON": sys.executable}
    subprocess.run([str(REPO / "scripts" / "trino.sh"), "install"], env=env, check=True)
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(REPO / "scripts" / "trino.sh"), "run", str(etc), str(data)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield TrinoServer("127.0.0.1", port, log, server)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
        if request.session.testsfailed:
            sys.stderr.write(f"\n--- Trino log ({log}), last 200 lines ---\n")
            sys.stderr.write("\n".join(log.read_text(errors="replace").splitlines()[-200:]))


@pytest.fixture(scope="session")
def athena_lake(fake_aws: FakeAws, tmp_path_factory: pytest.TempPathFactory) -> AthenaLake:
    """Raw CSVs on S3, then ingest of both landings, daily_volume and ohlcv --interval 1m
    for both days (after both ingests: the 16th's landing touches the 15th too)."""
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=fake_aws.endpoint,
        region_name=fake_aws.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    for bucket in (RAW_BUCKET, LAKE_BUCKET):
        s3.create_bucket(Bucket=bucket)
    for day in DAYS:
        lines = [CSV_HEADER]
        lines += [report.line for report in REPORTS if report.landing == day]
        lines += [line for line, _ in REJECTED[day]]
        s3.put_object(
            Bucket=RAW_BUCKET,
            Key=raw_file(day),
            Body=("\n".join(lines) + "\n").encode(),
        )
    started = time.time()
    # One Spark application per job (backfill runs each date's own job main in order).
    range_args = ("--start", DAYS[0], "--end", DAYS[-1], "--concurrency", "1")
    for job, extra in (("ingest", ()), ("daily_volume", ()), ("ohlcv", ("--", "--interval", "1m"))):
        summaries = _submit(fake_aws, "backfill", job, *range_args, *extra)
        per_date = [s for s in summaries if s.get("job") == job]
        assert [s["status"] for s in per_date] == ["ok", "ok"], summaries
    return AthenaLake(fake_aws, started, time.time())


@pytest.fixture(scope="session")
def trino_server(trino_process: TrinoServer, athena_lake: AthenaLake) -> TrinoServer:
    """The server once ``/v1/info`` says it has started (the lake is built by then)."""
    deadline = time.monotonic() + 180
    url = f"http://{trino_process.host}:{trino_process.port}/v1/info"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if not json.loads(response.read())["starting"]:
                    return trino_process
        except OSError:
            pass
        if trino_process.process.poll() is not None or time.monotonic() > deadline:
            tail = "\n".join(trino_process.log.read_text(errors="replace").splitlines()[-80:])
            raise RuntimeError(f"Trino {TRINO_VERSION} did not start on {url}:\n{tail}")
        time.sleep(0.5)


@pytest.fixture(scope="session")
def cursor(trino_server: TrinoServer) -> Iterator[Any]:
    connection = trino_server.connect()
    yield connection.cursor()
    connection.close()


@pytest.fixture(scope="session")
def views(cursor: Any) -> list[str]:
    """Every view of sql/athena/views/ created in the lake's database, by name."""
    paths = sorted(VIEWS_DIR.glob("*.sql"))
    for path in paths:
        cursor.execute(path.read_text(encoding="utf-8"))
        cursor.fetchall()
    return [path.stem for path in paths]
