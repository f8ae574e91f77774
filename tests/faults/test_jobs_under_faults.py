"""The jobs on S3 and Glue with the faults AWS networks produce (issue 28).

A fault-free run of the day's chain (ingest, daily_volume, ohlcv 1m, compact) into its own
Glue database is the reference; each test runs the chain again into a database of its
own, through the proxies with its faults on, and compares every published table with the
reference's cell for cell (without the columns that name the run).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.faults import toxiproxy
from tests.faults.http_faults import Fault, Rule
from tests.faults.jobs import TALLY, FaultyAws, JobRun

pytestmark = pytest.mark.faults


def schedules() -> list[int]:
    """Seeds of the random fault schedules: one in the ``ci`` profile, five in ``full``
    (``TRADELAKE_FAULTS_PROFILE``, default full: make test-faults)."""
    profile = os.environ.get("TRADELAKE_FAULTS_PROFILE", "full")
    if profile not in ("ci", "full"):
        raise ValueError(f"TRADELAKE_FAULTS_PROFILE={profile!r}: ci or full")
    return [1] if profile == "ci" else [1, 11, 21, 31, 41]


# The day's chain: each job with its arguments besides --date.
CHAIN: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ingest", ()),
    ("daily_volume", ()),
    ("ohlcv", ("--interval", "1m")),
    ("compact", ("--only", "rewrite")),
)


def run_chain(aws: FaultyAws, database: str) -> list[JobRun]:
    """Every job of the chain in order; the first that does not exit 0 fails the test."""
    runs = []
    for job, argv in CHAIN:
        run = aws.run(job, *argv, database=database)
        assert run.returncode == 0 and run.summary.get("status") == "ok", run.tail()
        print(f"{database}: {job} {run.seconds:.1f} s")
        runs.append(run)
    return runs


@pytest.fixture(scope="module")
def reference(faulty_aws: FaultyAws) -> dict[str, Any]:
    """The chain without faults: its tables and each job's wall time."""
    faulty_aws.clear()
    runs = run_chain(faulty_aws, "faults_reference")
    tables = faulty_aws.tables("faults_reference")
    assert sum(tables["trades"].values()) == faulty_aws.landed["clean_trades"] == 600
    return {"tables": tables, "seconds": {run.job: run.seconds for run in runs}}


def transient_rules(seed: int) -> list[Rule]:
    """The rates of a busy account (docs/aws.md, retries and timeouts), drawn from ``seed``."""
    return [
        # S3 under load: one request in 12 answered 503 SlowDown, one in 40 500.
        Rule.random_fraction(1 / 12, Fault.SLOW_DOWN, "s3", seed=seed),
        Rule.random_fraction(1 / 40, Fault.INTERNAL_ERROR, "s3", seed=seed + 1),
        # Glue throttles one call in 25. Each throttled call costs the SDK's throttling
        # backoff, about 2 s (docs/aws.md); an ingest makes ~110 Glue reads.
        Rule.random_fraction(1 / 25, Fault.THROTTLING, "glue", seed=seed + 2),
        # A connection reset now and then, on either service.
        Rule.random_fraction(1 / 50, Fault.RESET, "s3", seed=seed + 3),
        Rule.random_fraction(1 / 50, Fault.RESET, "glue", seed=seed + 4),
    ]


@pytest.mark.parametrize("seed", schedules())
def test_transient_throttling_and_resets_are_survived_with_exact_tables(
    faults: FaultyAws, reference: dict[str, Any], seed: int
) -> None:
    faults.http.set_rules(transient_rules(seed))
    runs = run_chain(faults, f"faults_transient_{seed}")
    injected = faults.http.injected_by_kind()
    assert sum(injected.values()) > 0, injected
    faults.clear()
    assert faults.tables(f"faults_transient_{seed}") == reference["tables"]
    slower = {run.job: round(run.seconds / reference["seconds"][run.job], 2) for run in runs}
    for job, ratio in slower.items():  # the worst schedule's ratio, in hundredths
        key = f"slowest {job} x100"
        TALLY[key] = max(TALLY[key], int(100 * ratio))
    print(f"faults injected: {injected}; time vs fault-free: {slower}")


def test_lost_commit_responses_are_recognised_as_landed_never_repeated(
    faults: FaultyAws, reference: dict[str, Any]
) -> None:
    """Every catalog commit (Glue CreateTable, UpdateTable) reaches moto and takes effect,
    and its response is lost: the partition overwrites, the job_runs and quality_results
    appends, the compaction's rewrite. Glue refuses the SDK's retry of the stale version
    (tests/moto_server.py) and Iceberg finds its own metadata current: landed, once."""
    faults.http.set_rules(
        [
            Rule.every_nth(1, Fault.FORWARD_THEN_DROP, "glue", operation="UpdateTable"),
            Rule.every_nth(1, Fault.FORWARD_THEN_DROP, "glue", operation="CreateTable"),
        ]
    )
    database = "faults_lost_commits"
    runs = run_chain(faults, database)
    lost = faults.http.injected(Fault.FORWARD_THEN_DROP)
    faults.clear()
    assert lost >= 2 * len(CHAIN), lost  # each job's output and its run record at least
    assert faults.tables(database) == reference["tables"]
    # One run record per run, each ok: a record appended twice would show here.
    recorded = [(row["run_id"], row["job"], row["status"]) for row in faults.job_runs(database)]
    assert recorded == [(run.summary["run_id"], run.job, "ok") for run in runs]
    checks = (
        faults.catalog().load_table(f"{database}.quality_results").scan().to_arrow().to_pylist()
    )
    keys = [(row["run_id"], row["table_name"], row["check"]) for row in checks]
    assert keys and len(keys) == len(set(keys)), "a quality_results row was appended twice"


# How long a job may take to fail on an endpoint that throttles every call (docs/aws.md,
# retries and timeouts): the retry budgets of the clients it calls, with slack for the
# JVM's start and a loaded machine.
FAIL_WITHIN_SECONDS = 120


def test_persistent_throttling_fails_fast_and_cleanly_and_the_next_run_is_exact(
    faults: FaultyAws, reference: dict[str, Any]
) -> None:
    database = "faults_persistent"
    faults.http.set_rules([Rule.every_nth(1, Fault.SLOW_DOWN, "s3")])
    failed = faults.run("ingest", database=database)
    throttled = faults.http.injected(Fault.SLOW_DOWN)
    faults.clear()
    print(f"failed in {failed.seconds:.1f} s after {throttled} SlowDown: {failed.summary}")
    assert failed.returncode == 1, failed.tail()
    assert failed.seconds < FAIL_WITHIN_SECONDS, failed.tail()
    # The error names the operation and the endpoint it failed on.
    assert "(during S3 " in failed.summary["error"] and faults.endpoint in failed.summary["error"]
    # Nothing of the day was published.
    assert sum(faults.tables(database)["trades"].values()) == 0
    # The fault clears: the next run gives the reference's tables.
    run_chain(faults, database)
    assert faults.tables(database) == reference["tables"]


# The tables an ingest alone publishes.
INGESTED = ("trades", "trade_reports", "trades_rejected")


def test_slow_is_not_wrong_latency_and_resets_on_the_wire(
    faults: FaultyAws, reference: dict[str, Any]
) -> None:
    """TCP faults from Toxiproxy: every response 40 ms ± 20 ms late, and one connection in
    20 reset by the peer after 200 ms; the ingest publishes the reference's rows."""
    faults.toxi.add_toxic(faults.tcp.name, toxiproxy.latency(40, 20))
    faults.toxi.add_toxic(
        faults.tcp.name, toxiproxy.reset_peer(200, toxicity=0.05, stream="upstream")
    )
    database = "faults_slow"
    run = faults.run("ingest", database=database)
    faults.clear()
    assert run.returncode == 0 and run.summary.get("status") == "ok", run.tail()
    print(f"{database}: ingest {run.seconds:.1f} s")
    tables = faults.tables(database)
    assert {t: tables[t] for t in INGESTED} == {t: reference["tables"][t] for t in INGESTED}


# The timeout a stalled run is given (TRADELAKE_AWS_TIMEOUT_SECONDS) and the time to
# failure it bounds, for the longest first call a job can stall in: an S3A read, 1 + 5
# tries of 2 SDK attempts each, every one waiting the timeout, plus S3A's waits between
# them (250 ms, doubling: under 8 s) and the JVM's start. (A Glue call gives up sooner:
# 6 attempts. docs/aws.md.)
STALL_TIMEOUT_SECONDS = 2
STALL_BOUND_SECONDS = 6 * 2 * STALL_TIMEOUT_SECONDS + 8 + 30


def test_an_endpoint_that_stops_answering_fails_within_its_timeouts(faults: FaultyAws) -> None:
    """Toxiproxy holds every answer forever (a timeout toxic of 0): the ingest gives up
    once its timeouts and retries are spent, exit 1, nothing published."""
    faults.toxi.add_toxic(faults.tcp.name, toxiproxy.timeout(0))
    database = "faults_stalled"
    run = faults.run(
        "ingest", database=database, TRADELAKE_AWS_TIMEOUT_SECONDS=str(STALL_TIMEOUT_SECONDS)
    )
    faults.clear()
    print(f"stalled: failed in {run.seconds:.1f} s: {run.summary.get('error', '')[:300]}")
    assert run.returncode == 1, run.tail()
    assert run.seconds < STALL_BOUND_SECONDS, run.tail()
    # The ingest's first call is the Glue catalog's: it names it and the endpoint.
    assert f"(during Glue GetTable at {faults.endpoint})" in run.summary["error"], run.summary
    assert sum(faults.tables(database)["trades"].values()) == 0
