"""The DAG file: it imports for each runner, its task graph and limits are the ones
documented, the gold tasks are mapped over the ingest's gold dates, the kubernetes runner
submits valid SparkApplications, and the glue runner starts the deployed Glue jobs with
the date, once per gold date its ingest recorded in job_runs (against the moto server)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.airflow.job_runs import ingest_run, write_job_runs
from tests.airflow.runs import task_states
from tests.lakes import REPO, FakeAws
from tests.submit import fake_aws_settings
from tests.unit import k8s_manifests as km
from tradelake import orchestration as o

pytestmark = pytest.mark.airflow

GRAPH = {
    "wait_for_raw_files": set(),
    "ingest": {"wait_for_raw_files"},
    "gold_dates": {"ingest"},
    "daily_volume": {"gold_dates"},
    "ohlcv_1m": {"gold_dates"},
    "compact": {"daily_volume", "ohlcv_1m"},
}
GOLD_TASKS = ("daily_volume", "ohlcv_1m")
# The tasks that are not a job: the sensor, and the task that reads the gold dates.
NOT_JOBS = ("wait_for_raw_files", "gold_dates")
OPERATORS = {
    "local": "_PythonDecoratedOperator",
    "glue": "GlueJobOperator",
    "kubernetes": "SparkKubernetesOperator",
}
PARENT_ID = "default/tradelake_daily.ingest/0199b1a4-6a3c-7b1e-8f00-1234567890ab"


def render(arguments: list[str], ds: str, task: Any = None) -> list[str]:
    """The arguments as Airflow renders them for the logical date ``ds`` (and, for a mapped
    task's instance, the ``task`` it was expanded into)."""
    import jinja2
    from airflow.sdk.execution_time import macros

    return [jinja2.Template(a).render(ds=ds, macros=macros, task=task) for a in arguments]


def ran(day: str, *gold_days: str) -> dict[str, str]:
    """The states of a run that succeeded: each gold task once per gold day, named by it
    (the gold days default to the run's own day)."""
    gold = {f"{task}[{gold}]": "success" for task in GOLD_TASKS for gold in gold_days or (day,)}
    states = {task: "success" for task in GRAPH if task not in GOLD_TASKS}
    return {**states, **gold}


def argument(task: Any, name: str) -> Any:
    """An operator argument of ``task``; a mapped task's are the arguments all its
    instances share (``partial``)."""
    if hasattr(task, "partial_kwargs"):
        return task.partial_kwargs[name]
    return getattr(task, name)


def runner_settings(runner: str, rendered_jobs: Path) -> dict[str, str]:
    if runner == "kubernetes":
        return {"runner": runner, "k8s_manifests": str(rendered_jobs)}
    if runner == "glue":
        return {"runner": runner, "raw_uri": "s3://tradelake-raw/raw", "region": "us-east-1"}
    return {"runner": runner}


@pytest.mark.parametrize("runner", ["local", "glue", "kubernetes"])
def test_the_dag_folder_imports_for_each_runner(
    runner: str, rendered_jobs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    for name, value in runner_settings(runner, rendered_jobs).items():
        monkeypatch.setenv(f"TRADELAKE_AIRFLOW_{name.upper()}", value)
    bag = DagBag(dag_folder=str(REPO / "dags"))  # examples are off (AIRFLOW__CORE__LOAD_EXAMPLES)

    assert bag.import_errors == {}
    assert list(bag.dag_ids) == [o.DAG_ID]
    dag = bag.dags[o.DAG_ID]
    assert {t.task_id: set(t.upstream_task_ids) for t in dag.tasks} == GRAPH
    jobs = {t.task_id: t.task_type for t in dag.tasks if t.task_id not in NOT_JOBS}
    assert set(jobs.values()) == {OPERATORS[runner]}
    sensor = dag.get_task("wait_for_raw_files")
    assert type(sensor).__name__ == ("S3KeySensor" if runner == "glue" else "FileSensor")
    # The gold tasks are mapped over what gold_dates returns, each instance named by its
    # date; compaction waits for every instance, and runs when there was none.
    assert dag.get_task("gold_dates").task_type == OPERATORS["local"]
    for task_id in GOLD_TASKS:
        gold = dag.get_task(task_id)
        assert type(gold).__name__ in ("MappedOperator", "DecoratedMappedOperator")
        assert gold.map_index_template == o.gold_date_template(runner)  # type: ignore[arg-type]
    assert dag.get_task("compact").trigger_rule == "none_failed"


@pytest.mark.parametrize("runner", ["local", "glue", "kubernetes"])
def test_a_dbt_target_adds_one_dbt_build_after_the_gold_tasks(
    runner: str, rendered_jobs: Path, load_dag: Any
) -> None:
    """dbt runs on the worker whatever the runner: one task, after every gold task instance
    (none_failed, as compaction: a landing with no gold date still builds), beside
    compaction. Running it for real: tests/athena/test_dbt_on_trino.py (the tier's Trino)."""
    dag = load_dag(
        dbt_target="athena", dbt_timeout_minutes="20", **runner_settings(runner, rendered_jobs)
    ).dag
    assert {t.task_id: set(t.upstream_task_ids) for t in dag.tasks} == {
        **GRAPH,
        "dbt_build": set(GOLD_TASKS),
    }
    dbt = dag.get_task("dbt_build")
    assert dbt.task_type == OPERATORS["local"]
    assert dbt.trigger_rule == "none_failed"
    assert dbt.execution_timeout == timedelta(minutes=20)
    assert dbt.retries == 3  # the DAG's default; a failed data test is not retried (o.dbt_failure)


@pytest.mark.parametrize("runner", ["local", "glue", "kubernetes"])
def test_a_kafka_source_lands_the_topic_instead_of_waiting_for_files(
    runner: str, rendered_jobs: Path, load_dag: Any
) -> None:
    dag = load_dag(source="kafka", **runner_settings(runner, rendered_jobs)).dag
    graph = {k: v for k, v in GRAPH.items() if k != "wait_for_raw_files"}
    assert {t.task_id: set(t.upstream_task_ids) for t in dag.tasks} == {
        **graph,
        "land_kafka": set(),
        "ingest": {"land_kafka"},
    }
    land = dag.get_task("land_kafka")
    assert land.task_type == OPERATORS[runner]
    assert [(a.name, a.uri) for a in land.outlets] == [
        ("lake.trading.trades_landed", "iceberg://lake/trading/trades_landed")
    ]
    if runner == "kubernetes":
        application = land.template_spec
        km.assert_valid([application])
        assert application["spec"]["mainApplicationFile"].endswith("/jobs/land_kafka.py")
        ingest = dag.get_task("ingest").template_spec
        assert ingest["spec"]["arguments"][2:4] == ["--source", "kafka"]
    if runner == "glue":
        # The landing job python -m tradelake.deploy defines when Kafka is configured.
        assert land.job_name == "tradelake-land-kafka"
        assert dag.get_task("ingest").script_args["--source"] == "kafka"


@pytest.fixture
def jobs_with_5m(rendered_jobs: Path, tmp_path: Path) -> Path:
    """The rendered manifests plus an ohlcv-5m one, as a team adding that interval would."""
    import copy

    import yaml

    docs = o.load_manifests(rendered_jobs)
    (one_minute,) = [d for d in docs if d["metadata"]["name"] == "tradelake-ohlcv-1m"]
    five = copy.deepcopy(one_minute)
    five["metadata"]["name"] = "tradelake-ohlcv-5m"
    five["spec"]["arguments"] = ["--interval", "5m"]
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump_all([*docs, five]))
    return path


@pytest.mark.parametrize("runner", ["local", "glue", "kubernetes"])
def test_limits_retries_timeouts_and_assets_are_explicit(
    runner: str, jobs_with_5m: Path, load_dag: Any
) -> None:
    dag = load_dag(ohlcv_intervals="1m,5m", **runner_settings(runner, jobs_with_5m)).dag

    assert (dag.max_active_runs, dag.catchup) == (2, False)
    assert dag.start_date == datetime(2025, 1, 1, tzinfo=UTC)
    assert {t.task_id: set(t.upstream_task_ids) for t in dag.tasks} == {
        **GRAPH,
        "ohlcv_5m": {"gold_dates"},
        "compact": {"daily_volume", "ohlcv_1m", "ohlcv_5m"},
    }
    for task in dag.tasks:
        assert task.execution_timeout is not None, task.task_id
        assert task.retries == 3 and task.retry_exponential_backoff, task.task_id
        assert task.retry_delay == timedelta(minutes=5), task.task_id
        assert task.max_retry_delay == timedelta(hours=1), task.task_id
        assert task.on_failure_callback, task.task_id
    sensor = dag.get_task("wait_for_raw_files")
    assert (sensor.mode, sensor.poke_interval, sensor.timeout) == ("reschedule", 300, 6 * 3600)
    jobs = [t for t in dag.tasks if t.task_id not in NOT_JOBS]
    assert {t.task_id: t.max_active_tis_per_dag for t in jobs} == dict.fromkeys(
        ["ingest", "daily_volume", "ohlcv_1m", "ohlcv_5m", "compact"], 2
    )
    assert {t.task_id: t.execution_timeout for t in jobs} == dict.fromkeys(
        ["ingest", "daily_volume", "ohlcv_1m", "ohlcv_5m", "compact"], timedelta(hours=3)
    )
    # gold_dates reads one summary (no Spark): a short timeout, no limit across dates.
    reader = dag.get_task("gold_dates")
    assert (reader.execution_timeout, reader.max_active_tis_per_dag) == (
        timedelta(minutes=10),
        None,
    )
    outlets = {t.task_id: [(a.name, a.uri) for a in t.outlets] for t in dag.tasks}
    assert outlets == {
        "wait_for_raw_files": [],
        "ingest": [("lake.trading.trades", "iceberg://lake/trading/trades")],
        "gold_dates": [],
        "daily_volume": [("lake.trading.daily_volume", "iceberg://lake/trading/daily_volume")],
        "ohlcv_1m": [("lake.trading.ohlcv_1m", "iceberg://lake/trading/ohlcv_1m")],
        "ohlcv_5m": [("lake.trading.ohlcv_5m", "iceberg://lake/trading/ohlcv_5m")],
        "compact": [],
    }


def test_a_bad_interval_is_refused_when_the_dag_is_parsed(load_dag: Any) -> None:
    from tradelake.errors import ConfigError

    with pytest.raises(ConfigError, match="TRADELAKE_AIRFLOW_OHLCV_INTERVALS"):
        load_dag(ohlcv_intervals="1m,7x")


# ------------------------------------------------------------------------------ kubernetes


def test_each_task_submits_a_valid_spark_application_for_its_date(
    rendered_jobs: Path, load_dag: Any
) -> None:
    from airflow.providers.cncf.kubernetes.operators.custom_object_launcher import (
        CustomObjectLauncher,
    )

    dag = load_dag(runner="kubernetes", k8s_manifests=str(rendered_jobs)).dag
    manifests = o.load_manifests(rendered_jobs)
    chain = o.daily_tasks(o.load_dag_settings(REPO))
    ingest, gold, compact = chain.ingest, chain.gold, chain.compact
    for job in (ingest, *gold, compact):
        operator = dag.get_task(job.task_id)
        assert argument(operator, "random_name_suffix") is True
        assert argument(operator, "namespace") == "tradelake"
        # What the DAG holds is the same function, with "{{ ds }}" for Airflow to render;
        # a gold task's instances with their own date (2025-01-14, a late day, here).
        day = o.gold_date_template("kubernetes") if job in gold else "{{ ds }}"
        templated = argument(operator, "template_spec")
        assert templated == o.spark_application(
            manifests, job, o.job_arguments(job, day, o.lineage_flags())
        )
        arguments = render(
            o.job_arguments(job, day, ["--openlineage-parent-id", PARENT_ID]),
            "2025-01-15",
            task=SimpleNamespace(params=o.gold_date_params("2025-01-14")),
        )
        application = o.spark_application(manifests, job, arguments)
        km.assert_valid([application])
        assert application["spec"]["restartPolicy"] == {"type": "Never"}, "Airflow retries"
        (source,) = [d for d in manifests if d["metadata"]["name"] == job.manifest_name]
        assert {
            k: v for k, v in application["spec"].items() if k not in ("arguments", "restartPolicy")
        } == {k: v for k, v in source["spec"].items() if k not in ("arguments", "restartPolicy")}, (
            "the same image, settings and sizing as the one-off manifest"
        )
        # (tests/unit/test_orchestration.py parses these arguments with the jobs' parsers.)
        given = application["spec"]["arguments"]
        day_given = given[given.index("--date") + 1] if "--date" in given else None
        assert day_given == {"ingest": "2025-01-15", "compact": None}.get(job.job, "2025-01-14")
        # And what the operator would create from it (name with a random suffix).
        body = CustomObjectLauncher(
            name=f"{job.manifest_name}-a1b2c3d4",
            namespace="tradelake",
            kube_client=None,
            custom_obj_api=None,
            template_body={"spark": application},
        ).body
        km.assert_valid([body])


def test_the_airflow_overlay_has_everything_but_the_schedules() -> None:
    try:
        airflow = km.render(REPO / "k8s" / "overlays" / "prod-airflow")
        prod = km.render(REPO / "k8s" / "overlays" / "prod")
    except km.KustomizeUnavailable as err:
        if os.environ.get("CI"):
            pytest.fail(f"CI must render the overlays: {err}")
        pytest.skip(f"cannot render the overlays: {err}")
    km.assert_valid(airflow)
    assert not [d for d in airflow if d["kind"] == "ScheduledSparkApplication"]
    assert airflow == [d for d in prod if d["kind"] != "ScheduledSparkApplication"]


# ------------------------------------------------------------------------------ glue


ROLE = "arn:aws:iam::123456789012:role/tradelake"
LAKE_BUCKET = "tradelake-lake"


def deploy_glue_jobs(fake: FakeAws, prefix: str, **settings: str) -> list[str]:
    """Define the Glue jobs as ``python -m tradelake.deploy`` does: its ``--dry-run``
    definitions (run in the jobs' virtualenv), created on the moto server. ``settings``
    are further environment variables of the deploying shell."""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TRADELAKE_")},
        "TRADELAKE_CONF_DIR": str(REPO / "conf"),
        "TRADELAKE_ENV": "aws",
        "TRADELAKE_WAREHOUSE": "s3://tradelake-lake/warehouse",
        "TRADELAKE_RAW_URI": "s3://tradelake-raw/raw",
        "TRADELAKE_GLUE_JOBS__ROLE_ARN": ROLE,
        "TRADELAKE_GLUE_JOBS__ARTIFACTS_URI": "s3://artifacts/tradelake",
        "TRADELAKE_GLUE_JOBS__NAME_PREFIX": prefix,
        "AWS_REGION": fake.region,
        **settings,
    }
    result = subprocess.run(
        [str(REPO / ".venv" / "bin" / "python"), "-m", "tradelake.deploy", "--dry-run"],
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    definitions = json.loads(result.stdout[: result.stdout.rindex("\n{")])
    glue = fake.client("glue")
    for definition in definitions:
        glue.create_job(**definition)
    return [definition["Name"] for definition in definitions]


def use_moto_connection(fake: FakeAws, monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow's aws_default connection pointed at the moto server."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"endpoint_url": fake.endpoint, "region_name": fake.region},
            }
        ),
    )


def lake_database(prefix: str) -> str:
    """The namespace of a test's moto lake: one per Glue job prefix, so none sees another's."""
    return prefix.strip("-").replace("-", "_")


def use_moto_lake(fake: FakeAws, monkeypatch: pytest.MonkeyPatch, database: str) -> Any:
    """The worker's settings of the lake the Glue jobs write, as an MWAA worker has them:
    the Glue Data Catalog and S3 of the moto server, namespace ``database`` (where
    gold_dates reads the ingest's job_runs row). Returns the lake's pyiceberg catalog."""
    from tradelake.catalog import lake_catalog
    from tradelake.config import load_settings

    lake = fake_aws_settings(
        fake, raw_bucket="tradelake-raw", lake_bucket=LAKE_BUCKET, database=database
    )
    for name, value in lake.items():
        monkeypatch.setenv(name, value)
    fake.client("s3").create_bucket(Bucket=LAKE_BUCKET)
    return lake_catalog(load_settings())


def glue_dag(
    fake: FakeAws,
    load_dag: Any,
    monkeypatch: pytest.MonkeyPatch,
    prefix: str,
    day: str,
    **settings: str,
) -> tuple[Any, list[str]]:
    """The DAG with the glue runner on the moto server, its Glue jobs deployed under
    ``prefix`` and a raw file landed for ``day``; ``settings`` are more DAG settings.

    The worker's lake is the moto one (``use_moto_lake``), in a namespace of its own per
    prefix; without a job_runs row the gold tasks run for ``day`` alone."""
    use_moto_lake(fake, monkeypatch, database=lake_database(prefix))
    names = deploy_glue_jobs(fake, prefix)
    s3 = fake.client("s3")
    s3.create_bucket(Bucket="tradelake-raw")
    s3.put_object(Bucket="tradelake-raw", Key=f"raw/trades/date={day}/a.jsonl", Body=b"{}\n")
    use_moto_connection(fake, monkeypatch)
    dag = load_dag(
        retries="0",
        runner="glue",
        raw_uri="s3://tradelake-raw/raw",
        glue_job_prefix=prefix,
        glue_poll_seconds="1",
        sensor_poke_seconds="1",
        sensor_timeout_seconds="30",
        region=fake.region,
        **settings,
    ).dag
    return dag, names


def test_the_glue_runner_starts_the_deployed_jobs_with_the_date(
    aws_env: FakeAws, load_dag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Moto finishes a Glue job run at once: this proves the wiring (the job names, the
    arguments, the S3 sensor, the connection), not what a Glue run does."""
    prefix = "af-tradelake-"
    dag, names = glue_dag(aws_env, load_dag, monkeypatch, prefix, "2025-01-15")

    dag_run = dag.test(logical_date=datetime(2025, 1, 15, tzinfo=UTC))

    # No job_runs in the lake (moto's Glue ran nothing): gold_dates falls back to the day.
    assert task_states(dag_run) == ran("2025-01-15")
    glue = aws_env.client("glue")
    arguments = {
        name: [run["Arguments"] for run in glue.get_job_runs(JobName=name)["JobRuns"]]
        for name in names
    }
    for name in (f"{prefix}ingest", f"{prefix}daily-volume"):
        [run] = arguments[name]
        assert run["--date"] == "2025-01-15"
        assert run["--openlineage-parent-id"].split("/")[1] == "tradelake_daily." + (
            "ingest" if name.endswith("ingest") else "daily_volume"
        )
    [ohlcv] = arguments[f"{prefix}ohlcv"]
    assert (ohlcv["--date"], ohlcv["--interval"]) == ("2025-01-15", "1m")
    [compact] = arguments[f"{prefix}compact"]
    # One map of arguments: compaction (rewrite) of every table, healthy partitions skipped.
    assert compact["--only"] == "rewrite"
    assert "--date" not in compact and "--since" not in compact


def test_glue_tasks_stop_their_run_when_killed_and_defer_only_when_set(
    load_dag: Any, rendered_jobs: Path
) -> None:
    settings = runner_settings("glue", rendered_jobs)
    dag = load_dag(**settings).dag
    jobs = [t for t in dag.tasks if t.task_id not in NOT_JOBS]
    assert [(argument(t, "stop_job_run_on_kill"), argument(t, "deferrable")) for t in jobs] == [
        (True, False)
    ] * len(jobs)
    assert dag.get_task("wait_for_raw_files").deferrable is False

    deferring = load_dag(deferrable="true", **settings).dag
    waiting = [t for t in deferring.tasks if t.task_id != "gold_dates"]
    assert all(argument(t, "deferrable") for t in waiting)
    local = load_dag(deferrable="true", **runner_settings("local", rendered_jobs)).dag
    assert local.get_task("wait_for_raw_files").deferrable is True


@contextlib.contextmanager
def glue_runs_never_finish(fake: FakeAws) -> Iterator[None]:
    """Hold every moto Glue job run in its first state (moto's state manager), as a long
    Glue run is; moto's default (a run finishes at once) comes back afterwards."""

    def post(path: str, body: dict[str, Any]) -> None:
        request = urllib.request.Request(
            f"{fake.endpoint}/moto-api/state-manager/{path}",
            data=json.dumps(body).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10):
            pass

    held = {"progression": "manual", "times": 1_000_000}
    post("set-transition", {"model_name": "glue::job_run", "transition": held})
    try:
        yield
    finally:
        post("unset-transition", {"model_name": "glue::job_run"})


def test_a_glue_task_killed_by_its_timeout_stops_its_run(
    aws_env: FakeAws, load_dag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without stop_job_run_on_kill the run would go on after the task failed, and the
    retry would start a second run of the same date beside it."""
    prefix = "afkill-tradelake-"
    dag, _ = glue_dag(
        aws_env,
        load_dag,
        monkeypatch,
        prefix,
        "2025-01-16",
        job_timeout_minutes="0.05",  # 3 s
    )

    with glue_runs_never_finish(aws_env):
        dag_run = dag.test(logical_date=datetime(2025, 1, 16, tzinfo=UTC))
        glue = aws_env.client("glue")
        runs = glue.get_job_runs(JobName=f"{prefix}ingest")["JobRuns"]

    states = task_states(dag_run)
    assert states["ingest"] == "failed"
    downstream = ("gold_dates", "daily_volume", "ohlcv_1m", "compact")
    assert {states[t] for t in downstream} == {"upstream_failed"}
    assert [(run["Arguments"]["--date"], run["JobRunState"]) for run in runs] == [
        ("2025-01-16", "STOPPED")
    ]


def test_the_glue_runner_lands_kafka_with_the_deployed_landing_job(
    aws_env: FakeAws, load_dag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Kafka configured, deploy defines the landing job; the DAG runs it, then the
    ingest of what landed (no sensor: nothing waits for files)."""
    prefix = "afk-tradelake-"
    names = deploy_glue_jobs(
        aws_env,
        prefix,
        TRADELAKE_KAFKA__BOOTSTRAP_SERVERS="b-1.msk.example:9098",
        TRADELAKE_GLUE_JOBS__KAFKA_CONNECTION="msk-vpc",
    )
    assert f"{prefix}land-kafka" in names
    use_moto_lake(aws_env, monkeypatch, database=lake_database(prefix))
    use_moto_connection(aws_env, monkeypatch)
    dag = load_dag(
        retries="0",
        runner="glue",
        source="kafka",
        raw_uri="s3://tradelake-raw/raw",
        glue_job_prefix=prefix,
        glue_poll_seconds="1",
        region=aws_env.region,
    ).dag

    dag_run = dag.test(logical_date=datetime(2025, 1, 15, tzinfo=UTC))

    expected = {**ran("2025-01-15"), "land_kafka": "success"}
    del expected["wait_for_raw_files"]
    assert task_states(dag_run) == expected
    glue = aws_env.client("glue")
    [land] = glue.get_job_runs(JobName=f"{prefix}land-kafka")["JobRuns"]
    [ingest] = glue.get_job_runs(JobName=f"{prefix}ingest")["JobRuns"]
    assert land["Arguments"]["--date"] == "2025-01-15"
    assert (ingest["Arguments"]["--date"], ingest["Arguments"]["--source"]) == (
        "2025-01-15",
        "kafka",
    )
    assert glue.get_job(JobName=f"{prefix}land-kafka")["Job"]["Connections"] == {
        "Connections": ["msk-vpc"]
    }


def test_the_glue_runner_runs_the_gold_jobs_for_each_gold_date_job_runs_names(
    aws_env: FakeAws, load_dag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Glue ingest has no summary line for Airflow: its row of job_runs has it. The
    ingest of 2025-01-15 carried late reports of 01-14: gold for both days, one Glue run
    of each gold job per day, each task instance named by its day."""
    prefix = "afgold-tradelake-"
    database = lake_database(prefix)
    write_job_runs(
        use_moto_lake(aws_env, monkeypatch, database),
        database,
        [
            # An earlier run of the day, another day's, and the latest: this DAG run's.
            ingest_run("r-early", "2025-01-15", "2025-01-16T00:05:00", gold_dates=["2025-01-15"]),
            ingest_run("r-late", "2025-01-16", "2025-01-17T00:05:00", gold_dates=["2025-01-16"]),
            ingest_run(
                "r-now",
                "2025-01-15",
                "2025-01-16T06:00:00",
                gold_dates=["2025-01-14", "2025-01-15"],
            ),
        ],
    )

    dag, _ = glue_dag(aws_env, load_dag, monkeypatch, prefix, "2025-01-15")

    dag_run = dag.test(logical_date=datetime(2025, 1, 15, tzinfo=UTC))

    assert task_states(dag_run) == ran("2025-01-15", "2025-01-14", "2025-01-15")
    glue = aws_env.client("glue")

    def runs(job: str) -> list[dict[str, str]]:
        found = glue.get_job_runs(JobName=f"{prefix}{job}")["JobRuns"]
        return sorted((run["Arguments"] for run in found), key=lambda args: args["--date"])

    assert [run["--date"] for run in runs("daily-volume")] == ["2025-01-14", "2025-01-15"]
    assert [(run["--date"], run["--interval"]) for run in runs("ohlcv")] == [
        ("2025-01-14", "1m"),
        ("2025-01-15", "1m"),
    ]
    [ingest] = runs("ingest")
    assert ingest["--date"] == "2025-01-15"
    # Each instance hands its own OpenLineage run to its job.
    parents = [run["--openlineage-parent-id"] for run in runs("daily-volume")]
    assert len(set(parents)) == 2
    assert {parent.split("/")[1] for parent in parents} == {"tradelake_daily.daily_volume"}


def test_a_landing_that_touched_no_day_skips_the_gold_tasks_and_still_compacts(
    aws_env: FakeAws, load_dag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ingest whose landing resolved no day names no gold date: the mapped gold tasks
    expand to nothing (skipped) and compaction runs all the same (none_failed)."""
    prefix = "afnone-tradelake-"
    database = lake_database(prefix)
    write_job_runs(
        use_moto_lake(aws_env, monkeypatch, database),
        database,
        [ingest_run("r-empty", "2025-01-15", "2025-01-16T00:05:00", gold_dates=[])],
    )
    dag, _ = glue_dag(aws_env, load_dag, monkeypatch, prefix, "2025-01-15")

    dag_run = dag.test(logical_date=datetime(2025, 1, 15, tzinfo=UTC))

    assert task_states(dag_run) == {
        **dict.fromkeys(GRAPH, "success"),
        "daily_volume": "skipped",
        "ohlcv_1m": "skipped",
    }
    glue = aws_env.client("glue")
    assert [
        len(glue.get_job_runs(JobName=f"{prefix}{job}")["JobRuns"])
        for job in ("ingest", "daily-volume", "ohlcv", "compact")
    ] == [1, 0, 0, 1]
