"""A plain-Python reference model of the ingest, written from docs/contract.md.

One landing (``expected_day``): it reads a landing folder the way the contract describes
(JSON Lines, CSV with a header, Parquet; ``.gz`` text; ``_``/``.`` names ignored; empty files
apart) and applies "Fields and rules", "Reason codes", "Duplicates" (per trade_id and
report_seq) and the landing's window with ``decimal.Decimal`` and ``datetime`` only.

Across landings (``report_rows``, ``resolve``, ``trade_rows``, ``daily_volume``):
``trade_reports`` holds every landing's latest reports; "Versions: late reports,
corrections, cancels" — per (trade_date, trade_id) the report with the highest report_seq
wins, then the latest landing; a winning cancel leaves the trade out of ``trades`` — and
docs/jobs.md's ``daily_volume`` of what remains, with exact fractions.

It never imports tradelake: the fuzz tests compare it with the product, so sharing code
would make the comparison vacuous.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

# Bounds of conf/local.toml [contract], as the contract states them.
MAX_PRICE = Decimal("1000000")
MAX_QUANTITY = Decimal("1000000000")
FUTURE_TOLERANCE = timedelta(seconds=300)
MONEY_DECIMALS = 8

# "Reason codes", in the order a record lists them.
RECORD_REASONS: tuple[str, ...] = (
    "trade_id_missing",
    "symbol_missing",
    "symbol_invalid",
    "side_missing",
    "side_invalid",
    "price_missing",
    "price_not_numeric",
    "price_out_of_range",
    "price_too_precise",
    "quantity_missing",
    "quantity_not_numeric",
    "quantity_out_of_range",
    "quantity_too_precise",
    "timestamp_missing",
    "timestamp_invalid",
    "timestamp_outside_partition",
    "timestamp_in_future",
    "exchange_missing",
    "report_type_invalid",
    "report_seq_invalid",
)
ALL_REASONS: tuple[str, ...] = (
    "malformed_record",
    "unreadable_file",
    *RECORD_REASONS,
    "duplicate_conflict",
)
FIELDS = ("trade_id", "symbol", "side", "price", "quantity", "timestamp", "exchange")
# "Versions": optional; absent report_type is new, absent report_seq is 0.
VERSION_FIELDS = ("report_type", "report_seq")
READ_FIELDS = FIELDS + VERSION_FIELDS
NEW, CORRECT, CANCEL = "new", "correct", "cancel"
REPORT_TYPES = (NEW, CORRECT, CANCEL)
MAX_REPORT_SEQ = 2**31 - 1
# What a cancel may leave out: it needs only trade_id and timestamp.
CANCEL_OPTIONAL = ("symbol", "side", "price", "quantity", "exchange")

# "Strings are trimmed (ASCII whitespace)".
ASCII_SPACE = " \t\r\n\f\v"
SYMBOL = re.compile(r"[A-Z0-9_-]+")
# "plain or scientific notation; not NaN, Infinity, hex or thousands separators"
NUMBER = re.compile(r"[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?")
# "a whole number from 0 to 2147483647 written in plain digits"
PLAIN_DIGITS = re.compile(r"[0-9]+")
# ISO-8601 date-time: a date, T or a space, hh:mm[:ss[.ffffff]], then Z, +hh:mm, -hh:mm or
# nothing (UTC). A date alone is not an instant.
ISO_INSTANT = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:[.]([0-9]{1,6}))?)?(Z|[+-][0-9]{2}:[0-9]{2})?"
)
# Hadoop's text reader ends a line at \n, \r or \r\n, and nowhere else.
LINE_END = re.compile(r"\r\n|\r|\n")

Scalar = str | int | Decimal | bool | datetime | None


@dataclass(frozen=True)
class RawRecord:
    """One record as a reader sees it: its file, its text, and its field values."""

    source_file: str
    record: str | None  # the raw line (text formats); None for Parquet rows
    malformed: bool
    fields: dict[str, Scalar]


@dataclass(frozen=True)
class Loaded:
    """One accepted report (a row of ``trade_reports``); None where a cancel left a field out."""

    report_type: str
    symbol: str | None
    side: str | None
    price: Decimal | None
    quantity: Decimal | None
    traded_at: datetime
    exchange: str | None
    source_file: str

    @property
    def trade_date(self) -> date:
        return self.traded_at.astimezone(UTC).date()


# A report of one landing: (trade_id, report_seq).
ReportKey = tuple[str, int]


@dataclass(frozen=True)
class Reject:
    """One dead letter: its file, its raw text (None for Parquet and unreadable files)."""

    source_file: str
    record: str | None
    reasons: tuple[str, ...]


@dataclass
class Expected:
    """What ingesting one landing must produce.

    ``records_read``, ``rejects`` and ``rejected_by_reason`` count records; an unreadable
    file is no record (nobody knows how many it held): it is listed in ``unreadable`` and
    becomes one dead letter of its own (``dead_letters``). ``loaded``: the landing's
    reports, one per (trade_id, report_seq).
    """

    records_read: int = 0
    loaded: dict[ReportKey, Loaded] = field(default_factory=dict)
    duplicates: int = 0
    rejects: Counter[Reject] = field(default_factory=Counter)
    empty: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    def rejected_by_reason(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for reject, times in self.rejects.items():
            for reason in reject.reasons:
                counts[reason] += times
        return dict(counts)

    def dead_letters(self) -> Counter[Reject]:
        """The rows of trades_rejected: rejected records, and one per unreadable file."""
        files = Counter(Reject(name, None, ("unreadable_file",)) for name in self.unreadable)
        return self.rejects + files

    def loaded_by_date(self) -> dict[date, int]:
        """Loaded reports per trade day (the summary's ``loaded_by_date``)."""
        return dict(Counter(report.trade_date for report in self.loaded.values()))


@dataclass(frozen=True)
class _Valid:
    trade_id: str
    report_seq: int
    report: Loaded
    record: str | None

    def content(self) -> tuple[Any, ...]:
        """The normalized content two copies of one report are compared on ("Duplicates")."""
        r = self.report
        return (r.report_type, r.symbol, r.side, r.price, r.quantity, r.traded_at, r.exchange)

    def winner_key(self) -> tuple[Any, ...]:
        """Latest timestamp first, then the smallest content (an absent value is smallest)."""
        r = self.report
        rest = (r.symbol, r.side, r.price, r.quantity, r.exchange)
        return (-_micros(r.traded_at), r.report_type, *[_absent_first(v) for v in rest])


def _absent_first(value: Any) -> tuple[Any, ...]:
    return (0,) if value is None else (1, value)


def expected_day(folder: Path, day: date, now: datetime, max_lateness_days: int = 0) -> Expected:
    """Everything an ingest of landing ``day`` (read from ``folder``) started at ``now`` must
    produce, with a window of ``max_lateness_days`` days before it."""
    out = Expected()
    records: list[RawRecord] = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        name = path.name
        if path.is_dir() or name.startswith(("_", ".")):
            out.ignored.append(name)
        elif path.stat().st_size == 0:
            out.empty.append(name)
        else:
            read = _read_file(path)
            if read is None:
                out.unreadable.append(name)
            else:
                records.extend(read)
    out.records_read = len(records)
    window = (
        datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(days=max_lateness_days),
        datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1),
    )
    valid: list[_Valid] = []
    for raw in records:
        reasons, parsed = _validate(raw, window, now)
        if reasons:
            out.rejects[Reject(raw.source_file, raw.record, reasons)] += 1
        else:
            assert parsed is not None
            valid.append(parsed)
    _dedupe(valid, out)
    return out


def _read_file(path: Path) -> list[RawRecord] | None:
    """Records of one landing file, or None when the whole file is unreadable."""
    lowered = path.name.lower()
    text_name = lowered.removesuffix(".gz")
    if text_name.endswith((".jsonl", ".ndjson", ".json")):
        return [_json_record(path.name, line) for line in _lines(path) if not _blank(line)]
    if text_name.endswith(".csv"):
        return _csv_records(path.name, _lines(path))
    if lowered.endswith(".parquet"):
        return _parquet_records(path)
    return None


def _lines(path: Path) -> list[str]:
    data = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        data = gzip.decompress(data)
    # A byte-order mark opening a file is its encoding's mark, not data: the product's
    # line reader (Hadoop's) drops it, so a first line "\ufeff{...}" is the object.
    lines = LINE_END.split(data.decode("utf-8-sig"))
    # A final line end closes the last line; it does not start an empty one.
    return lines[:-1] if lines and lines[-1] == "" else lines


def _blank(line: str) -> bool:
    """A line holding nothing but ASCII whitespace carries no record."""
    return line.strip(ASCII_SPACE) == ""


class _NotAnObject(ValueError):
    pass


def _strict_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A repeated name makes the object ambiguous: which value is the trade's?
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise _NotAnObject(f"repeated names in {names}")
    return dict(pairs)


def _reject_constant(token: str) -> Any:
    raise _NotAnObject(f"{token} is not JSON")


def _json_record(source: str, line: str) -> RawRecord:
    try:
        # "Field values are taken as their exact text": a bare number as written, so
        # 7.0 stays "7.0" and -0 stays "-0" (neither is a report_seq).
        value = json.loads(
            line,
            parse_float=str,
            parse_int=str,
            parse_constant=_reject_constant,
            object_pairs_hook=_strict_object,
        )
    except ValueError:
        value = None
    if not isinstance(value, dict):
        return RawRecord(source, line, True, {})
    for name in READ_FIELDS:
        if isinstance(value.get(name), dict | list):
            raise NotImplementedError(f"nested JSON in {name} is not modelled: {line}")
    return RawRecord(source, line, False, {name: value.get(name) for name in READ_FIELDS})


def _csv_records(source: str, lines: list[str]) -> list[RawRecord] | None:
    if not lines or not lines[0].strip():
        return None  # "CSV without header": the whole file is unreadable
    header = lines[0]
    names = [name.strip().strip('"').strip().lower() for name in header.lstrip("\ufeff").split(",")]
    position = {name: index for index, name in reversed(list(enumerate(names)))}
    out = []
    for line in lines[1:]:
        if _blank(line):
            continue
        assert line != header, "a data line equal to the header is dropped; never generated"
        cells = next(csv.reader([line]))
        if len(cells) != len(names):
            out.append(RawRecord(source, line, True, {}))
            continue
        fields: dict[str, Scalar] = {
            name: (cells[position[name]] or None) if name in position else None
            for name in READ_FIELDS
        }
        out.append(RawRecord(source, line, False, fields))
    return out


def _parquet_records(path: Path) -> list[RawRecord]:
    table = pq.read_table(path)
    out = []
    for row in table.to_pylist():
        by_name = {name.lower(): value for name, value in row.items()}
        out.append(RawRecord(path.name, None, False, {n: by_name.get(n) for n in READ_FIELDS}))
    return out


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    trimmed = value.strip(ASCII_SPACE)
    return trimmed or None


def _as_text(value: Scalar) -> str | None:
    """A text field's value; true/false and typed integers read as their literal text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    raise NotImplementedError(f"{value!r} in a text field is not modelled")


def _decimal_places(value: Decimal) -> int:
    """Decimals the exact value needs (trailing zeros do not count)."""
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    stripped = "".join(map(str, digits)).rstrip("0")
    if not stripped:
        return 0
    exponent += len(digits) - len(stripped)
    return max(0, -exponent)


def _amount(
    value: Scalar, name: str, max_value: Decimal, max_inclusive: bool, required: bool
) -> tuple[Decimal | None, list[str]]:
    """An exact price or quantity and the rules it breaks ("Numbers: price and quantity").

    ``required``: whether a missing value is a reason (every report but a cancel).
    """
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        number = Decimal(value)  # a typed Parquet value: exact already
    else:
        text = _clean(_as_text(value))
        if text is None:
            return None, [f"{name}_missing"] if required else []
        if not NUMBER.fullmatch(text):
            return None, [f"{name}_not_numeric"]
        number = Decimal(text)
    above = number > max_value if max_inclusive else number >= max_value
    if number <= 0 or above:
        return None, [f"{name}_out_of_range"]
    if _decimal_places(number) > MONEY_DECIMALS:
        return None, [f"{name}_too_precise"]
    return number, []


def parse_instant(text: str) -> datetime | None:
    """The UTC instant of an ISO-8601 date-time text, or None if it is not one."""
    match = ISO_INSTANT.fullmatch(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        local = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            int((fraction or "").ljust(6, "0")),
            tzinfo=UTC,
        )
    except ValueError:
        return None  # 2025-02-30, 24:00, 10:60, a leap second
    if zone in (None, "Z"):
        return local
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    if minutes >= 60 or hours > 18:
        return None
    offset = timedelta(hours=hours, minutes=minutes)
    return local - offset if zone[0] == "+" else local + offset


def report_seq(text: str | None) -> int | None:
    """The sequence number of a (trimmed) ``report_seq`` text: 0 when absent, None if invalid."""
    if text is None:
        return 0
    if not PLAIN_DIGITS.fullmatch(text) or int(text) > MAX_REPORT_SEQ:
        return None
    return int(text)


def _text_rule(
    value: str | None, required: bool, missing: str, invalid: str, ok: bool
) -> list[str]:
    """A text field's reasons: missing (when required) or present and not ``ok``."""
    if value is None:
        return [missing] if required else []
    return [] if ok else [invalid]


def _validate(
    raw: RawRecord, window: tuple[datetime, datetime], now: datetime
) -> tuple[tuple[str, ...], _Valid | None]:
    if raw.malformed:
        return ("malformed_record",), None
    fields = raw.fields
    type_text = _clean(_as_text(fields["report_type"]))
    report_type = NEW if type_text is None else type_text.lower()
    # A cancel names its trade and its day; whatever else it carries is checked if present.
    required = report_type != CANCEL
    seq_text = _clean(_as_text(fields["report_seq"]))
    seq = report_seq(seq_text)
    broken: list[str] = []
    trade_id = _clean(_as_text(fields["trade_id"]))
    if trade_id is None:
        broken.append("trade_id_missing")
    symbol_text = _clean(_as_text(fields["symbol"]))
    symbol = symbol_text.upper() if symbol_text is not None else None
    broken += _text_rule(
        symbol,
        required,
        "symbol_missing",
        "symbol_invalid",
        symbol is not None and SYMBOL.fullmatch(symbol) is not None,
    )
    side_text = _clean(_as_text(fields["side"]))
    side = side_text.lower() if side_text is not None else None
    broken += _text_rule(side, required, "side_missing", "side_invalid", side in ("buy", "sell"))
    price, price_broken = _amount(
        fields["price"], "price", MAX_PRICE, max_inclusive=False, required=required
    )
    quantity, quantity_broken = _amount(
        fields["quantity"], "quantity", MAX_QUANTITY, max_inclusive=True, required=required
    )
    broken += price_broken + quantity_broken
    stamp = fields["timestamp"]
    traded_at: datetime | None
    if isinstance(stamp, datetime):
        traded_at = stamp.astimezone(UTC)  # a Parquet timestamp is an instant already
    else:
        stamp_text = _clean(_as_text(stamp))
        traded_at = None if stamp_text is None else parse_instant(stamp_text)
        if stamp_text is None:
            broken.append("timestamp_missing")
        elif traded_at is None:
            broken.append("timestamp_invalid")
    if traded_at is not None:
        # "Timestamps": inside the landing's window, and not in the future.
        if not window[0] <= traded_at < window[1]:
            broken.append("timestamp_outside_partition")
        if traded_at > now + FUTURE_TOLERANCE:
            broken.append("timestamp_in_future")
    exchange = _clean(_as_text(fields["exchange"]))
    if exchange is None and required:
        broken.append("exchange_missing")
    if report_type not in REPORT_TYPES:
        broken.append("report_type_invalid")
    if seq is None:
        broken.append("report_seq_invalid")
    if broken:
        return tuple(sorted(broken, key=RECORD_REASONS.index)), None
    assert trade_id is not None and traded_at is not None and seq is not None
    report = Loaded(
        report_type, symbol, side, price, quantity, traded_at, exchange, raw.source_file
    )
    return (), _Valid(trade_id, seq, report, raw.record)


def _micros(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _dedupe(valid: list[_Valid], out: Expected) -> None:
    """Per (trade_id, report_seq) ("Duplicates"): the latest timestamp wins, ties by the
    smallest content; copies of the winner collapse (the first file's is kept), the other
    versions conflict."""
    by_report: dict[ReportKey, list[_Valid]] = {}
    for record in valid:
        by_report.setdefault((record.trade_id, record.report_seq), []).append(record)
    for key, versions in by_report.items():
        winner = min(versions, key=_Valid.winner_key).content()
        copies = [v for v in versions if v.content() == winner]
        kept = min(copies, key=lambda v: v.report.source_file)
        out.loaded[key] = kept.report
        out.duplicates += len(copies) - 1
        for version in versions:
            if version.content() != winner:
                out.rejects[
                    Reject(version.report.source_file, version.record, ("duplicate_conflict",))
                ] += 1


# --- across landings: trade_reports -> trades -> daily_volume ---------------------------


@dataclass(frozen=True)
class Report:
    """A row of ``trade_reports``: one landing's accepted report."""

    landing: date
    trade_id: str
    report_seq: int
    loaded: Loaded

    @property
    def trade_date(self) -> date:
        return self.loaded.trade_date


@dataclass(frozen=True)
class DayOutcome:
    """A resolved day: ``reports = current + cancelled + superseded``."""

    reports: int
    current: int
    cancelled: int
    superseded: int


@dataclass
class Resolution:
    """``trades``: the current report of every trade (cancelled ones absent), and per day
    how its reports were decided."""

    current: dict[tuple[date, str], Report]
    outcomes: dict[date, DayOutcome]


def reports_of(landings: Mapping[date, Expected]) -> list[Report]:
    """Every landing's latest accepted reports: ``trade_reports``."""
    return [
        Report(landing, trade_id, seq, loaded)
        for landing, expected in landings.items()
        for (trade_id, seq), loaded in expected.loaded.items()
    ]


def resolve(reports: Iterable[Report]) -> Resolution:
    """Per (trade_date, trade_id) the highest report_seq wins, then the later landing; a
    winning cancel leaves the trade out ("Versions")."""
    by_trade: dict[tuple[date, str], list[Report]] = {}
    for report in reports:
        by_trade.setdefault((report.trade_date, report.trade_id), []).append(report)
    current: dict[tuple[date, str], Report] = {}
    counts: dict[date, Counter[str]] = {}
    for key, versions in by_trade.items():
        # A landing holds one report per (trade_id, report_seq): the winner is unique.
        assert len({(r.report_seq, r.landing) for r in versions}) == len(versions), versions
        winner = max(versions, key=lambda r: (r.report_seq, r.landing))
        day = counts.setdefault(key[0], Counter())
        day["reports"] += len(versions)
        day["superseded"] += len(versions) - 1
        if winner.loaded.report_type == CANCEL:
            day["cancelled"] += 1
        else:
            day["current"] += 1
            current[key] = winner
    outcomes = {
        day: DayOutcome(c["reports"], c["current"], c["cancelled"], c["superseded"])
        for day, c in counts.items()
    }
    return Resolution(current, outcomes)


def landing_file(path: str) -> str:
    """``date=<landing>/<file>``: how the model names a raw file across landings (a
    ``source_file`` path or URI, named apart from where the landing root is)."""
    return "/".join(path.rstrip("/").rsplit("/", 2)[-2:])


def report_rows(reports: Iterable[Report]) -> list[dict[str, Any]]:
    """The rows of ``trade_reports``: every column but the run's (run_id, ingested_at);
    personal data is never generated, so it is null; ``source_file`` as ``landing_file``
    names it."""
    return [
        {
            "trade_id": report.trade_id,
            "report_type": report.loaded.report_type,
            "report_seq": report.report_seq,
            "symbol": report.loaded.symbol,
            "side": report.loaded.side,
            "price": report.loaded.price,
            "quantity": report.loaded.quantity,
            "traded_at": report.loaded.traded_at,
            "exchange": report.loaded.exchange,
            "trade_date": report.trade_date,
            "landing_date": report.landing,
            "source_file": f"date={report.landing.isoformat()}/{report.loaded.source_file}",
            "account_id": None,
            "trader_email": None,
        }
        for report in reports
    ]


def trade_rows(resolution: Resolution) -> list[dict[str, Any]]:
    """The rows of ``trades``: the current reports as ``report_rows`` gives them (a current
    report is never a cancel, so none of its fields is null but personal data)."""
    return report_rows(resolution.current.values())


@dataclass(frozen=True)
class Volume:
    """A row of ``daily_volume`` (without its trade_date and symbol, its key)."""

    trade_count: int
    total_volume: Decimal
    avg_price: Decimal
    vwap: Decimal
    low_price: Decimal
    high_price: Decimal
    open_price: Decimal
    close_price: Decimal


def _half_up(value: Fraction) -> Decimal:
    """A positive exact value rounded half-up to 8 decimals ("Derived prices")."""
    units = value * 10**MONEY_DECIMALS
    whole = units.numerator // units.denominator
    if units - whole >= Fraction(1, 2):
        whole += 1
    return Decimal(whole).scaleb(-MONEY_DECIMALS)


def daily_volume(current: Iterable[Report]) -> dict[tuple[date, str], Volume]:
    """Per (trade_date, symbol) of the current trades: count, volume, mean price, VWAP and
    OHLC (first and last trade by (traded_at, trade_id))."""
    by_symbol: dict[tuple[date, str], list[Report]] = {}
    for report in current:
        assert report.loaded.symbol is not None, "a current report is never a cancel"
        by_symbol.setdefault((report.trade_date, report.loaded.symbol), []).append(report)
    out = {}
    for key, reports in by_symbol.items():
        prices = [_money(r.loaded.price) for r in reports]
        quantities = [_money(r.loaded.quantity) for r in reports]
        volume = sum(quantities, Decimal(0))
        notional = sum((Fraction(p) * Fraction(q) for p, q in zip(prices, quantities, strict=True)))
        ordered = sorted(reports, key=lambda r: (r.loaded.traded_at, r.trade_id))
        out[key] = Volume(
            trade_count=len(reports),
            total_volume=volume,
            avg_price=_half_up(Fraction(sum(prices, Decimal(0))) / len(prices)),
            vwap=_half_up(notional / Fraction(volume)),
            low_price=min(prices),
            high_price=max(prices),
            open_price=_money(ordered[0].loaded.price),
            close_price=_money(ordered[-1].loaded.price),
        )
    return out


def _money(value: Decimal | None) -> Decimal:
    assert value is not None
    return value
