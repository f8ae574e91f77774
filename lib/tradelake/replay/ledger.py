"""What became of exported dead letters: the manifest an export writes, and the ledger.

Next to its landing file an export writes a manifest (``_replay-<selection>.json``; the
ingest ignores ``_`` names) naming every dead letter the file replays and when it was
written. The ledger reads the manifests, the replay landings' ingest runs (``job_runs``)
and their dead letters, and puts each dead letter of a range in one state:

- ``not_replayable``: it carries a reason a replay never exports (``records.NOT_REPLAYABLE``);
- ``open``: no manifest whose landing file is still there names it;
- ``exported``: exported to landing R, and no ingest of R has published since the export
  (not run yet, or gated, or failed);
- ``rejected_again``: an ingest of R that started after the export rejected it again: R's
  dead letters carry its marker (that new dead letter is itself open, and replayable);
- ``replayed``: an ingest of R that started after the export published and did not reject
  it: its report is in ``trade_reports`` (``landing_date`` R) and took part in resolving its
  day. Replayed means accepted, not current: a report with a higher ``report_seq`` still wins.

A dead letter exported more than once takes its best state (replayed, then rejected again,
then exported). The original row in ``trades_rejected`` is never changed: the ledger is how
an operator tells a dead letter dealt with from one still open.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from tradelake.replay.records import (
    MARKER_PATTERN,
    NOT_REPLAYABLE,
    ExportPlan,
    Selection,
    dead_letter_id,
)

NOT_REPLAYABLE_STATE = "not_replayable"
OPEN = "open"
EXPORTED = "exported"
REJECTED_AGAIN = "rejected_again"
REPLAYED = "replayed"
# Every state, in the order the ledger shows them; the later of two states is the better.
STATES: tuple[str, ...] = (NOT_REPLAYABLE_STATE, OPEN, EXPORTED, REJECTED_AGAIN, REPLAYED)
# A manifest this code writes; a later change of its layout gets a new number.
MANIFEST_VERSION = 1
_MARKER = re.compile(MARKER_PATTERN)


@dataclass(frozen=True)
class Manifest:
    """One export: its landing file and the dead letters it replays."""

    landing_date: date
    file: str
    exported_at: datetime
    selection: Selection
    # Ingest date -> ids of the dead letters the file replays, in the file's order.
    dead_letters: Mapping[str, list[str]]
    skipped: Mapping[str, int]

    @classmethod
    def of_plan(cls, plan: ExportPlan, landing_date: date, exported_at: datetime) -> Manifest:
        return cls(
            landing_date,
            plan.selection.file_name,
            exported_at,
            plan.selection,
            plan.ids,
            plan.skipped(),
        )

    @property
    def records(self) -> int:
        return sum(len(ids) for ids in self.dead_letters.values())

    def to_json(self) -> bytes:
        document = {
            "tradelake_replay_manifest": MANIFEST_VERSION,
            "landing_date": self.landing_date.isoformat(),
            "file": self.file,
            "exported_at": self.exported_at.isoformat(),
            "selection": self.selection.as_dict(),
            "records": self.records,
            "skipped": dict(self.skipped),
            "dead_letters": dict(self.dead_letters),
        }
        return (json.dumps(document, indent=1) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """A manifest read back.

        Raises:
            ValueError: not a manifest of this version.
        """
        try:
            document = json.loads(data)
            if document.get("tradelake_replay_manifest") != MANIFEST_VERSION:
                raise ValueError("not a version 1 replay manifest")
            since, until = (
                date.fromisoformat(day) for day in document["selection"]["ingest_dates"]
            )
            return cls(
                date.fromisoformat(document["landing_date"]),
                str(document["file"]),
                datetime.fromisoformat(document["exported_at"]),
                Selection(since, until, tuple(document["selection"]["reasons"])),
                {day: list(ids) for day, ids in document["dead_letters"].items()},
                dict(document["skipped"]),
            )
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as err:
            raise ValueError(f"not a replay manifest: {err}") from err


@dataclass(frozen=True)
class LandingHistory:
    """What the ingest did with one replay landing since anything was exported to it."""

    # Start times of the landing's ingest runs that published.
    published: tuple[datetime, ...]
    # Marker ids the landing's current dead letters carry -> when they were rejected.
    rejected: Mapping[str, datetime]

    @classmethod
    def of_rows(
        cls, runs: Iterable[Mapping[str, Any]], dead_letters: Iterable[Mapping[str, Any]]
    ) -> LandingHistory:
        """From the landing's ``job_runs`` rows and its ``trades_rejected`` rows."""
        rejected: dict[str, datetime] = {}
        for row in dead_letters:
            match = _MARKER.match(row["record"] or "")
            if match is not None:
                rejected[match.group("id")] = row["rejected_at"]
        published = tuple(row["started_at"] for row in runs if row["published"])
        return cls(published, rejected)

    def published_since(self, moment: datetime) -> bool:
        return any(started >= moment for started in self.published)


@dataclass(frozen=True)
class FoundExport:
    """A manifest found in a landing folder, and whether its landing file is still there."""

    manifest: Manifest
    file_uri: str
    file_present: bool


def export_state(found: FoundExport, history: LandingHistory, letter: str) -> str:
    """The state one export gives the dead letter ``letter`` (which it names)."""
    manifest = found.manifest
    if not found.file_present:
        return OPEN
    rejected_at = history.rejected.get(letter)
    if rejected_at is not None and rejected_at >= manifest.exported_at:
        return REJECTED_AGAIN
    if history.published_since(manifest.exported_at):
        return REPLAYED
    return EXPORTED


def build_ledger(
    rows: Iterable[Mapping[str, Any]],
    selection: Selection,
    exports: list[FoundExport],
    histories: Mapping[date, LandingHistory],
) -> dict[str, Any]:
    """Each selected dead letter's state, counted per ingest date, and each export's outcome.

    ``rows``: ``trades_rejected`` rows (``ingest_date``, ``source_file``, ``record``,
    ``reasons``). ``histories``: the landing history of every export's landing date.
    """
    named: dict[str, list[FoundExport]] = {}
    for found in exports:
        for ids in found.manifest.dead_letters.values():
            for letter in ids:
                named.setdefault(letter, []).append(found)
    by_date: dict[str, Counter[str]] = {}
    for row in rows:
        reasons = list(row["reasons"] or [])
        if not selection.takes(reasons):
            continue
        counts = by_date.setdefault(row["ingest_date"].isoformat(), Counter())
        if any(code in NOT_REPLAYABLE for code in reasons):
            counts[NOT_REPLAYABLE_STATE] += 1
            continue
        letter = dead_letter_id(row["ingest_date"], row["source_file"], row["record"])
        states = [
            export_state(found, histories[found.manifest.landing_date], letter)
            for found in named.get(letter, [])
        ]
        counts[max(states, key=STATES.index, default=OPEN)] += 1
    totals: Counter[str] = Counter()
    for counts in by_date.values():
        totals.update(counts)
    return {
        "selection": selection.as_dict(),
        "by_ingest_date": {
            day: {"dead_letters": sum(counts.values()), **{s: counts[s] for s in STATES}}
            for day, counts in sorted(by_date.items())
        },
        "totals": {"dead_letters": sum(totals.values()), **{s: totals[s] for s in STATES}},
        "exports": [_export_outcome(found, histories) for found in exports],
    }


def _export_outcome(found: FoundExport, histories: Mapping[date, LandingHistory]) -> dict[str, Any]:
    manifest = found.manifest
    history = histories[manifest.landing_date]
    letters = [letter for ids in manifest.dead_letters.values() for letter in ids]
    states = Counter(export_state(found, history, letter) for letter in letters)
    return {
        "landing_date": manifest.landing_date.isoformat(),
        "file": found.file_uri,
        "file_present": found.file_present,
        "exported_at": manifest.exported_at.isoformat(),
        "selection": manifest.selection.as_dict(),
        "records": manifest.records,
        "ingested_since": history.published_since(manifest.exported_at),
        **{state: states[state] for state in (EXPORTED, REJECTED_AGAIN, REPLAYED, OPEN)},
    }
