"""What every SIGKILL trial of the reliability tier shares, on top of the harness (crash.py).

How many trials a job gets (the profile), the columns that describe a run rather than the
data, the kill windows measured on an uninterrupted run, a fresh lake, and the check that
a run nobody killed finished well.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.lakes import Rows
from tests.reliability import crash
from tests.reliability.profiles import profile, scale
from tests.submit import ProcessLake

# Columns that describe the run that wrote a row, not the data: excluded from comparisons.
RUN_COLUMNS = {
    "trades": ("run_id", "ingested_at"),
    "trade_reports": ("run_id", "ingested_at"),
    "trades_rejected": ("run_id", "rejected_at"),
    "daily_volume": ("run_id",),
}
# Share of a reference window a delay may span: the last anchor's window ends with the
# process, and a kill is wanted, not a finished run.
WINDOW_SHARE = 0.8


def trials(anchors: list[str]) -> int:
    """Kill trials of a job with these anchors: the profile's count, or one per anchor."""
    count = profile().crash_trials
    return (count if count is not None else len(anchors)) * scale()


def new_lake(root: Path, **env: str) -> ProcessLake:
    """A fresh embedded lake whose jobs run as processes, with ``env`` for every job."""
    lake = ProcessLake(root, extra_env=env)
    lake.raw_root.mkdir(parents=True)
    return lake


def must_finish(run: crash.Run, what: str) -> dict[str, Any]:
    """The summary of a run that must have ended well (exit 0, status ok)."""
    summary = run.summary()
    assert run.returncode == 0 and summary.get("status") == "ok", f"{what}:\n{run.tail()}"
    return summary


def kill_windows(run: crash.Run, anchors: list[str]) -> list[tuple[str, float]]:
    """(anchor, longest delay) per anchor, from an uninterrupted run's timeline."""
    return [
        (anchor, round(window * WINDOW_SHARE, 3))
        for anchor, window in crash.anchor_windows(run.events, anchors)
    ]


def state(lake: ProcessLake, table: str) -> Rows:
    """A table's rows without the run's columns (a multiset; no table: no rows)."""
    return crash.content(lake, table, RUN_COLUMNS.get(table, ()))
