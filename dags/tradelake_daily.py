"""tradelake's daily pipeline: wait for the day's raw files (or land the Kafka topic),
ingest them, build the gold tables in parallel for every day the ingest names, compact
the recent partitions and, when configured, run the analysts' ``dbt build``.

The logical date is the trade date: the run for D starts once day D is over (00:00 UTC
on D+1) and its sensor waits for ``trades/date=D/``. A landing may carry late reports of
earlier days: ``gold_dates`` reads from the ingest which days' gold tables to rebuild, and
each gold task is mapped over them, one instance per date, named by it. The jobs run
locally through ``./spark-submit.sh``, on the spark-operator or as AWS Glue jobs, chosen by
``TRADELAKE_AIRFLOW_RUNNER``; nothing else changes. Configuration, exit codes and
deployment (MWAA included): docs/airflow.md. What each task decides comes from
``tradelake.orchestration``; this file only declares the tasks and their order.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Asset, task
from airflow.timetables.interval import CronDataIntervalTimetable

from tradelake import orchestration as o
from tradelake.runtime import last_summary

settings = o.load_dag_settings(default_repo=Path(__file__).resolve().parents[1])
repo = settings.repo or Path(__file__).resolve().parents[1]
chain = o.daily_tasks(settings)
lineage = o.lineage_flags() if settings.lineage_parent else []
manifests = (
    o.load_manifests(settings.k8s_manifests)
    if settings.runner == "kubernetes" and settings.k8s_manifests is not None
    else []
)


def alert(context: Any) -> None:
    o.post_failure(context, settings.alert_conn_id)


@task
def run_local(
    command: list[str], gold_date: str | None = None, **context: Any
) -> dict[str, Any] | None:
    """Run one job with ./spark-submit.sh; its exit code decides retry or fail.

    ``gold_date``: what a mapped gold task's instance is expanded with; its command already
    names it (``o.gold_date_template``).
    """
    exit_code, output = o.run_local_job(command, cwd=repo, env=os.environ)
    summary = last_summary(output)
    o.raise_for_exit(context["ti"].task_id, exit_code, summary)
    return summary


@task(task_id=o.GOLD_DATES, execution_timeout=timedelta(minutes=10))
def gold_dates(summary: dict[str, Any] | None = None, **context: Any) -> list[str]:
    """The days the gold tasks rebuild: the ingest summary's gold_dates (``o.gold_dates``)."""
    return o.gold_dates(context["ds"], summary)


@task(task_id=o.DBT_BUILD, trigger_rule="none_failed")
def dbt_build(**context: Any) -> None:
    """``dbt build`` of the analysts' project for the day; a failed data test fails the run
    at once (no retry), like the quality gate; other failures are retried (``o.dbt_failure``)."""
    with tempfile.TemporaryDirectory(prefix="tradelake-dbt-") as output:
        exit_code, _ = o.run_local_job(
            o.dbt_build_command(settings, context["ds"]),
            cwd=repo,
            env=o.dbt_environment(os.environ, Path(output)),
        )
        o.raise_for_dbt(exit_code, o.dbt_results(Path(output)))


def job_task(job: o.JobTask, dates: Any = None, trigger_rule: str | None = None) -> Any:
    """The runner's operator for one job, with its outlets, limits and retries.

    With ``dates`` (the output of ``gold_dates``) the task is mapped over them: one instance
    per date, which its arguments and its name in the UI read from the instance.
    """
    day = "{{ ds }}" if dates is None else o.gold_date_template(settings.runner)
    arguments = o.job_arguments(job, day, lineage)
    common: dict[str, Any] = {
        "task_id": job.task_id,
        "outlets": [
            Asset(name=name, uri=uri, group="tradelake")
            for name, uri in (o.asset_uri(settings.database, table) for table in job.tables)
        ],
        "max_active_tis_per_dag": settings.max_active_tis_per_job,
        "execution_timeout": timedelta(minutes=settings.job_timeout_minutes),
        **({} if dates is None else {"map_index_template": day}),
        **({} if trigger_rule is None else {"trigger_rule": trigger_rule}),
    }
    if settings.runner == "local":
        local = run_local.override(**common)
        command = o.local_command(repo, job, arguments)
        if dates is None:
            return local(command=command)
        return local.partial(command=command).expand(gold_date=dates)
    operator, kwargs = provider_operator(job, arguments)
    if dates is None:
        return operator(**common, **kwargs)
    return operator.partial(**common, **kwargs).expand(params=dates.map(o.gold_date_params))


def provider_operator(job: o.JobTask, arguments: list[str]) -> tuple[Any, dict[str, Any]]:
    """The provider operator that runs the job on Glue or the spark-operator, and its arguments."""
    if settings.runner == "glue":
        from airflow.providers.amazon.aws.operators.glue import GlueJobOperator

        return GlueJobOperator, {
            "job_name": settings.glue_job_prefix + job.glue_suffix,
            "script_args": o.glue_script_args(arguments),
            "aws_conn_id": settings.aws_conn_id,
            "region_name": settings.region,
            "wait_for_completion": True,
            "job_poll_interval": settings.glue_poll_seconds,
            "verbose": False,
            # A task killed by its execution_timeout (or by hand) stops its Glue run:
            # otherwise the run goes on and the retry starts a second one of the same date.
            "stop_job_run_on_kill": True,
            "deferrable": settings.deferrable,
        }
    from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import (
        SparkKubernetesOperator,
    )

    return SparkKubernetesOperator, {
        "template_spec": o.spark_application(manifests, job, arguments),
        "namespace": settings.k8s_namespace,
        "kubernetes_conn_id": settings.kubernetes_conn_id,
        "random_name_suffix": True,
        "get_logs": True,
    }


def raw_files_sensor() -> Any:
    """Wait, without holding a worker slot (reschedule), for the day's raw files."""
    kind, location = o.raw_day_location(settings.raw_uri or "", "{{ ds }}")
    waiting: dict[str, Any] = {
        "task_id": "wait_for_raw_files",
        "mode": "reschedule",
        "poke_interval": settings.sensor_poke_seconds,
        "timeout": settings.sensor_timeout_seconds,
        # Each poke is short; the sensor's own timeout bounds the whole wait.
        "execution_timeout": timedelta(minutes=10),
    }
    if kind == "s3":
        from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor

        return S3KeySensor(
            bucket_key=location,
            wildcard_match=True,
            aws_conn_id=settings.aws_conn_id,
            deferrable=settings.deferrable,
            **waiting,
        )
    from airflow.providers.standard.sensors.filesystem import FileSensor

    return FileSensor(
        filepath=location,
        fs_conn_id=settings.fs_conn_id,
        deferrable=settings.deferrable,
        **waiting,
    )


with DAG(
    dag_id=o.DAG_ID,
    description="raw trade files -> trades -> daily_volume, ohlcv_* -> compaction",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime.combine(settings.start_date, datetime.min.time(), tzinfo=UTC),
    catchup=settings.catchup,
    max_active_runs=settings.max_active_runs,
    default_args={
        "owner": "tradelake",
        "on_failure_callback": alert,
        **o.retry_delays(settings),
    },
    tags=["tradelake", settings.runner],
    doc_md=__doc__,
) as dag:
    ingested = job_task(chain.ingest)
    if chain.land is not None:
        job_task(chain.land) >> ingested  # trades from Kafka: land, then ingest them
    else:
        raw_files_sensor() >> ingested
    # The days to rebuild: the ingest's summary line where the runner has it (local), else
    # the ingest's row of job_runs.
    if settings.runner == "local":
        dates = gold_dates(summary=ingested)
    else:
        dates = gold_dates()
        ingested >> dates
    gold_tasks = [job_task(job, dates) for job in chain.gold]
    # none_failed: a landing that touched no day maps the gold tasks over nothing (skipped),
    # and its compaction still runs; a failed gold task still stops it.
    gold_tasks >> job_task(chain.compact, trigger_rule="none_failed")
    if settings.dbt_target is not None:
        # The analysts' models and data tests read the gold tables: after every gold task
        # instance (none_failed, as compaction), beside compaction (it only rewrites files).
        (
            gold_tasks
            >> dbt_build.override(
                execution_timeout=timedelta(minutes=settings.dbt_timeout_minutes)
            )()
        )
