"""Crash safety: SIGKILL the driver of an ingest, a gold job and a compaction at seeded moments.

Every job runs as its own process (``./spark-submit.sh``) on an embedded lake and is killed,
driver JVM and Python together, at a moment anchored on what a reader can observe (the JVM
is up, a log line, the first data file of a write, a commit) plus a seeded delay, so the
trials spread over before, during and right after the write on a fast or a slow machine.

Trials are chained: the state a killed run leaves is the previous state of the next trial
(a rerun after a crash is itself killed). After every kill, read with pyiceberg:

- each table's current content is exactly its previous content or the uninterrupted run's
  content (row multisets, run-specific columns excluded), never anything in between;
- every snapshot the killed run committed holds a complete day (time travel), so no reader
  could ever have seen a partial day;
- the run history tables grew by the run's complete record or not at all.

At the end an uninterrupted rerun converges to the reference, and the maintenance job's
orphan scan (dry run) lists exactly the files the killed runs left behind.

References come from uninterrupted runs on a separate lake. Two generated versions of the
same day (different seeds and sizes) alternate so that every trial's new content differs
from its previous content. ``TRADELAKE_CRASH_SEED`` changes the seed of the kill moments.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.lakes import Rows
from tests.reliability import crash
from tests.reliability.crash_trials import (
    RUN_COLUMNS,
    kill_windows,
    must_finish,
    new_lake,
    state,
    trials,
)
from tests.submit import ProcessLake
from tradelake.runtime import last_summary
from tradelake.sample import generate_day

DAY = date(2025, 1, 15)
SEED = int(os.environ.get("TRADELAKE_CRASH_SEED", "20250115"))

# The test day is a fixed date in the past: retention must not delete it during compaction.
FAR_RETENTION = {
    "TRADELAKE_MAINTENANCE__RETENTION_DAYS": (
        '{"trades": 36500, "trades_rejected": 36500, "daily_volume": 36500, '
        '"ohlcv": 36500, "job_runs": 36500, "quality_results": 36500}'
    ),
    "TRADELAKE_MAINTENANCE__RAW_RETENTION_DAYS": "36500",
}
# The ingest's tables: trades_rejected, trade_reports and trades (committed in that order),
# and the run history.
INGEST_TABLES = ["trades", "trade_reports", "trades_rejected", "job_runs", "quality_results"]
INGEST_DATA = ("trades", "trade_reports", "trades_rejected")
GOLD_TABLES = ["daily_volume", "trades", "job_runs", "quality_results"]
COMPACT_TABLES = ["trades", "trades_rejected", "daily_volume", "job_runs", "quality_results"]
INGEST_ANCHORS = [
    "jvm",
    "log:batch classified",
    "files:trades_rejected",
    "snapshot:trades_rejected",
    "files:trades",
    "snapshot:trades",
]
GOLD_ANCHORS = ["jvm", "files:daily_volume", "snapshot:daily_volume", "snapshot:quality_results"]
COMPACT_ANCHORS = ["jvm", "files:trades", "snapshot:trades"]


@dataclass
class Version:
    """One generated version of the day and what an uninterrupted run makes of it."""

    name: str
    folder: Path
    tables: dict[str, Rows] = field(default_factory=dict)
    trades_rows: Any = None  # the full trades rows (pyarrow), to restore this version


@dataclass
class Trial:
    """One killed (or, if the moment came too late, finished) run and what it left."""

    job: str
    number: int
    moment: crash.Moment
    killed: bool
    previous: str
    outcome: dict[str, str]
    orphans: set[str]

    def describe(self) -> str:
        changed = ",".join(f"{t}={o}" for t, o in sorted(self.outcome.items()))
        return (
            f"{self.job}#{self.number} {self.moment} killed={self.killed} from={self.previous} "
            f"{changed} orphans={len(self.orphans)}"
        )


@dataclass
class Lab:
    """The reference lake, the trial lake, the two versions and every trial's record."""

    reference: ProcessLake
    lake: ProcessLake
    # Both lakes read one landing root (--raw-uri), so source_file is the same in both.
    landing: Path
    versions: dict[str, Version]
    windows: dict[str, list[tuple[str, float]]]
    checks: dict[str, int]
    trials: list[Trial] = field(default_factory=list)
    finished_orphans: set[str] = field(default_factory=set)


def _ingest_argv(landing: Path) -> list[str]:
    return ["--date", DAY.isoformat(), "--raw-uri", str(landing)]


def _loaded(lake: ProcessLake, table: str) -> Any:
    """A table of the lake, loaded with pyiceberg (it must exist)."""
    loaded = lake.table(table)
    assert loaded is not None, f"{table} does not exist"
    return loaded


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Reference runs (uninterrupted, on a lake of their own) and a fresh trial lake.

    Reference lake: ingest A, daily_volume, ingest B over A, daily_volume, then a
    compaction of B's trades split into small files; their content and timelines.
    """
    root = tmp_path_factory.mktemp("crash")
    versions = {}
    for name, seed, trades, files in (("A", 101, 400, 4), ("B", 202, 300, 3)):
        generate_day(root / f"raw-{name}", DAY, trades=trades, files=files, seed=seed)
        folder = root / f"raw-{name}" / "trades" / f"date={DAY.isoformat()}"
        versions[name] = Version(name, folder)
    reference = new_lake(root / "reference")
    landing = root / "landing"
    windows: dict[str, list[tuple[str, float]]] = {}
    checks: dict[str, int] = {}
    date_argv = ["--date", DAY.isoformat()]
    for name, version in versions.items():
        crash.land(landing, version.folder, DAY)
        ingest = crash.watch(
            reference, "ingest", _ingest_argv(landing), INGEST_TABLES, markers=("batch classified",)
        )
        checks["ingest"] = len(must_finish(ingest, f"reference ingest {name}")["quality"])
        windows.setdefault("ingest", kill_windows(ingest, INGEST_ANCHORS))
        gold = crash.watch(reference, "daily_volume", date_argv, GOLD_TABLES)
        checks["daily_volume"] = len(must_finish(gold, f"reference gold {name}")["quality"])
        windows.setdefault("daily_volume", kill_windows(gold, GOLD_ANCHORS))
        for table in (*INGEST_DATA, "daily_volume"):
            version.tables[table] = state(reference, table)
        version.trades_rows = _loaded(reference, "trades").scan().to_arrow()
    # Loaded counts the generator promised: the references are the right days.
    assert sum(versions["A"].tables["trades"].values()) == 400
    assert sum(versions["B"].tables["trades"].values()) == 300
    assert not set(versions["A"].tables["trades"]) & set(versions["B"].tables["trades"])
    _fragment(reference)
    compact = crash.watch(reference, "compact", [], COMPACT_TABLES, env=FAR_RETENTION)
    must_finish(compact, "reference compaction")
    assert state(reference, "trades") == versions["B"].tables["trades"]
    windows["compact"] = kill_windows(compact, COMPACT_ANCHORS)
    yield Lab(reference, new_lake(root / "trials"), landing, versions, windows, checks)


# --- shared trial bookkeeping -------------------------------------------------------------


def _history(lake: ProcessLake, tables: list[str]) -> dict[str, list[int]]:
    return {table: crash.snapshot_ids(lake, table) for table in tables}


def _full(lake: ProcessLake, table: str) -> Rows:
    return crash.content(lake, table)


def _check_appended_records(lab: Lab, job: str, before: dict[str, Rows], run: crash.Run) -> str:
    """job_runs and quality_results: the run's complete record was appended, or nothing.

    Returns "recorded" or "unrecorded" for the trial's outcome.
    """
    lake = lab.lake
    runs_after, quality_after = _full(lake, "job_runs"), _full(lake, "quality_results")
    new_runs = runs_after - before["job_runs"]
    new_quality = quality_after - before["quality_results"]
    # Appends never lose an earlier record.
    assert runs_after - new_runs == before["job_runs"], "job_runs lost rows"
    assert quality_after - new_quality == before["quality_results"], "quality_results lost rows"
    assert sum(new_runs.values()) in (0, 1), new_runs
    expected_checks = lab.checks.get(job, 0)
    assert sum(new_quality.values()) in (0, expected_checks), new_quality
    if not run.killed:
        assert sum(new_runs.values()) == 1, f"a finished run must be recorded:\n{run.tail()}"
    if not new_runs:
        return "unrecorded"
    # quality_results is written before job_runs: a recorded run has all its checks.
    assert sum(new_quality.values()) == expected_checks, new_quality
    row = dict(next(iter(new_runs)))
    assert row["job"] == job and row["status"] == "ok" and row["exit_code"] == 0, row
    return "recorded"


def _record(
    lab: Lab,
    job: str,
    number: int,
    run: crash.Run,
    previous: str,
    outcome: dict[str, str],
    orphans_before: dict[str, set[str]],
) -> None:
    orphans_after = set().union(*crash.unreferenced_files(lab.lake).values())
    earlier = set().union(*orphans_before.values())
    # Files left unreferenced earlier stay so: no run removed or adopted them.
    assert earlier <= orphans_after, earlier - orphans_after
    new = orphans_after - earlier
    trial = Trial(
        job, number, run.moment or crash.Moment("none", 0), run.killed, previous, outcome, new
    )
    if not run.killed:
        lab.finished_orphans |= new
    lab.trials.append(trial)
    print(trial.describe())


def _name_of(lab: Lab, table: str, rows: Rows) -> str:
    if not rows:
        return "empty"
    for version in lab.versions.values():
        if version.tables[table] == rows:
            return version.name
    return "other"


def _ensure_published(lab: Lab) -> None:
    """The trial lake holds a published day (when the ingest trials did not run first)."""
    if state(lab.lake, "trades"):
        return
    crash.land(lab.landing, lab.versions["A"].folder, DAY)
    run = crash.watch(lab.lake, "ingest", _ingest_argv(lab.landing), INGEST_TABLES)
    must_finish(run, "setup ingest")


def _restore_trades(lake: ProcessLake, version: Version) -> None:
    """Make ``version``'s trades (as its reference ingest wrote them) the current day."""
    from pyiceberg.expressions import AlwaysTrue

    table = _loaded(lake, "trades")
    with table.transaction() as transaction:
        transaction.delete(AlwaysTrue())
        transaction.append(version.trades_rows)


def _fragment(lake: ProcessLake, pieces: int = 6) -> None:
    """Rewrite trades into ``pieces`` small files in one commit, content unchanged.

    Compaction only rewrites a partition holding at least ``min_input_files`` (5) small
    files; one pyiceberg transaction (delete + appends) recreates them between trials.
    """
    from pyiceberg.expressions import AlwaysTrue

    table = _loaded(lake, "trades")
    rows = table.scan().to_arrow()
    before = crash.content(lake, "trades", loaded=table)
    step = -(-rows.num_rows // pieces)
    with table.transaction() as transaction:
        transaction.delete(AlwaysTrue())
        for start in range(0, rows.num_rows, step):
            transaction.append(rows.slice(start, step))
    assert crash.content(lake, "trades") == before
    assert len(_loaded(lake, "trades").inspect.data_files()) == pieces


# --- the tests ----------------------------------------------------------------------------


def test_killed_ingest_leaves_each_table_at_its_previous_or_its_new_snapshot(lab: Lab) -> None:
    """SIGKILL ingest at seeded moments, from an empty lake and over an older version.

    After every kill trades_rejected, trade_reports and trades each hold exactly their
    previous or their new day (row multisets), every snapshot the run committed holds the
    complete new day, the run history holds its complete record or none; a rerun converges
    to the reference.
    """
    lake, versions = lab.lake, lab.versions
    moments = crash.plan_moments(random.Random(SEED), lab.windows["ingest"], trials(INGEST_ANCHORS))
    argv = _ingest_argv(lab.landing)
    landed = versions["A"]
    for number, moment in enumerate(moments, start=1):
        trades_before = state(lake, "trades")
        # Land the version the table does not hold, so old and new always differ.
        landed = versions["B"] if trades_before == versions["A"].tables["trades"] else versions["A"]
        crash.land(lab.landing, landed.folder, DAY)
        before = {table: state(lake, table) for table in INGEST_DATA}
        before |= {table: _full(lake, table) for table in ("job_runs", "quality_results")}
        history = _history(lake, list(INGEST_DATA))
        orphans = crash.unreferenced_files(lake)
        previous = _name_of(lab, "trades", trades_before)
        run = crash.watch(lake, "ingest", argv, INGEST_TABLES, moment)
        outcome = {}
        for table in INGEST_DATA:
            after = state(lake, table)
            new = landed.tables[table]
            assert after in (before[table], new), (
                f"trial {number} ({moment}): {table} is neither its previous content "
                f"({sum(before[table].values())} rows) nor the new day "
                f"({sum(new.values())} rows) but {sum(after.values())} rows:\n{run.tail()}"
            )
            committed = [s for s in crash.snapshot_ids(lake, table) if s not in history[table]]
            assert len(committed) <= 1, (table, committed)
            for snapshot in committed:
                # What any reader could have read since the run committed: the whole day.
                seen = crash.content(lake, table, RUN_COLUMNS[table], snapshot_id=snapshot)
                assert seen == new, f"trial {number}: snapshot {snapshot} of {table} is partial"
            assert (after == new) == bool(committed) or before[table] == new
            outcome[table] = "new" if committed else "old"
        outcome["history"] = _check_appended_records(lab, "ingest", before, run)
        if not run.killed:
            must_finish(run, f"trial {number} finished before its moment")
        _record(lab, "ingest", number, run, previous, outcome, orphans)

    ingest_trials = [t for t in lab.trials if t.job == "ingest"]
    assert len(ingest_trials) == trials(INGEST_ANCHORS)
    # The seeded plan covers both starting points and both outcomes (anchored on events,
    # so this does not depend on the machine's speed).
    assert ingest_trials[0].previous == "empty"
    assert any(t.previous in ("A", "B") for t in ingest_trials)
    assert {t.outcome["trades"] for t in ingest_trials} == {"old", "new"}

    rerun = crash.watch(lake, "ingest", argv, INGEST_TABLES)
    must_finish(rerun, "rerun after the kills")
    for table in INGEST_DATA:
        assert state(lake, table) == landed.tables[table], f"rerun did not converge: {table}"


def test_killed_daily_volume_leaves_its_previous_or_its_new_partition(lab: Lab) -> None:
    """SIGKILL the daily_volume job at seeded moments, from no table and over an older day.

    Between trials, trades are switched (one pyiceberg commit) between the two versions'
    reference rows, so every trial's new partition differs from the previous one. After
    every kill daily_volume holds exactly its previous or its new partition, each snapshot
    the run committed holds the complete day, trades are untouched; a rerun converges.
    """
    lake, versions = lab.lake, lab.versions
    _ensure_published(lab)
    moments = crash.plan_moments(
        random.Random(SEED + 1), lab.windows["daily_volume"], trials(GOLD_ANCHORS)
    )
    argv = ["--date", DAY.isoformat()]
    target = versions["A"]
    for number, moment in enumerate(moments, start=1):
        volume_before = state(lake, "daily_volume")
        target = (
            versions["B"]
            if volume_before == versions["A"].tables["daily_volume"]
            else versions["A"]
        )
        if state(lake, "trades") != target.tables["trades"]:
            orphans = crash.unreferenced_files(lake)
            _restore_trades(lake, target)
            # The switch itself leaves no unreferenced file behind.
            assert crash.unreferenced_files(lake) == orphans
        trades_before = _full(lake, "trades")
        before = {table: _full(lake, table) for table in ("job_runs", "quality_results")}
        history = _history(lake, ["daily_volume"])
        orphans = crash.unreferenced_files(lake)
        previous = _name_of(lab, "daily_volume", volume_before)
        run = crash.watch(lake, "daily_volume", argv, GOLD_TABLES, moment)
        after = state(lake, "daily_volume")
        new = target.tables["daily_volume"]
        assert after in (volume_before, new), (
            f"trial {number} ({moment}): daily_volume is neither its previous nor its new "
            f"partition:\n{run.tail()}"
        )
        committed = [
            s for s in crash.snapshot_ids(lake, "daily_volume") if s not in history["daily_volume"]
        ]
        assert len(committed) <= 1, committed
        for snapshot in committed:
            seen = crash.content(lake, "daily_volume", ("run_id",), snapshot_id=snapshot)
            assert seen == new, f"trial {number}: snapshot {snapshot} is a partial day"
        assert _full(lake, "trades") == trades_before, "a gold job changed trades"
        outcome = {"daily_volume": "new" if committed else "old"}
        outcome["history"] = _check_appended_records(lab, "daily_volume", before, run)
        if not run.killed:
            must_finish(run, f"trial {number} finished before its moment")
        _record(lab, "daily_volume", number, run, previous, outcome, orphans)

    gold_trials = [t for t in lab.trials if t.job == "daily_volume"]
    assert len(gold_trials) == trials(GOLD_ANCHORS)
    assert gold_trials[0].previous == "empty"
    assert any(t.previous in ("A", "B") for t in gold_trials)
    assert {t.outcome["daily_volume"] for t in gold_trials} == {"old", "new"}

    rerun = crash.watch(lake, "daily_volume", argv, GOLD_TABLES)
    must_finish(rerun, "rerun after the kills")
    assert state(lake, "daily_volume") == target.tables["daily_volume"]


def test_killed_compaction_never_changes_a_row(lab: Lab) -> None:
    """SIGKILL compaction at seeded moments, each time over trades split into small files.

    After every kill every table holds exactly the rows it held before (all columns), and
    so does every snapshot the run committed; job_runs gained the run's row or nothing.
    An uninterrupted rerun compacts trades to one file with the same rows.
    """
    lake = lab.lake
    _ensure_published(lab)
    moments = crash.plan_moments(
        random.Random(SEED + 2), lab.windows["compact"], trials(COMPACT_ANCHORS)
    )
    for number, moment in enumerate(moments, start=1):
        if len(_loaded(lake, "trades").inspect.data_files()) < 5:
            orphans = crash.unreferenced_files(lake)
            _fragment(lake)
            assert crash.unreferenced_files(lake) == orphans
        tables = crash.table_names(lake)
        before = {table: _full(lake, table) for table in tables}
        history = _history(lake, tables)
        orphans = crash.unreferenced_files(lake)
        run = crash.watch(lake, "compact", [], COMPACT_TABLES, moment, env=FAR_RETENTION)
        outcome = {}
        for table in tables:
            after = _full(lake, table)
            committed = [s for s in crash.snapshot_ids(lake, table) if s not in history[table]]
            seen = [crash.content(lake, table, snapshot_id=s) for s in committed]
            if table == "job_runs":
                # The compaction's own run record is the only row it may add.
                added = after - before[table]
                assert after - added == before[table] and sum(added.values()) <= 1, added
                assert all(rows in (before[table], after) for rows in seen), table
            else:
                assert after == before[table], f"trial {number} ({moment}) changed {table}"
                assert all(rows == before[table] for rows in seen), table
            if committed:
                outcome[table] = f"{len(committed)} commits"
        outcome["history"] = _check_appended_records(lab, "compact", before, run)
        if not run.killed:
            must_finish(run, f"trial {number} finished before its moment")
        _record(lab, "compact", number, run, "fragmented", outcome, orphans)

    compact_trials = [t for t in lab.trials if t.job == "compact"]
    assert len(compact_trials) == trials(COMPACT_ANCHORS)
    assert any("trades" in t.outcome for t in compact_trials)
    assert any("trades" not in t.outcome for t in compact_trials)

    if len(_loaded(lake, "trades").inspect.data_files()) < 5:
        _fragment(lake)
    rows = _full(lake, "trades")
    rerun = crash.watch(lake, "compact", [], COMPACT_TABLES, env=FAR_RETENTION)
    must_finish(rerun, "rerun after the kills")
    assert _full(lake, "trades") == rows
    assert len(_loaded(lake, "trades").inspect.data_files()) == 1


def test_orphan_scan_finds_exactly_the_files_killed_runs_left(lab: Lab) -> None:
    """The compact job's orphan scan (dry run) lists every file a killed run left
    unreferenced, and nothing any table's metadata references.

    Every file of the warehouse is aged past Iceberg's 24 h floor first (referenced ones
    too, so age is not what tells them apart).
    """
    lake = lab.lake
    left = set().union(*(t.orphans for t in lab.trials if t.killed))
    if not lab.trials:
        pytest.skip("needs the kill trials of this module (run the whole file)")
    # Runs that finished cleanly left no unreferenced file.
    assert not lab.finished_orphans
    unreferenced = crash.unreferenced_files(lake)
    assert set().union(*unreferenced.values()) == left
    # Every file the kills left lies under a table the catalog knows, so a scan can see it.
    assert not unreferenced.pop(crash.NO_TABLE)
    assert left, "the killed runs left no unreferenced file: the scan proves nothing"
    crash.age_files(lake.warehouse, hours=48)
    scan = lake.submit("compact", "--only", "orphans", "--dry-run", "--orphan-age-hours", "24")
    assert scan.returncode == 0, scan.stdout[-3000:] + scan.stderr[-3000:]
    summary = last_summary(scan.stdout) or {}
    listed_counts = Counter[str]()
    for table, expected in unreferenced.items():
        report = summary["tables"][table]["orphans"]
        listed = {crash.plain_path(path) for path in report["orphans"]}
        # The summary lists at most 50 paths per table (sorted), and the full count.
        assert report["would_remove_orphans"] == len(expected), (table, report, expected)
        assert listed == set(sorted(expected)[:50]), (table, listed ^ expected)
        listed_counts[table] = report["would_remove_orphans"]
    # A dry run: every file is still there.
    assert all(Path(path).exists() for path in left)
    print(f"orphans listed per table: {dict(listed_counts)}; left by kills: {len(left)}")
