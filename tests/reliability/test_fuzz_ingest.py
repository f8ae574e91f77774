"""Property-based fuzzing of the ingest against a plain-Python reference model (issue 9).

Hypothesis draws random landing days: valid trades, records breaking every rule the
contract names, exact and cosmetic duplicates, conflicting versions, malformed JSON and
CSV rows, random unicode, huge and tiny numbers and every timestamp form, spread over
JSON Lines (plain, gzip, CRLF), CSV (reordered, upper-cased, BOM'd headers, extra columns)
and Parquet (typed or text columns). Records are reports: report_type and report_seq in
every spelling (absent, any case, padded, JSON number or text, leading zeros, invalid),
corrections and cancels (with or without their other fields), late reports inside and
just outside a landing window of 0 to 2 days. Each example is written to a folder of its
own, read by the product in-process (``io.list_day`` + ``ingest.job.load_batch`` on the
shared session) and compared with ``landing_model.expected_day``: conservation, the exact
loaded reports, the exact reject multiset with reason codes, the duplicate count.

Across landings, random new / correct / cancel / resend reports over three days are
landed, ingested by the job in a random order with reruns (some shrunk, some with
corrections added), and ``trade_reports``, ``trades``, the summary's touched and gold days
and ``daily_volume`` are compared cell for cell with ``landing_model`` (``report_rows``,
``resolve``, ``daily_volume``).

The strategies exclude nothing the contract covers: a bug the fuzzer finds is fixed, and its
shrunk batch stays below as a regression test. Example counts follow the tier's profile
(``tests/reliability/profiles.py``); a failure prints the reproduction blob and the shrunk
batch. Every reason code, duplicates, every landing format and every rule of versions
(across landings too) are certain to be drawn: explicit examples holding each run first,
whatever the random draws cover.
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
import shutil
import tomllib
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, Phase, example, given, note, settings
from hypothesis import strategies as st

from tests.lakes import REPO, Lake, Rows, difference, multiset, trade_json
from tests.reliability.landing_model import (
    ALL_REASONS,
    CANCEL,
    CANCEL_OPTIONAL,
    CORRECT,
    MAX_REPORT_SEQ,
    NEW,
    READ_FIELDS,
    REPORT_TYPES,
    VERSION_FIELDS,
    Expected,
    Loaded,
    Reject,
    ReportKey,
    Resolution,
    daily_volume,
    expected_day,
    landing_file,
    report_rows,
    reports_of,
    resolve,
    trade_rows,
)
from tests.reliability.profiles import profile, scale

DAY = date(2025, 1, 15)
DAY_START = datetime(2025, 1, 15, tzinfo=UTC)
# Run starts: mid-day (the afternoon is "in the future"), just after midnight, next morning.
NOWS = (
    datetime(2025, 1, 15, 12, 0, tzinfo=UTC),
    datetime(2025, 1, 15, 0, 3, tzinfo=UTC),
    datetime(2025, 1, 16, 6, 0, tzinfo=UTC),
)
EXAMPLES = profile().fuzz_examples * scale()
MAX_RECORDS = 24

JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)([.][0-9]+)?([eE][+-]?[0-9]+)?")
NUMBER = re.compile(r"[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?")
# Room for 20 integer and 18 fractional digits, so quantize never overflows.
WIDE = Context(prec=60)


def json_number(token: str) -> bool:
    """Whether JSON allows this token unquoted (a bare number of any length or exponent)."""
    return JSON_NUMBER.fullmatch(token) is not None


# --- abstract values: what a record says, before a file format renders it -------------


@dataclass(frozen=True)
class Num:
    """A numeric literal; ``bare`` writes it unquoted in JSON (when JSON allows it)."""

    token: str
    bare: bool = True


@dataclass(frozen=True)
class Instant:
    """A moment rendered as ISO-8601 text (or a typed Parquet timestamp)."""

    at: datetime
    sep: str = "T"
    precision: str = "us"  # min, s, ms, us
    zone: str = "Z"  # "", "Z" or an offset such as "+05:30"

    def text(self) -> str:
        minutes = 0
        if self.zone not in ("", "Z"):
            sign = 1 if self.zone[0] == "+" else -1
            minutes = sign * (int(self.zone[1:3]) * 60 + int(self.zone[4:6]))
        local = self.at.astimezone(UTC) + timedelta(minutes=minutes)
        out = local.strftime(f"%Y-%m-%d{self.sep}%H:%M")
        if self.precision != "min":
            out += local.strftime(":%S")
        if self.precision == "ms":
            out += f".{local.microsecond // 1000:03d}"
        elif self.precision == "us":
            out += f".{local.microsecond:06d}"
        return out + self.zone


Value = str | Num | Instant | bool | None


@dataclass(frozen=True)
class Rec:
    """One record: field values (absent keys are absent), drift fields, or a broken line."""

    fields: dict[str, Value]
    extras: dict[str, str] = field(default_factory=dict)
    json_text: str | None = None  # malformed JSON line written instead of the fields
    csv_cells: int = 0  # cells added (> 0) or dropped (< 0) in CSV: a malformed row


@dataclass(frozen=True)
class FileSpec:
    """One landing file: format, compression and layout choices."""

    kind: str  # jsonl, csv, parquet
    suffix: str
    crlf: bool = False
    bom: bool = False
    upper_header: bool = False
    column_order: tuple[int, ...] = tuple(range(len(READ_FIELDS)))
    # CSV and Parquet: the version columns are written (a producer of versions) or not.
    versions: bool = True
    typed: bool = False  # Parquet: typed price/quantity/timestamp columns where values fit
    blank_lines: int = 0


@dataclass(frozen=True)
class Batch:
    """One fuzz example: files, records placed in them, the run start, marker files, and
    the landing window's days before the landing (``max_lateness_days``)."""

    now: datetime
    files: tuple[FileSpec, ...]
    placed: tuple[tuple[int, Rec], ...]
    markers: tuple[str, ...] = ()
    lateness: int = 0


# --- strategies -------------------------------------------------------------------------

TRADE_IDS = ("T1", "T2", "T3", "T4", " T1 ")
SYMBOLS = ("AAPL", "BTC-USD", "ES_F", "X9", "aapl", " btc-usd ")
EXCHANGES = ("XNAS", "GDAX", "XCME", " XNAS\t")
SIDES = ("buy", "sell", "BUY", " Sell ")
ZONES = ("", "Z", "Z", "+00:00", "-00:00", "+02:00", "-05:00", "+05:30", "+14:00", "-12:00")
SPECIAL_NUMBERS = (
    "0",
    "-0",
    "+1",
    "1.",
    ".5",
    "007.50",
    "1e-9",
    "1E+5",
    "1e5",
    "0.00000001",
    "0.000000001",
    "99999999.99999999",
    "999999.99999999",
    "999999.999999999",
    "1000000",
    "1000000000",
    "1000000000.00000001",
    "1000000001",
    "12345678901234567890",
    "123456789012345678901",
    "1e400",
    "-1e400",
    "-1",
    "-0.00000001",
    "NaN",
    "Infinity",
    "-Infinity",
    "inf",
    "1,000.5",
    "0x10",
    "1_000",
    "1 000",
    "\u0661\u0662",
    "\uff11\uff12",
    "1e",
    "e5",
    "--1",
    ".",
    "",
    "  ",
    "abc",
)
BAD_TIMESTAMPS = (
    "2025-01-15",
    "yesterday",
    "1736935200",
    "2025-02-30T10:00:00Z",
    "2025-13-01T10:00:00Z",
    "2025-01-32T10:00:00Z",
    "2025-01-15T24:00:00Z",
    "2025-01-15T10:60:00Z",
    "2025-01-15T10:00:60Z",
    "2025-1-15T10:00:00Z",
    "15/01/2025 10:00:00",
    "2025-01-15T1:00:00Z",
    "T10:00:00Z",
    "",
    " ",
)
MALFORMED_JSON = (
    "[1, 2]",
    "42",
    '"just a string"',
    "null",
    "true",
    "{",
    "}",
    "{'trade_id': 'T1'}",
    '{trade_id: "T1"}',
    '{"trade_id": "T1",}',
    '{"price": NaN}',
    '{"price": 007}',
    '{"price": .5}',
    '{"price": +1}',
    '{"trade_id": "T1", "trade_id": "T2"}',
    "\ufeff{}",
    "not json at all",
)
EXTRA_FIELDS = ("venue_fee", "client_tag", "\u00f1ame")
# Random unicode, without surrogates (not encodable in UTF-8) and line ends (a line end
# starts a new record in every text format).
UNICODE = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=8)
ASCII_WS = (" ", "\t", "  ")


def padded(text: str) -> st.SearchStrategy[str]:
    """The text, sometimes surrounded by ASCII whitespace (trimmed by the contract)."""
    return st.tuples(st.sampled_from(("", *ASCII_WS)), st.sampled_from(("", *ASCII_WS))).map(
        lambda pad: pad[0] + text + pad[1]
    )


def renderings(value: Decimal) -> st.SearchStrategy[str]:
    """Different texts of one exact value: trailing zeros, exponent, leading zeros, '+'."""
    plain = format(value.normalize(), "f")
    forms = [plain, plain + ("" if "." in plain else ".") + "000", "+" + plain, "00" + plain]
    shift = len(plain.split(".")[0]) - 1
    forms.append(format(value.scaleb(-shift).normalize(), "f") + f"E{shift:+d}")
    forms.append(format(value.scaleb(3).normalize(), "f") + "e-3")
    return st.sampled_from(forms)


def numbers(low: str, high: str) -> st.SearchStrategy[Num]:
    """Valid amounts between low and high, exact to 8 decimals, in various texts."""
    values = st.one_of(
        st.sampled_from((Decimal(low), Decimal(high))),
        st.decimals(Decimal(low), Decimal(high), places=8),
        st.decimals(Decimal(low), Decimal(high), places=2),
    )
    return values.flatmap(lambda v: st.builds(Num, renderings(v), st.booleans()))


def wild_numbers() -> st.SearchStrategy[Value]:
    """Anything a price or quantity field may hold: huge, tiny, malformed, wrong types."""
    built = st.builds(
        lambda sign, whole, frac, exp: sign + whole + frac + exp,
        st.sampled_from(("", "+", "-")),
        st.text("0123456789", max_size=22),
        st.one_of(st.just(""), st.text("0123456789", max_size=22).map(lambda d: "." + d)),
        st.one_of(
            st.just(""),
            st.builds(
                lambda e, s, n: f"{e}{s}{n}",
                st.sampled_from("eE"),
                st.sampled_from(("", "+", "-")),
                st.integers(0, 30),
            ),
        ),
    )
    too_precise = st.builds(
        lambda whole, frac: f"{whole}.{frac}",
        st.integers(0, 10**9),
        st.text("0123456789", min_size=9, max_size=18),
    )
    tokens = st.one_of(st.sampled_from(SPECIAL_NUMBERS), built, too_precise, UNICODE)
    return st.one_of(st.builds(Num, tokens, st.booleans()), st.sampled_from((None, True, False)))


def instants(now: datetime, lateness: int = 0) -> st.SearchStrategy[datetime]:
    """Moments around the landing's window (``lateness`` days before DAY, and DAY), dense
    at its edges and at the future-tolerance edge."""
    first = DAY_START - timedelta(days=lateness)
    edges = [
        DAY_START,
        DAY_START - timedelta(microseconds=1),
        first,
        first - timedelta(microseconds=1),
        DAY_START + timedelta(days=1),
        DAY_START + timedelta(days=1, microseconds=-1),
        now + timedelta(seconds=300),
        now + timedelta(seconds=300, microseconds=1),
        now,
    ]
    span = (lateness + 1) * 86_400 * 10**6
    inside = st.integers(0, span - 1).map(lambda us: first + timedelta(microseconds=us))
    around = st.integers(-7200 * 10**6, span + 7200 * 10**6).map(
        lambda us: first + timedelta(microseconds=us)
    )
    after_now = st.integers(0, 7200 * 10**6).map(lambda us: now + timedelta(microseconds=us))
    return st.one_of(st.sampled_from(edges), inside, around, after_now)


def instant_values(moments: st.SearchStrategy[datetime]) -> st.SearchStrategy[Instant]:
    return st.builds(
        Instant,
        moments,
        st.sampled_from("T "),
        st.sampled_from(("us", "us", "ms", "s", "min")),
        st.sampled_from(ZONES),
    )


def trade_ids() -> st.SearchStrategy[Value]:
    # Mostly fresh ids; shared ones (and the copy/conflict/version kinds) make reports meet.
    return st.integers(0, 9).flatmap(
        lambda k: (
            st.integers(10, 10**6).map(lambda n: f"T{n}")
            if k < 7
            else st.sampled_from((*TRADE_IDS, Num("7"), Num("42")))
        )
    )


def valid_values(now: datetime, lateness: int = 0) -> dict[str, st.SearchStrategy[Value]]:
    """A strategy per contract field for values that keep a trade valid (run start ``now``,
    a window of ``lateness`` days before DAY)."""
    first = DAY_START - timedelta(days=lateness)
    last = min(now, DAY_START + timedelta(days=1)) - first
    in_window = st.integers(0, last // timedelta(microseconds=1) - 1).map(
        lambda us: first + timedelta(microseconds=us)
    )
    return {
        "trade_id": trade_ids(),
        "symbol": st.sampled_from(SYMBOLS),
        "side": st.sampled_from(SIDES),
        "price": numbers("0.00000001", "999999.99999999"),
        "quantity": numbers("0.00000001", "1000000000"),
        "timestamp": instant_values(in_window),
        "exchange": st.sampled_from(EXCHANGES),
    }


def report_types(types: tuple[str, ...] = REPORT_TYPES) -> st.SearchStrategy[Value]:
    """A valid report_type in any case, sometimes padded."""
    spellings = st.sampled_from(types).flatmap(
        lambda name: st.sampled_from((name, name.upper(), name.capitalize()))
    )
    return spellings.flatmap(padded)


def seq_numbers() -> st.SearchStrategy[int]:
    """Sequence numbers: mostly small (so the reports of a trade meet), and the edges."""
    return st.one_of(
        st.integers(0, 3), st.sampled_from((MAX_REPORT_SEQ - 1, MAX_REPORT_SEQ)), st.integers()
    ).map(lambda n: n % (MAX_REPORT_SEQ + 1))


def seq_texts(number: int) -> st.SearchStrategy[Value]:
    """One sequence number written as a JSON number, as text, with leading zeros, padded."""
    text = str(number)
    return st.one_of(
        st.builds(Num, st.just(text), st.booleans()),
        st.sampled_from(("0", "000", "0" * 25)).map(lambda zeros: Num(zeros + text)),
        padded(text),
    )


def report_seqs() -> st.SearchStrategy[Value]:
    return seq_numbers().flatmap(seq_texts)


# Sequence numbers that are not whole numbers from 0 to 2^31 - 1 in plain digits.
BAD_SEQS = (
    "-1",
    "-0",
    "+1",
    "1.0",
    "0.0",
    "1.5",
    "1e3",
    "1E0",
    "0e0",
    str(MAX_REPORT_SEQ + 1),
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "99999999999999999999",
    "9" * 40,
    "1" + "0" * 45,
    "abc",
    "0x10",
    "1_000",
    "1 000",
    "1,000",
    "NaN",
    "\u0661",
    "\uff11",
    "one",
)
BAD_REPORT_TYPES = (
    "hold",
    "cancelled",
    "canceled",
    "correction",
    "neww",
    "n",
    "new correct",
    "CANCEL_",
    "n\u0435w",
    "\u0441ancel",
)


def version_values() -> dict[str, st.SearchStrategy[Value]]:
    """Valid report_type and report_seq (each optional: absent is new and 0)."""
    return {"report_type": report_types(), "report_seq": report_seqs()}


def _normalized_type(value: Value) -> str | None:
    return value.strip(" \t").lower() if isinstance(value, str) else None


@st.composite
def valid_fields(draw: st.DrawFn, now: datetime, lateness: int = 0) -> dict[str, Value]:
    """A valid report; a cancel leaves out any of the fields it does not need."""
    fields = dict(
        draw(st.fixed_dictionaries(valid_values(now, lateness), optional=version_values()))
    )
    if _normalized_type(fields.get("report_type")) == CANCEL:
        for name in draw(st.lists(st.sampled_from(CANCEL_OPTIONAL), unique=True)):
            del fields[name]
    return fields


def broken_value(name: str, now: datetime, lateness: int = 0) -> st.SearchStrategy[Value]:
    """A value of ``name`` that breaks (or, for random text, may break) its rules."""
    missing = st.sampled_from((None, "", "  ", "\t"))
    by_field: dict[str, st.SearchStrategy[Value]] = {
        "trade_id": st.one_of(missing, UNICODE),
        "symbol": st.one_of(
            missing, st.sampled_from(("AA PL", "$$$", "BTC/USD", "\u00c4", "\u0131bm")), UNICODE
        ),
        "side": st.one_of(missing, st.sampled_from(("hold", "b", "buyy", "s\u0435ll")), UNICODE),
        "price": wild_numbers(),
        "quantity": wild_numbers(),
        "timestamp": st.one_of(
            missing,
            st.sampled_from(BAD_TIMESTAMPS),
            instant_values(instants(now, lateness)),
            UNICODE,
            st.just(Num("1736935200")),
        ),
        "exchange": st.one_of(missing, UNICODE),
        # Blank is absent (new, 0): valid, drawn here too.
        "report_type": st.one_of(
            missing,
            st.sampled_from(BAD_REPORT_TYPES).flatmap(padded),
            st.sampled_from((Num("1"), Num("0"), True)),
            UNICODE,
        ),
        "report_seq": st.one_of(
            missing,
            st.builds(Num, st.sampled_from(BAD_SEQS), st.booleans()),
            st.integers(MAX_REPORT_SEQ + 1, 10**30).map(lambda n: Num(str(n))),
            st.integers(-(10**12), -1).map(lambda n: Num(str(n))),
            st.sampled_from((True, False)),
            UNICODE,
        ),
    }
    return by_field[name]


@st.composite
def broken_fields(draw: st.DrawFn, now: datetime, lateness: int = 0) -> dict[str, Value]:
    fields = dict(draw(valid_fields(now, lateness)))
    names = draw(st.lists(st.sampled_from(READ_FIELDS), min_size=1, max_size=3, unique=True))
    for name in names:
        if draw(st.integers(0, 5)) == 0:
            fields.pop(name, None)  # absent key, not just an empty value
        else:
            fields[name] = draw(broken_value(name, now, lateness))
    return fields


def malformed_lines() -> st.SearchStrategy[str]:
    cut = st.builds(
        lambda fields, at: _json_line(fields, {})[: max(1, at)],
        valid_fields(NOWS[2]),
        st.integers(1, 60),
    )
    # A whole trade and then more on the same line: a second trade, a value, any text.
    trailing = st.builds(
        lambda fields, joint, tail: _json_line(fields, {}) + joint + tail,
        valid_fields(NOWS[2]),
        st.sampled_from(("", " ", ",", "]", "}", "\t")),
        st.one_of(
            valid_fields(NOWS[2]).map(lambda fields: _json_line(fields, {})),
            st.sampled_from(("1", "null", "[]", "{}", "// comment", "x")),
            UNICODE.filter(lambda text: text.strip(" \t\f\v") != ""),
        ),
    )
    garbage = UNICODE.filter(lambda text: text.strip(" \t\r\n\f\v") != "")
    return st.one_of(st.sampled_from(MALFORMED_JSON), cut, trailing, garbage)


# What a conflicting version of a report may change (its content, not its identity).
CONTENT_FIELDS = ("report_type", "symbol", "side", "price", "quantity", "timestamp", "exchange")


@st.composite
def records(draw: st.DrawFn, now: datetime, earlier: list[Rec], lateness: int = 0) -> Rec:
    """A record; copies, conflicting versions and later versions refer to an earlier one."""
    kind = draw(
        st.sampled_from(("valid", "copy", "conflict", "version", "broken", "malformed", "random"))
    )
    extras = draw(st.dictionaries(st.sampled_from(EXTRA_FIELDS), UNICODE, max_size=1))
    if kind in ("copy", "conflict", "version") and earlier:
        base = earlier[draw(st.integers(0, len(earlier) - 1))]
        fields = dict(base.fields)
        if kind == "copy":
            fields = draw(cosmetic_copy(fields))
        elif kind == "conflict":
            # Same (trade_id, report_seq), other content.
            name = draw(st.sampled_from(CONTENT_FIELDS))
            values = {**valid_values(now, lateness), **version_values()}
            fields[name] = draw(values[name])
        else:
            # Another report of the same trade: a correction or a cancel, another sequence.
            fields["report_seq"] = draw(report_seqs())
            fields["report_type"] = draw(report_types((CORRECT, CANCEL)))
            for name in draw(st.lists(st.sampled_from(("price", "quantity", "timestamp")))):
                fields[name] = draw(valid_values(now, lateness)[name])
            if _normalized_type(fields["report_type"]) == CANCEL:
                for name in draw(st.lists(st.sampled_from(CANCEL_OPTIONAL), unique=True)):
                    fields.pop(name, None)
        return Rec(fields, extras)
    if kind == "broken":
        return Rec(draw(broken_fields(now, lateness)), extras)
    if kind == "malformed":
        return Rec(
            draw(valid_fields(now, lateness)),
            extras,
            json_text=draw(malformed_lines()),
            csv_cells=draw(st.sampled_from((-1, -3, 1, 2))),
        )
    if kind == "random":
        return Rec({name: draw(broken_value(name, now, lateness)) for name in READ_FIELDS}, extras)
    return Rec(draw(valid_fields(now, lateness)), extras)


@st.composite
def cosmetic_copy(draw: st.DrawFn, fields: dict[str, Value]) -> dict[str, Value]:
    """The same report written differently: case, padding, number text, time zone, an
    absent version field written out as its default (new, 0) or the other way round."""
    out = dict(fields)
    for name, value in fields.items():
        if name in VERSION_FIELDS and _is_default(name, value) and draw(st.booleans()):
            del out[name]
        elif name == "report_seq" and _plain_digits(value) and draw(st.booleans()):
            out[name] = draw(seq_texts(int(_text(value) or "0")))
        elif isinstance(value, str) and draw(st.booleans()):
            changed = (
                value.lower()
                if name == "symbol"
                else value.upper()
                if name in ("side", "report_type")
                else value
            )
            out[name] = draw(padded(changed))
        elif (
            isinstance(value, Num)
            and name in ("price", "quantity")
            and NUMBER.fullmatch(value.token)
        ):
            out[name] = Num(draw(renderings(Decimal(value.token))), draw(st.booleans()))
        elif isinstance(value, Instant):
            zone = draw(st.sampled_from(ZONES))
            out[name] = Instant(value.at, draw(st.sampled_from("T ")), value.precision, zone)
    for name, default in (("report_type", "NEW"), ("report_seq", Num("0"))):
        if name not in fields and draw(st.booleans()):
            out[name] = default
    return out


def _plain_digits(value: Value) -> bool:
    text = _text(value)
    return text is not None and re.fullmatch(r"[ \t]*[0-9]+[ \t]*", text) is not None


def _is_default(name: str, value: Value) -> bool:
    """Whether the value means what an absent field means (new, or sequence 0)."""
    if name == "report_type":
        return _normalized_type(value) == NEW
    return _plain_digits(value) and int(_text(value) or "1") == 0


@st.composite
def file_specs(draw: st.DrawFn) -> FileSpec:
    kind = draw(st.sampled_from(("jsonl", "jsonl", "csv", "parquet")))
    suffix = {
        "jsonl": st.sampled_from((".jsonl", ".jsonl.gz", ".ndjson", ".json")),
        "csv": st.sampled_from((".csv", ".csv.gz")),
        "parquet": st.just(".parquet"),
    }[kind]
    return FileSpec(
        kind=kind,
        suffix=draw(suffix),
        crlf=draw(st.booleans()),
        bom=False,  # a BOM before a CSV header: tests/data/bad case bom_csv
        upper_header=draw(st.booleans()),
        column_order=tuple(draw(st.permutations(range(len(READ_FIELDS))))),
        typed=draw(st.booleans()),
        blank_lines=draw(st.integers(0, 2)),
        versions=draw(st.integers(0, 3)) > 0,
    )


@st.composite
def batches(draw: st.DrawFn, min_records: int = 0) -> Batch:
    now = draw(st.sampled_from(NOWS))
    lateness = draw(st.sampled_from((0, 0, 1, 2)))
    files = draw(st.lists(file_specs(), min_size=1, max_size=3))
    count = draw(st.integers(min_records, MAX_RECORDS))
    made: list[Rec] = []
    placed = []
    for _ in range(count):
        rec = draw(records(now, made, lateness))
        made.append(rec)
        placed.append((draw(st.integers(0, len(files) - 1)), rec))
    markers = tuple(
        draw(
            st.lists(
                st.sampled_from(("_SUCCESS", ".part.jsonl", "zz-empty.jsonl", "notes.txt")),
                max_size=2,
                unique=True,
            )
        )
    )
    return Batch(now, tuple(files), tuple(placed), markers, lateness)


def _every_reason_batch() -> Batch:
    """One landing day that breaks every rule once, so coverage never depends on luck."""
    now = NOWS[0]  # mid-day: the afternoon is in the future
    valid: dict[str, Value] = {
        "trade_id": "T10",
        "symbol": "AAPL",
        "side": "buy",
        "price": Num("187.25"),
        "quantity": Num("10"),
        "timestamp": Instant(datetime(2025, 1, 15, 10, 0, tzinfo=UTC)),
        "exchange": "XNAS",
    }
    broken: list[tuple[str, Value]] = [
        ("trade_id", None),
        ("symbol", None),
        ("symbol", "AA PL"),
        ("side", None),
        ("side", "hold"),
        ("price", None),
        ("price", "abc"),
        ("price", Num("-1")),
        ("price", Num("1.000000001")),
        ("quantity", None),
        ("quantity", "ten"),
        ("quantity", Num("0")),
        ("quantity", Num("1e-19")),
        ("timestamp", None),
        ("timestamp", "yesterday"),
        ("timestamp", Instant(datetime(2025, 1, 14, 10, 0, tzinfo=UTC))),
        ("timestamp", Instant(datetime(2025, 1, 15, 18, 0, tzinfo=UTC))),
        ("exchange", None),
        ("report_type", "hold"),
        ("report_seq", Num("-1")),
    ]
    records = [
        Rec(valid),
        Rec(dict(valid)),  # an exact copy: a duplicate
        Rec({**valid, "trade_id": "T11"}),
        Rec({**valid, "trade_id": "T11", "price": Num("187.26")}),  # a conflict
        Rec(valid, json_text="not json at all"),
        *[
            Rec({**valid, "trade_id": f"B{i}", name: value})
            for i, (name, value) in enumerate(broken)
        ],
    ]
    files = (FileSpec("jsonl", ".jsonl"), FileSpec("csv", ".csv"))
    placed = tuple((index % len(files), rec) for index, rec in enumerate(records))
    # notes.txt: a file of an unsupported type, read and found unreadable.
    return Batch(now, files, placed, markers=("notes.txt",))


EVERY_REASON = _every_reason_batch()


def _every_version_batch() -> Batch:
    """One landing with a window of 2 days and every kind of report, so version coverage
    never depends on luck either: late reports at the window's edge, an original with its
    correction and its cancel, cancels with invalid fields, every report_seq form."""

    def report(trade_id: str, at: datetime, **fields: Value) -> Rec:
        base: dict[str, Value] = {
            "trade_id": trade_id,
            "symbol": "AAPL",
            "side": "buy",
            "price": Num("100"),
            "quantity": Num("2"),
            "timestamp": Instant(at),
            "exchange": "XNAS",
        }
        return Rec({**base, **fields})

    def cancel(trade_id: str, at: datetime, **fields: Value) -> Rec:
        return Rec({"trade_id": trade_id, "timestamp": Instant(at), **fields})

    first = DAY_START - timedelta(days=2)  # the window's first instant
    noon = DAY_START + timedelta(hours=10)
    jsonl, csv, parquet = 0, 1, 2
    placed = (
        (jsonl, report("V1", first)),
        (csv, report("V1", first, report_type="correct", report_seq="1", price=Num("101"))),
        (parquet, cancel("V1", first, report_type=" CANCEL ", report_seq=Num("0002"))),
        (jsonl, cancel("V2", noon, report_type="cancel", report_seq=Num("1"), side="hold")),
        (csv, cancel("V3", noon, report_type="Cancel", price="abc")),
        (parquet, report("V4", first - timedelta(microseconds=1))),
        (jsonl, report("V5", noon, report_seq=" 7 ")),
        (csv, report("V5", noon, report_seq=Num("7"), report_type="NEW ")),  # a copy
        (parquet, report("V6", noon, report_type="correct", report_seq=Num("1"))),
        # The same report with another type: a conflict, the smallest type (cancel) wins.
        (jsonl, report("V6", noon, report_type="cancel", report_seq=Num("1"))),
        (jsonl, report("V7", noon, report_seq=Num(str(MAX_REPORT_SEQ)))),
        (jsonl, report("V8", noon, report_seq=Num(str(MAX_REPORT_SEQ + 1)))),
        (jsonl, report("V9", noon, report_seq=Num("1.0"))),
        (jsonl, report("V10", noon, report_seq=Num("-0"))),
        (jsonl, report("V11", noon, report_seq=Num("1e3"))),
        (csv, report("V12", noon, report_type=" Correct ")),
        # One trade_id on two days, one sequence number: one report, the latest wins.
        (csv, report("V13", noon)),
        (parquet, report("V13", noon - timedelta(days=1), price=Num("99"))),
    )
    files = (
        FileSpec("jsonl", ".jsonl"),
        FileSpec("csv", ".csv"),
        FileSpec("parquet", ".parquet", typed=True),
    )
    return Batch(NOWS[2], files, placed, lateness=2)


EVERY_VERSION = _every_version_batch()


def _every_format_batch() -> Batch:
    """One valid trade in a file of each landing format, so format coverage is certain too."""
    suffixes = {
        "jsonl": (".jsonl", ".jsonl.gz", ".ndjson", ".json"),
        "csv": (".csv", ".csv.gz"),
        "parquet": (".parquet",),
    }
    files = tuple(
        FileSpec(kind, suffix, typed=kind == "parquet")
        for kind, kind_suffixes in suffixes.items()
        for suffix in kind_suffixes
    )
    records = [
        Rec(
            {
                "trade_id": f"F{index}",
                "symbol": "MSFT",
                "side": "sell",
                "price": Num("410.5"),
                "quantity": Num("3"),
                "timestamp": Instant(datetime(2025, 1, 15, 9, index, tzinfo=UTC)),
                "exchange": "XNAS",
            }
        )
        for index in range(len(files))
    ]
    return Batch(NOWS[0], files, tuple(enumerate(records)), markers=())


EVERY_FORMAT = _every_format_batch()


# --- writers: render a batch into landing files ----------------------------------------


def _json_value(value: Value) -> str:
    if isinstance(value, Num):
        if value.bare and json_number(value.token):
            return value.token
        return json.dumps(value.token, ensure_ascii=False)
    if isinstance(value, Instant):
        return json.dumps(value.text())
    return json.dumps(value, ensure_ascii=False)


def _json_line(fields: dict[str, Value], extras: dict[str, str]) -> str:
    items = [(name, _json_value(value)) for name, value in fields.items()]
    items += [(name, json.dumps(value, ensure_ascii=False)) for name, value in extras.items()]
    return "{" + ", ".join(f"{json.dumps(name)}: {text}" for name, text in items) + "}"


def _text(value: Value) -> str | None:
    if value is None:
        return None
    if isinstance(value, Num):
        return value.token
    if isinstance(value, Instant):
        return value.text()
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _csv_cell(value: str | None) -> str:
    # Spark's CSV escape is a backslash, Python's a doubled quote: neither appears in cells.
    text = re.sub(r'["\\\r\n\x00]', "", value or "")
    return f'"{text}"' if "," in text else text


def write_batch(batch: Batch, folder: Path) -> None:
    """Write every file of the batch (and its marker files) into ``folder``."""
    folder.mkdir(parents=True)
    for index, spec in enumerate(batch.files):
        recs = [rec for at, rec in batch.placed if at == index]
        path = folder / f"{index:02d}-data{spec.suffix}"
        if spec.kind == "parquet":
            _write_parquet(path, spec, recs)
            continue
        lines = _json_lines(recs) if spec.kind == "jsonl" else _csv_lines(spec, recs)
        lines[1:1] = [" "] * spec.blank_lines
        end = "\r\n" if spec.crlf else "\n"
        data = "".join(line + end for line in lines).encode()
        path.write_bytes(gzip.compress(data, mtime=0) if spec.suffix.endswith(".gz") else data)
    for name in batch.markers:
        (folder / name).write_text("" if name.startswith(("_", "zz")) else "x\n")


def _json_lines(recs: list[Rec]) -> list[str]:
    return [
        rec.json_text if rec.json_text is not None else _json_line(rec.fields, rec.extras)
        for rec in recs
    ]


def _columns(spec: FileSpec) -> list[str]:
    """The fields a CSV or Parquet file has columns for, in the file's order."""
    order = [READ_FIELDS[i] for i in spec.column_order]
    return [name for name in order if spec.versions or name not in VERSION_FIELDS]


def _csv_lines(spec: FileSpec, recs: list[Rec]) -> list[str]:
    names = _columns(spec) + list(EXTRA_FIELDS[:1])
    header = ",".join(name.upper() if spec.upper_header else name for name in names)
    lines = [("\ufeff" if spec.bom else "") + header]
    for rec in recs:
        cells = [_csv_cell(_text(rec.fields.get(name))) for name in names[:-1]]
        cells.append(_csv_cell(rec.extras.get(names[-1])))
        if rec.json_text is not None:
            cells = (
                cells[: len(cells) + rec.csv_cells]
                if rec.csv_cells < 0
                else cells + ["x"] * rec.csv_cells
            )
        line = ",".join(cells)
        # A data line equal to the header is taken for a repeated header and dropped.
        lines.append(line if line.strip() and line != header else line + ",")
    return lines


def _write_parquet(path: Path, spec: FileSpec, recs: list[Rec]) -> None:
    columns: dict[str, tuple[Any, list[Any]]] = {}
    order = _columns(spec)
    for name in order:
        values = [rec.fields.get(name) for rec in recs]
        columns[name] = _parquet_column(name, values, spec.typed)
    extras = [rec.extras.get(EXTRA_FIELDS[0]) for rec in recs]
    columns[EXTRA_FIELDS[0]] = (pa.string(), extras)
    order.append(EXTRA_FIELDS[0])
    schema = pa.schema([(name, columns[name][0]) for name in order])
    table = pa.table(
        {name: pa.array(columns[name][1], columns[name][0]) for name in order}, schema=schema
    )
    pq.write_table(table, path)


def _parquet_column(name: str, values: list[Value], typed: bool) -> tuple[Any, list[Any]]:
    """A typed column when every value fits one (exact decimals, integers, instants)."""
    present = [v for v in values if v is not None]
    if typed and present and name in ("price", "quantity"):
        exact = [_exact(v) for v in present]
        if all(d is not None for d in exact):
            as_dec = [None if v is None else _exact(v) for v in values]
            if name == "quantity" and all(
                d == d.to_integral_value() and abs(d) < 2**63 for d in exact if d is not None
            ):
                return pa.int64(), [None if d is None else int(d) for d in as_dec]
            return pa.decimal128(38, 18), as_dec
    if (
        typed
        and present
        and name == "report_seq"
        and all(isinstance(v, Num) and re.fullmatch(r"-?[0-9]{1,18}", v.token) for v in present)
    ):
        return pa.int64(), [None if v is None else int(_text(v) or "") for v in values]
    if typed and present and name == "timestamp" and all(isinstance(v, Instant) for v in present):
        return pa.timestamp("us", tz="UTC"), [
            v.at if isinstance(v, Instant) else None for v in values
        ]
    return pa.string(), [_text(v) for v in values]


def _exact(value: Value) -> Decimal | None:
    """The value of a number token a DECIMAL(38,18) column holds exactly, else None."""
    if not isinstance(value, Num) or not NUMBER.fullmatch(value.token):
        return None
    number = Decimal(value.token)
    if abs(number) >= Decimal(10) ** 20:
        return None
    held = number.quantize(Decimal("1e-18"), context=WIDE)
    return held if held == number else None


# --- the product, in-process, and the comparison ------------------------------------------


@dataclass
class Observed:
    """What the product made of one landing folder, collected (a few rows per example)."""

    stats: Any
    loaded: dict[ReportKey, Loaded]
    rejects: Counter[Reject]
    duplicates: int
    empty: list[str]
    ignored: list[str]
    unreadable: list[str]


def _name(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def run_product(spark: Any, folder: Path, now: datetime, lateness: int = 0) -> Observed:
    """``io.list_day`` + ``ingest.job.load_batch`` (the job's own extract/validate/classify)."""
    from pyspark.sql import functions as F

    from tradelake import io
    from tradelake.ingest.job import load_batch

    listing = io.list_day(spark, str(folder))
    batch = load_batch(spark, _settings(lateness), DAY, listing.files, now)
    try:
        rows = batch.classified.select(
            "source_file",
            "record",
            "status",
            "reasons",
            "trade_id",
            "report_type",
            "report_seq",
            "symbol",
            "side",
            "price",
            "quantity",
            # Epoch micros: collect() would render a TIMESTAMP in the local time zone.
            F.unix_micros("traded_at").alias("micros"),
            "exchange",
        ).collect()
    finally:
        batch.classified.unpersist()
    loaded: dict[ReportKey, Loaded] = {}
    rejects: Counter[Reject] = Counter()
    duplicates = 0
    for row in rows:
        source = _name(row["source_file"])
        if row["status"] == "loaded":
            key = (row["trade_id"], row["report_seq"])
            assert key not in loaded, f"report {key!r} loaded twice"
            loaded[key] = Loaded(
                row["report_type"],
                row["symbol"],
                row["side"],
                row["price"],
                row["quantity"],
                datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=row["micros"]),
                row["exchange"],
                source,
            )
        elif row["status"] == "duplicate":
            duplicates += 1
        else:
            assert row["status"] == "rejected", row
            record = None if source.endswith(".parquet") else row["record"]
            rejects[Reject(source, record, tuple(row["reasons"]))] += 1
    return Observed(
        batch.stats,
        loaded,
        rejects,
        duplicates,
        [_name(uri) for uri in listing.empty],
        [_name(uri) for uri in listing.ignored],
        [_name(entry.path) for entry in batch.unreadable],
    )


_SETTINGS: dict[int, Any] = {}


def _settings(lateness: int) -> Any:
    """Settings whose contract is conf/local.toml's, as a job run locally would load them,
    with a window of ``lateness`` days (TRADELAKE_CONTRACT__MAX_LATENESS_DAYS)."""
    from tradelake.config import ContractSettings, Settings

    if lateness not in _SETTINGS:
        contract = tomllib.loads((REPO / "conf" / "local.toml").read_text())["contract"]
        _SETTINGS[lateness] = Settings(
            catalog_type="jdbc",
            catalog_uri="jdbc:sqlite::memory:",
            contract=ContractSettings(**{**contract, "max_lateness_days": lateness}),
        )
    return _SETTINGS[lateness]


def assert_matches(observed: Observed, expected: Expected) -> None:
    """Conservation, exact loaded rows, exact rejects and reasons, duplicate count."""
    stats = observed.stats
    assert (observed.empty, observed.ignored) == (expected.empty, expected.ignored)
    assert observed.unreadable == expected.unreadable
    assert stats.unreadable_files == len(expected.unreadable)
    assert stats.records_read == expected.records_read, "records read"
    assert stats.records_read == stats.loaded + stats.duplicates_dropped + stats.rejected
    assert stats.conserved
    assert observed.loaded == expected.loaded
    assert observed.rejects == expected.rejects
    assert (stats.loaded, stats.duplicates_dropped, stats.rejected) == (
        len(expected.loaded),
        expected.duplicates,
        sum(expected.rejects.values()),
    )
    assert observed.duplicates == expected.duplicates
    assert stats.rejected_by_reason == expected.rejected_by_reason()
    assert stats.loaded_by_date == expected.loaded_by_date()


def describe(batch: Batch, folder: Path) -> str:
    """The written files, line by line, for the failure report."""
    out = [f"now={batch.now.isoformat()} max_lateness_days={batch.lateness}"]
    for path in sorted(folder.iterdir()):
        out.append(f"--- {path.name} ({path.stat().st_size} bytes)")
        if path.suffix == ".parquet":
            out += [repr(row) for row in pq.read_table(path).to_pylist()]
        elif path.stat().st_size:
            data = path.read_bytes()
            data = gzip.decompress(data) if path.name.endswith(".gz") else data
            out += [repr(line) for line in data.decode().splitlines()]
    return "\n".join(out)


@dataclass
class Tally:
    """What the examples covered; asserted after the run so the fuzzing cannot go vacuous."""

    examples: int = 0
    records: int = 0
    loaded: int = 0
    duplicates: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    formats: Counter[str] = field(default_factory=Counter)
    # Loaded reports by kind: cancels, of a day before the landing, after sequence 0.
    cancels: int = 0
    late: int = 0
    later_versions: int = 0

    def add(self, batch: Batch, expected: Expected) -> None:
        self.examples += 1
        self.records += expected.records_read
        self.loaded += len(expected.loaded)
        for (_, seq), report in expected.loaded.items():
            self.cancels += report.report_type == CANCEL
            self.late += report.trade_date < DAY
            self.later_versions += seq > 0
        self.duplicates += expected.duplicates
        self.rejected += sum(expected.rejects.values())
        self.reasons.update(expected.rejected_by_reason())
        # An unreadable file is no record, but its dead letter carries this code.
        self.reasons["unreadable_file"] += len(expected.unreadable)
        self.formats.update(spec.suffix for spec in batch.files)


_folders = itertools.count()


def check_batch(spark: Any, root: Path, batch: Batch, tally: Tally | None = None) -> None:
    """Write the batch to a fresh day folder, run product and model, compare."""
    folder = root / f"example-{next(_folders)}" / "trades" / f"date={DAY.isoformat()}"
    write_batch(batch, folder)
    note(describe(batch, folder))
    expected = expected_day(folder, DAY, batch.now, batch.lateness)
    observed = run_product(spark, folder, batch.now, batch.lateness)
    assert_matches(observed, expected)
    if tally is not None:
        tally.add(batch, expected)


# --- the tests ----------------------------------------------------------------------------


def test_random_batches_match_the_reference_model(
    spark: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Every drawn landing ingests exactly as docs/contract.md says.

    Proves, per example: records_read = loaded + duplicates + rejected (nothing lost or
    made up), the exact loaded report per (trade_id, report_seq) (report_type, normalized
    text, exact DECIMAL price and quantity, UTC instant, the file the kept copy came from),
    the loaded reports per trade day, the exact multiset of dead letters with their reason
    lists, and the duplicate count. After the run, that the examples exercised every reason
    code, duplicates, cancels, late reports, later versions and every file format.
    """
    root = tmp_path_factory.mktemp("fuzz")
    tally = Tally()

    # The session fixture is captured here: hypothesis refuses function-scoped fixtures.
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=True,
        # Drawing a batch of up to 24 records with nested choices is legitimately large.
        suppress_health_check=[HealthCheck.data_too_large, HealthCheck.too_slow],
    )
    @given(batch=batches())
    @example(batch=EVERY_REASON)
    @example(batch=EVERY_FORMAT)
    @example(batch=EVERY_VERSION)
    def check(batch: Batch) -> None:
        check_batch(spark, root, batch, tally)

    check()
    print(
        f"fuzz: {tally.examples} examples, {tally.records} records: {tally.loaded} loaded "
        f"({tally.cancels} cancels, {tally.late} late, {tally.later_versions} after sequence "
        f"0), {tally.duplicates} duplicates, {tally.rejected} rejected; "
        f"reasons {dict(tally.reasons)}; formats {dict(tally.formats)}"
    )
    from tradelake.contract import REASON_CODES

    assert tally.examples >= EXAMPLES
    # The model knows every code the product can write, and the examples hit each one.
    assert set(ALL_REASONS) == set(REASON_CODES)
    assert set(tally.reasons) == set(ALL_REASONS)
    assert tally.duplicates > 0
    assert min(tally.cancels, tally.late, tally.later_versions) > 0
    assert set(tally.formats) == {
        ".jsonl",
        ".jsonl.gz",
        ".ndjson",
        ".json",
        ".csv",
        ".csv.gz",
        ".parquet",
    }


JOB_EXAMPLES = profile().fuzz_job_examples * scale()
LATENESS_VARIABLE = "TRADELAKE_CONTRACT__MAX_LATENESS_DAYS"
# Columns of trades and daily_volume that describe the run that wrote a row.
RUN_COLUMNS = ("run_id", "ingested_at")


def _iso_keys(by_date: dict[date, Any]) -> dict[str, Any]:
    return {day.isoformat(): value for day, value in sorted(by_date.items())}


def model_trades(resolution: Resolution) -> Rows:
    """The rows of ``trades`` the model expects, every data column (``tests.lakes.multiset``)."""
    return multiset(trade_rows(resolution))


def version_content(spark: Any, table: str) -> Rows:
    """Every row of ``trades`` or ``trade_reports`` (every day), without the run's columns,
    source files named as the model names them."""
    from pyspark.sql import functions as F

    frame = spark.table(table).withColumn("micros", F.unix_micros("traded_at"))
    rows = []
    for row in frame.collect():
        values = row.asDict()
        # Epoch micros: collect() would render a TIMESTAMP in the local time zone.
        values["traded_at"] = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
            microseconds=values.pop("micros")
        )
        values["source_file"] = landing_file(values["source_file"])
        rows.append(values)
    return multiset(rows, RUN_COLUMNS)


def table_rows(spark: Any, table: str, column: str) -> list[Any]:
    """Rows of partition ``column = DAY`` of ``table``, instants as epoch micros."""
    from pyspark.sql import functions as F

    frame = spark.table(table).where(F.col(column) == F.lit(DAY))
    if "traded_at" in frame.columns:
        frame = frame.withColumn("micros", F.unix_micros("traded_at"))
    return frame.collect()


def test_full_ingest_job_publishes_what_the_model_expects(
    spark: Any, lake_env: Any, run_job: Any, tmp_path: Path
) -> None:
    """For a few drawn days, jobs/ingest.py itself publishes exactly the model's tables.

    Proves the whole job path (summary, gate, Iceberg writes) on top of the batch logic:
    the summary's counts, reasons and loaded reports per day, the whole of ``trades``
    (every day of the window, every data column: the landing's reports resolved; when
    published) and the day's ``trades_rejected`` rows equal the model's, and a day with
    nothing loaded exits 3. The drawn days all land on one date of one lake, so each run
    also takes back what the previous one's late reports put on earlier days.
    """
    tally = Tally()

    @settings(
        max_examples=JOB_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.data_too_large, HealthCheck.too_slow],
    )
    # Fuller days than the shrink-friendly default: each job run costs seconds.
    @given(batch=batches(min_records=12))
    def check(batch: Batch) -> None:
        raw_root = tmp_path / f"example-{next(_folders)}"
        folder = raw_root / "trades" / f"date={DAY.isoformat()}"
        write_batch(batch, folder)
        note(describe(batch, folder))
        # The job's clock is the real one: every drawn instant (2025) is in its past.
        expected = expected_day(folder, DAY, datetime.now(UTC), batch.lateness)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(LATENESS_VARIABLE, str(batch.lateness))
            run = run_job(
                "ingest",
                "--date",
                DAY.isoformat(),
                "--raw-uri",
                str(raw_root),
                "--max-reject-ratio",
                "1",
            )
        summary = run.summary
        assert run.exit_code == (0 if expected.loaded else 3), summary
        assert summary["conservation_ok"] is True
        assert (
            summary["records_read"],
            summary["loaded"],
            summary["duplicates_dropped"],
            summary["rejected"],
        ) == (
            expected.records_read,
            len(expected.loaded),
            expected.duplicates,
            sum(expected.rejects.values()),
        )
        assert summary["rejected_by_reason"] == expected.rejected_by_reason()
        rejects: Counter[Reject] = Counter()
        for row in table_rows(spark, lake_env.table("trades_rejected"), "ingest_date"):
            source = _name(row["source_file"])
            text_record = not source.endswith(".parquet") and row["reasons"] != ["unreadable_file"]
            rejects[
                Reject(source, row["record"] if text_record else None, tuple(row["reasons"]))
            ] += 1
        assert rejects == expected.dead_letters()
        assert summary["files"]["unreadable"] == len(expected.unreadable)
        if expected.loaded:
            assert summary["loaded_by_date"] == _iso_keys(expected.loaded_by_date())
            resolution = resolve(reports_of({DAY: expected}))
            assert version_content(spark, lake_env.table("trades")) == model_trades(resolution)
        tally.add(batch, expected)

    check()
    print(f"full job: {tally.examples} runs, {tally.records} records, {tally.loaded} loaded")
    assert tally.examples >= JOB_EXAMPLES
    assert tally.loaded > 0


# --- versions across landings -------------------------------------------------------------

VERSION_EXAMPLES = profile().fuzz_version_examples * scale()
# Three landings, each of its own day; every window (2 or 3 days) reaches back to the first.
LANDINGS = (date(2025, 1, 14), date(2025, 1, 15), date(2025, 1, 16))
# Few ids, shared by every day: reports of one trade meet, and one id names a trade on
# several days (each its own trade; in one landing, one report per id and sequence).
VERSION_IDS = ("A", "B", "C", "D")
REPORT_KINDS = ("new", "new", "correct", "cancel", "resend", "copy")


@dataclass(frozen=True)
class Scenario:
    """Landings ingested in order, reruns included: each run's landing and what it holds,
    with a window of ``lateness`` days before each landing."""

    lateness: int
    runs: tuple[tuple[date, Batch], ...]


def _on_day(day: date) -> st.SearchStrategy[Value]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    moments = st.integers(0, 86_400 - 1).map(lambda s: start + timedelta(seconds=s))
    return instant_values(moments)


@st.composite
def version_report(
    draw: st.DrawFn, landing: date, sent: list[dict[str, Value]], own: list[dict[str, Value]]
) -> dict[str, Value]:
    """A report a producer of versions sends in ``landing``: a new trade, a correction or a
    cancel of a trade of a day of the window (the landing's own or an earlier one), a resend
    of any earlier landing's report, or a copy of one of this landing's."""
    kind = draw(st.sampled_from(REPORT_KINDS))
    if kind == "resend" and sent:
        return dict(draw(st.sampled_from(sent)))
    if kind == "copy" and own:
        return dict(draw(st.sampled_from(own)))
    day = draw(st.sampled_from([day for day in LANDINGS if day <= landing]))
    fields: dict[str, Value] = {
        "trade_id": draw(st.sampled_from(VERSION_IDS)),
        "symbol": draw(st.sampled_from(("AAPL", "MSFT"))),
        "side": draw(st.sampled_from(("buy", "sell"))),
        "price": draw(numbers("1", "1000")),
        "quantity": draw(numbers("0.5", "500")),
        "timestamp": draw(_on_day(day)),
        "exchange": "XNAS",
    }
    if kind in ("correct", "cancel"):
        fields["report_type"] = draw(report_types((kind,)))
        fields["report_seq"] = draw(st.integers(1, 3).flatmap(seq_texts))
        if kind == "cancel":
            for name in draw(st.lists(st.sampled_from(CANCEL_OPTIONAL), unique=True)):
                del fields[name]
    else:
        fields.update(draw(st.fixed_dictionaries({}, optional=version_defaults())))
    return fields


def version_defaults() -> dict[str, st.SearchStrategy[Value]]:
    """A new report's version fields written out (or left absent by the caller)."""
    return {"report_type": report_types((NEW,)), "report_seq": seq_texts(0)}


@st.composite
def landing_batch(draw: st.DrawFn, reports: list[dict[str, Value]]) -> Batch:
    """``reports`` placed in one to three files of any format."""
    specs = st.builds(lambda spec: replace(spec, versions=True), file_specs())
    files = draw(st.lists(specs, min_size=1, max_size=3))
    placed = tuple((draw(st.integers(0, len(files) - 1)), Rec(fields)) for fields in reports)
    return Batch(NOWS[2], tuple(files), placed)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """Three landings in a random order, then reruns: unchanged, shrunk or corrected."""
    lateness = draw(st.sampled_from((2, 3)))
    sent: list[dict[str, Value]] = []
    contents: dict[date, list[dict[str, Value]]] = {}
    for landing in LANDINGS:
        own: list[dict[str, Value]] = []
        for _ in range(draw(st.integers(1, 8))):
            own.append(draw(version_report(landing, sent, own)))
        sent += own
        contents[landing] = own
    order = list(draw(st.permutations(LANDINGS)))
    for _ in range(draw(st.integers(0, 3))):
        order.append(draw(st.sampled_from(LANDINGS)))
    runs = []
    for position, landing in enumerate(order):
        reports = contents[landing]
        if position >= len(LANDINGS):
            change = draw(st.sampled_from(("unchanged", "shrunk", "corrected")))
            if change == "shrunk":
                kept = draw(st.lists(st.sampled_from(range(len(reports))), min_size=1, unique=True))
                reports = [reports[index] for index in sorted(kept)]
            elif change == "corrected":
                added = draw(
                    st.lists(version_report(landing, sent, reports), min_size=1, max_size=4)
                )
                reports = reports + added
            contents[landing] = reports
        runs.append((landing, draw(landing_batch(reports))))
    return Scenario(lateness, tuple(runs))


def _every_resolution_scenario() -> Scenario:
    """Landings whose resolution covers every rule of "Versions", so that coverage never
    depends on luck (and the ``ci`` profile's one scenario): landings run out of order
    (16, 14, 15), a correction and a cancel that arrive before their trade, a late
    correction and a late cancel, a resend that moves a trade's landing, one id on two days,
    a copy and a conflict within a landing, and a rerun of 16 that shrank to its own day, so
    that the correction and the cancel it carried are taken back."""
    d14, d15, d16 = LANDINGS

    def new(trade_id: str, day: date, hour: int, price: str, **fields: Value) -> dict[str, Value]:
        moment = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
        return {
            "trade_id": trade_id,
            "symbol": "AAPL",
            "side": "buy",
            "price": Num(price),
            "quantity": Num("2"),
            "timestamp": Instant(moment),
            "exchange": "XNAS",
            **fields,
        }

    def cancel(trade_id: str, day: date, hour: int, seq: Value) -> dict[str, Value]:
        moment = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
        return {
            "trade_id": trade_id,
            "timestamp": Instant(moment),
            "report_type": "cancel",
            "report_seq": seq,
        }

    files = (
        FileSpec("jsonl", ".jsonl"),
        FileSpec("csv", ".csv"),
        FileSpec("parquet", ".parquet", typed=True),
    )

    def landing(*placed: tuple[int, dict[str, Value]]) -> Batch:
        return Batch(NOWS[2], files, tuple((at, Rec(fields)) for at, fields in placed))

    jsonl, csv, parquet = 0, 1, 2
    own_day = (
        (jsonl, new("A", d16, 9, "120")),
        # The same report with another price: a conflict, the smaller price wins.
        (csv, new("A", d16, 9, "125")),
    )
    first_16 = landing(
        *own_day,
        (parquet, new("B", d14, 10, "49", report_type="Correct", report_seq=Num("3"))),
        (csv, cancel("D", d15, 12, " 1 ")),
        (jsonl, new("C", d15, 8, "80", symbol="MSFT")),
    )
    resent_b = new("B", d14, 10, "50", report_type="NEW", report_seq="0")
    landing_14 = landing(
        (jsonl, new("A", d14, 9, "100")),
        (csv, resent_b),
        (parquet, new("C", d14, 11, "70", symbol="MSFT")),
        (csv, new("A", d14, 9, "100")),  # a copy: a duplicate, the JSON Lines one kept
    )
    landing_15 = landing(
        (csv, new("A", d14, 9, "101", report_type="correct", report_seq=Num("1"))),
        (jsonl, resent_b),
        (parquet, cancel("C", d14, 11, Num("2"))),
        (jsonl, new("D", d15, 12, "30", side="sell")),
    )
    return Scenario(
        2,
        ((d16, first_16), (d14, landing_14), (d15, landing_15), (d16, landing(*own_day))),
    )


EVERY_RESOLUTION = _every_resolution_scenario()


def run_scenario(
    spark: Any, run_job: Any, raw_root: Path, scenario: Scenario, tally: Counter[str]
) -> dict[date, Expected]:
    """Land and ingest every run of ``scenario`` in order (the lake and the window are set);
    after each run compare the summary, ``trade_reports`` and ``trades`` with the model.
    Returns each landing's latest published reports."""
    from tradelake.config import load_settings

    configured = load_settings()
    published: dict[date, Expected] = {}
    for landing, batch in scenario.runs:
        folder = raw_root / "trades" / f"date={landing.isoformat()}"
        if folder.exists():
            shutil.rmtree(folder)
        write_batch(batch, folder)
        note(f"ingest {landing} (window {scenario.lateness} days):\n{describe(batch, folder)}")
        expected = expected_day(folder, landing, datetime.now(UTC), scenario.lateness)
        run = run_job("ingest", "--date", landing.isoformat(), "--max-reject-ratio", "1")
        summary = run.summary
        assert run.exit_code == (0 if expected.loaded else 3), summary
        assert (summary["loaded"], summary["duplicates_dropped"], summary["rejected"]) == (
            len(expected.loaded),
            expected.duplicates,
            sum(expected.rejects.values()),
        ), summary
        tally["runs"] += 1
        if expected.loaded:
            previous = published.get(landing)
            published[landing] = expected
            resolution = resolve(reports_of(published))
            loaded_days = expected.loaded_by_date()
            assert summary["loaded_by_date"] == _iso_keys(loaded_days)
            # Every day the landing's reports belong to now, or did in its previous
            # (published) run; no run died between its commits here.
            touched = set(loaded_days) | set(previous.loaded_by_date() if previous else {})
            assert summary["touched_dates"] == [day.isoformat() for day in sorted(touched)]
            assert summary["resolved"] == {
                day.isoformat(): asdict(outcome)
                for day, outcome in sorted(resolution.outcomes.items())
                if day in touched
            }
            # The touched days but an earlier one whose own landing is unpublished yet.
            assert summary["gold_dates"] == [
                day.isoformat() for day in sorted(touched) if day in published
            ]
            tally["late reports"] += sum(n for day, n in loaded_days.items() if day < landing)
            tally["taken back"] += len(touched - set(loaded_days))
        else:
            tally["gated runs"] += 1
        reports = reports_of(published)
        for table, wanted in (
            ("trade_reports", multiset(report_rows(reports))),
            ("trades", model_trades(resolve(reports))),
        ):
            actual = version_content(spark, configured.table(table))
            missing, extra = difference(wanted, actual)
            assert actual == wanted, (
                f"{table} after ingest {landing}: {missing} lost, {extra} extra"
            )
    for outcome in resolve(reports_of(published)).outcomes.values():
        tally.update(asdict(outcome))
    return published


def volume_content(spark: Any, table: str) -> Rows:
    """Every row of ``daily_volume`` (every day), without the run's column."""
    return multiset((row.asDict() for row in spark.table(table).collect()), RUN_COLUMNS)


def model_volume(resolution: Resolution) -> Rows:
    rows = daily_volume(resolution.current.values())
    return multiset(
        {"trade_date": day, "symbol": symbol, **asdict(volume)}
        for (day, symbol), volume in rows.items()
    )


_databases = itertools.count()


def test_landings_of_versions_resolve_to_the_model_in_any_order(
    spark: Any, lake: Lake, run_job: Any, tmp_path: Path
) -> None:
    """Random landings of new, correct, cancel and resent reports over three days (a window
    of 2 or 3 days, so landings carry late reports), ingested by jobs/ingest.py in a random
    order with reruns (some unchanged, shrunk, or with corrections added): after every run
    ``trade_reports`` holds every landing's latest published reports and ``trades`` is the
    model's resolution of them, cell for cell (nothing lost, nothing duplicated); the
    summary's loaded reports per day, touched days (the landing's days now and in its
    previous run), per resolved day ``reports = current + cancelled + superseded``, and gold
    days (the touched days whose landing is published) are the model's. At the end
    ``daily_volume`` of each day is the model's (a day without trades whose landing never
    published exits 4).

    ``EVERY_RESOLUTION`` runs first in every profile; ``ci`` draws no more (each scenario
    costs about ten job runs). Each example is a fresh database of the session's lake;
    jobs run in-process.
    """
    from tradelake.config import load_settings
    from tradelake.errors import ExitCode

    tally: Counter[str] = Counter()

    @settings(
        max_examples=max(1, VERSION_EXAMPLES),
        phases=settings().phases if VERSION_EXAMPLES else (Phase.explicit,),
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.data_too_large, HealthCheck.too_slow],
    )
    @given(scenario=scenarios())
    @example(scenario=EVERY_RESOLUTION)
    def check(scenario: Scenario) -> None:
        number = next(_databases)
        example_lake = Lake(lake.root, f"fuzz_versions_{number}", files=tmp_path / str(number))
        with pytest.MonkeyPatch.context() as patch:
            example_lake.use(patch)
            patch.setenv(LATENESS_VARIABLE, str(scenario.lateness))
            published = run_scenario(spark, run_job, example_lake.raw_root, scenario, tally)
            resolution = resolve(reports_of(published))
            for day in LANDINGS:
                run = run_job("daily_volume", "--date", day.isoformat())
                # A gold job builds a day that has trades, or whose own landing published.
                has_input = day in published or any(d == day for d, _ in resolution.current)
                assert run.exit_code == (ExitCode.OK if has_input else ExitCode.NO_INPUT), (
                    run.summary
                )
            volume = volume_content(spark, load_settings().table("daily_volume"))
            assert volume == model_volume(resolution)
        tally["examples"] += 1

    check()
    print(f"versions: {dict(tally)}")
    assert tally["examples"] >= VERSION_EXAMPLES + 1
    # The examples resolved late reports, superseded reports and cancelled trades, and
    # took back days a landing no longer carries.
    assert min(tally["late reports"], tally["superseded"], tally["cancelled"]) > 0
    assert tally["taken back"] > 0


def _trade(trade_id: str, **overrides: str) -> str:
    """The valid trade at 10:00 UTC, a JSON Lines record."""
    return trade_json(trade_id, **{"timestamp": "2025-01-15T10:00:00Z", **overrides})


def _bare(line: str, field: str, token: str) -> str:
    """``line`` with ``field``'s quoted value replaced by the bare JSON number ``token``."""
    return re.sub(rf'("{field}": )"[^"]*"', lambda match: match.group(1) + token, line)


def _loads(price: str, trade_id: str = "T1", report_seq: int = 0) -> dict[ReportKey, Decimal]:
    """The one report a day loads, by (trade_id, report_seq), and its price."""
    return {(trade_id, report_seq): Decimal(price)}


# The shrunk batches of bugs the fuzzer found, fixed since: file name -> content, and what
# the day must give (the loaded reports' prices, or the one dead letter's reasons).
FOUND_BUGS: dict[str, tuple[dict[str, str], dict[ReportKey, Decimal] | tuple[str, ...]]] = {
    "19-decimals-string-is-too-precise": (
        {"a.jsonl": _trade("T1", price="1.0000000000000000001") + "\n"},
        ("price_too_precise",),
    ),
    "19-decimals-csv-is-too-precise": (
        {
            "a.csv": "trade_id,symbol,side,price,quantity,timestamp,exchange\n"
            "T1,AAPL,buy,1.0000000000000000001,10,2025-01-15T10:00:00Z,XNAS\n"
        },
        ("price_too_precise",),
    ),
    "tiny-positive-is-too-precise-not-out-of-range": (
        {"a.jsonl": _trade("T1", quantity="1e-19") + "\n"},
        ("quantity_too_precise",),
    ),
    "39-digit-bare-number-is-too-precise": (
        {"a.jsonl": _bare(_trade("T1"), "price", "187.25" + "0" * 32 + "1") + "\n"},
        ("price_too_precise",),
    ),
    "40-digit-bare-number-is-too-precise": (
        {"a.jsonl": _bare(_trade("T1"), "price", "1." + "0" * 38 + "1") + "\n"},
        ("price_too_precise",),
    ),
    "1.5e400-bare-is-out-of-range": (
        {"a.jsonl": _bare(_trade("T1"), "price", "1.5e400") + "\n"},
        ("price_out_of_range",),
    ),
    "trailing-zeros-are-exact": (
        {"a.jsonl": _trade("T1", price="187.2500000000") + "\n"},
        _loads("187.25"),
    ),
    "bare-exponent-is-exact": (
        {"a.jsonl": _bare(_trade("T1"), "price", "1.8725e2") + "\n"},
        _loads("187.25"),
    ),
    "plus-sign-is-exact": (
        {"a.jsonl": _trade("T1", price="+187.25") + "\n"},
        _loads("187.25"),
    ),
    "hh:mmZ-is-a-timestamp": (
        {"a.jsonl": _trade("T1", timestamp="2025-01-15T10:00Z") + "\n"},
        _loads("187.25"),
    ),
    "two-objects-on-a-line-are-one-malformed-record": (
        {"a.jsonl": _trade("T1") + _trade("T2") + "\n"},
        ("malformed_record",),
    ),
    "object-then-text-is-malformed": (
        {"a.jsonl": _trade("T1") + " trailing text\n"},
        ("malformed_record",),
    ),
    "object-then-bracket-is-malformed": (
        {"a.jsonl": _trade("T1") + "]\n"},
        ("malformed_record",),
    ),
    # The model once took a file's opening byte-order mark for part of its first line.
    "byte-order-mark-opening-a-file-is-not-data": (
        {"a.jsonl": "\ufeff" + _trade("T1") + "\n"},
        _loads("187.25"),
    ),
    # A bare JSON number in a text field was read as the VARIANT's canonical text, not as
    # written: a report_seq 1.0 loaded as sequence 1, -0 as 0, a trade_id 1.50 as "1.5".
    "bare-1.0-report-seq-is-no-whole-number": (
        {"a.jsonl": _bare(_trade("T1", report_seq="1"), "report_seq", "1.0") + "\n"},
        ("report_seq_invalid",),
    ),
    "bare-minus-zero-report-seq-is-invalid": (
        {"a.jsonl": _bare(_trade("T1", report_seq="0"), "report_seq", "-0") + "\n"},
        ("report_seq_invalid",),
    ),
    "bare-number-trade-id-keeps-its-text": (
        {"a.jsonl": _bare(_trade("T1"), "trade_id", "1.50") + "\n"},
        _loads("187.25", trade_id="1.50"),
    ),
    "bare-integer-report-seq-loads": (
        {"a.jsonl": _bare(_trade("T1", report_seq="0"), "report_seq", "7") + "\n"},
        _loads("187.25", report_seq=7),
    ),
}


@pytest.mark.parametrize(("files", "outcome"), FOUND_BUGS.values(), ids=list(FOUND_BUGS.keys()))
def test_found_bugs_stay_fixed(
    spark: Any,
    tmp_path: Path,
    files: dict[str, str],
    outcome: dict[ReportKey, Decimal] | tuple[str, ...],
) -> None:
    """Each shrunk batch ingests as the contract says, and as the reference model says."""
    folder = tmp_path / "trades" / f"date={DAY.isoformat()}"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    now = NOWS[2]
    observed = run_product(spark, folder, now)
    assert_matches(observed, expected_day(folder, DAY, now))
    if isinstance(outcome, dict):
        assert {key: report.price for key, report in observed.loaded.items()} == outcome
        assert not observed.rejects
    else:
        assert not observed.loaded
        assert [reject.reasons for reject in observed.rejects.elements()] == [outcome]
        # The whole line is the dead letter: nothing of it is lost.
        record = next(iter(observed.rejects)).record
        assert record is not None and record == next(iter(files.values())).splitlines()[-1]
