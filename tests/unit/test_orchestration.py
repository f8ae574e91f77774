"""What the Airflow DAG decides, tested without Airflow (tradelake.orchestration)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.lakes import REPO
from tradelake import orchestration as o
from tradelake.errors import ConfigError
from tradelake.runtime import last_summary


@pytest.fixture
def dag_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.startswith("TRADELAKE_AIRFLOW_") or name == "TRADELAKE_RAW_URI":
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.mark.parametrize(
    ("exit_code", "expected"),
    [
        (0, o.Outcome.SUCCESS),
        (1, o.Outcome.RETRY),
        (2, o.Outcome.FAIL),
        (3, o.Outcome.FAIL),
        (4, o.Outcome.RETRY),
        (137, o.Outcome.RETRY),
        (-9, o.Outcome.RETRY),
    ],
)
def test_exit_codes_map_to_airflow_outcomes(exit_code: int, expected: o.Outcome) -> None:
    assert o.outcome(exit_code) is expected


def test_the_summary_is_the_last_json_line_with_a_status() -> None:
    output = "\n".join(
        [
            '{"ts": "x", "level": "info", "msg": "log line"}',
            '{"run_id": "r1", "job": "ingest", "status": "ok", "exit_code": 0}',
            "25/11/27 INFO ShutdownHookManager: Shutdown hook called",
            "",
        ]
    )
    assert last_summary(output) == {
        "run_id": "r1",
        "job": "ingest",
        "status": "ok",
        "exit_code": 0,
    }
    assert last_summary("no summary\n{broken json") is None


def test_failure_message_says_what_the_exit_code_means() -> None:
    summary = {"run_id": "r9", "error": "quality gate failed: reject_ratio 0.5 > 0.1"}
    assert o.failure_message("ingest", 3, summary) == (
        "ingest exited 3: quality gate failed: trades not published; inspect "
        "trades_rejected, fix the input; run r9: quality gate failed: reject_ratio 0.5 > 0.1"
    )
    assert o.failure_message("ohlcv_1m", 137, None) == (
        "ohlcv_1m exited 137: killed or crashed (retried); run -: no summary line "
        "(see the task log)"
    )


def test_the_failure_payload_carries_the_jobs_run_id_status_and_reason() -> None:
    summary = {
        "run_id": "20261127T052050Z-3f0c5b1e",
        "job": "ingest",
        "status": "QualityGateError",
        "exit_code": 3,
        "error": "quality gate failed: reject_ratio",
    }
    payload = o.failure_payload(
        dag_id="tradelake_daily",
        task_id="ingest",
        logical_date="2025-01-16",
        try_number=1,
        airflow_run_id="scheduled__2025-01-16T00:00:00+00:00",
        summary=summary,
        error="ingest exited 3",
    )
    assert payload == {
        "dag_id": "tradelake_daily",
        "task_id": "ingest",
        "date": "2025-01-16",
        "try_number": 1,
        "airflow_run_id": "scheduled__2025-01-16T00:00:00+00:00",
        "job": "ingest",
        "run_id": "20261127T052050Z-3f0c5b1e",
        "status": "QualityGateError",
        "exit_code": 3,
        "reason": "quality gate failed: reject_ratio",
    }
    json.dumps(payload)
    without = o.failure_payload(
        dag_id="d",
        task_id="t",
        logical_date="D",
        try_number=2,
        airflow_run_id="r",
        summary=None,
        error="Timeout",
    )
    assert (without["run_id"], without["status"], without["reason"]) == (None, "failed", "Timeout")


def test_settings_come_from_tradelake_airflow_variables(dag_env: pytest.MonkeyPatch) -> None:
    settings = o.load_dag_settings(REPO)
    assert (settings.runner, settings.repo, settings.raw_uri) == (
        "local",
        REPO,
        str(REPO / "lake" / "raw"),
    )
    dag_env.setenv("TRADELAKE_AIRFLOW_RUNNER", "glue")
    dag_env.setenv("TRADELAKE_AIRFLOW_OHLCV_INTERVALS", "1m, 5m,1h")
    dag_env.setenv("TRADELAKE_RAW_URI", "s3://raw/landing")
    settings = o.load_dag_settings(REPO)
    assert settings.runner == "glue"
    assert settings.ohlcv_intervals == ["1m", "5m", "1h"]
    assert settings.raw_uri == "s3://raw/landing"
    dag_env.setenv("TRADELAKE_AIRFLOW_RUNNER", "emr")
    with pytest.raises(ConfigError, match="TRADELAKE_AIRFLOW_RUNNER"):
        o.load_dag_settings(REPO)
    dag_env.setenv("TRADELAKE_AIRFLOW_RUNNER", "kubernetes")
    with pytest.raises(ConfigError, match="TRADELAKE_AIRFLOW_K8S_MANIFESTS is required"):
        o.load_dag_settings(REPO)


def test_the_chain_and_each_jobs_arguments(dag_env: pytest.MonkeyPatch) -> None:
    dag_env.setenv("TRADELAKE_AIRFLOW_OHLCV_INTERVALS", "1m,5m")
    chain = o.daily_tasks(o.load_dag_settings(REPO))
    ingest, gold, compact = chain.ingest, chain.gold, chain.compact
    assert [t.task_id for t in (ingest, *gold, compact)] == [
        "ingest",
        "daily_volume",
        "ohlcv_1m",
        "ohlcv_5m",
        "compact",
    ]
    lineage = ["--openlineage-parent-id", o.PARENT_ID_TEMPLATE]
    assert o.job_arguments(gold[1], "{{ ds }}", lineage) == [
        "--date",
        "{{ ds }}",
        "--interval",
        "1m",
        *lineage,
    ]
    assert o.job_arguments(compact, "{{ ds }}") == [
        "--since",
        "{{ macros.ds_add(ds, -6) }}",
        "--table",
        "trades",
        "--table",
        "trades_rejected",
        "--table",
        "daily_volume",
        "--table",
        "ohlcv_1m",
        "--table",
        "ohlcv_5m",
        "--only",
        "rewrite",
        "--only",
        "manifests",
        "--only",
        "expire",
    ]
    assert o.local_command(Path("/repo"), ingest, ["--date", "2025-01-15"]) == [
        "/repo/spark-submit.sh",
        "jobs/ingest.py",
        "--date",
        "2025-01-15",
    ]
    assert (ingest.manifest_name, gold[1].manifest_name, gold[0].glue_suffix) == (
        "tradelake-ingest",
        "tradelake-ohlcv-1m",
        "daily-volume",
    )
    dag_env.setenv("TRADELAKE_AIRFLOW_OHLCV_INTERVALS", "1m,90s")
    with pytest.raises(ConfigError, match="OHLCV_INTERVALS"):
        o.daily_tasks(o.load_dag_settings(REPO))


def test_glue_arguments_are_a_map_each_name_once() -> None:
    assert o.glue_script_args(["--date", "2025-01-15", "--interval", "1m"]) == {
        "--date": "2025-01-15",
        "--interval": "1m",
    }
    with pytest.raises(ConfigError, match="each name once"):
        o.glue_script_args(["--table", "trades", "--table", "daily_volume"])
    with pytest.raises(ConfigError, match="pairs"):
        o.glue_script_args(["--date"])


def test_raw_day_location_for_the_sensors(tmp_path: Path) -> None:
    assert o.raw_day_location("s3://raw/landing/", "2025-01-15") == (
        "s3",
        "s3://raw/landing/trades/date=2025-01-15/*",
    )
    assert o.raw_day_location(str(tmp_path), "{{ ds }}") == (
        "file",
        f"{tmp_path.resolve()}/trades/date={{{{ ds }}}}",
    )
    with pytest.raises(ConfigError, match="local folder or s3://"):
        o.raw_day_location("gs://raw", "2025-01-15")


def test_manifest_arguments_are_merged_the_runs_flags_winning() -> None:
    assert o.merge_arguments(
        ["--interval", "1m", "--fill", "forward", "--date", "2024-01-01"],
        ["--date", "2025-01-15", "--interval", "5m"],
    ) == ["--fill", "forward", "--date", "2025-01-15", "--interval", "5m"]
    assert o.merge_arguments(["--date=2024-01-01", "--dry-run"], ["--date", "D"]) == [
        "--dry-run",
        "--date",
        "D",
    ]


def test_a_kafka_source_lands_the_topic_before_ingesting_it(dag_env: pytest.MonkeyPatch) -> None:
    dag_env.setenv("TRADELAKE_AIRFLOW_SOURCE", "kafka")
    chain = o.daily_tasks(o.load_dag_settings(REPO))
    assert [t.task_id for t in chain.jobs] == [
        "land_kafka",
        "ingest",
        "daily_volume",
        "ohlcv_1m",
        "compact",
    ]
    assert chain.land is not None and chain.land.tables == ("trades_landed",)
    assert chain.land.manifest_name == "tradelake-land-kafka"
    assert o.job_arguments(chain.ingest, "D") == ["--date", "D", "--source", "kafka"]
    assert o.daily_tasks(o.DagSettings(source="files")).land is None  # the sensor waits
    dag_env.setenv("TRADELAKE_AIRFLOW_RUNNER", "glue")
    glue = o.daily_tasks(o.load_dag_settings(REPO))
    # The Glue job python -m tradelake.deploy defines for landing (tradelake-land-kafka).
    assert glue.land is not None and glue.land.glue_suffix == "land-kafka"
    assert o.glue_script_args(o.job_arguments(glue.ingest, "D")) == {
        "--date": "D",
        "--source": "kafka",
    }


def test_a_spark_application_for_a_task_without_a_manifest_is_refused() -> None:
    ingest = o.daily_tasks(o.DagSettings()).ingest
    with pytest.raises(ConfigError, match="no SparkApplication 'tradelake-ingest'"):
        o.spark_application([{"kind": "SparkApplication", "metadata": {"name": "x"}}], ingest, [])


def test_assets_are_named_like_the_spark_tables() -> None:
    assert o.asset_uri("trading", "ohlcv_5m") == (
        "lake.trading.ohlcv_5m",
        "iceberg://lake/trading/ohlcv_5m",
    )


def test_each_spark_application_parses_with_its_jobs_parser_for_the_date(
    dag_env: pytest.MonkeyPatch,
) -> None:
    """What the kubernetes runner submits for 2025-01-15, as Airflow renders it, is valid
    for the spark-operator and for the job (strictly: no unknown flag)."""
    import os

    from tests.submit import load_job
    from tests.unit import k8s_manifests as km
    from tests.unit.test_k8s import parse_with_job

    try:
        manifests = km.render(REPO / "k8s" / "overlays" / "dev" / "jobs")
    except km.KustomizeUnavailable as err:
        if os.environ.get("CI"):
            pytest.fail(f"CI must render the overlays: {err}")
        pytest.skip(f"cannot render the overlays: {err}")
    parent = "default/tradelake_daily.ingest/0199b1a4-6a3c-7b1e-8f00-1234567890ab"
    lineage = ["--openlineage-parent-id", parent]
    chain = o.daily_tasks(o.load_dag_settings(REPO))
    ingest, gold, compact = chain.ingest, chain.gold, chain.compact
    for task in (ingest, *gold, compact):
        rendered = [
            a.replace("{{ macros.ds_add(ds, -6) }}", "2025-01-09").replace("{{ ds }}", "2025-01-15")
            for a in o.job_arguments(task, "{{ ds }}", lineage)
        ]
        application = o.spark_application(manifests, task, rendered)
        km.assert_valid([application])
        run = parse_with_job(load_job(task.job), application["spec"]["arguments"])
        assert run.args.openlineage_parent_id == parent
        if task.job == "compact":
            assert run.args.since.isoformat() == "2025-01-09"
            assert run.args.table == ["trades", "trades_rejected", "daily_volume", "ohlcv_1m"]
        else:
            assert run.args.date.isoformat() == "2025-01-15"
        if task.job == "ohlcv":
            assert run.args.interval == "1m"
