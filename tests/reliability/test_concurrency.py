"""Concurrent jobs on one lake (issue 9): separate processes, one JDBC/SQLite catalog.

Every expectation comes from outside the concurrent runs: the counts from the sample
generator's description of what it wrote, the rows from the same days ingested one at a
time (one backfill process, concurrency 1) into a lake of their own. Rows are compared as
multisets, without the columns that describe a run (run_id, ingested_at, rejected_at) and
with ``source_file`` taken relative to the raw root, so a lost, duplicated or altered row
fails the comparison.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.lakes import Rows, difference, multiset
from tests.reliability.profiles import scale
from tests.spark.rawfiles import expected_reasons
from tests.submit import ProcessLake
from tradelake.runtime import run_summaries
from tradelake.sample import generate_day

# Recent days, so the default maintenance steps (retention 90 days, raw files 30 days)
# have nothing to delete and compaction can run exactly as scheduled in production.
FIRST_DAY = datetime.now(UTC).date() - timedelta(days=20)
DAYS = [FIRST_DAY + timedelta(days=offset) for offset in range(4)]
TRADES_PER_DAY = 600
FILES_PER_DAY = 6
# Enough small files in one partition for compaction (maintenance.min_input_files = 5).
SMALL_FILES = 6
RUN_SPECIFIC = frozenset({"run_id", "ingested_at", "rejected_at"})
# A process that hangs is a failure, not a wait: far above a run on a busy 2-core machine.
PROCESS_TIMEOUT_SECONDS = 900
# Small days on 2 shared cores: 200 shuffle partitions (Spark's default) double a run's
# CPU (the JVMs are the tiny profile's, as for every test job: tests/submit.py). Neither
# changes what is written or how commits meet; every job runs via ./spark-submit.sh.
FAST_START = {"SPARK_SUBMIT_OPTS_EXTRA": "--conf spark.sql.shuffle.partitions=4"}

# What a failed run's output is searched for, so a catalog lock is reported verbatim.
_EVIDENCE = re.compile(
    r"SQLITE_BUSY|database is locked|Exception|Error:|Caused by", flags=re.IGNORECASE
)


def land_day(lake: ProcessLake, day: date) -> dict[str, Any]:
    """Write the day's messy raw files (same bytes in every lake) and return their description."""
    seed = 1000 + (day - FIRST_DAY).days
    return generate_day(
        lake.raw_root, day, trades=TRADES_PER_DAY, files=FILES_PER_DAY, seed=seed, overwrite=True
    )


@dataclass
class Finished:
    """One job process after it ended: exit code, output and its last run summary."""

    args: list[str]
    exit_code: int
    stdout: str
    stderr: str

    @property
    def summaries(self) -> list[dict[str, Any]]:
        return run_summaries(self.stdout)

    @property
    def summary(self) -> dict[str, Any]:
        found = self.summaries
        assert found, f"{self.args}: no run summary on stdout\n{self.evidence()}"
        return found[-1]

    @property
    def iceberg_retries(self) -> list[str]:
        """Commit attempts Iceberg itself retried (its WARN log lines, cut), for the report."""
        return [
            line.split("Retrying task after failure:", 1)[1].strip()[:160]
            for line in (self.stderr + "\n" + self.stdout).splitlines()
            if "Retrying task after failure:" in line
        ]

    def evidence(self) -> str:
        """The lines of the output that name an exception or a catalog lock (first 40)."""
        lines = [
            line.strip()
            for line in (self.stderr + "\n" + self.stdout).splitlines()
            if _EVIDENCE.search(line)
        ]
        return "\n".join(lines[:40]) or (self.stderr[-3000:] + self.stdout[-2000:])


def run_at_once(
    lake: ProcessLake, jobs: list[tuple[str, ...]], extra_env: dict[str, str] | None = None
) -> list[Finished]:
    """Start every ``(job, *argv)`` as its own spark-submit process at once; wait for all."""
    procs: list[tuple[list[str], subprocess.Popen[str]]] = []
    try:
        for job, *argv in jobs:
            procs.append(([job, *argv], lake.popen(job, *argv, **FAST_START, **(extra_env or {}))))
        finished = []
        for args, proc in procs:
            stdout, stderr = proc.communicate(timeout=PROCESS_TIMEOUT_SECONDS)
            finished.append(Finished(args, proc.returncode, stdout, stderr))
        return finished
    finally:
        for _, proc in procs:
            if proc.poll() is None:  # only after a timeout or an interrupted wait
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()


def run_one(lake: ProcessLake, job: str, *argv: str) -> Finished:
    """``./spark-submit.sh jobs/<job>.py ARGV``, waited for."""
    done = lake.submit(job, *argv, timeout=PROCESS_TIMEOUT_SECONDS, **FAST_START)
    return Finished([job, *argv], done.returncode, done.stdout, done.stderr)


def assert_ok(run: Finished) -> dict[str, Any]:
    """The run exited 0 with status ok; else fail with its error and the exception lines."""
    summary = run.summary
    assert (run.exit_code, summary.get("status")) == (0, "ok"), (
        f"{run.args} exited {run.exit_code}: {summary.get('error')}\n{run.evidence()}"
    )
    assert "run_log_error" not in summary, f"{run.args}: the run could not be recorded"
    return summary


def expected_counts(described: dict[str, Any]) -> dict[str, Any]:
    """The ingest summary's counts for a generated day, from the generator's description."""
    reasons = expected_reasons(described)
    return {
        "records_read": described["records_written"],
        "loaded": described["clean_trades"],
        "duplicates_dropped": described["exact_duplicates"],
        "rejected": sum(reasons.values()),
        "rejected_by_reason": reasons,
    }


def counts_of(summary: dict[str, Any]) -> dict[str, Any]:
    return {key: summary[key] for key in ("records_read", "loaded", "duplicates_dropped")} | {
        "rejected": summary["rejected"],
        "rejected_by_reason": {k: n for k, n in summary["rejected_by_reason"].items() if n},
    }


def assert_commit_retries(summary: dict[str, Any]) -> dict[str, int]:
    """Every ingest summary reports its commit retries per table, as non-negative ints."""
    retries = summary.get("commit_retries")
    assert isinstance(retries, dict), f"no commit_retries in the summary: {sorted(summary)}"
    assert set(retries) == {"trade_reports", "trades", "trades_rejected"}, retries
    for table, count in retries.items():
        assert type(count) is int and count >= 0, (table, count)
    return retries


def content(rows: list[dict[str, Any]]) -> Rows:
    """Rows as a multiset (tests/lakes.py), without run-specific columns.

    ``source_file`` is taken relative to the raw root: the raw roots differ between lakes,
    the path below them is the same file.
    """
    return multiset(
        (
            {**row, "source_file": row["source_file"].rpartition("/trades/")[2]}
            if isinstance(row.get("source_file"), str)
            else row
            for row in rows
        ),
        without=RUN_SPECIFIC,
    )


@dataclass(frozen=True)
class DayRows:
    """A day's rows in ``trades`` and its dead letters in ``trades_rejected``."""

    trades: list[dict[str, Any]]
    rejected: list[dict[str, Any]]


def day_rows(lake: ProcessLake, day: date) -> DayRows:
    return DayRows(
        trades=lake.rows("trades", f"trade_date = '{day.isoformat()}'"),
        rejected=lake.rows("trades_rejected", f"ingest_date = '{day.isoformat()}'"),
    )


def assert_day_equals_reference(
    lake: ProcessLake, day: date, reference: DayRows, tally: Counter[str]
) -> DayRows:
    """The day's trades and dead letters equal the sequential run's, row for row."""
    actual = day_rows(lake, day)
    ids = [row["trade_id"] for row in actual.trades]
    assert len(ids) == len(set(ids)), f"{day}: duplicate trade_id in trades"
    assert all(row["trade_date"] == day for row in actual.trades)
    assert all(trade_id.startswith(f"T{day:%Y%m%d}-") for trade_id in ids), day
    for table, expected, got in (
        ("trades", reference.trades, actual.trades),
        ("trades_rejected", reference.rejected, actual.rejected),
    ):
        lost, extra = difference(content(expected), content(got))
        tally[f"{table} rows lost"] += lost
        tally[f"{table} rows extra"] += extra
        tally[f"{table} rows compared"] += len(expected)
        assert (lost, extra) == (0, 0), f"{day} {table}: {lost} rows lost, {extra} extra"
    return actual


def snapshot_run_ids(lake: ProcessLake, table: str) -> dict[int, str | None]:
    """Every snapshot of ``table`` -> the ``tradelake.run-id`` it carries (None: maintenance)."""
    loaded = lake.catalog().load_table(f"{lake.database}.{table}")
    return {snap.snapshot_id: snap.summary.get("tradelake.run-id") for snap in loaded.snapshots()}


def current_run_id(lake: ProcessLake, table: str) -> str | None:
    loaded = lake.catalog().load_table(f"{lake.database}.{table}")
    snapshot = loaded.current_snapshot()
    assert snapshot is not None and snapshot.summary is not None, table
    return snapshot.summary.get("tradelake.run-id")


def assert_snapshots_are_own(lake: ProcessLake, summary: dict[str, Any]) -> None:
    """The snapshot ids a run reports are commits of that run, not a concurrent writer's."""
    for table, snapshot_id in summary["snapshots"].items():
        owners = snapshot_run_ids(lake, table)
        assert owners.get(snapshot_id) == summary["run_id"], (
            f"{table}: the run reports snapshot {snapshot_id}, committed by "
            f"{owners.get(snapshot_id, 'no snapshot of that id')}, not by {summary['run_id']}"
        )


def job_runs_by_id(lake: ProcessLake) -> dict[str, dict[str, Any]]:
    rows = lake.rows("job_runs")
    by_id = {row["run_id"]: row for row in rows}
    assert len(by_id) == len(rows), "a run is recorded twice in job_runs"
    return by_id


@dataclass(frozen=True)
class Reference:
    """The four days ingested one at a time, and what the generator wrote for them."""

    lake: ProcessLake
    described: dict[date, dict[str, Any]]
    rows: dict[date, DayRows]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """The four days ingested one at a time (one process, backfill concurrency 1).

    Its rows are read once, here; the compaction test then starts from this lake.
    """
    lake = ProcessLake(tmp_path_factory.mktemp("sequential") / "lake")
    lake.raw_root.mkdir(parents=True)
    described = {day: land_day(lake, day) for day in DAYS}
    run = run_one(
        lake,
        "backfill",
        "ingest",
        "--start",
        DAYS[0].isoformat(),
        "--end",
        DAYS[-1].isoformat(),
        "--concurrency",
        "1",
    )
    assert_ok(run)
    per_day = {s["date"]: s for s in run.summaries if s.get("job") == "ingest"}
    assert sorted(per_day) == [day.isoformat() for day in DAYS]
    for day in DAYS:
        summary = per_day[day.isoformat()]
        assert summary["exit_code"] == 0, summary
        # The reference itself is checked against what the generator wrote.
        assert counts_of(summary) == expected_counts(described[day]), day
    rows = {day: day_rows(lake, day) for day in DAYS}
    for day in DAYS:
        assert len(rows[day].trades) == described[day]["clean_trades"], day
        assert len(rows[day].rejected) == expected_counts(described[day])["rejected"], day
    return Reference(lake, described, rows)


def test_four_dates_ingested_at_once_all_commit_with_exact_content(
    process_lake: ProcessLake, reference: Reference
) -> None:
    """Four dates ingested by four processes at once, on tables none of them has created yet.

    Every run exits 0 with the generator's exact counts; each date's trades and dead
    letters equal the sequential run's row for row, were written by that date's run, and
    carry no duplicate trade_id; every run is recorded once in ``job_runs``; each run's
    reported snapshots are its own commits; commit retries are reported. Repeated
    ``scale()`` times on the same lake (reruns replace their day).
    """
    lake = process_lake
    described = {day: land_day(lake, day) for day in DAYS}
    tally: Counter[str] = Counter()
    recorded = 0
    for trial in range(scale()):
        runs = run_at_once(lake, [("ingest", "--date", day.isoformat()) for day in DAYS])
        by_day = {}
        for day, run in zip(DAYS, runs, strict=True):
            summary = assert_ok(run)
            assert summary["date"] == day.isoformat()
            assert counts_of(summary) == expected_counts(described[day]), day
            assert summary["conservation_ok"] is True
            by_day[day] = summary
        for day in DAYS:
            actual = assert_day_equals_reference(lake, day, reference.rows[day], tally)
            # Nothing of another date's run (or of a run that lost) reached this day.
            assert {row["run_id"] for row in actual.trades} == {by_day[day]["run_id"]}, day
            assert {row["run_id"] for row in actual.rejected} == {by_day[day]["run_id"]}, day
            assert_snapshots_are_own(lake, by_day[day])
        recorded += len(DAYS)
        runs_table = job_runs_by_id(lake)
        assert len(runs_table) == recorded, f"trial {trial}: runs missing from job_runs"
        for summary in by_day.values():
            row = runs_table[summary["run_id"]]
            assert (row["job"], row["exit_code"], row["published"]) == ("ingest", 0, True)
        retries = {day.isoformat(): assert_commit_retries(by_day[day]) for day in DAYS}
        internal = [run.iceberg_retries for run in runs]
        print(f"concurrency: four dates, trial {trial}: commit_retries {retries}, {internal=}")
    print(f"concurrency: four dates: {dict(tally)}")


def test_same_date_ingested_twice_at_once_ends_with_one_consistent_result(
    process_lake: ProcessLake, reference: Reference
) -> None:
    """Two processes ingest the same date at once: both exit 0 with the same counts.

    The day then holds exactly one run's result, equal to the sequential run's rows
    (no duplicate trade_id, nothing lost): every row of ``trades`` comes from one of the
    two runs, the one whose commit is the table's current snapshot, and the same holds
    for ``trades_rejected``. Both runs are recorded as published. Repeated ``scale()``
    times on the same lake.
    """
    lake = process_lake
    day = DAYS[0]
    described = land_day(lake, day)
    tally: Counter[str] = Counter()
    for trial in range(scale()):
        runs = run_at_once(lake, [("ingest", "--date", day.isoformat())] * 2)
        run_summaries = [assert_ok(run) for run in runs]
        run_ids = {summary["run_id"] for summary in run_summaries}
        assert len(run_ids) == 2
        for summary in run_summaries:
            assert counts_of(summary) == expected_counts(described)
            assert_snapshots_are_own(lake, summary)
        actual = assert_day_equals_reference(lake, day, reference.rows[day], tally)
        for table, rows in (("trades", actual.trades), ("trades_rejected", actual.rejected)):
            writers = {row["run_id"] for row in rows}
            # One run's rows only: never a mix of both, never a third run's.
            assert writers == {current_run_id(lake, table)}, (table, writers)
            assert writers <= run_ids, (table, writers, run_ids)
        runs_table = job_runs_by_id(lake)
        assert len(runs_table) == 2 * (trial + 1)
        for run_id in run_ids:
            assert runs_table[run_id]["published"] is True
        retries = [assert_commit_retries(summary) for summary in run_summaries]
        winner = {t: current_run_id(lake, t) for t in ("trades", "trades_rejected")}
        internal = [run.iceberg_retries for run in runs]
        print(
            f"concurrency: same date, trial {trial}: commit_retries {retries}, {internal=}, "
            f"last commits {winner}"
        )
    print(f"concurrency: same date: {dict(tally)}")


def test_compaction_during_an_ingest_loses_nothing(reference: Reference) -> None:
    """``compact.py --table trades`` (every step) runs while another date is ingested.

    Starts from the sequential lake, whose rows were already read: day A is rewritten
    (same rows) as several small files, the shape compaction exists for. Then compaction
    of ``trades`` and the ingest of day B start at once: both exit 0, compaction rewrites
    exactly A's small files with no failed group, and afterwards every day equals the
    sequential run's rows exactly, A in one file. Repeated ``scale()`` times.
    """
    # The sequential lake, not a fresh one: a JVM fewer to prepare the starting state.
    lake = reference.lake
    day_a, day_b = DAYS[0], DAYS[1]
    tally: Counter[str] = Counter()
    for trial in range(scale()):
        small = land_in_small_files(lake, day_a, SMALL_FILES)
        assert data_files(lake, "trades", day_a) == small == SMALL_FILES
        assert_day_equals_reference(lake, day_a, reference.rows[day_a], tally)
        commits_before = len(trades_history(lake))
        snapshots_before = len(snapshot_run_ids(lake, "trades"))

        compacted, ingested = run_at_once(
            lake, [("compact", "--table", "trades"), ("ingest", "--date", day_b.isoformat())]
        )

        compaction = assert_ok(compacted)
        ingest = assert_ok(ingested)
        assert counts_of(ingest) == expected_counts(reference.described[day_b])
        rewrite = compaction["tables"]["trades"]["rewrite"]
        assert (rewrite["rewritten_files"], rewrite["failed_files"]) == (small, 0), rewrite
        for day in DAYS:
            assert_day_equals_reference(lake, day, reference.rows[day], tally)
        assert data_files(lake, "trades", day_a) == 1
        assert data_files(lake, "trades", day_b) == 1
        assert {row["run_id"] for row in lake.rows("trades", f"trade_date = '{day_b}'")} == {
            ingest["run_id"]
        }
        assert_snapshots_are_own(lake, ingest)
        runs_table = job_runs_by_id(lake)
        for run in (compacted, ingested):
            assert runs_table[run.summary["run_id"]]["exit_code"] == 0
        retries = assert_commit_retries(ingest)
        # How the two met (reported, not asserted: it depends on timing): whether compaction
        # started before the ingest's commit, and the order the commits landed in.
        started_first = compaction["tables"]["trades"]["before"]["snapshots"] == snapshots_before
        print(
            f"concurrency: compaction, trial {trial}: ingest commit_retries {retries}; internal "
            f"{compacted.iceberg_retries} (compact), {ingested.iceberg_retries} (ingest); "
            f"compaction started before the ingest's commit: {started_first}; "
            f"commits since: {trades_history(lake)[commits_before:]}"
        )
    print(f"concurrency: compaction: {dict(tally)}")


def land_in_small_files(lake: ProcessLake, day: date, pieces: int) -> int:
    """Rewrite partition ``day`` of ``trades`` with its own rows, as ``pieces`` small files.

    pyiceberg commits one overwrite and ``pieces - 1`` appends, as a trickle of small
    writes would; the partition's content does not change. Returns the files written.
    """
    table = lake.catalog().load_table(f"{lake.database}.trades")
    where = f"trade_date = '{day.isoformat()}'"
    rows = table.scan(row_filter=where).to_arrow()
    size = -(-rows.num_rows // pieces)
    chunks = [rows.slice(start, size) for start in range(0, rows.num_rows, size)]
    table.overwrite(chunks[0], overwrite_filter=where)
    for chunk in chunks[1:]:
        table.append(chunk)
    return len(chunks)


def data_files(lake: ProcessLake, table: str, day: date) -> int:
    """Live data files of ``table`` in partition ``trade_date = day`` (from metadata)."""
    loaded = lake.catalog().load_table(f"{lake.database}.{table}")
    tasks = loaded.scan(row_filter=f"trade_date = '{day.isoformat()}'").plan_files()
    return sum(1 for _ in tasks)


def trades_history(lake: ProcessLake) -> list[str]:
    """The ``trades`` commits in order: operation and the run that made it."""
    loaded = lake.catalog().load_table(f"{lake.database}.trades")
    by_id = {snap.snapshot_id: snap for snap in loaded.snapshots()}
    history = []
    for entry in loaded.history():
        snap = by_id[entry.snapshot_id]
        summary = snap.summary
        assert summary is not None
        history.append(f"{summary.operation.value}:{summary.get('tradelake.run-id') or 'other'}")
    return history


def _report_line(trade_id: str, at: datetime, price: str, **version: Any) -> str:
    fields = {
        "trade_id": trade_id,
        "symbol": "AAPL",
        "side": "buy",
        "price": price,
        "quantity": "1",
        "timestamp": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "exchange": "XNAS",
        **version,
    }
    return json.dumps(fields)


def test_two_landings_resolving_the_same_day_at_once_give_the_sequential_result(
    process_lake: ProcessLake,
) -> None:
    """Landing D1 and landing D2 (late corrections, cancels and new trades of D1) at once.

    Both resolve D1 at about the same time; the validated overwrite makes the one that
    commits second redo its resolution on the other's reports. Whatever the interleaving,
    D1 must end as if the landings had run one after the other (in any order: the result
    does not depend on it). Repeated ``scale()`` times on the same lake.
    """
    lake = process_lake
    first, second = DAYS[0], DAYS[1]
    noon = datetime(first.year, first.month, first.day, 12, tzinfo=UTC)
    own = [_report_line(f"A{n:03d}", noon + timedelta(seconds=n), "100") for n in range(200)]
    late = (
        # Corrections of A000..A049 (sequence 1), cancels of A050..A069, new trades of D1.
        [_report_line(f"A{n:03d}", noon + timedelta(seconds=n), "101", report_type="correct",
                      report_seq=1) for n in range(50)]
        + [json.dumps({"trade_id": f"A{n:03d}", "timestamp":
                       (noon + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "report_type": "cancel", "report_seq": 1}) for n in range(50, 70)]
        + [_report_line(f"B{n:03d}", noon + timedelta(minutes=30, seconds=n), "99")
           for n in range(30)]
    )  # fmt: skip
    next_noon = noon + timedelta(days=1)
    own_second = [
        _report_line(f"C{n:03d}", next_noon + timedelta(seconds=n), "102") for n in range(100)
    ]
    for day, lines in ((first, own), (second, late + own_second)):
        folder = lake.raw_root / "trades" / f"date={day.isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "reports.jsonl").write_text("\n".join(lines) + "\n")
    expected_first = (
        {(f"A{n:03d}", Decimal("101"), "correct", 1, second) for n in range(50)}
        | {(f"A{n:03d}", Decimal("100"), "new", 0, first) for n in range(70, 200)}
        | {(f"B{n:03d}", Decimal("99"), "new", 0, second) for n in range(30)}
    )
    expected_second = {(f"C{n:03d}", Decimal("102"), "new", 0, second) for n in range(100)}
    window = {"TRADELAKE_CONTRACT__MAX_LATENESS_DAYS": "1"}
    for trial in range(scale()):
        runs = run_at_once(
            lake,
            [("ingest", "--date", day.isoformat()) for day in (first, second)],
            extra_env=window,
        )
        summaries = [assert_ok(run) for run in runs]
        assert summaries[1]["touched_dates"] == [first.isoformat(), second.isoformat()]
        for day, expected in ((first, expected_first), (second, expected_second)):
            rows = lake.rows("trades", f"trade_date = '{day.isoformat()}'")
            got = [
                (r["trade_id"], r["price"], r["report_type"], r["report_seq"], r["landing_date"])
                for r in rows
            ]
            assert len(got) == len(set(got)), f"trial {trial}: {day} has a row twice"
            assert set(got) == expected, (
                f"trial {trial} {day}: {len(set(got) - expected)} rows extra, "
                f"{len(expected - set(got))} lost"
            )
        assert len(lake.rows("trade_reports")) == 200 + len(late) + 100
        retries = [summary["commit_retries"]["trades"] for summary in summaries]
        print(f"concurrency: two landings on one day, trial {trial}: trades retries {retries}")
