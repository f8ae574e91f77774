"""The DAG file: it imports for each runner, its task graph and limits are the ones
documented, the kubernetes runner submits valid SparkApplications, and the glue runner
starts the deployed Glue jobs with the date (against the moto server)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.airflow.runs import task_states
from tests.lakes import REPO, FakeAws
from tests.unit import k8s_manifests as km
from tradelake import orchestration as o

pytestmark = pytest.mark.airflow

GRAPH = {
    "wait_for_raw_files": set(),
    "ingest": {"wait_for_raw_files"},
    "daily_volume": {"ingest"},
    "ohlcv_1m": {"ingest"},
    "compact": {"daily_volume", "ohlcv_1m"},
}
OPERATORS = {
    "local": "_PythonDecoratedOperator",
    "glue": "GlueJobOperator",
    "kubernetes": "SparkKubernetesOperator",
}
PARENT_ID = "default/tradelake_daily.ingest/0199b1a4-6a3c-7b1e-8f00-1234567890ab"


def render(arguments: list[str], ds: str) -> list[str]:
    """The arguments as Airflow renders them for the logical date ``ds``."""
    import jinja2
    from airflow.sdk.execution_time import macros

    return [jinja2.Template(a).render(ds=ds, macros=macros) for a in arguments]


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
    jobs = {t.task_id: type(t).__name__ for t in dag.tasks if t.task_id != "wait_for_raw_files"}
    assert set(jobs.values()) == {OPERATORS[runner]}
    sensor = dag.get_task("wait_for_raw_files")
    assert type(sensor).__name__ == ("S3KeySensor" if runner == "glue" else "FileSensor")


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
    assert type(land).__name__ == OPERATORS[runner]
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
        "ohlcv_5m": {"ingest"},
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
    jobs = [t for t in dag.tasks if t.task_id != "wait_for_raw_files"]
    assert {t.task_id: t.max_active_tis_per_dag for t in jobs} == dict.fromkeys(
        ["ingest", "daily_volume", "ohlcv_1m", "ohlcv_5m", "compact"], 2
    )
    assert {t.task_id: t.execution_timeout for t in jobs} == dict.fromkeys(
        ["ingest", "daily_volume", "ohlcv_1m", "ohlcv_5m", "compact"], timedelta(hours=3)
    )
    outlets = {t.task_id: [(a.name, a.uri) for a in t.outlets] for t in dag.tasks}
    assert outlets == {
        "wait_for_raw_files": [],
        "ingest": [("lake.trading.trades", "iceberg://lake/trading/trades")],
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
        assert operator.random_name_suffix is True
        assert operator.namespace == "tradelake"
        # What the DAG holds is the same function, with "{{ ds }}" for Airflow to render.
        templated = operator.template_spec
        assert templated == o.spark_application(
            manifests, job, o.job_arguments(job, "{{ ds }}", o.lineage_flags())
        )
        arguments = render(
            o.job_arguments(job, "{{ ds }}", ["--openlineage-parent-id", PARENT_ID]), "2025-01-15"
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
        assert "2025-01-15" in application["spec"]["arguments"] or job.job == "compact"
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


def glue_dag(
    fake: FakeAws,
    load_dag: Any,
    monkeypatch: pytest.MonkeyPatch,
    prefix: str,
    day: str,
    **settings: str,
) -> tuple[Any, list[str]]:
    """The DAG with the glue runner on the moto server, its Glue jobs deployed under
    ``prefix`` and a raw file landed for ``day``; ``settings`` are more DAG settings."""
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

    assert task_states(dag_run) == dict.fromkeys(GRAPH, "success")
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
    jobs = [t for t in dag.tasks if t.task_id != "wait_for_raw_files"]
    assert [(t.stop_job_run_on_kill, t.deferrable) for t in jobs] == [(True, False)] * len(jobs)
    assert dag.get_task("wait_for_raw_files").deferrable is False

    deferring = load_dag(deferrable="true", **settings).dag
    assert all(t.deferrable for t in deferring.tasks)
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
    assert {states[t] for t in ("daily_volume", "ohlcv_1m", "compact")} == {"upstream_failed"}
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

    graph = {k: v for k, v in GRAPH.items() if k != "wait_for_raw_files"}
    expected = {**graph, "land_kafka": set(), "ingest": {"land_kafka"}}
    assert task_states(dag_run) == dict.fromkeys(expected, "success")
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
