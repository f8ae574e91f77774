"""The DAG, end to end, for real: ``dag.test()`` runs every task with the local runner
(``./spark-submit.sh`` on an embedded lake, Spark local[2]), four times:

1. the sample day: every task succeeds, the tables hold the day, each job's lineage
   events reach a local collector with its Airflow task as the parent run;
2. the same date again: the same table content (idempotent);
3. a day whose input fails the quality gate: ``ingest`` fails at once (no retry), the
   gold tasks and compaction end ``upstream_failed``, the webhook gets the job's summary;
4. a day with no raw folder: the sensor keeps waiting, then times out.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.airflow.recorder import Recorder, recording
from tests.airflow.runs import provider_events, task_states
from tests.lakes import REPO, Lake, Rows
from tests.lineage_schema import assert_valid_run_event
from tests.submit import TEST_JOB_ENV

pytestmark = pytest.mark.airflow

DAY = "2025-01-15"
GATED_DAY = "2025-01-16"
MISSING_DAY = "2025-01-17"
TRADES = 500
JOB_VENV_PYTHON = REPO / ".venv" / "bin" / "python"
TASKS = ("wait_for_raw_files", "ingest", "daily_volume", "ohlcv_1m", "compact")
# Where the measured states of the three runs are written for the closing note.
STATES_FILE = os.environ.get("TRADELAKE_TEST_AIRFLOW_STATES")


@pytest.fixture(scope="module")
def collector() -> Iterator[Recorder]:
    with recording() as recorder:
        yield recorder


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return Lake(tmp_path_factory.mktemp("airflow-lake"))


@pytest.fixture(scope="module")
def sample(lake: Lake) -> dict[str, Any]:
    """The demo's sample day (500 trades) and a day most of whose records are bad."""
    described = generate(lake.raw_root, DAY)
    generate(lake.raw_root, GATED_DAY, "--bad-ratio", "0.5", "--seed", "7")
    return described


def generate(raw: Path, day: str, *flags: str) -> dict[str, Any]:
    result = subprocess.run(
        [str(JOB_VENV_PYTHON), "-m", "tradelake.sample", "--date", day, "--out", str(raw)]
        + ["--trades", str(TRADES), *flags],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    described: dict[str, Any] = json.loads(result.stdout)
    return described


@pytest.fixture
def environment(lake: Lake, collector: Recorder, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """What an Airflow worker running the local runner has in its environment."""
    for name in list(os.environ):
        if name.startswith(("TRADELAKE_", "OPENLINEAGE")) and name != "TRADELAKE_JARS_DIR":
            monkeypatch.delenv(name)
    # The test jobs' JVMs are the tiny profile's alone (TEST_JOB_ENV), as in tests/submit.py.
    monkeypatch.delenv("SPARK_JAVA_OPTS_EXTRA", raising=False)
    settings = {
        "TRADELAKE_JARS_DIR": os.environ.get("TRADELAKE_JARS_DIR", str(REPO / ".jars")),
        **lake.settings_env(),
        "TRADELAKE_LINEAGE__TRANSPORT": "http",
        "TRADELAKE_LINEAGE__URL": collector.url,
        # Small Spark, the tiny JVM profile, small shuffles: every test job's (tests/submit.py).
        **TEST_JOB_ENV,
        "no_proxy": "127.0.0.1",
        "AIRFLOW_CONN_TRADELAKE_ALERTS": json.dumps(
            {"conn_type": "http", "host": f"{collector.url}/hook"}
        ),
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return settings


def fast_dag(load_dag: Any) -> Any:
    """The DAG with delays a test can wait for (retries 2, 1 s doubling; sensor 2 s, 12 s)."""
    return load_dag(
        runner="local",
        retries="2",
        retry_delay_seconds="1",
        max_retry_delay_seconds="2",
        sensor_poke_seconds="2",
        sensor_timeout_seconds="12",
        start_date="2025-01-01",
    ).dag


def run_day(dag: Any, day: str) -> Any:
    logical = datetime.fromisoformat(day).replace(tzinfo=UTC)
    return dag.test(logical_date=logical)


def record_states(label: str, dag_run: Any) -> dict[str, str]:
    states = task_states(dag_run)
    tries = {ti.task_id: ti.try_number for ti in dag_run.get_task_instances()}
    if STATES_FILE:
        with open(STATES_FILE, "a", encoding="utf-8") as sink:
            sink.write(
                json.dumps(
                    {
                        "run": label,
                        "dag_run": str(dag_run.state),
                        "tasks": states,
                        "try_number": tries,
                    }
                )
                + "\n"
            )
    return states


def read_day(lake: Lake, table: str, day: str, drop: tuple[str, ...]) -> Rows:
    """The day's rows of a table, read with pyiceberg, without the run-specific columns."""
    return lake.content(table, drop, row_filter=f"trade_date = '{day}'")


def tradelake_events(collector: Recorder) -> list[dict[str, Any]]:
    return [e for e in collector.bodies("/api/v1/lineage") if e["job"]["namespace"] == "tradelake"]


def test_the_sample_day_runs_every_task_and_lands_in_the_tables(
    load_dag: Any,
    environment: dict[str, str],
    sample: dict[str, Any],
    lake: Lake,
    collector: Recorder,
) -> None:
    collector.clear()
    dag_run = run_day(fast_dag(load_dag), DAY)

    states = record_states("sample day", dag_run)
    assert states == dict.fromkeys(TASKS, "success")
    assert str(dag_run.state) == "success"

    trades = read_day(lake, "trades", DAY, drop=("run_id", "ingested_at"))
    assert sum(trades.values()) == sample["clean_trades"] == TRADES
    volume = read_day(lake, "daily_volume", DAY, drop=("run_id",))
    bars = read_day(lake, "ohlcv_1m", DAY, drop=("run_id",))
    # One row per symbol of the day.
    assert sum(volume.values()) == len({dict(row)["symbol"] for row in trades})
    assert bars, "ohlcv_1m has the day's bars"

    # Lineage: each job's START and COMPLETE, valid, with its Airflow task as the parent.
    events = tradelake_events(collector)
    for event in events:
        assert_valid_run_event(event)
    by_job: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_job.setdefault(event["job"]["name"], []).append(event)
    assert {job: [e["eventType"] for e in found] for job, found in by_job.items()} == {
        job: ["START", "COMPLETE"] for job in ("ingest", "daily_volume", "ohlcv", "compact")
    }
    # The provider's own events for the tasks (the latest START of each task).
    airflow_runs = {
        event["job"]["name"]: event["run"]["runId"]
        for event in provider_events()
        if event["eventType"] == "START"
    }
    for job, task_id in (
        ("ingest", "ingest"),
        ("daily_volume", "daily_volume"),
        ("ohlcv", "ohlcv_1m"),
        ("compact", "compact"),
    ):
        for event in by_job[job]:
            parent = event["run"]["facets"]["parent"]
            assert parent["job"]["name"] == f"tradelake_daily.{task_id}"
            assert parent["root"]["job"]["name"] == "tradelake_daily"
            # The chain joins: the job's parent is the run the provider reported.
            assert parent["run"]["runId"] == airflow_runs[f"tradelake_daily.{task_id}"]


def test_a_second_run_of_the_same_date_leaves_the_same_content(
    load_dag: Any, environment: dict[str, str], sample: dict[str, Any], lake: Lake
) -> None:
    tables = {
        "trades": ("run_id", "ingested_at"),
        "daily_volume": ("run_id",),
        "ohlcv_1m": ("run_id",),
    }
    before = {name: read_day(lake, name, DAY, drop) for name, drop in tables.items()}

    dag_run = run_day(fast_dag(load_dag), DAY)

    assert record_states("same date again", dag_run) == dict.fromkeys(TASKS, "success")
    after = {name: read_day(lake, name, DAY, drop) for name, drop in tables.items()}
    assert after == before
    assert sum(after["trades"].values()) == TRADES


def test_a_day_failing_the_quality_gate_stops_at_ingest_without_retries(
    load_dag: Any, environment: dict[str, str], sample: dict[str, Any], collector: Recorder
) -> None:
    collector.clear()
    dag_run = run_day(fast_dag(load_dag), GATED_DAY)

    states = record_states("quality gate failure", dag_run)
    assert states == {
        "wait_for_raw_files": "success",
        "ingest": "failed",
        "daily_volume": "upstream_failed",
        "ohlcv_1m": "upstream_failed",
        "compact": "upstream_failed",
    }
    tries = {ti.task_id: ti.try_number for ti in dag_run.get_task_instances()}
    assert tries["ingest"] == 1, "exit 3 is not retried"
    [alert] = collector.bodies("/hook")
    assert alert["task_id"] == "ingest"
    assert (alert["status"], alert["exit_code"], alert["date"]) == (
        "QualityGateError",
        3,
        GATED_DAY,
    )
    assert alert["run_id"] and "quality gate failed" in alert["reason"]
    [fail] = [e for e in tradelake_events(collector) if e["eventType"] == "FAIL"]
    assert fail["run"]["facets"]["parent"]["job"]["name"] == "tradelake_daily.ingest"


def test_a_day_without_raw_files_keeps_the_sensor_waiting_until_it_times_out(
    load_dag: Any, environment: dict[str, str], sample: dict[str, Any], lake: Lake
) -> None:
    assert not (lake.raw_root / "trades" / f"date={MISSING_DAY}").exists()
    started = time.monotonic()

    dag_run = run_day(fast_dag(load_dag), MISSING_DAY)

    assert record_states("missing input", dag_run) == {
        "wait_for_raw_files": "failed",
        "ingest": "upstream_failed",
        "daily_volume": "upstream_failed",
        "ohlcv_1m": "upstream_failed",
        "compact": "upstream_failed",
    }
    # It waited (rescheduled every 2 s) for its 12 s timeout, not failing at once.
    assert time.monotonic() - started >= 12
