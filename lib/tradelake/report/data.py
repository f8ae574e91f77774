"""The operations report's data: the small rows each chart is drawn from.

Pure functions from the lake's tables (pyarrow tables, as pyiceberg scans return them)
to frozen rows: no I/O, no rendering, no Spark. Counts are exact integers and money
stays ``Decimal``; a chart converts to floats only to draw, never here.

Grain of each result:

- ``runs_grid``: one cell per (day, job) of the window, the job's latest run that day;
- ``funnel``: one row per day, from the day's latest ingest run;
- ``reason_counts``: one row per (ingest_date, reason code) of ``trades_rejected``;
- ``quality_series``: one point per (check, day), from the day's latest run of the job;
- ``volume_by_symbol``: one row per (trade_date, symbol) of ``daily_volume``;
- ``candles``: one row per bar of one symbol's ``ohlcv_<interval>`` day.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tradelake.config import PII_FIELDS
from tradelake.errors import ExitCode, NoInputError, QualityGateError
from tradelake.runtime import DAILY_JOBS

# The runs grid has a row for each of DAILY_JOBS, run or not. What a cell of it says, in
# legend order.
OUTCOMES: tuple[str, ...] = ("ok", "gated", "no input", "failed", "not run")
# The ingest checks drawn as a series against their threshold.
CHARTED_CHECKS: tuple[str, ...] = ("reject_ratio", "freshness", "volume_anomaly")
UNREADABLE_FILE = "unreadable_file"
MASK = "***"
# Longest record text shown; dead letters can be whole 10 MB lines.
MAX_RECORD_CHARS = 400

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_PII_NAMES = "|".join(PII_FIELDS)
_PII_PAIR = re.compile(
    rf"""(?P<key>["']?(?:{_PII_NAMES})["']?\s*[:=]\s*)"""
    r"""(?P<value>"(?:[^"\\]|\\.)*"?|'[^']*'?|[^,;}\s]+)""",
    re.IGNORECASE,
)
# A CSV field that has the shape of a public contract value: a decimal number, an integer
# of at most 4 digits (too short for an account number), a timestamp, a side, a symbol or
# exchange code. A CSV line carries no column names, so any other field might be an
# account id and is masked.
_PUBLIC_CSV_FIELD = re.compile(
    r"^(?:[-+]?\d+\.\d*|[-+]?\d*\.\d+|[-+]?\d{1,4}"
    r"|\d{4}-\d{2}-\d{2}[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?"
    r"|buy|sell|BUY|SELL|[A-Z]{1,6}(?:\.[A-Z]{1,3})?)$"
)
_AT_MOST = re.compile(r"^\s*<=\s*(?P<limit>[-+0-9.eE]+)")
_WITHIN = re.compile(r"within \[(?P<low>[-+0-9.eE]+), (?P<high>[-+0-9.eE]+)\]")


@dataclass(frozen=True)
class Window:
    """The days a report covers, both ends included."""

    since: date
    until: date

    def __post_init__(self) -> None:
        if self.since > self.until:
            raise ValueError(f"--since {self.since} is after --until {self.until}")

    def days(self) -> list[date]:
        return [self.since + timedelta(days=n) for n in range((self.until - self.since).days + 1)]

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.since <= day <= self.until


def day_ranges(days: list[date]) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) ranges, in order."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if ranges and day - ranges[-1][1] == timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def outcome(status: str | None, exit_code: int | None) -> str:
    """What a run came to: ok, gated (quality gate, exit 3), no input (exit 4) or failed."""
    if exit_code == ExitCode.OK and status == "ok":
        return "ok"
    if exit_code == ExitCode.QUALITY_GATE or status == QualityGateError.__name__:
        return "gated"
    if exit_code == ExitCode.NO_INPUT or status == NoInputError.__name__:
        return "no input"
    return "failed"


def parse_summary(text: str | None) -> dict[str, Any]:
    """A job_runs summary (JSON text); an unreadable one counts as empty."""
    try:
        value = json.loads(text or "{}", parse_float=Decimal)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class RunRow:
    """One row of ``job_runs``, its summary parsed."""

    run_id: str
    job: str
    run_date: date
    status: str
    exit_code: int
    published: bool
    started_at: datetime
    seconds: float | None
    summary: dict[str, Any]

    @property
    def outcome(self) -> str:
        return outcome(self.status, self.exit_code)


def run_rows(job_runs: pa.Table | None) -> list[RunRow]:
    """``job_runs`` rows, oldest start first (run_id breaks ties, so the order is total)."""
    if job_runs is None:
        return []
    rows = [
        RunRow(
            run_id=row["run_id"],
            job=row["job"],
            run_date=row["run_date"],
            status=row["status"],
            exit_code=int(row["exit_code"]),
            published=bool(row["published"]),
            started_at=row["started_at"],
            seconds=row["seconds"],
            summary=parse_summary(row["summary"]),
        )
        for row in job_runs.to_pylist()
    ]
    return sorted(rows, key=lambda row: (row.started_at, row.run_id))


def latest_runs(runs: list[RunRow]) -> dict[tuple[date, str], tuple[RunRow, int]]:
    """The latest run per (run_date, job), with how many runs the job had that day."""
    latest: dict[tuple[date, str], tuple[RunRow, int]] = {}
    for row in runs:  # oldest first: the last one seen wins
        key = (row.run_date, row.job)
        latest[key] = (row, latest[key][1] + 1 if key in latest else 1)
    return latest


@dataclass(frozen=True)
class RunCell:
    """One (day, job) of the runs grid: its latest run, or "not run"."""

    day: date
    job: str
    outcome: str
    status: str | None = None
    exit_code: int | None = None
    seconds: float | None = None
    run_id: str | None = None
    runs: int = 0
    error: str | None = None


def runs_grid(runs: list[RunRow], window: Window) -> list[RunCell]:
    """One cell per day of the window and job (the daily jobs, then others seen), by day."""
    seen = sorted({row.job for row in runs if row.run_date in window} - set(DAILY_JOBS))
    latest = latest_runs(runs)
    cells = []
    for day in window.days():
        for job in (*DAILY_JOBS, *seen):
            if (day, job) not in latest:
                cells.append(RunCell(day, job, "not run"))
                continue
            row, count = latest[(day, job)]
            error = row.summary.get("error")
            cells.append(
                RunCell(
                    day=day,
                    job=job,
                    outcome=row.outcome,
                    status=row.status,
                    exit_code=row.exit_code,
                    seconds=row.seconds,
                    run_id=row.run_id,
                    runs=count,
                    error=None if error is None else str(error),
                )
            )
    return cells


@dataclass(frozen=True)
class Failure:
    """The latest run in the window that did not end ok."""

    day: date
    job: str
    outcome: str
    status: str
    exit_code: int
    run_id: str
    started_at: datetime
    error: str


def latest_failure(runs: list[RunRow], window: Window) -> Failure | None:
    """The most recently started run of the window with a non-zero exit code, if any."""
    failed = [row for row in runs if row.run_date in window and row.exit_code != 0]
    if not failed:
        return None
    row = failed[-1]
    return Failure(
        day=row.run_date,
        job=row.job,
        outcome=row.outcome,
        status=row.status,
        exit_code=row.exit_code,
        run_id=row.run_id,
        started_at=row.started_at,
        error=str(row.summary.get("error") or "(the run recorded no error message)"),
    )


@dataclass(frozen=True)
class FunnelCounts:
    """An ingest run's records, unreadable files apart: read = loaded + duplicates + rejected."""

    records_read: int
    loaded: int
    duplicates_dropped: int
    rejected: int
    unreadable_files: int

    @property
    def conserved(self) -> bool:
        return self.records_read == self.loaded + self.duplicates_dropped + self.rejected


def funnel_counts(summary: dict[str, Any]) -> FunnelCounts | None:
    """The funnel of an ingest summary, or None when the run ended before counting.

    Summaries written before records and files were counted apart counted each unreadable
    file as one record read and one rejected, and as the reason ``unreadable_file``; the
    newer ones count records only in ``rejected`` and the files under ``files.unreadable``.
    An older summary is recognised by its ``unreadable_file`` reason count and the files
    are taken back out of its record counts, so both show the same funnel.
    """
    names = ("records_read", "loaded", "duplicates_dropped", "rejected")
    if not all(isinstance(summary.get(name), int) for name in names):
        return None
    read, loaded, duplicates, rejected = (int(summary[name]) for name in names)
    files: dict[str, Any] = summary["files"] if isinstance(summary.get("files"), dict) else {}
    listed = summary.get("unreadable_files")
    unreadable = int(files.get("unreadable") or (len(listed) if isinstance(listed, list) else 0))
    by_reason = summary.get("rejected_by_reason") or {}
    files_counted_as_records = (
        unreadable > 0
        and int(by_reason.get(UNREADABLE_FILE, 0)) >= unreadable
        and rejected >= unreadable
        and read >= unreadable
    )
    if files_counted_as_records:
        read, rejected = read - unreadable, rejected - unreadable
    return FunnelCounts(read, loaded, duplicates, rejected, unreadable)


@dataclass(frozen=True)
class FunnelDay:
    """One day of the funnel: the day's latest ingest run and its counts (None: none)."""

    day: date
    outcome: str
    run_id: str | None = None
    counts: FunnelCounts | None = None


def funnel(runs: list[RunRow], window: Window) -> list[FunnelDay]:
    """One row per day of the window from its latest ingest run, whatever its outcome."""
    latest = latest_runs([row for row in runs if row.job == "ingest"])
    days = []
    for day in window.days():
        if (day, "ingest") not in latest:
            days.append(FunnelDay(day, "not run"))
            continue
        row, _ = latest[(day, "ingest")]
        days.append(FunnelDay(day, row.outcome, row.run_id, funnel_counts(row.summary)))
    return days


@dataclass(frozen=True)
class ReasonCount:
    """Dead letters of one ingest day carrying one reason code."""

    day: date
    reason: str
    count: int


def reason_counts(rejects: pa.Table | None) -> list[ReasonCount]:
    """Dead letters per (ingest_date, reason), by day then reason.

    A record that broke several rules counts once under each, so a day's counts can add
    up to more than its dead letters (``dead_letters_per_day`` counts records).
    """
    if rejects is None or rejects.num_rows == 0:
        return []
    reasons = rejects.column("reasons")
    pairs = pa.table(
        {
            "day": pc.take(rejects.column("ingest_date"), pc.list_parent_indices(reasons)),
            "reason": pc.list_flatten(reasons),
        }
    )
    grouped = pairs.group_by(["day", "reason"]).aggregate([("reason", "count")]).to_pylist()
    return sorted(
        (ReasonCount(row["day"], row["reason"], int(row["reason_count"])) for row in grouped),
        key=lambda item: (item.day, item.reason),
    )


def dead_letters_per_day(rejects: pa.Table | None) -> dict[date, int]:
    """Rows of ``trades_rejected`` per ingest_date (records, plus one per unreadable file)."""
    if rejects is None or rejects.num_rows == 0:
        return {}
    grouped = rejects.group_by("ingest_date").aggregate([("ingest_date", "count")])
    return {row["ingest_date"]: int(row["ingest_date_count"]) for row in grouped.to_pylist()}


def top_reasons(counts: list[ReasonCount], day: date, limit: int = 5) -> list[ReasonCount]:
    """The day's most frequent reasons, most first (code order breaks ties)."""
    of_day = [item for item in counts if item.day == day]
    return sorted(of_day, key=lambda item: (-item.count, item.reason))[:limit]


def _mask_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: MASK if key.strip().lower() in PII_FIELDS else _mask_json(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_mask_json(item) for item in value]
    if isinstance(value, str):
        return _EMAIL.sub(MASK, value)
    return value


def _to_json(value: Any) -> str:
    """JSON text of a parsed record; numbers keep their exact text (``1.50`` stays)."""
    if isinstance(value, dict):
        items = (
            f"{json.dumps(key, ensure_ascii=False)}: {_to_json(v)}" for key, v in value.items()
        )
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_to_json(item) for item in value) + "]"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _mask_csv_line(line: str) -> str:
    fields = next(csv.reader([line]), [])
    return ",".join(
        field if _PUBLIC_CSV_FIELD.match(field.strip()) else MASK if field.strip() else field
        for field in fields
    )


def mask_record(record: str | None, source_file: str) -> str:
    """A dead letter's text with personal data replaced by ``***`` (not HTML-escaped).

    A JSON object loses the values of its PII fields by name and every e-mail address; a
    CSV line has no column names, so only fields shaped like public contract values are
    kept; any other text (a malformed line, an unreadable file's error) loses PII
    ``key: value`` pairs and e-mail addresses.
    """
    if record is None:
        return ""
    try:
        parsed = json.loads(record, parse_float=Decimal)
    except (json.JSONDecodeError, RecursionError):
        parsed = None
    if isinstance(parsed, dict):
        return _to_json(_mask_json(parsed))
    name = source_file.lower()
    if name.endswith((".csv", ".csv.gz")) and "\n" not in record.strip():
        return _mask_csv_line(record)
    text = _PII_PAIR.sub(lambda match: f"{match.group('key')}{MASK}", record)
    return _EMAIL.sub(MASK, text)


@dataclass(frozen=True)
class DeadLetter:
    """One example dead letter, its text masked and cut to ``MAX_RECORD_CHARS``."""

    day: date
    source_file: str
    reasons: tuple[str, ...]
    text: str
    length: int

    @property
    def truncated(self) -> bool:
        return len(self.text) < self.length


def dead_letter_examples(rows: pa.Table | None, limit: int = 5) -> list[DeadLetter]:
    """A few dead letters: first one per distinct set of reasons, then the next rows.

    Rows are taken in the order scanned, so the examples are stable for a given table.
    """
    if rows is None:
        return []
    scanned = rows.to_pylist()
    chosen: list[int] = []
    seen: set[tuple[str, ...]] = set()
    for index, row in enumerate(scanned):
        reasons = tuple(row["reasons"] or ())
        if reasons not in seen and len(chosen) < limit:
            seen.add(reasons)
            chosen.append(index)
    chosen += [i for i in range(len(scanned)) if i not in chosen][: limit - len(chosen)]
    examples = []
    for index in chosen:
        row = scanned[index]
        masked = mask_record(row["record"], row["source_file"] or "")
        examples.append(
            DeadLetter(
                row["ingest_date"],
                row["source_file"],
                tuple(row["reasons"] or ()),
                masked[:MAX_RECORD_CHARS],
                len(masked),
            )
        )
    return examples


def _decimal(text: str | None) -> Decimal | None:
    try:
        return None if text is None else Decimal(text)
    except InvalidOperation:
        return None


@dataclass(frozen=True)
class QualityPoint:
    """One check of one day's latest run: observed against threshold."""

    day: date
    check: str
    job: str
    table_name: str
    severity: str
    passed: bool
    observed: Decimal | None
    threshold: str
    run_id: str

    @property
    def limit(self) -> Decimal | None:
        """The bound of an ``<= x`` threshold."""
        match = _AT_MOST.match(self.threshold)
        return _decimal(match.group("limit")) if match else None

    @property
    def band(self) -> tuple[Decimal, Decimal] | None:
        """The ``within [low, high]`` band of the volume anomaly check, if it had history."""
        match = _WITHIN.search(self.threshold)
        if not match:
            return None
        low, high = _decimal(match.group("low")), _decimal(match.group("high"))
        return None if low is None or high is None else (low, high)


def _observed(text: str | None) -> Decimal | None:
    try:
        value = json.loads(text or "null", parse_float=Decimal)
    except json.JSONDecodeError:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return None
    return Decimal(value)


def quality_points(quality: pa.Table | None) -> list[QualityPoint]:
    """Checks of the latest run of each (check_date, job), by day, job and check name."""
    if quality is None:
        return []
    rows = quality.to_pylist()
    latest: dict[tuple[date, str], tuple[datetime, str]] = {}
    for row in rows:
        key = (row["check_date"], row["job"])
        candidate = (row["recorded_at"], row["run_id"])
        if key not in latest or candidate > latest[key]:
            latest[key] = candidate
    points = [
        QualityPoint(
            day=row["check_date"],
            check=row["check"],
            job=row["job"],
            table_name=row["table_name"],
            severity=row["severity"],
            passed=bool(row["passed"]),
            observed=_observed(row["observed"]),
            threshold=row["threshold"] or "",
            run_id=row["run_id"],
        )
        for row in rows
        if latest[(row["check_date"], row["job"])][1] == row["run_id"]
    ]
    return sorted(points, key=lambda point: (point.day, point.job, point.check))


def quality_series(points: list[QualityPoint]) -> dict[str, list[QualityPoint]]:
    """The charted ingest checks, each a series by day (a check with no point is absent)."""
    series: dict[str, list[QualityPoint]] = defaultdict(list)
    for point in points:
        if point.job == "ingest" and point.check in CHARTED_CHECKS:
            series[point.check].append(point)
    return {check: series[check] for check in CHARTED_CHECKS if check in series}


def failed_checks(points: list[QualityPoint]) -> list[QualityPoint]:
    """Every check of the latest runs that did not pass, newest day first."""
    failed = [point for point in points if not point.passed]
    return sorted(failed, key=lambda point: (-point.day.toordinal(), point.job, point.check))


@dataclass(frozen=True)
class SymbolVolume:
    """One symbol's day in ``daily_volume``."""

    day: date
    symbol: str
    trade_count: int
    total_volume: Decimal


def symbol_ranking(daily_volume: pa.Table | None) -> list[tuple[str, int]]:
    """Symbols by trades over the window, most first (symbol order breaks ties)."""
    if daily_volume is None or daily_volume.num_rows == 0:
        return []
    grouped = daily_volume.group_by("symbol").aggregate([("trade_count", "sum")]).to_pylist()
    ranked = [(row["symbol"], int(row["trade_count_sum"])) for row in grouped]
    return sorted(ranked, key=lambda item: (-item[1], item[0]))


def volume_by_symbol(daily_volume: pa.Table | None, top: int = 10) -> list[SymbolVolume]:
    """The ``top`` most traded symbols' days, by day then symbol."""
    keep = {symbol for symbol, _ in symbol_ranking(daily_volume)[:top]}
    if daily_volume is None or not keep:
        return []
    rows = [
        SymbolVolume(row["trade_date"], row["symbol"], int(row["trade_count"]), row["total_volume"])
        for row in daily_volume.to_pylist()
        if row["symbol"] in keep
    ]
    return sorted(rows, key=lambda item: (item.day, item.symbol))


def latest_day_of(daily_volume: pa.Table | None, symbol: str) -> date | None:
    """The last trade_date with a ``daily_volume`` row for ``symbol``."""
    if daily_volume is None or daily_volume.num_rows == 0:
        return None
    mask = pc.equal(daily_volume.column("symbol"), symbol)
    days = pc.filter(daily_volume.column("trade_date"), mask)
    return None if len(days) == 0 else pc.max(days).as_py()


@dataclass(frozen=True)
class Candle:
    """One OHLCV bar."""

    bar_start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trade_count: int


def candles(bars: pa.Table | None) -> list[Candle]:
    """The bars of one symbol and day, by bar_start."""
    if bars is None:
        return []
    rows = [
        Candle(
            row["bar_start"],
            row["open"],
            row["high"],
            row["low"],
            row["close"],
            row["volume"],
            int(row["trade_count"]),
        )
        for row in bars.to_pylist()
    ]
    return sorted(rows, key=lambda candle: candle.bar_start)


def latest_day(table: pa.Table | None, column: str) -> date | None:
    """The latest date in ``column`` (e.g. the last ingest day with dead letters)."""
    if table is None or table.num_rows == 0:
        return None
    latest = pc.max(table.column(column)).as_py()
    return latest if isinstance(latest, date) else None


@dataclass(frozen=True)
class LakeTables:
    """What the report read from the lake (None: the table does not exist)."""

    job_runs: pa.Table | None = None
    quality_results: pa.Table | None = None
    # ingest_date and reasons of the window's dead letters.
    rejects: pa.Table | None = None
    # A few whole dead letters of the last day with any.
    dead_letters: pa.Table | None = None
    daily_volume: pa.Table | None = None
    # One symbol's bars of one day.
    bars: pa.Table | None = None
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReportData:
    """Everything the five sections draw, for one window."""

    window: Window
    source: str
    missing: tuple[str, ...]
    runs: list[RunCell]
    failure: Failure | None
    funnel: list[FunnelDay]
    reasons: list[ReasonCount]
    dead_letters_per_day: dict[date, int]
    reject_day: date | None
    top_reasons: list[ReasonCount]
    examples: list[DeadLetter]
    quality: dict[str, list[QualityPoint]]
    failed_checks: list[QualityPoint]
    volumes: list[SymbolVolume]
    symbol_count: int
    symbol: str | None
    interval: str
    bar_day: date | None
    candles: list[Candle]


def build_report(
    tables: LakeTables,
    window: Window,
    *,
    source: str,
    symbol: str | None,
    interval: str,
    bar_day: date | None,
) -> ReportData:
    """Every section's rows from what was read; ``symbol`` and ``bar_day`` name the bars."""
    runs = run_rows(tables.job_runs)
    reasons = reason_counts(tables.rejects)
    reject_day = latest_day(tables.rejects, "ingest_date")
    points = quality_points(tables.quality_results)
    return ReportData(
        window=window,
        source=source,
        missing=tables.missing,
        runs=runs_grid(runs, window),
        failure=latest_failure(runs, window),
        funnel=funnel(runs, window),
        reasons=reasons,
        dead_letters_per_day=dead_letters_per_day(tables.rejects),
        reject_day=reject_day,
        top_reasons=[] if reject_day is None else top_reasons(reasons, reject_day),
        examples=dead_letter_examples(tables.dead_letters),
        quality=quality_series(points),
        failed_checks=failed_checks(points),
        volumes=volume_by_symbol(tables.daily_volume),
        symbol_count=len(symbol_ranking(tables.daily_volume)),
        symbol=symbol,
        interval=interval,
        bar_day=bar_day,
        candles=candles(tables.bars),
    )
