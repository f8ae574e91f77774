"""``python -m tradelake.deploy`` against the moto server: S3 uploads and Glue job definitions."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lakes import REPO, FakeAws
from tests.locks import pinned
from tradelake import deploy
from tradelake.config import Settings
from tradelake.errors import ConfigError
from tradelake.runtime import last_summary

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::123456789012:role/tradelake"
BUCKET = "artifacts"
JOB_FILES = ("ingest", "daily_volume", "ohlcv", "compact")
_prefixes = iter(range(1, 1000))


# requirements/runtime.txt, read here independently of deploy's reader.
runtime_pins = [
    f"{name}=={version}" for name, version in pinned(REPO / "requirements" / "runtime.txt").items()
]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package wheel, built once for the module (the deploy tests pass it as --wheel)."""
    built = deploy.build_wheel(REPO, tmp_path_factory.mktemp("dist"))
    assert built.name == deploy.expected_wheel_name(REPO)
    return built


def _clear_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset every variable settings read; setenv first so monkeypatch restores the absence."""
    names = {f"TRADELAKE_{field.upper()}" for field in Settings.model_fields}
    names |= {"AWS_REGION", "AWS_DEFAULT_REGION", "TRADELAKE_CONF_DIR"}
    names |= {name for name in os.environ if name.startswith("TRADELAKE_")}
    for name in names - {"TRADELAKE_JARS_DIR"}:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


@pytest.fixture
def glue_env(aws_env: FakeAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Configuration for a Glue deployment on the moto server; yields the job name prefix."""
    _clear_settings_env(monkeypatch)
    prefix = f"t{next(_prefixes)}-tradelake-"  # the moto server is shared by the whole run
    env = {
        "TRADELAKE_CONF_DIR": str(REPO / "conf"),
        "TRADELAKE_ENV": "aws",
        "TRADELAKE_CATALOG_TYPE": "glue",
        "TRADELAKE_WAREHOUSE": "s3://wh/warehouse",
        "TRADELAKE_RAW_URI": "s3://raw/landing",
        "TRADELAKE_GLUE_ENDPOINT": aws_env.endpoint,
        "TRADELAKE_S3_ENDPOINT": aws_env.endpoint,
        "TRADELAKE_GLUE_JOBS__ROLE_ARN": ROLE,
        "TRADELAKE_GLUE_JOBS__ARTIFACTS_URI": f"s3://{BUCKET}/tradelake",
        "TRADELAKE_GLUE_JOBS__NAME_PREFIX": prefix,
        "AWS_REGION": aws_env.region,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    aws_env.client("s3").create_bucket(Bucket=BUCKET)
    yield prefix


def run_deploy(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    """Run the command in-process: exit code, the last stdout line as JSON, the rest."""
    capsys.readouterr()
    exit_code = deploy.main(list(argv))
    out = capsys.readouterr().out.strip()
    summary = last_summary(out)
    assert summary is not None, out[-3000:]
    return exit_code, summary, out.rsplit("\n", 1)[0] if "\n" in out else ""


def names(prefix: str) -> list[str]:
    return [prefix + job.replace("_", "-") for job in JOB_FILES]


def deployed_jobs(fake: FakeAws, prefix: str) -> dict[str, dict[str, Any]]:
    jobs = fake.client("glue").get_jobs()["Jobs"]
    return {job["Name"]: job for job in jobs if job["Name"].startswith(prefix)}


@pytest.fixture
def forbid_aws_and_builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record (and refuse) any boto3 client or subprocess the command would start."""
    import subprocess

    import boto3

    calls: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        calls.append(repr(args[:1]))
        raise AssertionError(f"unexpected call {args[:1]}")

    monkeypatch.setattr(boto3, "client", refuse)
    monkeypatch.setattr(subprocess, "run", refuse)
    return calls


def test_deploy_creates_one_glue_job_per_job_and_uploads_artifacts(
    glue_env: str, aws_env: FakeAws, wheel: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_code, summary, _ = run_deploy(capsys, "--wheel", str(wheel))

    assert exit_code == 0, summary
    assert summary["status"] == "ok"
    assert summary["created"] == names(glue_env)
    assert summary["updated"] == []
    wheel_uri = f"s3://{BUCKET}/tradelake/wheels/{wheel.name}"
    assert summary["artifacts"] == [wheel_uri] + [
        f"s3://{BUCKET}/tradelake/scripts/{job}.py" for job in JOB_FILES
    ]
    s3 = aws_env.client("s3")
    assert s3.get_object(Bucket=BUCKET, Key=f"tradelake/wheels/{wheel.name}")["Body"].read() == (
        wheel.read_bytes()
    )
    glue = aws_env.client("glue")
    for job, name in zip(JOB_FILES, names(glue_env), strict=True):
        script = s3.get_object(Bucket=BUCKET, Key=f"tradelake/scripts/{job}.py")["Body"].read()
        assert script == (REPO / "jobs" / f"{job}.py").read_bytes()
        definition = glue.get_job(JobName=name)["Job"]
        assert definition["GlueVersion"] == "6.0"
        assert definition["Role"] == ROLE
        assert definition["Command"] == {
            "Name": "glueetl",
            "ScriptLocation": f"s3://{BUCKET}/tradelake/scripts/{job}.py",
            "PythonVersion": "3",
        }
        assert (definition["WorkerType"], definition["NumberOfWorkers"]) == ("G.1X", 2)
        assert (definition["Timeout"], definition["MaxRetries"]) == (120, 1)
        arguments = definition["DefaultArguments"]
        assert arguments["--datalake-formats"] == "iceberg"
        # The wheel, and its dependencies at the versions the Docker image installs too.
        modules = arguments["--additional-python-modules"].split(",")
        assert modules == [wheel_uri, *runtime_pins]
        assert arguments["--enable-metrics"] == "true"
        assert arguments["--enable-continuous-cloudwatch-log"] == "true"
        assert "--date" not in arguments  # the jobs default to yesterday (UTC) themselves
        # Without Kafka configured: no landing job, no extra jars, no connection.
        assert "--extra-jars" not in arguments
        assert "Connections" not in definition
        conf = arguments["--conf"]
        assert conf.startswith(
            "spark.sql.extensions=org.apache.iceberg.spark.extensions."
            "IcebergSparkSessionExtensions --conf "
        )
        pairs = dict(item.split("=", 1) for item in conf.split(" --conf "))
        assert pairs["spark.sql.catalog.lake.type"] == "glue"
        assert pairs["spark.sql.catalog.lake.warehouse"] == "s3://wh/warehouse"
        assert pairs["spark.sql.catalog.lake.glue.endpoint"] == aws_env.endpoint
        assert pairs["spark.sql.catalog.lake.s3.endpoint"] == aws_env.endpoint
        # On Glue, s3:// raw files are read by Glue's own filesystem, not S3A.
        assert not [key for key in pairs if "s3a" in key]
        shipped = json.loads(arguments["--tradelake-settings"])
        assert not {"env", "glue_jobs"} & shipped.keys()  # deploy-time only
        expected = {
            "aws_region": aws_env.region,
            "catalog_type": "glue",
            "glue_endpoint": aws_env.endpoint,
            "raw_uri": "s3://raw/landing",
            "s3_endpoint": aws_env.endpoint,
            "s3_filesystem": "platform",
            "warehouse": "s3://wh/warehouse",
        }
        assert shipped.items() >= expected.items()
        arn = f"arn:aws:glue:{aws_env.region}:123456789012:job/{name}"
        assert glue.get_tags(ResourceArn=arn)["Tags"] == {"app": "tradelake"}


def _emulate_update_job(fake: FakeAws) -> Callable[..., Any]:
    """A before-call hook answering UpdateJob, which moto (5.2) does not implement.

    botocore has already validated the request against the real Glue model when the hook
    runs; the hook replays the JobUpdate as CreateJob, which moto applies in place.
    """
    from botocore.awsrequest import AWSResponse

    glue = fake.client("glue")

    def handler(params: dict[str, Any], **kwargs: Any) -> tuple[AWSResponse, dict[str, Any]]:
        request = json.loads(params["body"])
        glue.get_job(JobName=request["JobName"])  # EntityNotFoundException, as Glue would
        glue.create_job(Name=request["JobName"], **request["JobUpdate"])
        return AWSResponse(params["url"], 200, {}, None), {"JobName": request["JobName"]}

    return handler


def test_a_second_deploy_updates_the_jobs_in_place(
    glue_env: str,
    aws_env: FakeAws,
    wheel: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert run_deploy(capsys, "--wheel", str(wheel))[0] == 0
    clients = deploy.aws_clients

    def with_update_job(settings: Settings) -> tuple[Any, Any]:
        s3, glue = clients(settings)
        glue.meta.events.register("before-call.glue.UpdateJob", _emulate_update_job(aws_env))
        return s3, glue

    monkeypatch.setattr(deploy, "aws_clients", with_update_job)
    monkeypatch.setenv("TRADELAKE_GLUE_JOBS__NUMBER_OF_WORKERS", "5")
    monkeypatch.setenv("TRADELAKE_GLUE_JOBS__TAGS", '{"app": "tradelake", "team": "data"}')

    exit_code, summary, _ = run_deploy(capsys, "--wheel", str(wheel))

    assert exit_code == 0, summary
    assert (summary["created"], summary["updated"]) == ([], names(glue_env))
    jobs = deployed_jobs(aws_env, glue_env)
    assert sorted(jobs) == sorted(names(glue_env))
    assert {job["NumberOfWorkers"] for job in jobs.values()} == {5}
    assert {job["GlueVersion"] for job in jobs.values()} == {"6.0"}
    arn = f"arn:aws:glue:{aws_env.region}:123456789012:job/{glue_env}ingest"
    assert aws_env.client("glue").get_tags(ResourceArn=arn)["Tags"] == {
        "app": "tradelake",
        "team": "data",
    }


def test_dry_run_prints_the_definitions_and_calls_nothing(
    glue_env: str, capsys: pytest.CaptureFixture[str], forbid_aws_and_builds: list[str]
) -> None:
    exit_code, summary, printed = run_deploy(
        capsys, "--dry-run", "--job", "ohlcv", "--date", "2025-01-15"
    )

    assert exit_code == 0, summary
    assert forbid_aws_and_builds == []
    assert (summary["dry_run"], summary["jobs"]) == (True, [f"{glue_env}ohlcv"])
    assert (summary["created"], summary["updated"], summary["artifacts"]) == ([], [], [])
    [definition] = json.loads(printed)
    assert definition["Name"] == f"{glue_env}ohlcv"
    assert definition["Command"]["ScriptLocation"] == f"s3://{BUCKET}/tradelake/scripts/ohlcv.py"
    assert definition["DefaultArguments"]["--date"] == "2025-01-15"
    assert definition["Tags"] == {"app": "tradelake"}


@pytest.mark.parametrize(
    ("unset", "named"),
    [
        (("TRADELAKE_GLUE_JOBS__ROLE_ARN",), "TRADELAKE_GLUE_JOBS__ROLE_ARN"),
        (("TRADELAKE_GLUE_JOBS__ARTIFACTS_URI",), "TRADELAKE_GLUE_JOBS__ARTIFACTS_URI"),
        (("AWS_REGION", "AWS_DEFAULT_REGION"), "AWS_REGION"),
    ],
)
def test_missing_configuration_exits_2_before_any_call(
    glue_env: str,
    aws_env: FakeAws,
    unset: tuple[str, ...],
    named: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    forbid_aws_and_builds: list[str],
) -> None:
    for name in unset:
        monkeypatch.delenv(name, raising=False)

    exit_code, summary, _ = run_deploy(capsys)

    assert exit_code == 2
    assert named in summary["error"]
    assert forbid_aws_and_builds == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TRADELAKE_RAW_URI", "./lake/raw"),
        # Glue loads extra jars from S3 only.
        ("TRADELAKE_GLUE_JOBS__EXTRA_JARS", '["./aws-msk-iam-auth.jar"]'),
    ],
)
def test_a_local_path_cannot_be_deployed(
    glue_env: str,
    variable: str,
    value: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(variable, value)

    exit_code, summary, _ = run_deploy(capsys, "--dry-run")

    assert exit_code == 2
    assert variable in summary["error"]


def test_a_missing_bucket_exits_1_naming_it(
    glue_env: str,
    aws_env: FakeAws,
    wheel: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRADELAKE_GLUE_JOBS__ARTIFACTS_URI", "s3://no-such-artifacts/tradelake")

    exit_code, summary, _ = run_deploy(capsys, "--wheel", str(wheel))

    assert exit_code == 1
    assert "'no-such-artifacts' does not exist" in summary["error"]
    assert deployed_jobs(aws_env, glue_env) == {}


# ------------------------------------------------------------------------------ Kafka landing


@pytest.fixture
def kafka_env(glue_env: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A deployment whose trades come from Kafka: brokers, a Glue connection, an extra jar."""
    monkeypatch.setenv("TRADELAKE_KAFKA__BOOTSTRAP_SERVERS", "b-1.msk.example:9098")
    monkeypatch.setenv("TRADELAKE_KAFKA__OPTIONS_SECRET_ID", "tradelake/kafka-client")
    monkeypatch.setenv("TRADELAKE_GLUE_JOBS__KAFKA_CONNECTION", "msk-vpc")
    monkeypatch.setenv("TRADELAKE_GLUE_JOBS__EXTRA_JARS", '["s3://jars/aws-msk-iam-auth.jar"]')
    return glue_env


def test_with_kafka_configured_the_landing_job_is_deployed_with_its_jars_and_connection(
    kafka_env: str, aws_env: FakeAws, wheel: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tradelake.jars import KAFKA_JARS, fetch

    exit_code, summary, _ = run_deploy(capsys, "--wheel", str(wheel), "--date", "2025-01-15")

    assert exit_code == 0, summary
    landing = f"{kafka_env}land-kafka"
    assert summary["created"] == [*names(kafka_env), landing]
    jar_uris = [f"s3://{BUCKET}/tradelake/jars/{jar.file_name}" for jar in KAFKA_JARS]
    assert set(jar_uris) <= set(summary["artifacts"])
    s3 = aws_env.client("s3")
    for path in fetch(jars=KAFKA_JARS):
        uploaded = s3.get_object(Bucket=BUCKET, Key=f"tradelake/jars/{path.name}")["Body"]
        assert uploaded.read() == path.read_bytes()
    assert s3.get_object(Bucket=BUCKET, Key="tradelake/scripts/land_kafka.py")["Body"].read() == (
        (REPO / "jobs" / "land_kafka.py").read_bytes()
    )
    jobs = deployed_jobs(aws_env, kafka_env)
    land = jobs[landing]
    assert land["Command"]["ScriptLocation"] == f"s3://{BUCKET}/tradelake/scripts/land_kafka.py"
    assert land["Connections"] == {"Connections": ["msk-vpc"]}
    arguments = land["DefaultArguments"]
    assert arguments["--extra-jars"].split(",") == [*jar_uris, "s3://jars/aws-msk-iam-auth.jar"]
    # The landing run's date only labels it; the file jobs get the default date.
    assert "--date" not in arguments
    shipped = json.loads(arguments["--tradelake-settings"])
    assert shipped["kafka"] == {
        "bootstrap_servers": "b-1.msk.example:9098",
        "options_secret_id": "tradelake/kafka-client",
    }
    ingest = jobs[f"{kafka_env}ingest"]
    assert "Connections" not in ingest
    assert ingest["DefaultArguments"]["--extra-jars"] == "s3://jars/aws-msk-iam-auth.jar"
    assert ingest["DefaultArguments"]["--date"] == "2025-01-15"


def test_the_landing_job_without_brokers_exits_2_before_any_call(
    glue_env: str, capsys: pytest.CaptureFixture[str], forbid_aws_and_builds: list[str]
) -> None:
    exit_code, summary, _ = run_deploy(capsys, "--job", "land_kafka")

    assert exit_code == 2
    assert "TRADELAKE_KAFKA__BOOTSTRAP_SERVERS" in summary["error"]
    assert forbid_aws_and_builds == []


def test_a_kafka_password_in_the_options_is_never_written_into_a_job(
    kafka_env: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    forbid_aws_and_builds: list[str],
) -> None:
    jaas = 'org.apache.kafka.common.security.scram.ScramLoginModule required password="s3cr3t";'
    monkeypatch.setenv("TRADELAKE_KAFKA__OPTIONS", json.dumps({"sasl.jaas.config": jaas}))

    # Every job's arguments carry the settings, so no job may be deployed with it.
    exit_code, summary, printed = run_deploy(capsys, "--dry-run", "--job", "ingest")

    assert exit_code == 2
    assert "TRADELAKE_KAFKA__OPTIONS_SECRET_ID" in summary["error"]
    assert "sasl.jaas.config" in summary["error"]
    assert "s3cr3t" not in json.dumps(summary) + printed
    assert forbid_aws_and_builds == []


def test_glue_installs_the_pins_of_the_runtime_lock_and_refuses_a_loose_one(
    tmp_path: Path,
) -> None:
    assert "boto3==" in ",".join(runtime_pins) and "pydantic==" in ",".join(runtime_pins)
    assert deploy.pinned_modules(deploy.RUNTIME_LOCK) == runtime_pins
    loose = tmp_path / "runtime.txt"
    loose.write_text("pydantic==2.14.4\n    # via tradelake\nboto3>=1.35\n")
    with pytest.raises(ConfigError, match=r"name==version; found \['boto3>=1.35'\]"):
        deploy.pinned_modules(loose)
    with pytest.raises(ConfigError, match="deploy from a clone"):
        deploy.pinned_modules(tmp_path / "absent.txt")
