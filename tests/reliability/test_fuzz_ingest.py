"""Property-based fuzzing of the ingest against a plain-Python reference model (issue 9).

Hypothesis draws random landing days: valid trades, records breaking every rule the
contract names, exact and cosmetic duplicates, conflicting versions, malformed JSON and
CSV rows, random unicode, huge and tiny numbers and every timestamp form, spread over
JSON Lines (plain, gzip, CRLF), CSV (reordered, upper-cased, BOM'd headers, extra columns)
and Parquet (typed or text columns). Each example is written to a folder of its own, read
by the product in-process (``io.list_day`` + ``ingest.job.load_batch`` on the shared
session) and compared with ``reference_model.expected_day``: conservation, the exact
loaded rows, the exact reject multiset with reason codes, the duplicate count.

The strategies exclude nothing the contract covers: a bug the fuzzer finds is fixed, and its
shrunk batch stays below as a regression test. Example counts follow the tier's profile
(``tests/reliability/profiles.py``); a failure prints the reproduction blob and the shrunk
batch. Every reason code, duplicates and every landing format are certain to be drawn:
explicit examples holding each run first, whatever the random draws cover.
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st

from tests.lakes import REPO, trade_json
from tests.reliability.profiles import profile, scale
from tests.reliability.reference_model import (
    ALL_REASONS,
    FIELDS,
    Expected,
    Loaded,
    Reject,
    expected_day,
)

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
    column_order: tuple[int, ...] = tuple(range(len(FIELDS)))
    typed: bool = False  # Parquet: typed price/quantity/timestamp columns where values fit
    blank_lines: int = 0


@dataclass(frozen=True)
class Batch:
    """One fuzz example: files, records placed in them, the run start, marker files."""

    now: datetime
    files: tuple[FileSpec, ...]
    placed: tuple[tuple[int, Rec], ...]
    markers: tuple[str, ...] = ()


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
KINDS = ("valid",) * 4 + ("copy",) * 3 + ("conflict", "broken", "broken", "malformed", "random")
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


def instants(now: datetime) -> st.SearchStrategy[datetime]:
    """Moments around the day, dense at its edges and at the future-tolerance edge."""
    edges = [
        DAY_START,
        DAY_START - timedelta(microseconds=1),
        DAY_START + timedelta(days=1),
        DAY_START + timedelta(days=1, microseconds=-1),
        now + timedelta(seconds=300),
        now + timedelta(seconds=300, microseconds=1),
        now,
    ]
    inside = st.integers(0, 86_400 * 10**6 - 1).map(
        lambda us: DAY_START + timedelta(microseconds=us)
    )
    around = st.integers(-7200 * 10**6, (86_400 + 7200) * 10**6).map(
        lambda us: DAY_START + timedelta(microseconds=us)
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


def valid_values(now: datetime) -> dict[str, st.SearchStrategy[Value]]:
    """A strategy per field for values that keep a trade valid (run start ``now``)."""
    last = min(now, DAY_START + timedelta(days=1)) - DAY_START
    in_day = st.integers(0, last // timedelta(microseconds=1) - 1).map(
        lambda us: DAY_START + timedelta(microseconds=us)
    )
    return {
        # Mostly fresh ids; shared ones (and the copy/conflict kinds) make versions meet.
        "trade_id": st.integers(0, 9).flatmap(
            lambda k: (
                st.integers(10, 10**6).map(lambda n: f"T{n}")
                if k < 7
                else st.sampled_from((*TRADE_IDS, Num("7"), Num("42")))
            )
        ),
        "symbol": st.sampled_from(SYMBOLS),
        "side": st.sampled_from(SIDES),
        "price": numbers("0.00000001", "999999.99999999"),
        "quantity": numbers("0.00000001", "1000000000"),
        "timestamp": instant_values(in_day),
        "exchange": st.sampled_from(EXCHANGES),
    }


def valid_fields(now: datetime) -> st.SearchStrategy[dict[str, Value]]:
    return st.fixed_dictionaries(valid_values(now))


def broken_value(name: str, now: datetime) -> st.SearchStrategy[Value]:
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
            instant_values(instants(now)),
            UNICODE,
            st.just(Num("1736935200")),
        ),
        "exchange": st.one_of(missing, UNICODE),
    }
    return by_field[name]


@st.composite
def broken_fields(draw: st.DrawFn, now: datetime) -> dict[str, Value]:
    fields = dict(draw(valid_fields(now)))
    for name in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3, unique=True)):
        if draw(st.integers(0, 5)) == 0:
            del fields[name]  # absent key, not just an empty value
        else:
            fields[name] = draw(broken_value(name, now))
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


@st.composite
def records(draw: st.DrawFn, now: datetime, earlier: list[Rec]) -> Rec:
    """A record; copies and conflicting versions refer to an earlier one."""
    kind = draw(st.sampled_from(("valid", "copy", "conflict", "broken", "malformed", "random")))
    extras = draw(st.dictionaries(st.sampled_from(EXTRA_FIELDS), UNICODE, max_size=1))
    if kind in ("copy", "conflict") and earlier:
        base = earlier[draw(st.integers(0, len(earlier) - 1))]
        fields = dict(base.fields)
        if kind == "copy":
            fields = draw(cosmetic_copy(fields))
        else:
            name = draw(
                st.sampled_from(("symbol", "side", "price", "quantity", "timestamp", "exchange"))
            )
            fields[name] = draw(valid_values(now)[name])
        return Rec(fields, extras)
    if kind == "broken":
        return Rec(draw(broken_fields(now)), extras)
    if kind == "malformed":
        return Rec(
            draw(valid_fields(now)),
            extras,
            json_text=draw(malformed_lines()),
            csv_cells=draw(st.sampled_from((-1, -3, 1, 2))),
        )
    if kind == "random":
        return Rec({name: draw(broken_value(name, now)) for name in FIELDS}, extras)
    return Rec(draw(valid_fields(now)), extras)


@st.composite
def cosmetic_copy(draw: st.DrawFn, fields: dict[str, Value]) -> dict[str, Value]:
    """The same trade written differently: case, padding, number text, time zone."""
    out = dict(fields)
    for name, value in fields.items():
        if isinstance(value, str) and draw(st.booleans()):
            changed = (
                value.lower() if name == "symbol" else value.upper() if name == "side" else value
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
    return out


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
        column_order=tuple(draw(st.permutations(range(len(FIELDS))))),
        typed=draw(st.booleans()),
        blank_lines=draw(st.integers(0, 2)),
    )


@st.composite
def batches(draw: st.DrawFn, min_records: int = 0) -> Batch:
    now = draw(st.sampled_from(NOWS))
    files = draw(st.lists(file_specs(), min_size=1, max_size=3))
    count = draw(st.integers(min_records, MAX_RECORDS))
    made: list[Rec] = []
    placed = []
    for _ in range(count):
        rec = draw(records(now, made))
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
    return Batch(now, tuple(files), tuple(placed), markers)


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


def _csv_lines(spec: FileSpec, recs: list[Rec]) -> list[str]:
    names = [FIELDS[i] for i in spec.column_order] + list(EXTRA_FIELDS[:1])
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
    for name in FIELDS:
        values = [rec.fields.get(name) for rec in recs]
        columns[name] = _parquet_column(name, values, spec.typed)
    extras = [rec.extras.get(EXTRA_FIELDS[0]) for rec in recs]
    columns[EXTRA_FIELDS[0]] = (pa.string(), extras)
    order = [FIELDS[i] for i in spec.column_order] + [EXTRA_FIELDS[0]]
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
    loaded: dict[str, Loaded]
    rejects: Counter[Reject]
    duplicates: int
    empty: list[str]
    ignored: list[str]
    unreadable: list[str]


def _name(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def run_product(spark: Any, folder: Path, now: datetime) -> Observed:
    """``io.list_day`` + ``ingest.job.load_batch`` (the job's own extract/validate/classify)."""
    from pyspark.sql import functions as F

    from tradelake import io
    from tradelake.ingest.job import load_batch

    listing = io.list_day(spark, str(folder))
    batch = load_batch(spark, _settings(), DAY, listing.files, now)
    try:
        rows = batch.classified.select(
            "source_file",
            "record",
            "status",
            "reasons",
            "trade_id",
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
    loaded: dict[str, Loaded] = {}
    rejects: Counter[Reject] = Counter()
    duplicates = 0
    for row in rows:
        source = _name(row["source_file"])
        if row["status"] == "loaded":
            assert row["trade_id"] not in loaded, f"trade_id {row['trade_id']!r} loaded twice"
            loaded[row["trade_id"]] = Loaded(
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


_SETTINGS: list[Any] = []


def _settings() -> Any:
    """Settings whose contract is conf/local.toml's, as a job run locally would load them."""
    from tradelake.config import ContractSettings, Settings

    if not _SETTINGS:
        profile = tomllib.loads((REPO / "conf" / "local.toml").read_text())
        _SETTINGS.append(
            Settings(
                catalog_type="jdbc",
                catalog_uri="jdbc:sqlite::memory:",
                contract=ContractSettings(**profile["contract"]),
            )
        )
    return _SETTINGS[0]


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


def describe(batch: Batch, folder: Path) -> str:
    """The written files, line by line, for the failure report."""
    out = [f"now={batch.now.isoformat()}"]
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

    def add(self, batch: Batch, expected: Expected) -> None:
        self.examples += 1
        self.records += expected.records_read
        self.loaded += len(expected.loaded)
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
    expected = expected_day(folder, DAY, batch.now)
    observed = run_product(spark, folder, batch.now)
    assert_matches(observed, expected)
    if tally is not None:
        tally.add(batch, expected)


# --- the tests ----------------------------------------------------------------------------


def test_random_batches_match_the_reference_model(
    spark: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Every drawn landing day ingests exactly as the README's contract says.

    Proves, per example: records_read = loaded + duplicates + rejected (nothing lost or
    made up), the exact loaded row per trade_id (normalized text, exact DECIMAL price and
    quantity, UTC instant, the file the kept copy came from), the exact multiset of
    dead letters with their reason lists, and the duplicate count. After the run, that the
    examples exercised every reason code, duplicates and every file format.
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
    def check(batch: Batch) -> None:
        check_batch(spark, root, batch, tally)

    check()
    print(
        f"fuzz: {tally.examples} examples, {tally.records} records: {tally.loaded} loaded, "
        f"{tally.duplicates} duplicates, {tally.rejected} rejected; "
        f"reasons {dict(tally.reasons)}; formats {dict(tally.formats)}"
    )
    from tradelake.contract import REASON_CODES

    assert tally.examples >= EXAMPLES
    # The model knows every code the product can write, and the examples hit each one.
    assert set(ALL_REASONS) == set(REASON_CODES)
    assert set(tally.reasons) == set(ALL_REASONS)
    assert tally.duplicates > 0
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
    the summary's counts and reasons, the day's ``trades`` rows (when published) and
    ``trades_rejected`` rows equal the model's, and a day with nothing loaded exits 3.
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
        expected = expected_day(folder, DAY, datetime.now(UTC))
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
            trades = {
                row["trade_id"]: Loaded(
                    row["symbol"],
                    row["side"],
                    row["price"],
                    row["quantity"],
                    datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=row["micros"]),
                    row["exchange"],
                    _name(row["source_file"]),
                )
                for row in table_rows(spark, lake_env.table("trades"), "trade_date")
            }
            assert trades == expected.loaded
        tally.add(batch, expected)

    check()
    print(f"full job: {tally.examples} runs, {tally.records} records, {tally.loaded} loaded")
    assert tally.examples >= JOB_EXAMPLES
    assert tally.loaded > 0


def _trade(trade_id: str, **overrides: str) -> str:
    """The valid trade at 10:00 UTC, a JSON Lines record."""
    return trade_json(trade_id, **{"timestamp": "2025-01-15T10:00:00Z", **overrides})


def _bare(line: str, field: str, token: str) -> str:
    """``line`` with ``field``'s quoted value replaced by the bare JSON number ``token``."""
    return re.sub(rf'("{field}": )"[^"]*"', lambda match: match.group(1) + token, line)


# The shrunk batches of bugs the fuzzer found, fixed since: file name -> content, and what
# the day must give (the loaded trade's price, or the one dead letter's reasons).
FOUND_BUGS: dict[str, tuple[dict[str, str], Decimal | tuple[str, ...]]] = {
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
        Decimal("187.25"),
    ),
    "bare-exponent-is-exact": (
        {"a.jsonl": _bare(_trade("T1"), "price", "1.8725e2") + "\n"},
        Decimal("187.25"),
    ),
    "plus-sign-is-exact": (
        {"a.jsonl": _trade("T1", price="+187.25") + "\n"},
        Decimal("187.25"),
    ),
    "hh:mmZ-is-a-timestamp": (
        {"a.jsonl": _trade("T1", timestamp="2025-01-15T10:00Z") + "\n"},
        Decimal("187.25"),
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
        Decimal("187.25"),
    ),
}


@pytest.mark.parametrize(("files", "outcome"), FOUND_BUGS.values(), ids=list(FOUND_BUGS.keys()))
def test_found_bugs_stay_fixed(
    spark: Any, tmp_path: Path, files: dict[str, str], outcome: Decimal | tuple[str, ...]
) -> None:
    """Each shrunk batch ingests as the contract says, and as the reference model says."""
    folder = tmp_path / "trades" / f"date={DAY.isoformat()}"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    now = NOWS[2]
    observed = run_product(spark, folder, now)
    assert_matches(observed, expected_day(folder, DAY, now))
    if isinstance(outcome, Decimal):
        assert [trade.price for trade in observed.loaded.values()] == [outcome]
        assert not observed.rejects
    else:
        assert not observed.loaded
        assert [reject.reasons for reject in observed.rejects.elements()] == [outcome]
        # The whole line is the dead letter: nothing of it is lost.
        record = next(iter(observed.rejects)).record
        assert record is not None and record == next(iter(files.values())).splitlines()[-1]
