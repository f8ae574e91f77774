"""Crash safety of versions: SIGKILL the ingest of a landing carrying late reports, rerun it.

The ingest of a landing makes two commits: ``trade_reports`` (the landing's reports), then
``trades`` (every day they touch, resolved again). With a window of two days, landing L1
holds D1's trades and late trades of D0; landing L2 holds its own day's trades and, in
version A, corrections, cancels and late new trades of D1, in version B the same of D0.
Each version touches a day the other does not, and L2's folder switches between them, so
every trial changes both tables and every switch takes a day's reports back.

Each trial kills ``jobs/ingest.py --date L2`` (a process, ``./spark-submit.sh``) at a seeded
moment anchored on what a reader can observe (tests/reliability/crash.py): before the
first commit, between the two, after the second. Then, read with pyiceberg:

- ``trade_reports`` and ``trades`` each hold their previous or their new content, never
  anything in between, and ``trades`` is new only if ``trade_reports`` is (commit order);
- every snapshot the killed run committed holds that table's complete new content;
- a run killed between its commits is rerun at once, with the same landing: it resolves
  the days its reports belong to and also those the dead run set out to resolve (the
  previous version's day, which no report of the landing carries any more), and both
  tables converge;
- every state a run completes (the first, uninterrupted ingest of L2 included) is the
  reference model's (tests/reliability/landing_model.py): ``trade_reports`` every
  landing's reports, ``trades`` their resolution, cell for cell.

``TRADELAKE_CRASH_SEED`` changes the seed of the generated reports and the kill moments.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from tests.lakes import Rows, multiset, scan_rows
from tests.reliability import crash
from tests.reliability.crash_trials import (
    RUN_COLUMNS,
    kill_windows,
    must_finish,
    new_lake,
    state,
    trials,
)
from tests.reliability.landing_model import (
    Expected,
    expected_day,
    landing_file,
    report_rows,
    reports_of,
    resolve,
    trade_rows,
)
from tests.submit import ProcessLake

D0, D1, L2 = date(2025, 1, 13), date(2025, 1, 14), date(2025, 1, 15)
L1 = D1
LATENESS = 2
SEED = int(os.environ.get("TRADELAKE_CRASH_SEED", "20250115"))
TABLES = ["trade_reports", "trades"]
# Kill moments: once the batch is classified (before the first commit), between the two
# commits, after both. Every other moment of an ingest is test_crash_safety.py's.
ANCHORS = ["log:batch classified", "snapshot:trade_reports", "snapshot:trades"]
# The events the kill windows are measured between: a kill waits at most until the next
# of them, so it lands before trade_reports' files begin, or before trades' files do.
WINDOW_EVENTS = [
    "log:batch classified",
    "files:trade_reports",
    "snapshot:trade_reports",
    "files:trades",
    "snapshot:trades",
]
SYMBOLS = ("AAPL", "MSFT", "NVDA", "BTC-USD")


def _report(rng: random.Random, trade_id: str, day: date, **fields: object) -> dict[str, object]:
    moment = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
        microseconds=rng.randrange(86_400 * 10**6)
    )
    return {
        "trade_id": trade_id,
        "symbol": rng.choice(SYMBOLS),
        "side": rng.choice(("buy", "sell")),
        "price": f"{rng.randint(100, 99_999) / 100:.2f}",
        "quantity": str(rng.randint(1, 500)),
        "timestamp": moment.isoformat().replace("+00:00", "Z"),
        "exchange": "XNAS",
        **fields,
    }


def _write(folder: Path, reports: list[dict[str, object]], files: int = 3) -> None:
    folder.mkdir(parents=True)
    for index in range(files):
        lines = [json.dumps(report) for report in reports[index::files]]
        (folder / f"part-{index}.jsonl").write_text("\n".join(lines) + "\n")


def generate(root: Path) -> tuple[Path, dict[str, Path]]:
    """L1's folder (D1's trades, late trades of D0), and L2's two versions: A corrects,
    cancels and adds trades of D1, B of D0; both carry L2's own trades."""
    rng = random.Random(SEED)
    l1 = [_report(rng, f"T{n:04d}", D1) for n in range(300)]
    l1 += [_report(rng, f"E{n:04d}", D0) for n in range(40)]
    by_id = {str(report["trade_id"]): report for report in l1}
    versions = {}
    for name, late_day, prefix, seq in (("A", D1, "T", 1), ("B", D0, "E", 2)):
        reports = [_report(rng, f"{name}{n:04d}", L2) for n in range(120)]
        reports += [
            {
                **by_id[f"{prefix}{n:04d}"],
                "price": f"{rng.randint(100, 99_999) / 100:.2f}",
                "report_type": "correct",
                "report_seq": seq,  # a JSON number
            }
            for n in range(20)
        ]
        reports += [
            {
                "trade_id": f"{prefix}{n:04d}",
                "timestamp": by_id[f"{prefix}{n:04d}"]["timestamp"],
                "report_type": "cancel",
                "report_seq": str(seq),  # text
            }
            for n in range(20, 30)
        ]
        reports += [_report(rng, f"{name}L{n:03d}", late_day) for n in range(15)]
        rng.shuffle(reports)
        versions[name] = root / f"l2-{name}" / "trades" / f"date={L2.isoformat()}"
        _write(versions[name], reports)
    l1_folder = root / "l1" / "trades" / f"date={L1.isoformat()}"
    _write(l1_folder, l1)
    return l1_folder, versions


@dataclass
class Version:
    """One version of L2: its folder, its reports (the model's) and the tables the model
    expects once it is ingested over L1."""

    name: str
    folder: Path
    expected: Expected = field(default_factory=Expected)
    tables: dict[str, Rows] = field(default_factory=dict)

    @property
    def days(self) -> set[date]:
        """The days its reports belong to."""
        return set(self.expected.loaded_by_date())


@dataclass
class Trial:
    moment: crash.Moment
    killed: bool
    previous: str
    target: str
    outcome: dict[str, str]
    # The days the rerun after a kill between the commits resolved (None: no such rerun).
    rerun_touched: set[date] | None = None

    def describe(self) -> str:
        tables = ",".join(f"{table}={self.outcome[table]}" for table in TABLES)
        rerun = "" if self.rerun_touched is None else f" rerun touched {_iso(self.rerun_touched)}"
        return f"{self.moment} killed={self.killed} {self.previous}->{self.target} {tables}{rerun}"


@dataclass
class Lab:
    """The trial lake (L1, then L2 A ingested), the landing root, L2's two versions."""

    lake: ProcessLake
    landing: Path
    versions: dict[str, Version]
    windows: list[tuple[str, float]]


def _iso(days: set[date]) -> list[str]:
    return [day.isoformat() for day in sorted(days)]


def _ingest(
    lake: ProcessLake,
    landing: Path,
    day: date,
    moment: crash.Moment | None = None,
    markers: tuple[str, ...] = (),
) -> crash.Run:
    argv = ["--date", day.isoformat(), "--raw-uri", str(landing)]
    return crash.watch(lake, "ingest", argv, TABLES, moment, markers=markers)


def _by_model_naming(lake: ProcessLake, table: str) -> Rows:
    """A table without the run's columns, its source files named as the model names them."""
    loaded = lake.table(table)
    rows = [] if loaded is None else scan_rows(loaded)
    for row in rows:
        row["source_file"] = landing_file(row["source_file"])
    return multiset(rows, RUN_COLUMNS[table])


def _assert_model(lake: ProcessLake, version: Version, what: str) -> None:
    for table in TABLES:
        assert _by_model_naming(lake, table) == version.tables[table], f"{what}: {table}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A lake with L1 ingested, then L2 A (uninterrupted: the kill windows are measured on
    it); the model's tables for each version of L2."""
    root = tmp_path_factory.mktemp("versions-crash")
    l1_folder, folders = generate(root)
    lake = new_lake(root / "lake", TRADELAKE_CONTRACT__MAX_LATENESS_DAYS=str(LATENESS))
    landing = root / "landing"
    now = datetime.now(UTC)
    first = expected_day(l1_folder, L1, now, LATENESS)
    versions = {}
    for name, folder in folders.items():
        second = expected_day(folder, L2, now, LATENESS)
        reports = reports_of({L1: first, L2: second})
        tables = {
            "trade_reports": multiset(report_rows(reports)),
            "trades": multiset(trade_rows(resolve(reports))),
        }
        versions[name] = Version(name, folder, second, tables)
    a, b = versions["A"], versions["B"]
    # Each version touches a day the other does not, and no table is the same for both.
    assert a.days - b.days and b.days - a.days, (a.days, b.days)
    assert all(a.tables[table] != b.tables[table] for table in TABLES)

    crash.land(landing, l1_folder, L1)
    summary = must_finish(_ingest(lake, landing, L1), "ingest of L1")
    assert summary["loaded_by_date"] == {D0.isoformat(): 40, D1.isoformat(): 300}, summary
    assert summary["touched_dates"] == _iso({D0, D1}), summary
    crash.land(landing, a.folder, L2)
    run = _ingest(lake, landing, L2, markers=("batch classified",))
    summary = must_finish(run, "uninterrupted ingest of L2 A")
    assert summary["touched_dates"] == _iso(a.days), summary
    _assert_model(lake, a, "the uninterrupted ingest of L2 A")
    windows = [(event, w) for event, w in kill_windows(run, WINDOW_EVENTS) if event in ANCHORS]
    yield Lab(lake, landing, versions, windows)


def _converge(lab: Lab, target: Version, previous: Version, number: int) -> set[date]:
    """Rerun L2 after a kill between its commits; the days it resolved."""
    rerun = _ingest(lab.lake, lab.landing, L2)
    summary = must_finish(rerun, f"trial {number}: the rerun after the kill")
    touched = {date.fromisoformat(day) for day in summary["touched_dates"]}
    # Its own days, and those the dead run set out to resolve: the previous version's.
    assert touched == target.days | previous.days, summary
    _assert_model(lab.lake, target, f"trial {number}: the rerun")
    return touched


def test_killed_ingest_of_late_reports_converges_on_rerun(lab: Lab) -> None:
    """SIGKILL the ingest of L2 at seeded moments, before, between and after its two
    commits, each time landing the version the lake does not hold; after every kill each
    table holds its previous or its new content (trades never ahead of trade_reports); a
    kill between the commits is rerun at once and converges on the model, resolving the
    previous version's day too (only the dead run's record names it)."""
    lake, versions = lab.lake, lab.versions
    # A kill never waits past the next window event: one meant to land before
    # trade_reports' files stays before them however much faster this run is than the
    # reference (bounded by the next anchor, the commit, it could land after it).
    following = dict(zip(WINDOW_EVENTS, WINDOW_EVENTS[1:], strict=False))
    moments = crash.plan_moments(
        random.Random(SEED + 3), lab.windows, trials(ANCHORS), bounds=following
    )
    done: list[Trial] = []
    holds = versions["A"]
    for number, moment in enumerate(moments, start=1):
        target = versions["B" if holds.name == "A" else "A"]
        crash.land(lab.landing, target.folder, L2)
        history = {table: crash.snapshot_ids(lake, table) for table in TABLES}
        run = _ingest(lake, lab.landing, L2, moment)
        outcome = {}
        for table in TABLES:
            after, new = state(lake, table), target.tables[table]
            old = holds.tables[table]
            # Compared with the model through its naming of source files.
            named = _by_model_naming(lake, table)
            assert named in (old, new), (
                f"trial {number} ({moment}): {table} is neither its previous content "
                f"({sum(old.values())} rows) nor the new one ({sum(new.values())} rows) but "
                f"{sum(named.values())} rows:\n{run.tail()}"
            )
            committed = [s for s in crash.snapshot_ids(lake, table) if s not in history[table]]
            assert len(committed) <= 1, (table, committed)
            for snapshot in committed:
                # What any reader could have read since the run committed: all of it.
                seen = crash.content(lake, table, RUN_COLUMNS[table], snapshot_id=snapshot)
                assert seen == after, f"trial {number}: snapshot {snapshot} of {table} is partial"
            assert (named == new) == bool(committed), (table, committed)
            outcome[table] = "new" if committed else "old"
        assert outcome["trades"] == "old" or outcome["trade_reports"] == "new", outcome
        trial = Trial(moment, run.killed, holds.name, target.name, outcome)
        if not run.killed:
            summary = must_finish(run, f"trial {number} finished before its moment")
            assert summary["touched_dates"] == _iso(target.days | holds.days), summary
        if outcome == {"trade_reports": "new", "trades": "old"}:
            trial.rerun_touched = _converge(lab, target, holds, number)
        if outcome["trade_reports"] == "new":
            holds = target
        done.append(trial)
        print(f"trial {number}: {trial.describe()}")

    assert len(done) == trials(ANCHORS)
    # The seeded plan (anchored on events, so not on the machine's speed) ended runs
    # before the first commit, between the two, and after both.
    outcomes = {(t.outcome["trade_reports"], t.outcome["trades"]) for t in done}
    assert outcomes == {("old", "old"), ("new", "old"), ("new", "new")}, outcomes
    assert any(t.killed for t in done)
    # A rerun resolved a day none of its reports belongs to: the dead run's record.
    assert any(
        t.rerun_touched is not None and t.rerun_touched - versions[t.target].days for t in done
    )
