"""A plain-Python reference model of ingesting one landing day, written from the README.

It reads a day folder the way the README describes (JSON Lines, CSV with a header, Parquet;
``.gz`` text; ``_``/``.`` names ignored; empty files apart) and applies "The trade contract",
"Reason codes" and "Duplicates" with ``decimal.Decimal`` and ``datetime`` only. It never
imports tradelake: a fuzz test compares it with the product, so sharing code would make the
comparison vacuous.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

# Bounds of conf/local.toml [contract], as the README states them.
MAX_PRICE = Decimal("1000000")
MAX_QUANTITY = Decimal("1000000000")
FUTURE_TOLERANCE = timedelta(seconds=300)
MONEY_DECIMALS = 8

# README "Reason codes", in the order a record lists them.
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
)
ALL_REASONS: tuple[str, ...] = (
    "malformed_record",
    "unreadable_file",
    *RECORD_REASONS,
    "duplicate_conflict",
)
FIELDS = ("trade_id", "symbol", "side", "price", "quantity", "timestamp", "exchange")

# "Strings are trimmed (ASCII whitespace)".
ASCII_SPACE = " \t\r\n\f\v"
SYMBOL = re.compile(r"[A-Z0-9_-]+")
# "plain or scientific notation; not NaN, Infinity, hex or thousands separators"
NUMBER = re.compile(r"[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?")
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
    """The row ``trades`` gets for one trade_id."""

    symbol: str
    side: str
    price: Decimal
    quantity: Decimal
    traded_at: datetime
    exchange: str
    source_file: str


@dataclass(frozen=True)
class Reject:
    """One dead letter: its file, its raw text (None for Parquet and unreadable files)."""

    source_file: str
    record: str | None
    reasons: tuple[str, ...]


@dataclass
class Expected:
    """What ingesting the day must produce.

    ``records_read``, ``rejects`` and ``rejected_by_reason`` count records; an unreadable
    file is no record (nobody knows how many it held): it is listed in ``unreadable`` and
    becomes one dead letter of its own (``dead_letters``).
    """

    records_read: int = 0
    loaded: dict[str, Loaded] = field(default_factory=dict)
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


@dataclass(frozen=True)
class _Valid:
    trade_id: str
    symbol: str
    side: str
    price: Decimal
    quantity: Decimal
    traded_at: datetime
    exchange: str
    source_file: str
    record: str | None

    def content(self) -> tuple[str, str, Decimal, Decimal, datetime, str]:
        return (self.symbol, self.side, self.price, self.quantity, self.traded_at, self.exchange)


def expected_day(folder: Path, day: date, now: datetime) -> Expected:
    """Everything an ingest of ``folder`` for ``day`` started at ``now`` must produce."""
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
    valid: list[_Valid] = []
    for raw in records:
        reasons, parsed = _validate(raw, day, now)
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
        value = json.loads(
            line,
            parse_float=Decimal,
            parse_int=int,
            parse_constant=_reject_constant,
            object_pairs_hook=_strict_object,
        )
    except ValueError:
        value = None
    if not isinstance(value, dict):
        return RawRecord(source, line, True, {})
    for name in FIELDS:
        if isinstance(value.get(name), dict | list):
            raise NotImplementedError(f"nested JSON in {name} is not modelled: {line}")
    return RawRecord(source, line, False, {name: value.get(name) for name in FIELDS})


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
            name: (cells[position[name]] or None) if name in position else None for name in FIELDS
        }
        out.append(RawRecord(source, line, False, fields))
    return out


def _parquet_records(path: Path) -> list[RawRecord]:
    table = pq.read_table(path)
    out = []
    for row in table.to_pylist():
        by_name = {name.lower(): value for name, value in row.items()}
        out.append(RawRecord(path.name, None, False, {n: by_name.get(n) for n in FIELDS}))
    return out


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    trimmed = value.strip(ASCII_SPACE)
    return trimmed or None


def _as_text(value: Scalar) -> str | None:
    """A text field's value; JSON true/false and integers read as their literal text."""
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
    value: Scalar, name: str, max_value: Decimal, max_inclusive: bool
) -> tuple[Decimal | None, list[str]]:
    """An exact price or quantity and the rules it breaks (README "The trade contract")."""
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        number = Decimal(value)  # a JSON number or a typed Parquet value: exact already
    else:
        text = _clean(_as_text(value))
        if text is None:
            return None, [f"{name}_missing"]
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


def _validate(raw: RawRecord, day: date, now: datetime) -> tuple[tuple[str, ...], _Valid | None]:
    if raw.malformed:
        return ("malformed_record",), None
    broken: list[str] = []
    trade_id = _clean(_as_text(raw.fields["trade_id"]))
    if trade_id is None:
        broken.append("trade_id_missing")
    symbol_text = _clean(_as_text(raw.fields["symbol"]))
    symbol = symbol_text.upper() if symbol_text is not None else None
    if symbol is None:
        broken.append("symbol_missing")
    elif not SYMBOL.fullmatch(symbol):
        broken.append("symbol_invalid")
    side_text = _clean(_as_text(raw.fields["side"]))
    side = side_text.lower() if side_text is not None else None
    if side is None:
        broken.append("side_missing")
    elif side not in ("buy", "sell"):
        broken.append("side_invalid")
    price, price_broken = _amount(raw.fields["price"], "price", MAX_PRICE, max_inclusive=False)
    quantity, quantity_broken = _amount(
        raw.fields["quantity"], "quantity", MAX_QUANTITY, max_inclusive=True
    )
    broken += price_broken + quantity_broken
    stamp = raw.fields["timestamp"]
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
        day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        if not day_start <= traded_at < day_start + timedelta(days=1):
            broken.append("timestamp_outside_partition")
        if traded_at > now + FUTURE_TOLERANCE:
            broken.append("timestamp_in_future")
    exchange = _clean(_as_text(raw.fields["exchange"]))
    if exchange is None:
        broken.append("exchange_missing")
    if broken:
        return tuple(sorted(broken, key=RECORD_REASONS.index)), None
    assert trade_id and symbol and side and price and quantity and traded_at and exchange
    parsed = _Valid(
        trade_id, symbol, side, price, quantity, traded_at, exchange, raw.source_file, raw.record
    )
    return (), parsed


def _micros(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _dedupe(valid: list[_Valid], out: Expected) -> None:
    """README "Duplicates": latest timestamp wins, ties by smallest content; copies collapse."""
    by_id: dict[str, list[_Valid]] = {}
    for record in valid:
        by_id.setdefault(record.trade_id, []).append(record)
    for trade_id, versions in by_id.items():
        winner_content = min(
            (v.content() for v in versions),
            key=lambda c: (-_micros(c[4]), c[0], c[1], c[2], c[3], c[5]),
        )
        copies = [v for v in versions if v.content() == winner_content]
        kept = min(copies, key=lambda v: v.source_file)
        out.loaded[trade_id] = Loaded(
            kept.symbol,
            kept.side,
            kept.price,
            kept.quantity,
            kept.traded_at,
            kept.exchange,
            kept.source_file,
        )
        out.duplicates += len(copies) - 1
        for version in versions:
            if version.content() != winner_content:
                out.rejects[
                    Reject(version.source_file, version.record, ("duplicate_conflict",))
                ] += 1
