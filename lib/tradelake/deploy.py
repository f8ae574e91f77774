"""Create or update one AWS Glue job per tradelake job: ``python -m tradelake.deploy``.

Builds the package wheel, uploads it and the job scripts to
``glue_jobs.artifacts_uri``, then defines ``<name_prefix><job>`` for each job
(``get_job`` -> ``update_job`` or ``create_job``). Configuration is the usual one
(``conf/<env>.toml`` < ``TRADELAKE_*``), read once on the deploying machine.

Glue passes no environment variables to a job, so the settings the jobs need at run
time travel as the job argument ``--tradelake-settings`` (every value that differs from
the defaults, as JSON; ``config.settings_argument``), a settings source of its own that
every job reads (``config.load_settings``).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from tradelake import aws
from tradelake.config import SETTINGS_ARGUMENT, Settings, load_settings, settings_argument
from tradelake.errors import ConfigError, TradelakeError
from tradelake.jars import KAFKA_JARS
from tradelake.jars import fetch as fetch_jars
from tradelake.runtime import FILE_JOBS, JOBS, LAND_KAFKA, configure_logging, iso_date
from tradelake.session import spark_conf

log = logging.getLogger("tradelake.deploy")

# The jobs of a day's files (FILE_JOBS); the Kafka landing job joins them when Kafka is
# configured.
LANDING_JOB = LAND_KAFKA
REPO = Path(__file__).resolve().parents[2]
DEFAULT_JOBS_DIR = REPO / "jobs"
DIST_DIR = REPO / "build" / "dist"
# The versions the wheel's dependencies are installed at on Glue, as in the Docker image:
# make lock resolves them within the tested lock (docs/development.md).
RUNTIME_LOCK = REPO / "requirements" / "runtime.txt"
_ROLE_ARN = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):role/\S+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class DeployError(TradelakeError):
    """An AWS call, the wheel build or an upload failed; jobs may be partly deployed."""

    exit_code = 1


@dataclass(frozen=True)
class Target:
    """Where and as whom the Glue jobs are deployed, validated before any AWS call."""

    settings: Settings  # as the jobs will see them on Glue
    role_arn: str
    partition: str
    account: str
    region: str
    bucket: str
    prefix: str

    def key(self, *parts: str) -> str:
        """S3 key under the artifacts prefix."""
        return "/".join(part for part in (self.prefix, *parts) if part)

    def uri(self, *parts: str) -> str:
        return f"s3://{self.bucket}/{self.key(*parts)}"

    def job_arn(self, name: str) -> str:
        return f"arn:{self.partition}:glue:{self.region}:{self.account}:job/{name}"


def job_settings(settings: Settings) -> Settings:
    """The settings a job runs with on Glue.

    Glue reads ``s3://`` through its own filesystem (EMRFS), so S3A is turned off unless
    ``s3_filesystem`` was set explicitly.
    """
    if "s3_filesystem" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"s3_filesystem": "platform"})


def check_target(settings: Settings) -> Target:
    """Validate what a deployment needs; raise ConfigError naming the variable to set."""
    jobs = settings.glue_jobs
    if not jobs.role_arn:
        raise ConfigError(
            "TRADELAKE_GLUE_JOBS__ROLE_ARN is required: the IAM role the Glue jobs run as "
            "(its policy: deploy/iam-policy.json)"
        )
    role = _ROLE_ARN.match(jobs.role_arn)
    if role is None:
        raise ConfigError(
            f"TRADELAKE_GLUE_JOBS__ROLE_ARN={jobs.role_arn!r} is not an IAM role ARN "
            "(arn:aws:iam::<account>:role/<name>)"
        )
    if not jobs.artifacts_uri:
        raise ConfigError(
            "TRADELAKE_GLUE_JOBS__ARTIFACTS_URI is required: s3://bucket/prefix where the "
            "job scripts and the wheel are uploaded"
        )
    bucket, prefix = _split_s3_uri(jobs.artifacts_uri)
    if not _BUCKET.match(bucket):
        raise ConfigError(
            f"TRADELAKE_GLUE_JOBS__ARTIFACTS_URI={jobs.artifacts_uri!r} must be "
            "s3://<bucket>/<prefix>"
        )
    if not settings.aws_region:
        raise ConfigError("AWS_REGION is required: the region the Glue jobs are created in")
    if settings.catalog_type not in ("glue", "rest"):
        raise ConfigError(
            f"TRADELAKE_CATALOG_TYPE={settings.catalog_type} cannot run on AWS Glue; "
            "use TRADELAKE_ENV=aws or TRADELAKE_CATALOG_TYPE=glue"
        )
    for variable, uri in (
        ("TRADELAKE_RAW_URI", settings.raw_uri),
        ("TRADELAKE_WAREHOUSE", settings.warehouse),
    ):
        if not uri.startswith("s3://"):
            raise ConfigError(f"{variable}={uri!r} must be an s3:// URI for jobs on AWS Glue")
    return Target(
        settings=job_settings(settings),
        role_arn=jobs.role_arn,
        partition=role.group(1),
        account=role.group(2),
        region=settings.aws_region,
        bucket=bucket,
        prefix=prefix,
    )


def _split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        return "", ""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, prefix.strip("/")


def glue_conf_argument(conf: Mapping[str, str]) -> str:
    """Spark properties as Glue's single ``--conf`` value: ``k=v --conf k=v …``.

    Glue accepts one ``--conf`` job argument and passes its value to spark-submit after
    its own ``--conf``, so later properties are chained inside the value.
    """
    return " --conf ".join(f"{key}={value}" for key, value in conf.items())


def job_name(settings: Settings, job: str) -> str:
    return settings.glue_jobs.name_prefix + job.replace("_", "-")


def pinned_modules(lock: Path) -> list[str]:
    """Every ``name==version`` line of a lock file (requirements/runtime.txt), in order.

    Glue installs ``--additional-python-modules`` with pip; listing the pins beside the
    wheel makes it resolve the wheel's dependencies to exactly the tested versions.
    """
    try:
        text = lock.read_text()
    except OSError as err:
        raise ConfigError(
            f"cannot read {lock}, the versions the Glue jobs install beside the wheel; "
            "deploy from a clone of the repository (make lock writes the file)"
        ) from err
    modules = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    modules = [module for module in modules if module]
    unpinned = [module for module in modules if "==" not in module or "," in module]
    if unpinned or not modules:
        raise ConfigError(f"{lock} must pin each package as name==version; found {unpinned}")
    return modules


def job_definition(
    target: Target,
    job: str,
    wheel_name: str,
    default_date: date | None = None,
    python_modules: Sequence[str] = (),
) -> dict[str, Any]:
    """The ``create_job`` request for one tradelake job.

    ``python_modules`` (``name==version``) are installed with the wheel: its dependencies
    at the pinned versions.
    """
    settings = target.settings
    glue = settings.glue_jobs
    arguments = {
        "--datalake-formats": "iceberg",
        "--additional-python-modules": ",".join(
            [target.uri("wheels", wheel_name), *python_modules]
        ),
        "--conf": glue_conf_argument(spark_conf(settings)),
        "--enable-metrics": "true",
        "--enable-continuous-cloudwatch-log": "true",
        SETTINGS_ARGUMENT: settings_argument(settings),
    }
    jars = list(glue.extra_jars)
    if job == LANDING_JOB:
        # Glue 6.0 has no Kafka source for batch reads on its classpath: ship the pinned one.
        jars = [target.uri("jars", jar.file_name) for jar in KAFKA_JARS] + jars
    if jars:
        arguments["--extra-jars"] = ",".join(jars)
    if default_date is not None and job != LANDING_JOB:
        # Without it the jobs process yesterday (UTC); schedules pass --date to backfill.
        # The landing job's date only labels its run: its offsets decide what lands.
        arguments["--date"] = default_date.isoformat()
    connection: dict[str, Any] = {}
    if job == LANDING_JOB and glue.kafka_connection:
        connection["Connections"] = {"Connections": [glue.kafka_connection]}
    return {
        "Name": job_name(settings, job),
        "Description": f"tradelake {job} (jobs/{job}.py), deployed by python -m tradelake.deploy",
        "Role": target.role_arn,
        "GlueVersion": glue.glue_version,
        "Command": {
            "Name": "glueetl",
            "ScriptLocation": target.uri("scripts", f"{job}.py"),
            "PythonVersion": "3",
        },
        "DefaultArguments": arguments,
        "WorkerType": glue.worker_type,
        "NumberOfWorkers": glue.number_of_workers,
        "Timeout": glue.timeout_minutes,
        "MaxRetries": glue.max_retries,
        "Tags": dict(glue.tags),
        **connection,
    }


def job_update(definition: Mapping[str, Any]) -> dict[str, Any]:
    """The ``JobUpdate`` of ``update_job``: the definition without its name and tags.

    ``update_job`` replaces the whole definition, so every field is sent again.
    """
    return {key: value for key, value in definition.items() if key not in ("Name", "Tags")}


def expected_wheel_name(repo: Path) -> str:
    """File name of the wheel ``build_wheel`` would make from ``repo``."""
    try:
        project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
        name, version = str(project["name"]), str(project["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(
            f"cannot read the project name and version from {repo / 'pyproject.toml'}; "
            "pass --wheel PATH"
        ) from err
    return f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}-py3-none-any.whl"


def build_wheel(repo: Path, out_dir: Path) -> Path:
    """Build the package wheel from ``repo`` into ``out_dir`` and return its path."""
    if not (repo / "pyproject.toml").is_file():
        raise ConfigError(f"{repo} has no pyproject.toml to build a wheel from; pass --wheel PATH")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tradelake-wheel-") as scratch:
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", scratch, str(repo)]
        log.info("building the wheel", extra={"command": command})
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
            raise DeployError(f"building the wheel failed (exit {result.returncode}): {tail}")
        built = sorted(Path(scratch).glob("*.whl"))
        if len(built) != 1:
            raise DeployError(f"pip wheel made {len(built)} wheels in {scratch}, expected 1")
        wheel = out_dir / built[0].name
        shutil.copyfile(built[0], wheel)
    return wheel


def aws_clients(settings: Settings) -> tuple[Any, Any]:
    """The S3 and Glue clients, on the configured endpoints, with bounded retries."""
    return aws.client("s3", settings), aws.client("glue", settings)


def check_bucket(s3: Any, target: Target) -> None:
    """Fail with the bucket's name when the artifacts bucket is missing or unreachable."""
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=target.bucket)
    except ClientError as err:
        code = str(err.response.get("Error", {}).get("Code", ""))
        what = "does not exist" if code in ("404", "NoSuchBucket") else f"is not usable ({code})"
        raise DeployError(
            f"artifacts bucket {target.bucket!r} {what}; create it or fix "
            f"TRADELAKE_GLUE_JOBS__ARTIFACTS_URI={target.uri()}"
        ) from err


def upload(s3: Any, target: Target, source: Path, *parts: str) -> str:
    s3.put_object(Bucket=target.bucket, Key=target.key(*parts), Body=source.read_bytes())
    uri = target.uri(*parts)
    log.info("uploaded", extra={"source": str(source), "uri": uri})
    return uri


def put_job(glue: Any, target: Target, definition: Mapping[str, Any]) -> str:
    """Create the job, or update it in place (keeping its run history); return which."""
    name = definition["Name"]
    try:
        glue.get_job(JobName=name)
    except glue.exceptions.EntityNotFoundException:
        glue.create_job(**definition)
        log.info("created Glue job", extra={"job": name})
        return "created"
    glue.update_job(JobName=name, JobUpdate=job_update(definition))
    if definition["Tags"]:
        # update_job takes no tags; tags are added or changed here, never removed.
        glue.tag_resource(ResourceArn=target.job_arn(name), TagsToAdd=definition["Tags"])
    log.info("updated Glue job", extra={"job": name})
    return "updated"


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(
        prog="python -m tradelake.deploy", description=(__doc__ or "").split("\n\n")[0]
    )
    result.add_argument(
        "--job",
        action="extend",
        nargs="+",
        choices=JOBS,
        default=[],
        help=f"deploy only these jobs (repeatable; default {', '.join(FILE_JOBS)}, and "
        f"{LANDING_JOB} when TRADELAKE_KAFKA__BOOTSTRAP_SERVERS is set)",
    )
    result.add_argument(
        "--dry-run", action="store_true", help="print the job definitions, call nothing"
    )
    result.add_argument(
        "--jobs-dir",
        type=Path,
        default=DEFAULT_JOBS_DIR,
        help=f"folder of the job scripts (default {DEFAULT_JOBS_DIR})",
    )
    result.add_argument(
        "--wheel", type=Path, help="upload this wheel instead of building one into build/dist"
    )
    result.add_argument(
        "--date",
        type=iso_date,
        help="default --date of the jobs (normally unset: they process yesterday, UTC)",
    )
    return result


def main(argv: list[str] | None = None) -> int:
    """Deploy; print one JSON summary line last; return 0, 1 (AWS or build) or 2 (config)."""
    configure_logging()
    args = parser().parse_args(argv)
    jobs = list(dict.fromkeys(args.job))
    summary: dict[str, Any] = {
        "command": "deploy",
        "dry_run": args.dry_run,
        "jobs": [],
        "created": [],
        "updated": [],
        "artifacts": [],
    }
    started = time.monotonic()
    exit_code = 0
    try:
        _deploy(args, jobs, summary)
        summary["status"] = "ok"
    except TradelakeError as err:
        exit_code = err.exit_code
        summary["status"] = type(err).__name__
        summary["error"] = str(err)
        print(f"tradelake: {err}", file=sys.stderr)
    except Exception as err:  # noqa: BLE001 - the command must still end with its summary
        exit_code = 1
        summary["status"] = "failed"
        summary["error"] = f"{type(err).__name__}: {err}"
        log.exception("deploy failed")
    summary["exit_code"] = exit_code
    summary["seconds"] = round(time.monotonic() - started, 3)
    print(json.dumps(summary), flush=True)
    return exit_code


def chosen_jobs(settings: Settings, requested: list[str]) -> list[str]:
    """The jobs to deploy: those requested, else the file jobs (and landing with Kafka).

    Raises:
        ConfigError: the landing job without brokers, or a Kafka secret that would be
            written into the job definitions in clear.
    """
    kafka = settings.kafka
    secrets = sorted(kafka.secret_options())
    if secrets:
        # Every job's arguments carry the settings; they are readable by anyone with
        # glue:GetJob, and Glue logs them.
        raise ConfigError(
            f"TRADELAKE_KAFKA__OPTIONS holds a secret ({', '.join(secrets)}) that would be "
            "written into the Glue jobs' arguments in clear; put those options in an AWS "
            "Secrets Manager secret (a JSON object) and set TRADELAKE_KAFKA__OPTIONS_SECRET_ID"
        )
    jobs = requested or [*FILE_JOBS, *([LANDING_JOB] if kafka.bootstrap_servers else [])]
    if LANDING_JOB in jobs and not kafka.bootstrap_servers:
        raise ConfigError(
            f"{LANDING_JOB} needs TRADELAKE_KAFKA__BOOTSTRAP_SERVERS: the brokers' host:port "
            "list, shipped to the job with the other settings"
        )
    return jobs


def _deploy(args: argparse.Namespace, requested: list[str], summary: dict[str, Any]) -> None:
    target = check_target(load_settings())
    jobs = chosen_jobs(target.settings, requested)
    scripts = {job: args.jobs_dir / f"{job}.py" for job in jobs}
    missing = [str(path) for path in scripts.values() if not path.is_file()]
    if missing:
        raise ConfigError(f"job scripts not found: {missing}; pass --jobs-dir")
    if args.wheel is not None and (args.wheel.suffix != ".whl" or not args.wheel.is_file()):
        raise ConfigError(f"--wheel {args.wheel} is not a wheel file")
    wheel_name = args.wheel.name if args.wheel is not None else expected_wheel_name(REPO)
    modules = pinned_modules(RUNTIME_LOCK)
    definitions = [job_definition(target, job, wheel_name, args.date, modules) for job in jobs]
    summary["jobs"] = [definition["Name"] for definition in definitions]
    if args.dry_run:
        print(json.dumps(definitions, indent=2))
        return

    from botocore.exceptions import BotoCoreError, ClientError

    try:
        s3, glue = aws_clients(target.settings)
        check_bucket(s3, target)
        wheel = args.wheel if args.wheel is not None else build_wheel(REPO, DIST_DIR)
        if wheel.name != wheel_name:
            raise DeployError(f"built {wheel.name}, expected {wheel_name}; is the version stale?")
        summary["artifacts"].append(upload(s3, target, wheel, "wheels", wheel.name))
        if LANDING_JOB in jobs:
            for jar in fetch_jars(jars=KAFKA_JARS):
                summary["artifacts"].append(upload(s3, target, jar, "jars", jar.name))
        for job, script in scripts.items():
            summary["artifacts"].append(upload(s3, target, script, "scripts", f"{job}.py"))
        for definition in definitions:
            summary[put_job(glue, target, definition)].append(definition["Name"])
    except (BotoCoreError, ClientError) as err:
        raise DeployError(f"AWS call failed: {err}") from err


if __name__ == "__main__":
    sys.exit(main())
