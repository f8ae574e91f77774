"""Issue 9 part 5: the jobs on a real Spark standalone cluster give the local-mode tables.

One master and two one-core workers on 127.0.0.1, separate JVMs started from the pyspark
distribution. The same raw day is ingested and the gold tables are built once on the
cluster (executors in their own JVMs and working directories) and once in local mode,
each into a lake of its own; every table must hold exactly the same rows, apart from the
columns that name the run or its clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.cluster import StandaloneCluster, standalone_cluster
from tests.reliability.profiles import profile
from tests.submit import ProcessLake
from tradelake.runtime import run_summaries
from tradelake.sample import generate_day

# Three minutes of a two-core CI run for a check whose code paths change rarely (how the
# jobs behave with executors in JVMs of their own): the full profile only.
pytestmark = pytest.mark.skipif(
    profile().name == "ci",
    reason="full profile only (make test-reliability): a standalone cluster costs 3 min of CI",
)

DAY = date(2025, 1, 15)
JOBS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ingest", ()),
    ("daily_volume", ()),
    ("ohlcv", ("--interval", "5m")),
)
# Spark application names of those jobs, as the master lists them.
APP_NAMES = ("tradelake-ingest", "tradelake-daily-volume", "tradelake-ohlcv")
# Columns that say which run wrote a row, or when: they differ between any two runs.
RUN_COLUMNS: dict[str, frozenset[str]] = {
    "trades": frozenset({"run_id", "ingested_at"}),
    "trades_rejected": frozenset({"run_id", "rejected_at"}),
    "daily_volume": frozenset({"run_id"}),
    "ohlcv_5m": frozenset({"run_id"}),
    "quality_results": frozenset({"run_id", "recorded_at"}),
    "job_runs": frozenset({"run_id", "started_at", "seconds", "summary"}),
}
# Summary fields that describe the data, so both runs of a job must agree on them.
SUMMARY_FIELDS = {
    "ingest": (
        "files",
        "unreadable_files",
        "input_fingerprint",
        "records_read",
        "loaded",
        "duplicates_dropped",
        "rejected",
        "rejected_by_reason",
        "schema_drift",
        "conservation_ok",
        "quality",
        "published",
    ),
    "daily_volume": ("trades_partition_files", "trades_read", "rows_written", "quality"),
    "ohlcv": ("trades_partition_files", "trades_read", "rows_written", "quality"),
}
# Both runs use the same engine settings; only --master differs. Few shuffle partitions
# keep ~800 one-row tasks per job off a two-core machine; both executors must have
# registered before the first stage, so the work is spread over both workers.
SHARED_OPTS = "--conf spark.sql.shuffle.partitions=4"
CLUSTER_OPTS = (
    f"{SHARED_OPTS} --conf spark.executor.memory=1g --conf spark.executor.cores=1 "
    "--conf spark.cores.max=2 --conf spark.scheduler.minRegisteredResourcesRatio=1.0"
)
_FINISHED_TASK = re.compile(r"Executor: Finished task \S+ in stage")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[StandaloneCluster]:
    """A master and two workers (1 core, 1 GiB each) on 127.0.0.1, stopped afterwards."""
    with standalone_cluster(tmp_path / "cluster", workers=2, cores=1, memory="1g") as running:
        yield running


def _run_chain(lake: ProcessLake, **env: str) -> dict[str, dict[str, Any]]:
    """ingest, daily_volume and ohlcv 5m for DAY, one spark-submit each; their summaries."""
    found: dict[str, dict[str, Any]] = {}
    for job, flags in JOBS:
        done = lake.submit(job, "--date", DAY.isoformat(), *flags, timeout=900, **env)
        printed = run_summaries(done.stdout)
        assert done.returncode == 0 and printed, (
            f"{job} exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        )
        found[job] = printed[-1]
    return found


def test_cluster_tables_equal_local_mode_tables(
    process_lake: ProcessLake, cluster: StandaloneCluster, tmp_path: Path
) -> None:
    """Ingest + gold jobs on a two-worker standalone cluster write exactly the local-mode rows.

    Proves that no job depends on driver-local state or paths: the executors run in
    their own JVMs and working directories, and both workers run tasks of every job.
    """
    described = generate_day(process_lake.raw_root, DAY, trades=3000, files=6, seed=9)
    on_cluster = process_lake
    # Lake B reads the very same raw files, so source_file and the fingerprint agree.
    local = ProcessLake(
        tmp_path / "local-lake", extra_env={"TRADELAKE_RAW_URI": str(on_cluster.raw_root)}
    )
    local.root.mkdir()

    with ThreadPoolExecutor(max_workers=2) as pool:
        cluster_run = pool.submit(
            _run_chain,
            on_cluster,
            SPARK_MASTER=cluster.master_url,
            SPARK_SUBMIT_OPTS_EXTRA=CLUSTER_OPTS,
        )
        local_run = pool.submit(_run_chain, local, SPARK_SUBMIT_OPTS_EXTRA=SHARED_OPTS)
        cluster_summaries, local_summaries = cluster_run.result(), local_run.result()

    # The cluster really ran the jobs: each one an application of the master, with an
    # executor on each worker, and each executor finished tasks of it.
    state = cluster.state()
    apps = state["completedapps"] + state["activeapps"]
    assert sorted(app["name"] for app in apps) == sorted(APP_NAMES), apps
    assert all(app["state"] == "FINISHED" and app["cores"] == 2 for app in apps), apps
    executor_logs = cluster.executor_logs()
    assert sorted(executor_logs) == sorted(app["id"] for app in apps)
    for app, logs in executor_logs.items():
        assert sorted(key.split("/")[0] for key in logs) == ["worker-1", "worker-2"], (app, logs)
        tasks = {key: len(_FINISHED_TASK.findall(text)) for key, text in logs.items()}
        assert all(count > 0 for count in tasks.values()), (app, tasks)

    # The day itself is accounted for exactly, in both modes.
    rejected = described["conflicting_versions"] + sum(described["bad_by_kind"].values())
    for summaries_of_mode in (cluster_summaries, local_summaries):
        ingest = summaries_of_mode["ingest"]
        assert (ingest["records_read"], ingest["loaded"]) == (described["records_written"], 3000)
        assert ingest["duplicates_dropped"] == described["exact_duplicates"]
        assert ingest["rejected"] == rejected
        assert summaries_of_mode["daily_volume"]["trades_read"] == 3000
    for job, fields in SUMMARY_FIELDS.items():
        for name in fields:
            assert cluster_summaries[job][name] == local_summaries[job][name], (job, name)

    for table in RUN_COLUMNS:
        # Rows as multisets (tests/lakes.py), without the run's own columns.
        cluster_rows = on_cluster.content(table, RUN_COLUMNS[table])
        local_rows = local.content(table, RUN_COLUMNS[table])
        assert cluster_rows == local_rows, (
            f"{table}: only on the cluster {list((cluster_rows - local_rows).elements())[:5]}, "
            f"only in local mode {list((local_rows - cluster_rows).elements())[:5]}"
        )
    # Non-trivial content: every loaded trade, every dead letter, one volume row per symbol.
    assert len(on_cluster.rows("trades")) == 3000
    assert len(on_cluster.rows("trades_rejected")) == rejected
    volume = on_cluster.rows("daily_volume")
    assert sum(row["trade_count"] for row in volume) == 3000
    assert len(volume) == 12  # generate_day's default number of symbols
    bars = on_cluster.rows("ohlcv_5m")
    assert sum(row["trade_count"] for row in bars) == 3000
    assert {row["bar_start"].minute % 5 for row in bars} == {0}
