"""Helpers of test_crash_safety.py: kill a job's driver at a chosen moment, read what is left.

A job is started with ``ProcessLake.popen`` (its own process group) and watched from this
process by polling what a reader could observe, with no hook inside the job:

- ``start``: the process was started;
- ``jvm``: the process became the driver JVM (``spark-submit`` execs java once the jars and
  the package zip are ready; killing earlier tests a shell script, not a job);
- ``log:<text>``: a line of the job's output contains ``<text>`` (its JSON log lines);
- ``files:<table>``: a data file appeared under the table's ``data/`` folder that was not
  there before the run (a write has begun; it may not be committed);
- ``snapshot:<table>``: the table's current snapshot changed (a commit readers now see).

A ``Moment`` names one such event and a delay after it; the driver's process group gets
SIGKILL at that moment. The job's Python workers (PySpark's daemon moves itself to a process
group of its own) are killed by pid if they outlive the driver.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import psutil

from tests.lakes import Rows, multiset, scan_rows
from tests.submit import ProcessLake
from tradelake.runtime import last_summary

POLL_SECONDS = 0.05
# A killed driver's Python workers notice the closed socket and exit; this bounds the wait.
REAP_SECONDS = 30.0


@dataclass(frozen=True)
class Moment:
    """Kill ``delay`` seconds after ``event`` is first observed (see the module docstring).

    With ``until``, kill at once when that event is observed first: a kill meant to land
    before the write stays before it however fast the machine is.
    """

    event: str
    delay: float
    until: str | None = None

    def __str__(self) -> str:
        bound = f" (before {self.until})" if self.until else ""
        return f"{self.event}+{self.delay:.2f}s{bound}"


@dataclass
class Run:
    """What happened to one watched job run."""

    moment: Moment | None
    killed: bool
    returncode: int
    # Seconds after the start at which each event was first observed.
    events: dict[str, float]
    output: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The run summary (last JSON line with a status); {} when the run was killed first."""
        return last_summary("\n".join(self.output)) or {}

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.output[-lines:])


def catalog_pointers(lake: ProcessLake) -> dict[str, str]:
    """Current metadata file of every table of the lake's database, from the catalog itself."""
    if not lake.catalog_db.exists():
        return {}
    # A fresh read-only connection per poll: the job commits through its own connection.
    connection = sqlite3.connect(f"file:{lake.catalog_db}?mode=ro", uri=True, timeout=30)
    try:
        rows = connection.execute(
            "SELECT table_name, metadata_location FROM iceberg_tables WHERE table_namespace = ?",
            (lake.database,),
        ).fetchall()
    except sqlite3.OperationalError as err:
        if "no such table" in str(err):
            return {}
        raise
    finally:
        connection.close()
    return {str(name): str(location) for name, location in rows}


def current_snapshot(metadata_location: str | None) -> int | None:
    """``current-snapshot-id`` of a metadata file (None: no table or no snapshot yet)."""
    if metadata_location is None:
        return None
    text = Path(metadata_location.removeprefix("file:")).read_text()
    snapshot = json.loads(text).get("current-snapshot-id")
    return None if snapshot in (None, -1) else int(snapshot)


def table_root(lake: ProcessLake, table: str) -> Path:
    """Location of a table in the embedded warehouse (Iceberg's default layout)."""
    return lake.warehouse / lake.database / table


def files_under(folder: Path) -> set[str]:
    """Every file under ``folder`` except hidden ones (``.crc`` checksums, ``_SUCCESS``).

    Iceberg's orphan scan skips hidden names the same way.
    """
    if not folder.is_dir():
        return set()
    return {
        str(path)
        for path in folder.rglob("*")
        if path.is_file() and not path.name.startswith((".", "_"))
    }


def _drain(stream: Any, sink: list[str]) -> None:
    for line in stream:
        sink.append(line.rstrip("\n"))


def _is_java(pid: int) -> bool:
    try:
        return psutil.Process(pid).name() == "java"
    except psutil.NoSuchProcess:
        return False


def _process_tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _reap(tree: list[psutil.Process]) -> None:
    """Wait for the killed run's processes to end; SIGKILL any that outlive the driver.

    ``tree`` holds only processes of the run this helper started (the driver and its
    descendants, collected before the kill).
    """
    _, alive = psutil.wait_procs(tree, timeout=REAP_SECONDS)
    for process in alive:
        process.kill()
    psutil.wait_procs(alive, timeout=REAP_SECONDS)


def watch(
    lake: ProcessLake,
    job: str,
    argv: list[str],
    tables: list[str],
    moment: Moment | None = None,
    markers: tuple[str, ...] = (),
    timeout: float = 900.0,
    env: dict[str, str] | None = None,
) -> Run:
    """Run ``jobs/<job>.py ARGV``; kill its process group at ``moment`` (None: let it end).

    ``tables`` are the tables whose ``files:`` and ``snapshot:`` events are observed,
    ``markers`` the ``log:`` texts (the moment's own marker is always observed), ``env``
    more environment variables of the job.

    Raises:
        TimeoutError: the run neither ended nor reached its moment within ``timeout``.
    """
    if moment is not None and moment.event.startswith("log:"):
        markers = (*markers, moment.event.removeprefix("log:"))
    pointers_before = catalog_pointers(lake)
    snapshots_before = {table: current_snapshot(pointers_before.get(table)) for table in tables}
    files_before = {table: files_under(table_root(lake, table) / "data") for table in tables}
    process = lake.popen(job, *argv, **(env or {}))
    started = time.monotonic()
    output: list[str] = []
    readers = [
        threading.Thread(target=_drain, args=(stream, output), daemon=True)
        for stream in (process.stdout, process.stderr)
    ]
    for reader in readers:
        reader.start()
    events: dict[str, float] = {"start": 0.0}
    seen_lines = 0
    seen_pointers: dict[str, str | None] = dict(pointers_before)
    tree: list[psutil.Process] = []
    killed = False
    while process.poll() is None:
        now = time.monotonic() - started
        if now > timeout:
            os.killpg(process.pid, signal.SIGKILL)
            raise TimeoutError(f"{job} {argv} still running after {timeout:.0f} s")
        if "jvm" not in events and _is_java(process.pid):
            events["jvm"] = now
        lines, seen_lines = output[seen_lines:], len(output)
        for marker in markers:
            if any(marker in line for line in lines):
                events.setdefault(f"log:{marker}", now)
        pointers = catalog_pointers(lake)
        for table in tables:
            if f"files:{table}" not in events and (
                files_under(table_root(lake, table) / "data") - files_before[table]
            ):
                events[f"files:{table}"] = now
            pointer = pointers.get(table)
            if pointer != seen_pointers.get(table):
                seen_pointers[table] = pointer
                if current_snapshot(pointer) != snapshots_before[table]:
                    events.setdefault(f"snapshot:{table}", now)
        if moment is not None and moment.event in events:
            if now >= events[moment.event] + moment.delay or moment.until in events:
                tree = _process_tree(process.pid)
                os.killpg(process.pid, signal.SIGKILL)
                killed = True
                break
        time.sleep(POLL_SECONDS)
    returncode = process.wait()
    _reap(tree)
    for reader in readers:
        reader.join(timeout=REAP_SECONDS)
    events["end"] = time.monotonic() - started
    return Run(moment, killed, returncode, events, output)


def plan_moments(
    rng: random.Random,
    anchors: list[tuple[str, float]],
    trials: int,
    bounds: dict[str, str] | None = None,
) -> list[Moment]:
    """``trials`` kill moments: every anchor in turn (a seeded order), a seeded delay each.

    ``anchors`` are (event, longest delay) pairs in the order a run shows them; each
    trial's delay is uniform in [0, longest delay], so the kills spread over the window
    from that event to the next, and a kill never waits past the next anchor, or past
    the event ``bounds`` names for it (an event that is not itself an anchor).
    """
    if bounds is None:
        bounds = {
            event: later for (event, _), (later, _) in zip(anchors, anchors[1:], strict=False)
        }
    order = list(anchors)
    rng.shuffle(order)
    moments = []
    for trial in range(trials):
        event, longest = order[trial % len(order)]
        moments.append(Moment(event, round(rng.uniform(0.0, longest), 3), bounds.get(event)))
    return moments


def anchor_windows(
    events: dict[str, float], anchors: list[str], floor: float = 0.3
) -> list[tuple[str, float]]:
    """(anchor, seconds until the next observed anchor or the end) from a reference run.

    Raises:
        AssertionError: the reference run never showed one of the anchors.
    """
    missing = [anchor for anchor in anchors if anchor not in events]
    assert not missing, f"the uninterrupted run never showed {missing}: {events}"
    times = sorted(events[anchor] for anchor in anchors)
    windows = []
    for anchor in anchors:
        later = [t for t in (*times, events["end"]) if t > events[anchor]]
        windows.append(
            (anchor, max(floor, (min(later) if later else events["end"]) - events[anchor]))
        )
    return windows


def content(
    lake: ProcessLake,
    table: str,
    exclude: tuple[str, ...] = (),
    snapshot_id: int | None = None,
    loaded: Any = None,
) -> Rows:
    """Rows of a table (a snapshot of it, or the current one) without ``exclude`` columns.

    A multiset (tests/lakes.py), so a duplicated row is a difference. A table that does not
    exist (its creation was killed, or never began) has no rows.
    """
    loaded = loaded if loaded is not None else lake.table(table)
    if loaded is None:
        return Counter()
    return multiset(scan_rows(loaded, snapshot_id=snapshot_id), exclude)


def snapshot_ids(lake: ProcessLake, table: str, loaded: Any = None) -> list[int]:
    """Every snapshot of the table's history (empty when it does not exist)."""
    loaded = loaded if loaded is not None else lake.table(table)
    return [] if loaded is None else [snapshot.snapshot_id for snapshot in loaded.snapshots()]


def plain_path(path: str) -> str:
    return path.removeprefix("file://").removeprefix("file:")


def referenced_files(lake: ProcessLake, table: str) -> set[str]:
    """Every file the table's metadata references: what an orphan scan must keep.

    The current metadata file and its log, every snapshot's manifest list, every manifest
    of every snapshot, every data and delete file of those manifests, statistics files.
    """
    loaded = lake.table(table)
    if loaded is None:
        return set()
    metadata = loaded.metadata
    found = {loaded.metadata_location}
    found |= {entry.metadata_file for entry in metadata.metadata_log}
    found |= {snapshot.manifest_list for snapshot in metadata.snapshots}
    found |= set(loaded.inspect.all_manifests().column("path").to_pylist())
    found |= set(loaded.inspect.all_files().column("file_path").to_pylist())
    found |= {stats.statistics_path for stats in metadata.statistics}
    found |= {stats.statistics_path for stats in metadata.partition_statistics}
    return {plain_path(path) for path in found}


def table_names(lake: ProcessLake) -> list[str]:
    """Tables of the lake's database, from the catalog."""
    return sorted(catalog_pointers(lake))


NO_TABLE = "(no table)"


def unreferenced_files(lake: ProcessLake) -> dict[str, set[str]]:
    """Per table: files under its location that its metadata does not reference.

    Files of the warehouse under no table of the catalog (a table whose creation was
    killed before the catalog knew it) are listed under ``NO_TABLE``.
    """
    found = {
        table: files_under(table_root(lake, table)) - referenced_files(lake, table)
        for table in table_names(lake)
    }
    under_tables = set().union(*(files_under(table_root(lake, t)) for t in table_names(lake)))
    found[NO_TABLE] = files_under(lake.warehouse) - under_tables
    return found


def land(raw_root: Path, version: Path, day: date) -> None:
    """Make ``version`` (a generated day folder) the landing folder of ``day``."""
    folder = raw_root / "trades" / f"date={day.isoformat()}"
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(version, folder)


def age_files(root: Path, hours: float) -> int:
    """Set every file's modification time ``hours`` back; returns how many were touched."""
    moment = time.time() - hours * 3600
    touched = 0
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (moment, moment))
            touched += 1
    return touched
