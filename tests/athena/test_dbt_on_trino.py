"""The analysts' dbt project (analytics/) on the Athena tier's Trino, over what Spark wrote.

``dbt build`` (models, their data tests, the unit tests) and ``dbt source freshness`` run
against the tier's lake, twice where a second run is the incremental one; the mart's
values are checked against the test's own input (``TRADES``) with Python's Decimal. The
Athena target is parsed offline (moto's Athena runs no queries).
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.athena.lake import (
    DATABASE,
    LAKE_BUCKET,
    TRADES,
    AthenaLake,
    TrinoServer,
    fetch_rows,
    half_up,
)
from tests.lakes import REPO, FakeAws

pytestmark = [pytest.mark.athena, pytest.mark.dbt]

PROJECT = REPO / "analytics"
DBT = REPO / os.environ.get("TRADELAKE_DBT_VENV", ".venv-dbt") / "bin" / "dbt"
MODELS_SCHEMA = "analytics_e2e"
SOURCES = ("trades", "trade_reports", "trades_rejected", "daily_volume", "ohlcv_1m", "job_runs")
AIRFLOW_PYTHON = REPO / os.environ.get("TRADELAKE_AIRFLOW_VENV", ".venv-airflow") / "bin" / "python"


def dbt_env(tmp: Path, **extra: str) -> dict[str, str]:
    """What a user sets to run the project (docs/dbt.md), with throwaway output folders."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADELAKE_", "DBT_"))}
    return {
        **env,
        "DBT_PROFILES_DIR": str(PROJECT),
        "DBT_TARGET_PATH": str(tmp / "target"),
        "DBT_LOG_PATH": str(tmp / "logs"),
        "TRADELAKE_DATABASE": DATABASE,
        "TRADELAKE_DBT_SCHEMA": MODELS_SCHEMA,
        **extra,
    }


def run_dbt(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DBT), *args, "--project-dir", str(PROJECT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def results(env: dict[str, str]) -> list[dict[str, Any]]:
    """The last command's run_results.json: one entry per node it ran."""
    path = Path(env["DBT_TARGET_PATH"]) / "run_results.json"
    return list(json.loads(path.read_text())["results"])


@pytest.fixture(scope="module")
def trino_env(
    trino_server: TrinoServer, athena_lake: AthenaLake, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    return dbt_env(
        tmp_path_factory.mktemp("dbt"),
        TRADELAKE_DBT_TARGET="trino",
        TRADELAKE_DBT_TRINO_HOST=trino_server.host,
        TRADELAKE_DBT_TRINO_PORT=str(trino_server.port),
        TRADELAKE_DBT_SCHEMA_LOCATION=f"s3://{LAKE_BUCKET}/analytics/{MODELS_SCHEMA}",
        # The tier's ingests ran with a one-day window.
        TRADELAKE_CONTRACT__MAX_LATENESS_DAYS="1",
    )


@pytest.fixture(scope="module")
def first_build(trino_env: dict[str, str]) -> list[dict[str, Any]]:
    done = run_dbt(trino_env, "build")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    return results(trino_env)


def expected_symbol_days() -> list[dict[str, Any]]:
    days: dict[tuple[str, str], list[Any]] = {}
    for trade in TRADES:
        days.setdefault((trade.day, trade.symbol), []).append(trade)
    rows = []
    for (day, symbol), trades in sorted(days.items()):
        volume = sum((t.quantity for t in trades), Decimal(0))
        notional = sum((t.price * t.quantity for t in trades), Decimal(0))
        rows.append(
            {
                "trade_date": date.fromisoformat(day),
                "symbol": symbol,
                "trade_count": len(trades),
                "volume": volume,
                "notional": notional,
                "vwap": half_up(notional, volume),
                "corrected_trades": sum(1 for t in trades if t.report_type == "correct"),
            }
        )
    return rows


def symbol_days(cursor: Any) -> list[dict[str, Any]]:
    return fetch_rows(
        cursor,
        "SELECT trade_date, symbol, trade_count, volume, notional, vwap, corrected_trades "
        f"FROM {MODELS_SCHEMA}.symbol_day ORDER BY trade_date, symbol",
    )


def test_build_runs_every_model_and_test_green(first_build: list[dict[str, Any]]) -> None:
    by_kind: dict[str, list[str]] = {}
    for result in first_build:
        kind = result["unique_id"].split(".")[0]
        by_kind.setdefault(kind, []).append(result["status"])
    assert sorted(set(by_kind["model"])) == ["success"] and len(by_kind["model"]) == 7
    assert set(by_kind["test"]) == {"pass"}, first_build
    assert len(by_kind["test"]) >= 25
    unit_tests = {
        result["unique_id"].split(".")[-1]: result["status"]
        for result in first_build
        if result["unique_id"].startswith("unit_test.")
    }
    assert unit_tests == {
        "symbol_day_sums_volume_and_vwap_and_counts_late_reports": "pass",
        "ingest_quality_day_takes_each_days_latest_run_and_checks_its_counts": "pass",
    }


def test_symbol_day_holds_exact_sums_of_the_trades(
    first_build: list[dict[str, Any]], cursor: Any
) -> None:
    assert symbol_days(cursor) == expected_symbol_days()


def test_the_incremental_rebuild_changes_nothing(
    first_build: list[dict[str, Any]], trino_env: dict[str, str], cursor: Any
) -> None:
    before = symbol_days(cursor)
    done = run_dbt(trino_env, "build", "--select", "symbol_day")
    assert done.returncode == 0, done.stdout[-6000:]
    compiled = Path(trino_env["DBT_TARGET_PATH"]) / "compiled" / "tradelake_analytics"
    sql = next(compiled.rglob("symbol_day.sql")).read_text()
    # The incremental path ran, over the lateness window before the latest day it holds.
    assert "select max(trade_date) - interval '1' day" in sql
    assert symbol_days(cursor) == before
    # With the run's date (as the DAG passes it), from the window before that day.
    done = run_dbt(
        trino_env, "build", "--select", "symbol_day", "--vars", '{"run_date": "2025-01-16"}'
    )
    assert done.returncode == 0, done.stdout[-6000:]
    sql = next(compiled.rglob("symbol_day.sql")).read_text()
    assert "trade_date >= (date '2025-01-16' - interval '1' day)" in sql
    assert symbol_days(cursor) == before


def test_ingest_quality_day_has_one_conserved_row_per_landing(
    first_build: list[dict[str, Any]], cursor: Any
) -> None:
    rows = fetch_rows(
        cursor,
        "SELECT run_date, runs, status, published, conserved, dead_letters, "
        f"dead_letters_in_table FROM {MODELS_SCHEMA}.ingest_quality_day ORDER BY run_date",
    )
    assert [row["run_date"].isoformat() for row in rows] == ["2025-01-15", "2025-01-16"]
    for row in rows:
        assert row["status"] == "ok" and row["published"] and row["conserved"]
        assert row["dead_letters"] == row["dead_letters_in_table"]


def test_source_freshness_passes_on_a_lake_just_written(
    first_build: list[dict[str, Any]], trino_env: dict[str, str]
) -> None:
    done = run_dbt(trino_env, "source", "freshness")
    assert done.returncode == 0, done.stdout[-6000:]
    sources = json.loads((Path(trino_env["DBT_TARGET_PATH"]) / "sources.json").read_text())
    statuses = {result["unique_id"]: result["status"] for result in sources["results"]}
    # The gold tables' freshness is the start of the run that wrote their newest rows.
    assert statuses == {
        f"source.tradelake_analytics.tradelake.{table}": "pass" for table in SOURCES
    }


ATHENA_SCHEMA = "analytics_athena"


def test_the_athena_target_compiles_every_model_against_glue(
    fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``dbt compile --target athena``: dbt-athena's introspection (which relations exist,
    so whether symbol_day is incremental) reads the Glue catalog, here moto's; no query
    runs (moto's Athena runs none). Then ``dbt docs generate`` works offline."""
    env = dbt_env(
        tmp_path,
        TRADELAKE_DBT_TARGET="athena",
        TRADELAKE_DBT_SCHEMA=ATHENA_SCHEMA,
        TRADELAKE_DBT_ATHENA_STAGING_DIR="s3://tradelake-athena-results/dbt/",
        TRADELAKE_DBT_ATHENA_DATA_DIR=f"s3://{LAKE_BUCKET}/analytics-athena/",
        AWS_ENDPOINT_URL=fake_aws.endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION=fake_aws.region,
    )
    compiled = tmp_path / "target" / "compiled" / "tradelake_analytics"

    def compile_symbol_day() -> str:
        done = run_dbt(env, "compile", "--vars", '{"run_date": "2025-01-16"}')
        assert done.returncode == 0, done.stdout[-4000:]
        kinds = sorted({(r["unique_id"].split(".")[0], r["status"]) for r in results(env)})
        assert kinds == [("model", "success"), ("test", "success")]
        assert sum(r["unique_id"].startswith("model.") for r in results(env)) == 7
        return (compiled / "models" / "marts" / "symbol_day.sql").read_text()

    first = compile_symbol_day()
    assert f'from "awsdatacatalog"."{ATHENA_SCHEMA}"."stg_trades"' in first
    assert "interval '7' day" not in first  # no table yet: the full build
    # Once the mart's Iceberg table is in Glue, the incremental path is compiled.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    glue = fake_aws.client("glue")
    glue.create_database(DatabaseInput={"Name": ATHENA_SCHEMA})
    glue.create_table(
        DatabaseName=ATHENA_SCHEMA,
        TableInput={
            "Name": "symbol_day",
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"table_type": "ICEBERG"},
            "StorageDescriptor": {"Columns": [{"Name": "trade_date", "Type": "date"}]},
        },
    )
    incremental = compile_symbol_day()
    # The default window (TRADELAKE_CONTRACT__MAX_LATENESS_DAYS unset): 7 days.
    assert "trade_date >= (date '2025-01-16' - interval '7' day)" in incremental
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    assert manifest["metadata"]["adapter_type"] == "athena"
    symbol_day = manifest["nodes"]["model.tradelake_analytics.symbol_day"]
    assert symbol_day["config"]["incremental_strategy"] == "merge"
    assert symbol_day["config"]["table_type"] == "iceberg"
    docs = run_dbt(env, "docs", "generate", "--empty-catalog", "--no-compile")
    assert docs.returncode == 0, docs.stdout[-4000:]
    assert (tmp_path / "target" / "index.html").stat().st_size > 0


BROKEN_DATABASE = "broken_e2e"


def execute(cursor: Any, sql: str) -> None:
    """Run a statement that returns no rows (DDL, INSERT, UPDATE) to its end."""
    cursor.execute(sql)
    cursor.fetchall()


@pytest.fixture(scope="module")
def broken_lake(first_build: list[dict[str, Any]], cursor: Any) -> str:
    """A throwaway copy of the lake's tables with one duplicate trade and stale ingests:
    the first trade of the 15th twice in ``trades``, and every ingest time two days old."""
    location = f"s3://{LAKE_BUCKET}/broken/{BROKEN_DATABASE}"
    execute(cursor, f"CREATE SCHEMA {BROKEN_DATABASE} WITH (location = '{location}')")
    for table in SOURCES:
        execute(
            cursor,
            f"CREATE TABLE {BROKEN_DATABASE}.{table} AS SELECT * FROM {DATABASE}.{table}",
        )
    execute(
        cursor,
        f"INSERT INTO {BROKEN_DATABASE}.trades SELECT * FROM {DATABASE}.trades "
        "WHERE trade_date = DATE '2025-01-15' ORDER BY trade_id LIMIT 1",
    )
    stale = "current_timestamp - INTERVAL '2' DAY"
    for table, column in (
        ("trades", "ingested_at"),
        ("trade_reports", "ingested_at"),
        ("trades_rejected", "rejected_at"),
        ("job_runs", "started_at"),
    ):
        execute(cursor, f"UPDATE {BROKEN_DATABASE}.{table} SET {column} = {stale}")
    return BROKEN_DATABASE


def failed_tests(env: dict[str, str]) -> set[str]:
    """Names of the data tests of the last command that failed (not those it skipped)."""
    return {
        result["unique_id"].split(".")[2]
        for result in results(env)
        if result["unique_id"].startswith("test.") and result["status"] in ("fail", "error")
    }


def test_a_broken_copy_fails_exactly_the_tests_that_guard_it(
    broken_lake: str, trino_env: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **trino_env,
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "TRADELAKE_DATABASE": broken_lake,
        "TRADELAKE_DBT_SCHEMA": "analytics_broken",
        "TRADELAKE_DBT_SCHEMA_LOCATION": f"s3://{LAKE_BUCKET}/broken/analytics_broken",
    }
    built = run_dbt(env, "build")
    assert built.returncode == 1, built.stdout[-4000:]
    # The duplicate fails the key test of the trades source and nothing else; everything
    # built on trades is then skipped: no mart is built from a broken source.
    assert failed_tests(env) == {"source_unique_combination_tradelake_trades_trade_date__trade_id"}
    status = {result["unique_id"].split(".")[-1]: result["status"] for result in results(env)}
    assert status["stg_trades"] == status["symbol_day"] == "skipped"
    assert status["stg_ingest_runs"] == status["ingest_quality_day"] == "success"
    fresh = run_dbt(env, "source", "freshness")
    assert fresh.returncode == 1, fresh.stdout[-4000:]
    sources = json.loads((tmp_path / "target" / "sources.json").read_text())
    statuses = {
        result["unique_id"].split(".")[-1]: result["status"] for result in sources["results"]
    }
    # The gold tables were built by the runs whose start is now two days old.
    assert statuses == dict.fromkeys(SOURCES, "error")


def run_dag_step(env: dict[str, str], day: str) -> tuple[dict[str, Any], str]:
    """The DAG's dbt_build task alone, in dag.test() (tests/airflow/run_dag_tasks.py, in
    Airflow's virtualenv), configured as a worker would be; its run as JSON, and its log."""
    settings = {
        "TRADELAKE_AIRFLOW_RUNNER": "local",
        "TRADELAKE_AIRFLOW_DBT_TARGET": "trino",
        "TRADELAKE_AIRFLOW_DBT_COMMAND": str(DBT),
        "TRADELAKE_AIRFLOW_RETRIES": "2",
        "TRADELAKE_AIRFLOW_RETRY_DELAY_SECONDS": "1",
        "TRADELAKE_AIRFLOW_LINEAGE_PARENT": "false",
    }
    done = subprocess.run(
        [str(AIRFLOW_PYTHON), "-m", "tests.airflow.run_dag_tasks"]
        + ["--logical-date", day, "--task", "dbt_build"],
        cwd=REPO,
        env={k: v for k, v in env.items() if not k.startswith("DBT_")} | settings,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-6000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), log


def test_the_dags_dbt_step_builds_the_day_in_dag_test(
    first_build: list[dict[str, Any]], trino_env: dict[str, str], cursor: Any
) -> None:
    before = symbol_days(cursor)
    run, log = run_dag_step(trino_env, "2025-01-16")
    assert run["tasks"] == {"dbt_build": "success"}, log[-8000:]
    assert run == {
        "dag_run": "success",
        "tasks": {"dbt_build": "success"},
        "tries": {"dbt_build": 1},
    }
    assert "Completed successfully" in log  # dbt's own output, in the task log
    assert symbol_days(cursor) == before


def test_a_failed_dbt_test_fails_the_dag_run_without_retries(
    broken_lake: str, trino_env: dict[str, str]
) -> None:
    env = {
        **trino_env,
        "TRADELAKE_DATABASE": broken_lake,
        "TRADELAKE_DBT_SCHEMA": "analytics_broken_dag",
        "TRADELAKE_DBT_SCHEMA_LOCATION": f"s3://{LAKE_BUCKET}/broken/analytics_broken_dag",
    }
    run, log = run_dag_step(env, "2025-01-16")
    assert run["tries"] == {"dbt_build": 1}, log[-8000:]
    # Like a failed quality gate: failed at once (no retry, though retries are 2).
    assert run == {"dag_run": "failed", "tasks": {"dbt_build": "failed"}, "tries": {"dbt_build": 1}}
    assert (
        "dbt_build exited 1: 1 data test(s) failed: "
        "source_unique_combination_tradelake_trades_trade_date__trade_id; "
    ) in log
