"""Dead letters as landing lines: which ones a replay exports, and the line each becomes.

A dead letter is a row of ``trades_rejected``. Its id, ``<ingest_date>:<16 hex>`` (the
SHA-256 of its source file and record), is the same however often the ingest of that day
reran, so a manifest written today still names it tomorrow. Each exported line is a JSON
object whose first member, ``tradelake_replay_of``, is that id: the contract reports the
field as schema drift and otherwise ignores it, and a line rejected again carries it into
the replay landing's own dead letters, where the ledger finds it.

- JSON (and Kafka) dead letters are their line as it was, the marker inserted after the
  opening brace (a marker of an earlier replay is replaced, never repeated: a repeated
  name would make the line malformed).
- CSV dead letters become an object of the file's header names (lower-cased, the first of
  a repeated name wins, as the ingest reads them) and the row's fields as text.
- Parquet dead letters are the ingest's JSON rendering of the row, names lower-cased (the
  Parquet reader matches them case-insensitively; the JSON reader does not), every value
  kept as the exact text it was rendered with.

Building lines is Python per dead letter: this is a tool over one selection of dead
letters, not a job over a day's trades, and each line is a string operation the ingest
then validates with the contract's native expressions.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from tradelake.contract import DUPLICATE_CONFLICT, MALFORMED_RECORD, UNREADABLE_FILE
from tradelake.io import file_kind
from tradelake.io import header_names as csv_header_names

# The member every exported line starts with: the id of the dead letter it replays.
MARKER_FIELD = "tradelake_replay_of"
_MARKER_KEY = json.dumps(MARKER_FIELD)
# How every exported line starts, and so every dead letter that is a replay rejected again.
MARKER_PREFIX = "{" + _MARKER_KEY + ":"
# An earlier replay's marker, as this module writes it: first member, no spaces.
_EARLIER_MARKER = re.compile(rf'^\{{{re.escape(_MARKER_KEY)}:"[^"]*"(?:,|(?=\}}))')
_OBJECT_OPENING = re.compile(r"^\s*\{")
# The marker of a dead letter that is itself a replayed line rejected again.
MARKER_PATTERN = (
    rf'^\{{{re.escape(_MARKER_KEY)}:"(?P<id>[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}:[0-9a-f]{{16}})"'
)

# Dead letters a replay never exports, by the reason code that makes them so, and why.
NOT_REPLAYABLE: dict[str, str] = {
    UNREADABLE_FILE: "it holds the error of a file that could not be read, not a record: "
    "land the file again",
    MALFORMED_RECORD: "the line itself is broken and would be rejected the same way: fix it "
    "at the source and land it again",
    DUPLICATE_CONFLICT: "it lost to another version of the same report in its landing; "
    "landed again later it would win: send a correction with a higher report_seq instead",
}
# Dead letters that cannot be rebuilt as they were read: skipped, counted, left open.
CSV_HEADER_UNAVAILABLE = "csv_header_unavailable"
# A record that cannot be rebuilt exactly as the ingest read it: a CSV row with doubled
# quotes or backslashes, or with another field count than its file's header now has.
NOT_REBUILDABLE = "not_rebuildable"

# A CSV row whose every field is either plain (no quote, comma or backslash) or wholly
# quoted with neither a quote nor a backslash inside. Python's csv module and the ingest's
# from_csv split such a row the same way; they disagree on doubled quotes and backslashes
# (Spark keeps "a""b" as written, and its backslash escapes a quote), so those rows are
# not rebuilt rather than rebuilt differently.
_SIMPLE_CSV_ROW = re.compile(r'(?:[^",\\]*|"[^"\\]*")(?:,(?:[^",\\]*|"[^"\\]*"))*')


@dataclass(frozen=True)
class Selection:
    """Which dead letters a replay takes: ingest dates ``since`` to ``until``, and reasons.

    ``reasons`` empty: every reason. Otherwise a dead letter carrying any of them.
    """

    since: date
    until: date
    reasons: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.since > self.until:
            raise ValueError(f"the ingest dates {self.since}:{self.until} end before they start")
        object.__setattr__(self, "reasons", tuple(sorted(set(self.reasons))))

    @property
    def stem(self) -> str:
        """The name both files of this selection share: the same selection, the same name."""
        tag = "all"
        if self.reasons:
            tag = "r" + hashlib.sha256(",".join(self.reasons).encode()).hexdigest()[:8]
        return f"replay-{self.since.isoformat()}-{self.until.isoformat()}-{tag}"

    @property
    def file_name(self) -> str:
        """The landing file: JSON Lines, which the ingest reads."""
        return f"{self.stem}.jsonl"

    @property
    def manifest_name(self) -> str:
        """The manifest: ``_``-prefixed, so the ingest ignores it."""
        return f"_{self.stem}.json"

    def takes(self, reasons: Iterable[str]) -> bool:
        """Whether a dead letter with ``reasons`` is selected."""
        return not self.reasons or not set(self.reasons).isdisjoint(reasons)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ingest_dates": [self.since.isoformat(), self.until.isoformat()],
            "reasons": list(self.reasons),
        }


def parse_ingest_dates(text: str) -> tuple[date, date]:
    """``A`` or ``A:B`` (YYYY-MM-DD, ``A <= B``) as the first and last ingest date.

    Raises:
        ValueError: not a date or a range of dates; the message says what to pass.
    """
    first, _, last = text.partition(":")
    try:
        since = date.fromisoformat(first)
        until = date.fromisoformat(last) if last else since
    except ValueError as err:
        raise ValueError(f"{text!r} is not a date or a range A:B of dates (YYYY-MM-DD)") from err
    if since > until:
        raise ValueError(f"{text!r} ends before it starts; use A:B with A on or before B")
    return since, until


def dead_letter_id(ingest_date: date, source_file: str, record: str) -> str:
    """``<ingest_date>:<16 hex>``: a dead letter's identity, stable across reruns of its day.

    Two identical dead letters (the same line twice in one file) share it.
    """
    digest = hashlib.sha256(json.dumps([source_file, record]).encode("utf-8")).hexdigest()
    return f"{ingest_date.isoformat()}:{digest[:16]}"


def source_kind(source_file: str) -> str:
    """How a dead letter's record was read: ``json`` (and Kafka messages), ``csv``, ``parquet``."""
    if source_file.startswith("kafka://"):
        return "json"
    return file_kind(source_file)


def _member(key: str, value_text: str) -> str:
    return f"{json.dumps(key, ensure_ascii=False)}:{value_text}"


def _object_line(marker: str, members: Iterable[tuple[str, str]]) -> str:
    """One JSON object line: the marker, then ``members`` (name, value as JSON text)."""
    texts = [_member(MARKER_FIELD, json.dumps(marker)), *(_member(k, v) for k, v in members)]
    return "{" + ",".join(texts) + "}"


def json_line(record: str, marker: str) -> str | None:
    """A JSON dead letter as it was, marked; None when the record is not an object."""
    # Line breaks can only be whitespace between tokens of a valid object (a Kafka message
    # may be pretty-printed); a landing line must not hold one.
    line = record.replace("\r", " ").replace("\n", " ")
    line = _EARLIER_MARKER.sub("{", line, count=1)
    opening = _OBJECT_OPENING.match(line)
    if opening is None:
        return None
    rest = line[opening.end() :]
    separator = "" if rest.lstrip().startswith("}") else ","
    return "{" + _member(MARKER_FIELD, json.dumps(marker)) + separator + rest


def csv_line(header: str, record: str, marker: str) -> str | None:
    """A CSV dead letter as an object of its header's names; None when it cannot be rebuilt.

    Every field is kept as text (an empty field as ""; both are missing to the contract).
    """
    if not _SIMPLE_CSV_ROW.fullmatch(record):
        return None
    fields = next(csv.reader([record]))
    names = csv_header_names(header)
    if len(fields) != len(names):
        return None
    values: dict[str, str] = {}
    for name, value in zip(names, fields, strict=True):
        values.setdefault(name, value)
    return _object_line(
        marker, ((name, json.dumps(v, ensure_ascii=False)) for name, v in values.items())
    )


class _Number(str):
    """A JSON number kept as the text it was written with (never through a float)."""


class _Members(list[tuple[str, Any]]):
    """A JSON object's members, in order."""


def _json_text(value: Any) -> str:
    if isinstance(value, _Number):
        return str(value)
    if isinstance(value, _Members):
        return "{" + ",".join(_member(key, _json_text(item)) for key, item in value) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_json_text(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def parquet_line(record: str, marker: str) -> str | None:
    """A Parquet dead letter's JSON rendering with lower-cased names, marked.

    None when the rendering is not a JSON object.
    """
    try:
        parsed = json.loads(
            record,
            object_pairs_hook=_Members,
            parse_float=_Number,
            parse_int=_Number,
            parse_constant=_Number,
        )
    except json.JSONDecodeError:
        return None
    if not isinstance(parsed, _Members):
        return None
    values: dict[str, str] = {}
    for key, value in parsed:
        values.setdefault(key.lower(), _json_text(value))
    return _object_line(marker, values.items())


@dataclass
class DayCounts:
    """One ingest date's selected dead letters: exported (per reason code) and skipped."""

    selected: int = 0
    exported: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "selected": self.selected,
            "exported": self.exported,
            "by_reason": dict(sorted(self.by_reason.items())),
            "skipped": dict(sorted(self.skipped.items())),
        }


@dataclass
class ExportPlan:
    """The landing file of a selection: its lines, the dead letters they replay, the counts."""

    selection: Selection
    lines: list[str] = field(default_factory=list)
    # Ingest date -> ids of the exported dead letters, in the file's order.
    ids: dict[str, list[str]] = field(default_factory=dict)
    by_date: dict[str, DayCounts] = field(default_factory=dict)

    @property
    def exported(self) -> int:
        return len(self.lines)

    @property
    def selected(self) -> int:
        return sum(counts.selected for counts in self.by_date.values())

    def skipped(self) -> dict[str, int]:
        """Skipped dead letters per cause, over every date."""
        total: Counter[str] = Counter()
        for counts in self.by_date.values():
            total.update(counts.skipped)
        return dict(sorted(total.items()))

    def content(self) -> bytes:
        """The landing file's bytes: one line per exported dead letter, UTF-8."""
        return "".join(f"{line}\n" for line in self.lines).encode("utf-8")


def _line_or_cause(
    row: Mapping[str, Any], marker: str, header_of: Callable[[str], str | None]
) -> tuple[str | None, str | None]:
    """(the landing line, None), or (None, the skip cause) for one replayable dead letter."""
    source_file, record = row["source_file"], row["record"]
    kind = source_kind(source_file)
    if kind == "csv":
        header = header_of(source_file)
        if header is None:
            return None, CSV_HEADER_UNAVAILABLE
        line = csv_line(header, record, marker)
    elif kind == "json":
        line = json_line(record, marker)
    elif kind == "parquet":
        line = parquet_line(record, marker)
    else:
        line = None  # no readable file has another kind: only unreadable_file dead letters
    return (line, None) if line is not None else (None, NOT_REBUILDABLE)


def plan_export(
    rows: Iterable[Mapping[str, Any]],
    selection: Selection,
    header_of: Callable[[str], str | None],
) -> ExportPlan:
    """The replay landing file of ``rows`` (``trades_rejected`` rows, in the file's order).

    ``rows`` carry ``ingest_date``, ``source_file``, ``record`` and ``reasons``; those the
    selection does not take are left out. ``header_of`` gives a CSV source file's header
    line, or None when it cannot be read any more.
    """
    plan = ExportPlan(selection)
    for row in rows:
        reasons = list(row["reasons"] or [])
        if not selection.takes(reasons):
            continue
        day = row["ingest_date"].isoformat()
        counts = plan.by_date.setdefault(day, DayCounts())
        counts.selected += 1
        refused = [code for code in NOT_REPLAYABLE if code in reasons]
        if refused:
            counts.skipped[refused[0]] += 1
            continue
        marker = dead_letter_id(row["ingest_date"], row["source_file"], row["record"])
        line, cause = _line_or_cause(row, marker, header_of)
        if line is None:
            counts.skipped[str(cause)] += 1
            continue
        plan.lines.append(line)
        plan.ids.setdefault(day, []).append(marker)
        counts.exported += 1
        counts.by_reason.update(set(reasons))
    plan.by_date = dict(sorted(plan.by_date.items()))
    return plan
