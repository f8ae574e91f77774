"""What the Airflow DAG (``dags/tradelake_daily.py``) needs, apart from Airflow itself.

The DAG declares tasks and dependencies; everything it decides lives here, as plain
functions testable without Airflow: which runner (local ``spark-submit``, the
spark-operator, AWS Glue) from configuration, each job's arguments for a date, the days
the gold jobs rebuild after an ingest (``gold_dates``: from the ingest's summary line, or
its row of ``job_runs`` read with pyiceberg), the SparkApplication a task submits, what an
exit code means to Airflow, and the alert a failure posts. Airflow is imported only inside
the few functions that run in a task (``run_local_job``, ``raise_for_exit``,
``post_failure``), so this module imports without it; the jobs never import this module.

Configuration is environment variables ``TRADELAKE_AIRFLOW_*`` (docs/airflow.md), read
when the DAG file is parsed.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from tradelake.catalog import catalog_source, lake_catalog, storage_errors
from tradelake.config import Settings, interval_seconds, load_settings
from tradelake.errors import (
    FAIL_FAST_EXIT_CODES,
    ConfigError,
    ExitCode,
    StorageError,
    exit_meaning,
)
from tradelake.runtime import COMPACT, DAILY_VOLUME, INGEST, LAND_KAFKA, OHLCV

log = logging.getLogger("tradelake.orchestration")

Runner = Literal["local", "kubernetes", "glue"]
DAG_ID = "tradelake_daily"
# Steps the DAG's compaction runs on the recent partitions. Retention, orphan and raw
# clean-up count days back from *today*, so in a backfill of old dates they would delete
# the very days being rebuilt: they belong to a separate maintenance run (docs/airflow.md).
DEFAULT_COMPACT_STEPS = ("rewrite", "manifests", "expire")
PARENT_ID_TEMPLATE = "{{ macros.OpenLineageProviderPlugin.lineage_parent_id(task_instance) }}"
ROOT_PARENT_ID_TEMPLATE = (
    "{{ macros.OpenLineageProviderPlugin.lineage_root_parent_id(task_instance) }}"
)
# The task that decides which days the gold jobs rebuild, named after the summary key.
GOLD_DATES = "gold_dates"
# The run history table (tables.JOB_RUNS, whose module needs Spark).
JOB_RUNS_TABLE = "job_runs"
# The task that runs the analysts' dbt project (analytics/) after the gold tables.
DBT_BUILD = "dbt_build"


class DagSettings(BaseSettings):
    """The DAG's configuration: ``TRADELAKE_AIRFLOW_<FIELD>`` variables, validated once."""

    model_config = SettingsConfigDict(env_prefix="TRADELAKE_AIRFLOW_", frozen=True)

    runner: Runner = "local"
    # Where the trades come from: the day's raw files (a sensor waits for them) or Kafka
    # (a land_kafka task lands the topic up to now, then ingest --source kafka).
    source: Literal["files", "kafka"] = "files"
    # local: the repository with spark-submit.sh and jobs/ (default: the DAG's own).
    repo: Path | None = None
    # Where the day's raw files land: a path or s3:// URI (default TRADELAKE_RAW_URI, else
    # <repo>/lake/raw). The sensor waits for ${raw_uri}/trades/date=<ds>/.
    raw_uri: str | None = None
    database: str = "trading"
    # Comma-separated in the environment: 1m,5m,1h.
    ohlcv_intervals: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["1m"])
    start_date: date = date(2025, 1, 1)
    catchup: bool = False
    # Dates run side by side (scheduled runs; a backfill has its own --max-active-runs).
    # One date is never run twice at once: Airflow keys a run by its logical date.
    max_active_runs: int = Field(default=2, ge=1)
    # Spark jobs of one kind running at once across dates (each is a Spark application).
    max_active_tis_per_job: int = Field(default=2, ge=1)
    retries: int = Field(default=3, ge=0)
    retry_delay_seconds: float = Field(default=300.0, gt=0)
    max_retry_delay_seconds: float = Field(default=3600.0, gt=0)
    job_timeout_minutes: float = Field(default=180.0, gt=0)
    sensor_poke_seconds: float = Field(default=300.0, gt=0)
    sensor_timeout_seconds: float = Field(default=6 * 3600.0, gt=0)
    compact_days: int = Field(default=7, ge=1)
    compact_steps: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_COMPACT_STEPS)
    )
    fs_conn_id: str = "fs_default"
    aws_conn_id: str = "aws_default"
    region: str | None = None
    glue_job_prefix: str = "tradelake-"
    glue_poll_seconds: float = Field(default=30.0, gt=0)
    # The Glue operator and the file sensors wait in Airflow's triggerer instead of a
    # worker slot (MWAA runs a triggerer; a local standalone Airflow may not).
    deferrable: bool = False
    kubernetes_conn_id: str = "kubernetes_default"
    k8s_namespace: str = "tradelake"
    # The one-off SparkApplications rendered for this environment:
    # kubectl kustomize k8s/overlays/<env>/jobs > <dags>/tradelake-jobs.yaml
    k8s_manifests: Path | None = None
    # An Airflow connection (http) whose host is the webhook URL; unset connection: no post.
    alert_conn_id: str = "tradelake_alerts"
    # Hand each task's OpenLineage run to its job (needs the openlineage provider).
    lineage_parent: bool = True
    # The dbt step (docs/airflow.md, docs/dbt.md): `dbt build` of the analytics project
    # after the gold tasks, with this profile target (trino, athena); unset: no dbt step.
    dbt_target: str | None = None
    # The dbt executable; default: the repository's .venv-dbt, else `dbt` on the PATH.
    dbt_command: str | None = None
    # The project and its profiles.yml; default: <repo>/analytics for both.
    dbt_project_dir: Path | None = None
    dbt_profiles_dir: Path | None = None
    dbt_timeout_minutes: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _runner_needs(self) -> DagSettings:
        if self.runner == "kubernetes" and self.k8s_manifests is None:
            raise ValueError(
                "TRADELAKE_AIRFLOW_K8S_MANIFESTS is required with the kubernetes runner: the "
                "file `kubectl kustomize k8s/overlays/<env>/jobs` renders"
            )
        return self

    @field_validator("ohlcv_intervals", "compact_steps", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value


def load_dag_settings(default_repo: Path) -> DagSettings:
    """Read ``TRADELAKE_AIRFLOW_*``; ``repo`` defaults to ``default_repo``.

    Raises:
        ConfigError: a value is invalid (the message names the variable).
    """
    try:
        settings = DagSettings()
    except SettingsError as err:
        raise ConfigError(f"invalid DAG configuration: {err}") from err
    except ValidationError as err:
        problems = "; ".join(
            (
                f"TRADELAKE_AIRFLOW_{'_'.join(str(p) for p in e['loc']).upper()}: "
                if e["loc"]
                else ""
            )
            + e["msg"]
            for e in err.errors()
        )
        raise ConfigError(f"invalid DAG configuration: {problems}") from err
    updates: dict[str, Any] = {}
    if settings.repo is None:
        updates["repo"] = default_repo
    repo = settings.repo or default_repo
    if settings.raw_uri is None:
        raw = os.environ.get("TRADELAKE_RAW_URI") or str(repo / "lake/raw")
        updates["raw_uri"] = raw
    if settings.dbt_target is not None:
        project = settings.dbt_project_dir or repo / "analytics"
        updates["dbt_project_dir"] = project
        updates["dbt_profiles_dir"] = settings.dbt_profiles_dir or project
        if settings.dbt_command is None:
            venv_dbt = repo / ".venv-dbt" / "bin" / "dbt"
            updates["dbt_command"] = str(venv_dbt) if venv_dbt.is_file() else "dbt"
    return settings.model_copy(update=updates) if updates else settings


# ------------------------------------------------------------------------------ the tasks


@dataclass(frozen=True)
class JobTask:
    """One Spark job of the daily chain, as an Airflow task.

    Attributes:
        task_id: ``ingest``, ``daily_volume``, ``ohlcv_<interval>``, ``compact``.
        job: the job script, ``jobs/<job>.py``.
        arguments: its flags besides ``--date`` (templated: ``{{ ds }}`` is allowed).
        tables: the tables it publishes (the task's Asset outlets).
    """

    task_id: str
    job: str
    arguments: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()

    @property
    def manifest_name(self) -> str:
        """Its SparkApplication in k8s/jobs/: ``tradelake-daily-volume``, ``tradelake-ohlcv-1m``."""
        return "tradelake-" + self.task_id.replace("_", "-")

    @property
    def glue_suffix(self) -> str:
        """Its Glue job, after the name prefix (tradelake.deploy names them so)."""
        return self.job.replace("_", "-")


@dataclass(frozen=True)
class DailyTasks:
    """The chain's jobs: [land_kafka,] ingest, the gold jobs (in parallel), compaction."""

    land: JobTask | None
    ingest: JobTask
    gold: list[JobTask]
    compact: JobTask

    @property
    def jobs(self) -> list[JobTask]:
        """Every job of the chain, in order."""
        return [*([self.land] if self.land else []), self.ingest, *self.gold, self.compact]


def daily_tasks(settings: DagSettings) -> DailyTasks:
    """The chain: [landing,] ingest, then the gold jobs (in parallel), then compaction.

    Raises:
        ConfigError: an OHLCV interval is not of the form the job accepts.
    """
    if not settings.ohlcv_intervals:
        raise ConfigError(
            "TRADELAKE_AIRFLOW_OHLCV_INTERVALS is empty: give one or more intervals, "
            "comma-separated (e.g. 1m,5m,1h)"
        )
    for interval in settings.ohlcv_intervals:
        interval_seconds(interval, source="TRADELAKE_AIRFLOW_OHLCV_INTERVALS")
    land = None
    ingest = JobTask(INGEST, INGEST, tables=("trades",))
    if settings.source == "kafka":
        # The run for D starts once D is over: landing up to now lands all of D's messages.
        land = JobTask(LAND_KAFKA, LAND_KAFKA, tables=("trades_landed",))
        ingest = JobTask(INGEST, INGEST, ("--source", "kafka"), tables=("trades",))
    gold = [JobTask(DAILY_VOLUME, DAILY_VOLUME, tables=("daily_volume",))]
    gold += [
        JobTask(f"{OHLCV}_{i}", OHLCV, ("--interval", i), tables=(f"ohlcv_{i}",))
        for i in settings.ohlcv_intervals
    ]
    since = "{{ macros.ds_add(ds, -" + str(settings.compact_days - 1) + ") }}"
    steps = [arg for step in settings.compact_steps for arg in ("--only", step)]
    # The tables this chain writes (the run history tables are left to maintenance).
    written = ["trades", "trades_rejected", *(table for job in gold for table in job.tables)]
    tables = [arg for table in written for arg in ("--table", table)]
    compact = JobTask(COMPACT, COMPACT, ("--since", since, *tables, *steps))
    if settings.runner == "glue":
        # Glue run arguments are a map: no flag can be given twice, so neither the tables
        # nor the steps can be listed. Compaction alone (rewrite, which skips healthy
        # partitions) over every table is what one Glue run can carry.
        compact = JobTask(COMPACT, COMPACT, ("--only", "rewrite"))
    return DailyTasks(land, ingest, gold, compact)


# ------------------------------------------------------------------------------ gold dates
#
# The gold tasks are mapped over the days the ingest names (Airflow's dynamic task mapping):
# one task instance per day, each named by its date in the UI (map_index_template). Airflow
# never renders the values a task is expanded with, yet the job's arguments also hold
# templates that must be rendered (the lineage macros): so the arguments are given once to
# every instance (partial) and read the instance's date from the task it was expanded into.


def gold_date_template(runner: Runner) -> str:
    """The date of a mapped gold task instance, as a template of its arguments and its name.

    The local runner's ``@task`` is expanded over its ``gold_date`` argument; the providers'
    operators (glue, kubernetes) over ``params`` (``gold_date_params``). Read from the task,
    not from ``{{ params }}``: a run's conf may override the params Jinja sees, never the
    task's own.
    """
    if runner == "local":
        return "{{ task.op_kwargs['gold_date'] }}"
    return "{{ task.params['gold_date'] }}"


def gold_date_params(day: str) -> dict[str, str]:
    """What a provider's operator is expanded with for one gold date (its task params)."""
    return {"gold_date": day}


@dataclass(frozen=True)
class IngestRun:
    """An ingest run as ``job_runs`` recorded it: its run id and its summary."""

    run_id: str
    summary: dict[str, Any]


def published_ingest_run(settings: Settings, day: date) -> IngestRun | None:
    """The latest ingest run that published landing ``day``, read from ``job_runs`` with pyiceberg.

    None when the lake holds none: the embedded catalog not created yet, no ``job_runs``
    table, or no published ingest run of the day (the run's bookkeeping failed:
    ``run_log_error`` in its summary).

    Raises:
        ConfigError: a catalog pyiceberg cannot read (hadoop, a JDBC catalog not on SQLite).
        StorageError: the catalog or the storage could not be reached.
    """
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    try:
        catalog = lake_catalog(settings)
        if catalog is None:
            return None
        try:
            table = catalog.load_table(f"{settings.database}.{JOB_RUNS_TABLE}")
        except (NoSuchTableError, NoSuchNamespaceError):
            return None
        rows = (
            table.scan(
                # job is the partition column: only the ingest runs' files are read.
                row_filter=(
                    f"job = '{INGEST}' AND run_date = '{day.isoformat()}' AND published = true"
                ),
                selected_fields=("run_id", "started_at", "summary"),
            )
            .to_arrow()
            .to_pylist()
        )
    except storage_errors() as err:
        raise StorageError(
            f"cannot read {JOB_RUNS_TABLE} ({catalog_source(settings)}): {err}; check the "
            "worker's TRADELAKE_* settings and its access to the catalog and the warehouse"
        ) from err
    if not rows:
        return None
    latest = max(rows, key=lambda row: (row["started_at"], row["run_id"]))
    return IngestRun(run_id=str(latest["run_id"]), summary=json.loads(latest["summary"]))


def gold_dates(day: str, summary: Mapping[str, Any] | None = None) -> list[str]:
    """The days whose gold tables the run of landing ``day`` rebuilds, oldest first.

    They are the ingest summary's ``gold_dates``: ``summary`` where the runner has the
    job's summary line (local: the ingest task's XCom), else the ingest's row of
    ``job_runs`` (glue, kubernetes). Where neither can be read, ``[day]`` with a warning:
    the landing's own day is always rebuilt, and the log says which late days may not be.
    An empty list (a landing that touched no day) is returned as it is: nothing to rebuild.

    Raises:
        StorageError: ``job_runs`` could not be read (Airflow retries the task).
    """
    source = "the ingest's summary line"
    if summary is None:
        try:
            settings = load_settings()
            run = published_ingest_run(settings, date.fromisoformat(day))
        except ConfigError as err:
            return _only_the_landing(day, f"{JOB_RUNS_TABLE} cannot be read here: {err}")
        if run is None:
            return _only_the_landing(
                day,
                f"no published ingest run of {day} in {JOB_RUNS_TABLE} "
                f"({catalog_source(settings)})",
            )
        summary, source = run.summary, f"{JOB_RUNS_TABLE} (ingest run {run.run_id})"
    listed = summary.get(GOLD_DATES)
    if not isinstance(listed, list):
        return _only_the_landing(day, f"{source} has no {GOLD_DATES}")
    days = sorted({date.fromisoformat(str(listed_day)).isoformat() for listed_day in listed})
    log.info("gold dates of landing %s, from %s: %s", day, source, ", ".join(days) or "none")
    return days


def _only_the_landing(day: str, reason: str) -> list[str]:
    log.warning(
        "gold dates of landing %s: %s only (%s). Earlier days the landing carried late "
        "reports of keep their gold tables as they were until daily_volume and ohlcv run "
        "for them: the ingest's summary (its log, or %s) lists them in %s",
        day,
        day,
        reason,
        JOB_RUNS_TABLE,
        GOLD_DATES,
    )
    return [day]


def lineage_flags() -> list[str]:
    """The job flags that hand the task's OpenLineage run to the job, as provider macros.

    Empty without the Airflow OpenLineage provider or when it is disabled (no transport
    configured: it then registers no macros); the root (the DAG run) only with a
    provider that has its macro (2.x).
    """
    import importlib
    import importlib.util

    if importlib.util.find_spec("airflow.providers.openlineage") is None:
        return []
    try:
        from airflow.providers.openlineage.conf import is_disabled
    except ImportError:  # a provider too old to say: its macros may not be there either
        return []
    if is_disabled():
        # No transport configured: the provider registers no plugin, hence no macros.
        return []
    macros = importlib.import_module("airflow.providers.openlineage.plugins.macros")
    flags = ["--openlineage-parent-id", PARENT_ID_TEMPLATE]
    if hasattr(macros, "lineage_root_parent_id"):
        flags += ["--openlineage-root-parent-id", ROOT_PARENT_ID_TEMPLATE]
    return flags


def job_arguments(task: JobTask, day: str, lineage: Sequence[str] = ()) -> list[str]:
    """The job's command-line arguments for the date ``day`` (a date or ``{{ ds }}``).

    ``compact`` takes the date range as ``--since``, not ``--date``; ``lineage`` (see
    ``lineage_flags``) goes last.
    """
    own = list(task.arguments)
    return [*(own if task.job == COMPACT else ["--date", day, *own]), *lineage]


def local_command(repo: Path, task: JobTask, arguments: Sequence[str]) -> list[str]:
    """``<repo>/spark-submit.sh jobs/<job>.py ARGS`` (what ``make demo`` runs)."""
    return [str(repo / "spark-submit.sh"), f"jobs/{task.job}.py", *arguments]


def raw_day_location(raw_uri: str, day: str) -> tuple[str, str]:
    """``("s3", "s3://bucket/prefix/trades/date=D/*")`` or ``("file", "/abs/trades/date=D")``."""
    root = raw_uri.rstrip("/")
    if root.startswith(("s3://", "s3a://")):
        return "s3", "s3://" + root.split("://", 1)[1] + f"/trades/date={day}/*"
    if "://" in root and not root.startswith("file://"):
        raise ConfigError(
            f"TRADELAKE_AIRFLOW_RAW_URI={raw_uri!r}: the DAG can wait for a local folder or "
            "s3:// only"
        )
    return "file", str(Path(root.removeprefix("file://")).expanduser().resolve()) + (
        f"/trades/date={day}"
    )


def asset_uri(database: str, table: str) -> tuple[str, str]:
    """``(name, uri)`` of a table's Airflow Asset: ``lake.<db>.<table>``, ``iceberg://lake/<db>/<table>``."""
    return f"lake.{database}.{table}", f"iceberg://lake/{database}/{table}"


# ------------------------------------------------------------------------------ exit codes


class Outcome(Enum):
    """What Airflow does with a finished job."""

    SUCCESS = "success"
    RETRY = "retry"  # AirflowException: retried with exponential backoff
    FAIL = "fail"  # AirflowFailException: failed at once, no retry; downstream upstream_failed


def outcome(exit_code: int) -> Outcome:
    """0 success; the fail-fast codes (errors.py: configuration, quality gate) fail at once,
    as a retry would fail the same way; the rest (transient, input not there yet, killed,
    OOM) are retried."""
    if exit_code == ExitCode.OK:
        return Outcome.SUCCESS
    return Outcome.FAIL if exit_code in FAIL_FAST_EXIT_CODES else Outcome.RETRY


# What the person on call does about a failed task, beyond what the exit code means.
_NEXT_STEP: dict[int, str] = {
    ExitCode.CONFIG: ": fix it, then clear the task",
    ExitCode.QUALITY_GATE: "; inspect trades_rejected, fix the input",
}


def failure_message(task_id: str, exit_code: int, summary: Mapping[str, Any] | None) -> str:
    """One line for the task log and the exception: exit code, what it means, the job's error."""
    next_step = _NEXT_STEP.get(exit_code, "" if exit_code in FAIL_FAST_EXIT_CODES else " (retried)")
    meaning = exit_meaning(exit_code) + next_step
    error = (summary or {}).get("error") or "no summary line (see the task log)"
    run = (summary or {}).get("run_id", "-")
    return f"{task_id} exited {exit_code}: {meaning}; run {run}: {error}"


class JobFailed(Exception):
    """Carries the job's summary to the failure callback (a mixin of Airflow's exceptions)."""

    summary: dict[str, Any] | None = None
    exit_code: int | None = None


def raise_for_exit(task_id: str, exit_code: int, summary: dict[str, Any] | None) -> None:
    """Raise what Airflow needs for this exit code (nothing for 0)."""
    result = outcome(exit_code)
    if result is not Outcome.SUCCESS:
        raise job_failed(result, failure_message(task_id, exit_code, summary), summary, exit_code)


def job_failed(
    result: Outcome, message: str, summary: dict[str, Any] | None, exit_code: int
) -> JobFailed:
    """The Airflow exception for a failed task: AirflowFailException for ``Outcome.FAIL``
    (no retry), else AirflowException (retried); it carries the summary to the alert."""
    try:
        from airflow.sdk.exceptions import AirflowException, AirflowFailException
    except ImportError:  # Airflow 3.0
        from airflow.exceptions import AirflowException, AirflowFailException
    base = AirflowFailException if result is Outcome.FAIL else AirflowException
    error: JobFailed = type("JobFailed", (JobFailed, base), {})(message)
    error.summary, error.exit_code = summary, exit_code
    return error


def run_local_job(
    command: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None
) -> tuple[int, str]:
    """Run the job, its output streamed to the task log; return (exit code, stdout).

    The job runs in its own process group, ended with it when the task is stopped
    (execution_timeout, a kill from the UI), so no Spark driver is left behind.
    """
    process = subprocess.Popen(
        list(command),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            log.info("%s", line.rstrip("\n"))
        return process.wait(), "".join(lines)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


# ------------------------------------------------------------------------------ dbt
#
# One `dbt build` task, not a task per model (astronomer-cosmos): docs/airflow.md says why.
# dbt runs on the Airflow worker whatever the runner (it is a client of Trino or Athena).


def dbt_build_command(settings: DagSettings, day: str) -> list[str]:
    """``dbt build`` of the project for the run's day (``run_date``: the incremental marts
    rebuild from ``run_date - lateness_days``, so a backfill of an old day reaches it)."""
    if settings.dbt_target is None or settings.dbt_project_dir is None:
        raise ConfigError("the dbt step needs TRADELAKE_AIRFLOW_DBT_TARGET")
    return [
        settings.dbt_command or "dbt",
        "build",
        "--project-dir",
        str(settings.dbt_project_dir),
        "--profiles-dir",
        str(settings.dbt_profiles_dir or settings.dbt_project_dir),
        "--target",
        settings.dbt_target,
        "--vars",
        json.dumps({"run_date": day}),
    ]


def dbt_environment(env: Mapping[str, str], output: Path) -> dict[str, str]:
    """The worker's environment, with dbt's target and log folders in ``output`` (one per
    task try: two runs at once never share a run_results.json)."""
    return {
        **env,
        "DBT_TARGET_PATH": str(output / "target"),
        "DBT_LOG_PATH": str(output / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def dbt_results(output: Path) -> list[dict[str, Any]] | None:
    """The nodes of the last dbt command in ``output`` (run_results.json), or None when
    dbt wrote none (it stopped before running anything: profile, connection, parse)."""
    path = output / "target" / "run_results.json"
    try:
        return list(json.loads(path.read_text(encoding="utf-8"))["results"])
    except (OSError, ValueError, KeyError):
        return None


def dbt_failure(exit_code: int, results: Sequence[Mapping[str, Any]] | None) -> tuple[Outcome, str]:
    """What a finished ``dbt build`` means to Airflow, and the line that says why.

    Data tests that failed fail the run at once, like the quality gate: the data is wrong
    and a retry reads the same data. Anything else (a model or test that could not run, a
    connection, a profile) is retried like a transient job failure.
    """
    if exit_code == 0:
        return Outcome.SUCCESS, "dbt build passed"
    if results is None:
        return (
            Outcome.RETRY,
            f"dbt build exited {exit_code} before running a node (see the task log)",
        )

    def names(status: str) -> list[str]:
        return sorted(node_name(r["unique_id"]) for r in results if r.get("status") == status)

    failed, errors, skipped = names("fail"), names("error"), names("skipped")
    parts = [f"{len(failed)} data test(s) failed: {', '.join(failed)}"] if failed else []
    if errors:
        parts.append(f"{len(errors)} node(s) errored: {', '.join(errors)}")
    if skipped:
        parts.append(f"{len(skipped)} skipped")
    what = "; ".join(parts or ["no node failed"])
    if failed and not errors:
        return Outcome.FAIL, f"{DBT_BUILD} exited {exit_code}: {what}; fix the data (docs/dbt.md)"
    return Outcome.RETRY, f"{DBT_BUILD} exited {exit_code}: {what} (retried)"


def node_name(unique_id: str) -> str:
    """A node's name in dbt's output: ``model.<project>.<name>``, ``test.<project>.<name>.<hash>``,
    ``unit_test.<project>.<model>.<name>``."""
    parts = unique_id.split(".")
    return parts[3] if parts[0] == "unit_test" and len(parts) > 3 else parts[min(2, len(parts) - 1)]


def raise_for_dbt(exit_code: int, results: Sequence[Mapping[str, Any]] | None) -> None:
    """Raise what Airflow needs for a finished ``dbt build`` (nothing when it passed)."""
    result, message = dbt_failure(exit_code, results)
    log.info("%s", message)
    if result is not Outcome.SUCCESS:
        summary = {"job": "dbt", "status": "failed", "exit_code": exit_code, "error": message}
        raise job_failed(result, message, summary, exit_code)


# ------------------------------------------------------------------------------ kubernetes


def load_manifests(path: Path) -> list[dict[str, Any]]:
    """The documents of a rendered ``k8s/overlays/<env>/jobs`` (kubectl kustomize output)."""
    import yaml  # type: ignore[import-untyped]

    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def spark_application(
    manifests: Sequence[Mapping[str, Any]], task: JobTask, arguments: Sequence[str]
) -> dict[str, Any]:
    """The SparkApplication a task submits: the job's one-off manifest, for this run.

    The same source as the schedules (k8s/jobs/), with the run's arguments (its date and
    lineage parent) and no operator restarts: Airflow owns retries, so the spark-operator
    must not retry too (``restartPolicy: Never``). The operator gives it a unique name
    (``random_name_suffix``).

    Raises:
        ConfigError: the manifests have no SparkApplication of that name.
    """
    found = [
        doc
        for doc in manifests
        if doc.get("kind") == "SparkApplication"
        and doc.get("metadata", {}).get("name") == task.manifest_name
    ]
    if not found:
        names = sorted(d.get("metadata", {}).get("name", "?") for d in manifests)
        raise ConfigError(
            f"no SparkApplication {task.manifest_name!r} in TRADELAKE_AIRFLOW_K8S_MANIFESTS "
            f"(found {names}); for an OHLCV interval add k8s/jobs/ohlcv-<interval>.yaml"
        )
    application = copy.deepcopy(dict(found[0]))
    spec = application["spec"]
    spec["arguments"] = merge_arguments(spec.get("arguments") or [], arguments)
    spec["restartPolicy"] = {"type": "Never"}
    application["metadata"].setdefault("labels", {})["tradelake.io/orchestrator"] = "airflow"
    return application


def merge_arguments(base: Sequence[str], run: Sequence[str]) -> list[str]:
    """The manifest's arguments with every flag the run sets replaced by the run's.

    ``[--interval, 1m, --fill, forward]`` + ``[--date, D, --interval, 1m]`` gives
    ``[--fill, forward, --date, D, --interval, 1m]``: flags the manifest adds stay, the
    run's date and flags win, none is given twice.
    """
    flags = {argument.split("=", 1)[0] for argument in run if argument.startswith("--")}
    kept: list[str] = []
    skipping = False
    for argument in base:
        if argument.startswith("--"):
            skipping = argument.split("=", 1)[0] in flags
            if not skipping:
                kept.append(argument)
        elif not skipping:
            kept.append(argument)
    return [*kept, *run]


# ------------------------------------------------------------------------------ glue


def glue_script_args(arguments: Sequence[str]) -> dict[str, str]:
    """Job arguments as Glue run arguments: ``["--date", D]`` -> ``{"--date": D}``.

    Glue adds them to the job's default arguments (``--tradelake-settings`` and the rest
    stay as ``python -m tradelake.deploy`` defined them).
    """
    if len(arguments) % 2:
        raise ConfigError(f"Glue arguments come in --name value pairs, got {list(arguments)}")
    keys = list(arguments[::2])
    if any(not key.startswith("--") for key in keys) or len(set(keys)) != len(keys):
        raise ConfigError(
            f"Glue run arguments are a map of --name to value, each name once; got {keys}"
        )
    return dict(zip(keys, arguments[1::2], strict=True))


# ------------------------------------------------------------------------------ alerts


def failure_payload(
    *,
    dag_id: str,
    task_id: str,
    logical_date: str,
    try_number: int,
    airflow_run_id: str,
    summary: Mapping[str, Any] | None,
    error: str,
) -> dict[str, Any]:
    """The JSON a failed task posts to the alert webhook: the job's run id, status and reason."""
    summary = summary or {}
    return {
        "dag_id": dag_id,
        "task_id": task_id,
        "date": logical_date,
        "try_number": try_number,
        "airflow_run_id": airflow_run_id,
        "job": summary.get("job"),
        "run_id": summary.get("run_id"),
        "status": summary.get("status", "failed"),
        "exit_code": summary.get("exit_code"),
        "reason": summary.get("error") or error,
    }


def post_failure(context: Mapping[str, Any], conn_id: str) -> dict[str, Any] | None:
    """Airflow ``on_failure_callback``: post ``failure_payload`` to the connection's URL.

    Nothing is posted when the connection does not exist; a failed post is logged, never
    raised (the task has failed already; the alert must not hide why).
    """
    from airflow.providers.http.hooks.http import HttpHook

    try:
        from airflow.sdk.exceptions import AirflowNotFoundException
    except ImportError:  # Airflow 3.0
        from airflow.exceptions import AirflowNotFoundException

    ti = context["ti"]
    error = context.get("exception")
    payload = failure_payload(
        dag_id=ti.dag_id,
        task_id=ti.task_id,
        logical_date=str(context.get("ds")),
        try_number=int(ti.try_number),
        airflow_run_id=str(context.get("run_id")),
        summary=getattr(error, "summary", None),
        error=str(error) if error is not None else "failed",
    )
    hook = HttpHook(method="POST", http_conn_id=conn_id)
    try:
        hook.run(json=payload)
    except AirflowNotFoundException:
        log.info("no %s connection: the failure alert is not posted", conn_id)
        return None
    except Exception:  # noqa: BLE001 - an alert problem must not mask the task's failure
        log.exception("could not post the failure alert to connection %s", conn_id)
        return None
    return payload


def retry_delays(settings: DagSettings) -> dict[str, Any]:
    """Retry arguments of every job task: exponential backoff up to a maximum."""
    return {
        "retries": settings.retries,
        "retry_delay": timedelta(seconds=settings.retry_delay_seconds),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(seconds=settings.max_retry_delay_seconds),
    }
