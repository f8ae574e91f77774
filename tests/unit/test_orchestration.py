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


def test_the_dbt_step_is_configured_by_its_target(
    dag_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert o.load_dag_settings(tmp_path).dbt_target is None  # no target: no dbt step
    with pytest.raises(ConfigError, match="TRADELAKE_AIRFLOW_DBT_TARGET"):
        o.dbt_build_command(o.load_dag_settings(tmp_path), "2025-01-16")
    dag_env.setenv("TRADELAKE_AIRFLOW_DBT_TARGET", "athena")
    settings = o.load_dag_settings(tmp_path)
    # A repository without .venv-dbt: dbt from the PATH; the project in the repository.
    assert o.dbt_build_command(settings, "2025-01-16") == [
        "dbt",
        "build",
        "--project-dir",
        str(tmp_path / "analytics"),
        "--profiles-dir",
        str(tmp_path / "analytics"),
        "--target",
        "athena",
        "--vars",
        '{"run_date": "2025-01-16"}',
    ]
    (tmp_path / ".venv-dbt" / "bin").mkdir(parents=True)
    (tmp_path / ".venv-dbt" / "bin" / "dbt").touch()
    assert o.load_dag_settings(tmp_path).dbt_command == str(tmp_path / ".venv-dbt/bin/dbt")
    dag_env.setenv("TRADELAKE_AIRFLOW_DBT_COMMAND", "/opt/dbt/bin/dbt")
    dag_env.setenv("TRADELAKE_AIRFLOW_DBT_PROFILES_DIR", "/etc/dbt")
    command = o.dbt_build_command(o.load_dag_settings(tmp_path), "2025-01-16")
    assert (command[0], command[5]) == ("/opt/dbt/bin/dbt", "/etc/dbt")
    env = o.dbt_environment({"PATH": "/bin"}, tmp_path / "out")
    assert env == {
        "PATH": "/bin",
        "DBT_TARGET_PATH": str(tmp_path / "out" / "target"),
        "DBT_LOG_PATH": str(tmp_path / "out" / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def node(unique_id: str, status: str) -> dict[str, str]:
    return {"unique_id": unique_id, "status": status}


def test_a_failed_dbt_data_test_fails_at_once_and_anything_else_is_retried() -> None:
    key_test = "test.tradelake_analytics.source_unique_combination_tradelake_trades_x.3f0c5b1e"
    passed = [node("model.tradelake_analytics.stg_daily_volume", "success")]
    assert o.dbt_failure(0, passed)[0] is o.Outcome.SUCCESS
    failed = [
        *passed,
        node(key_test, "fail"),
        node("model.tradelake_analytics.symbol_day", "skipped"),
        node("unit_test.tradelake_analytics.symbol_day.sums_volume", "skipped"),
    ]
    assert o.dbt_failure(1, failed) == (
        o.Outcome.FAIL,
        "dbt_build exited 1: 1 data test(s) failed: source_unique_combination_tradelake_trades_x;"
        " 2 skipped; fix the data (docs/dbt.md)",
    )
    # A model that could not be built (Trino or Athena down, a query timed out): retried,
    # even beside a failed test (the retry may pass the model and show the test again).
    errored = [*failed, node("model.tradelake_analytics.ingest_quality_day", "error")]
    result, message = o.dbt_failure(1, errored)
    assert result is o.Outcome.RETRY
    assert "1 node(s) errored: ingest_quality_day" in message and message.endswith("(retried)")
    # dbt stopped before running a node (profile, connection, parse): no run_results.json.
    assert o.dbt_failure(2, None) == (
        o.Outcome.RETRY,
        "dbt build exited 2 before running a node (see the task log)",
    )


def test_dbt_results_are_read_from_its_target_folder(tmp_path: Path) -> None:
    assert o.dbt_results(tmp_path) is None
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "run_results.json").write_text("{not json")
    assert o.dbt_results(tmp_path) is None
    (tmp_path / "target" / "run_results.json").write_text(
        json.dumps({"results": [node("model.p.m", "success")]})
    )
    assert o.dbt_results(tmp_path) == [node("model.p.m", "success")]
