"""The DAG, end to end, for real: ``dag.test()`` runs every task with the local runner
(``./spark-submit.sh`` on an embedded lake, Spark local[2]), five times:

1. the sample day: every task succeeds, the gold tasks once, for the day (named by it),
   the tables hold the day, each job's lineage events reach a local collector with its
   Airflow task as the parent run;
2. the same date again: the same table content (idempotent);
3. a day whose input fails the quality gate: ``ingest`` fails at once (no retry),
   ``gold_dates``, the gold tasks and compaction end ``upstream_failed``, the webhook
   gets the job's summary;
4. a day with no raw folder: the sensor keeps waiting, then times out;
5. with a window of two days (``TRADELAKE_CONTRACT__MAX_LATENESS_DAYS=2``), a landing that
   carries a late trade of the day before, whose own landing was published, and one of
   the day before that, never landed: the gold tasks run for the landing and the
   published day, one instance per day, both days' gold tables are exact, and the day
   never landed has its trade in ``trades`` but no gold yet.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.airflow.recorder import Recorder, recording
from tests.airflow.runs import provider_events, task_states
from tests.lakes import REPO, Lake, Rows, multiset, trade_json
from tests.lineage_schema import assert_valid_run_event
from tests.submit import TEST_JOB_ENV, spark_submit
from tradelake.runtime import last_summary

pytestmark = pytest.mark.airflow

DAY = "2025-01-15"
GATED_DAY = "2025-01-16"
MISSING_DAY = "2025-01-17"
TRADES = 500
JOB_VENV_PYTHON = REPO / ".venv" / "bin" / "python"
GOLD_TASKS = ("daily_volume", "ohlcv_1m")
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


def ran(*gold_days: str) -> dict[str, str]:
    """The states of a run in which every task succeeded, each gold task once per gold day
    (an instance named by its day, as the UI shows it)."""
    gold = {f"{task}[{day}]": "success" for task in GOLD_TASKS for day in gold_days}
    return {
        "wait_for_raw_files": "success",
        "ingest": "success",
        "gold_dates": "success",
        **gold,
        "compact": "success",
    }


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
    assert states == ran(DAY)
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

    assert record_states("same date again", dag_run) == ran(DAY)
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
        "gold_dates": "upstream_failed",
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
        "gold_dates": "upstream_failed",
        "daily_volume": "upstream_failed",
        "ohlcv_1m": "upstream_failed",
        "compact": "upstream_failed",
    }
    # It waited (rescheduled every 2 s) for its 12 s timeout, not failing at once.
    assert time.monotonic() - started >= 12


# ------------------------------------------------------------------------------ late reports
#
# A window of two days: landing L may carry trades of L, L-1 and L-2. Each day's landing is
# written by hand, so every gold row below is worked out from them. One DAG run shows both
# cases: a late trade of a published day, and one of a day whose landing never ran.

NEVER_LANDED_DAY, PUBLISHED_DAY, LATE_LANDING = "2025-01-19", "2025-01-20", "2025-01-21"


def land(lake: Lake, day: str, *records: str) -> None:
    """Day ``day``'s landing: one JSON Lines file of ``records``."""
    folder = lake.raw_root / "trades" / f"date={day}"
    folder.mkdir(parents=True)
    (folder / "reports.jsonl").write_text("".join(record + "\n" for record in records))


def volume_row(day: str, symbol: str, trades: int, volume: str, *prices: str) -> dict[str, Any]:
    """A daily_volume row; ``prices``: avg, vwap, low, high, open, close."""
    avg, vwap, low, high, first, last = (Decimal(price) for price in prices)
    return {
        "trade_date": date.fromisoformat(day),
        "symbol": symbol,
        "trade_count": trades,
        "total_volume": Decimal(volume),
        "avg_price": avg,
        "vwap": vwap,
        "low_price": low,
        "high_price": high,
        "open_price": first,
        "close_price": last,
    }


def one_trade_bar(day: str, symbol: str, minute: str, price: str, volume: str) -> dict[str, Any]:
    """An ohlcv_1m bar of one trade: open = high = low = close = vwap = its price."""
    exact = Decimal(price)
    return {
        "trade_date": date.fromisoformat(day),
        "symbol": symbol,
        "bar_start": datetime.fromisoformat(f"{day}T{minute}:00+00:00"),
        "open": exact,
        "high": exact,
        "low": exact,
        "close": exact,
        "volume": Decimal(volume),
        "trade_count": 1,
        "vwap": exact,
    }


def gold_of(lake: Lake, day: str) -> tuple[Rows, Rows]:
    """The day's daily_volume and ohlcv_1m rows, without the run that wrote them."""
    return (
        read_day(lake, "daily_volume", day, drop=("run_id",)),
        read_day(lake, "ohlcv_1m", day, drop=("run_id",)),
    )


@pytest.fixture
def window_of_two_days(environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The jobs' lateness window, in the worker's environment the local runner passes on."""
    monkeypatch.setenv("TRADELAKE_CONTRACT__MAX_LATENESS_DAYS", "2")


def test_late_trades_rebuild_the_gold_of_published_days_only(
    load_dag: Any, environment: dict[str, str], window_of_two_days: None, lake: Lake
) -> None:
    """The landing of 2025-01-21 carries a late trade of 2025-01-20 (published by its own
    ingest) and one of 2025-01-19 (never landed): the gold tasks run for 01-20 and 01-21,
    mapped and named by date; 01-19's gold waits for its own landing."""
    land(
        lake,
        PUBLISHED_DAY,
        trade_json("P1", price="100", quantity="2", timestamp="2025-01-20T10:00:00Z"),
        trade_json("P2", symbol="MSFT", side="sell", price="400", quantity="1",
                   timestamp="2025-01-20T11:00:00Z"),
    )  # fmt: skip
    # The day before is published by its own ingest; its gold tables are first built by
    # the run of the late landing.
    published = spark_submit("ingest", "--date", PUBLISHED_DAY, env=dict(os.environ))
    assert published.returncode == 0, published.stdout[-2000:]
    assert (last_summary(published.stdout) or {})["gold_dates"] == [PUBLISHED_DAY]
    land(
        lake,
        LATE_LANDING,
        trade_json("N1", price="110", quantity="1", timestamp="2025-01-21T09:30:00Z"),
        # Late: a trade of 2025-01-20, first reported in the landing of 2025-01-21.
        trade_json("L1", side="sell", price="103", quantity="4", timestamp="2025-01-20T15:00:00Z"),
        # Late: a trade of 2025-01-19, a day whose own landing has not been ingested.
        trade_json("L2", symbol="MSFT", side="sell", price="399", quantity="5",
                   timestamp="2025-01-19T16:00:00Z"),
    )  # fmt: skip

    dag_run = run_day(fast_dag(load_dag), LATE_LANDING)

    assert record_states("late trades", dag_run) == ran(PUBLISHED_DAY, LATE_LANDING)
    # 2025-01-20, AAPL: P1 100 x 2 (10:00) and L1 103 x 4 (15:00): volume 6, mean price
    # (100 + 103) / 2 = 101.5, vwap (200 + 412) / 6 = 102; MSFT: P2 400 x 1.
    assert gold_of(lake, PUBLISHED_DAY) == (
        multiset([
            volume_row(PUBLISHED_DAY, "AAPL", 2, "6", "101.5", "102", "100", "103", "100", "103"),
            volume_row(PUBLISHED_DAY, "MSFT", 1, "1", *["400"] * 6),
        ]),
        multiset([
            one_trade_bar(PUBLISHED_DAY, "AAPL", "10:00", "100", "2"),
            one_trade_bar(PUBLISHED_DAY, "AAPL", "15:00", "103", "4"),
            one_trade_bar(PUBLISHED_DAY, "MSFT", "11:00", "400", "1"),
        ]),
    )  # fmt: skip
    assert gold_of(lake, LATE_LANDING) == (
        multiset([volume_row(LATE_LANDING, "AAPL", 1, "1", *["110"] * 6)]),
        multiset([one_trade_bar(LATE_LANDING, "AAPL", "09:30", "110", "1")]),
    )
    # The late trade of the day never landed is in trades; its gold is not built: that
    # day's own landing will.
    trades = read_day(lake, "trades", NEVER_LANDED_DAY, drop=())
    assert [dict(row)["trade_id"] for row in trades] == ["L2"]
    assert gold_of(lake, NEVER_LANDED_DAY) == (multiset([]), multiset([]))
