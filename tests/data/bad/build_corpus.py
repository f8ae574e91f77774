"""Build the bad-input corpus: landing days of broken raw files, written from Python literals.

    python tests/data/bad/build_corpus.py [--out DIR] [--start 2025-03-01] [--only NAME]...
    python tests/data/bad/build_corpus.py --readme    # the case table of README.md

writes ``DIR/trades/date=D/`` folders and prints a JSON manifest: per case its date, the
files it wrote and the exact expected outcome of ``jobs/ingest.py --date D
--max-reject-ratio 1``. ``DIR`` defaults to ``tests/data/bad/generated`` (kept out of
git). Nothing binary is committed: every byte comes from this script.

Each case is data: a name, what it is, the entries it writes into a day folder (text in
a given encoding, optionally gzipped; raw bytes; Parquet from rows; a directory; a
symlink; a named pipe) and what ingest must do with them. Cases that cannot disturb one
another share a day (same ``group``): their file names and trade ids are distinct, so
every row of ``trades`` and ``trades_rejected`` belongs to exactly one case. A case
without a group has a day of its own. Every day also holds ``anchor.jsonl`` with one
valid trade ``A1``: each day then has a loaded record (the ``record_count`` gate), and
the anchor proves that bad files never take the good ones down.

``@DAY@`` in any text or Parquet cell becomes the day's date, so timestamps always fall
inside the day being ingested.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "generated"
DEFAULT_START = date(2025, 3, 1)
DAY = "@DAY@"
CSV_HEADER = "trade_id,symbol,side,price,quantity,timestamp,exchange"
CSV_COLUMNS = tuple(CSV_HEADER.split(","))
# The standard trade; prices and quantities are JSON number text.
DEFAULTS: dict[str, str] = {
    "symbol": "AAPL",
    "side": "buy",
    "price": "187.25",
    "quantity": "10",
    "timestamp": f"{DAY}T12:00:00Z",
    "exchange": "XNAS",
}
NUMERIC = ("price", "quantity")


def jline(trade_id: str, **fields: Any) -> str:
    """One JSON Lines trade: the standard trade with ``fields`` changed or added.

    Prices and quantities given as text are written as bare JSON numbers; anything else is
    JSON-encoded, non-ASCII letters as themselves (so the file's encoding matters).
    """
    values: dict[str, Any] = {"trade_id": trade_id, **DEFAULTS, **fields}
    parts = []
    for key, value in values.items():
        numeric = key in NUMERIC and isinstance(value, str)
        text = value if numeric else json.dumps(value, ensure_ascii=False)
        parts.append(f"{json.dumps(key)}: {text}")
    return "{" + ", ".join(parts) + "}"


def cline(trade_id: str, **fields: str) -> str:
    """One CSV row of the standard trade, in ``CSV_HEADER`` order."""
    values = {"trade_id": trade_id, **DEFAULTS, **fields}
    return ",".join(values[name] for name in CSV_COLUMNS)


def lines(*rows: str, end: str = "\n") -> str:
    """Rows joined by ``end``, with a final ``end``."""
    return "".join(row + end for row in rows)


def nested(depth: int) -> str:
    """``depth`` JSON arrays inside one another."""
    return "[" * depth + "]" * depth


# --- what a case writes ------------------------------------------------------------------


def _on(text: str, day: date) -> str:
    return text.replace(DAY, day.isoformat())


@dataclass(frozen=True)
class Text:
    """A text file: ``text`` encoded, optionally gzip-compressed."""

    name: str
    text: str
    encoding: str = "utf-8"
    gzipped: bool = False

    def write(self, folder: Path, day: date) -> None:
        data = _on(self.text, day).encode(self.encoding)
        if self.gzipped:
            data = gzip.compress(data, mtime=0)
        (folder / self.name).write_bytes(data)


@dataclass(frozen=True)
class Raw:
    """A file of exactly these bytes."""

    name: str
    data: bytes

    def write(self, folder: Path, day: date) -> None:
        (folder / self.name).write_bytes(self.data)


@dataclass(frozen=True)
class Gzip:
    """Several gzip members concatenated (``cat a.gz b.gz``), one per text."""

    name: str
    members: tuple[str, ...]

    def write(self, folder: Path, day: date) -> None:
        data = b"".join(gzip.compress(_on(text, day).encode(), mtime=0) for text in self.members)
        (folder / self.name).write_bytes(data)


@dataclass(frozen=True)
class Truncated:
    """A JSON Lines gzip cut in the middle of its compressed stream (an interrupted upload)."""

    name: str
    prefix: str
    rows: int = 20_000

    def write(self, folder: Path, day: date) -> None:
        body = lines(*(jline(f"{self.prefix}{i}", quantity=str(i + 1)) for i in range(self.rows)))
        data = gzip.compress(_on(body, day).encode(), mtime=0)
        (folder / self.name).write_bytes(data[: len(data) // 2])


@dataclass(frozen=True)
class Parquet:
    """A Parquet file; ``columns`` are (name, type) pairs, ``rows`` tuples of cells.

    Types: string, int64, float64, decimal(18,8) and timestamp[us,UTC] (cells as text).
    """

    name: str
    columns: tuple[tuple[str, str], ...]
    rows: tuple[tuple[Any, ...], ...]

    def write(self, folder: Path, day: date) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        types = {
            "string": pa.string(),
            "int64": pa.int64(),
            "float64": pa.float64(),
            "decimal(18,8)": pa.decimal128(18, 8),
            "timestamp[us,UTC]": pa.timestamp("us", tz="UTC"),
        }

        def cell(value: Any, type_name: str) -> Any:
            if not isinstance(value, str):
                return value
            if type_name.startswith("timestamp"):
                return datetime.fromisoformat(_on(value, day))
            if type_name.startswith("decimal"):
                return Decimal(value)
            return _on(value, day)

        schema = pa.schema([(name, types[type_name]) for name, type_name in self.columns])
        data = {
            name: [cell(row[index], type_name) for row in self.rows]
            for index, (name, type_name) in enumerate(self.columns)
        }
        pq.write_table(pa.table(data, schema=schema), folder / self.name)


@dataclass(frozen=True)
class Folder:
    """A directory in the day folder, holding these entries."""

    name: str
    entries: tuple[Text, ...] = ()

    def write(self, folder: Path, day: date) -> None:
        inner = folder / self.name
        inner.mkdir()
        for entry in self.entries:
            entry.write(inner, day)


@dataclass(frozen=True)
class Symlink:
    """A symbolic link ``name -> target`` (the target may be missing, or a loop)."""

    name: str
    target: str

    def write(self, folder: Path, day: date) -> None:
        os.symlink(self.target, folder / self.name)


@dataclass(frozen=True)
class Fifo:
    """A named pipe: opening it for reading blocks until a writer comes (none ever does)."""

    name: str

    def write(self, folder: Path, day: date) -> None:
        os.mkfifo(folder / self.name)


Entry = Text | Raw | Gzip | Truncated | Parquet | Folder | Symlink | Fifo


# --- what ingest must do -----------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    """A row expected in ``trades``, with the values the contract normalizes to."""

    trade_id: str
    file: str
    symbol: str = "AAPL"
    side: str = "buy"
    price: str = "187.25"
    quantity: str = "10"
    time: str = "12:00:00"  # UTC time of day, on the day being ingested
    exchange: str = "XNAS"


@dataclass(frozen=True)
class Rejected:
    """``count`` rows expected in ``trades_rejected`` from ``file``, with these reasons."""

    file: str
    reasons: tuple[str, ...]
    count: int = 1


@dataclass(frozen=True)
class Case:
    """One kind of bad input, the entries it lands, and the exact outcome of ingest.

    Every top-level entry is listed by ingest as read, unless named in ``empty`` or
    ``ignored``. ``unreadable`` maps a read file to a fragment of the error its
    ``unreadable_file`` dead letter carries (that dead letter is implied, not repeated in
    ``rejected``). ``drift`` is the extra fields reported, ``drift_records`` the records
    carrying any.
    """

    name: str
    what: str
    entries: tuple[Entry, ...]
    group: str | None = None
    loaded: tuple[Loaded, ...] = ()
    rejected: tuple[Rejected, ...] = ()
    empty: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    unreadable: tuple[tuple[str, str], ...] = ()
    drift: tuple[str, ...] = ()
    drift_records: int = 0

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(entry.name for entry in self.entries)

    @property
    def read(self) -> tuple[str, ...]:
        return tuple(name for name in self.files if name not in {*self.empty, *self.ignored})

    @property
    def dead_letters(self) -> tuple[Rejected, ...]:
        """Every expected rejected row: the record rejects and one per unreadable file."""
        return self.rejected + tuple(Rejected(name, UNREADABLE) for name, _ in self.unreadable)

    def outcome(self) -> str:
        """The expected outcome in one line, for people (control characters escaped)."""
        parts = []
        if self.loaded:
            parts.append("loads " + ", ".join(_describe(row) for row in self.loaded))
        for row in self.rejected:
            times = f"{row.count} x " if row.count > 1 else ""
            parts.append(f"rejects {times}{row.file}: {' + '.join(row.reasons)}")
        for name, error in self.unreadable:
            parts.append(f"{name}: unreadable_file ({error})")
        if self.empty:
            parts.append("empty: " + ", ".join(self.empty))
        if self.ignored:
            parts.append("ignored: " + ", ".join(self.ignored))
        if self.drift:
            parts.append("drift: " + ", ".join(self.drift))
        return _escaped("; ".join(parts) or "read, no records")


def _escaped(text: str) -> str:
    # U+FFFD is printable, but shown as itself it hides which byte could not be decoded.
    return "".join(
        char if char.isprintable() and char != "\ufffd" else ascii(char)[1:-1] for char in text
    )


def _describe(row: Loaded) -> str:
    standard = Loaded(row.trade_id, row.file)
    changed = [
        f"{name}={value}"
        for name, value in row.__dict__.items()
        if value != getattr(standard, name)
    ]
    return row.trade_id + (f" ({', '.join(changed)})" if changed else "")


MALFORMED = ("malformed_record",)
UNREADABLE = ("unreadable_file",)
ALL_MISSING = (
    "trade_id_missing",
    "symbol_missing",
    "side_missing",
    "price_missing",
    "quantity_missing",
    "timestamp_missing",
    "exchange_missing",
)
UNSUPPORTED = "unsupported file type"
TEN_MB = 10 * 1024 * 1024
ANCHOR = Text("anchor.jsonl", lines(jline("A1", symbol="ANCHOR", exchange="XANC")))
ANCHOR_ROW = Loaded("A1", "anchor.jsonl", symbol="ANCHOR", exchange="XANC")
STRING_COLUMNS = tuple((name, "string") for name in CSV_COLUMNS)

CASES: tuple[Case, ...] = (
    # --- encodings and line ends ---
    Case(
        "bom_jsonl",
        "UTF-8 byte-order mark before the first JSON line",
        (Text("bom.jsonl", "\ufeff" + lines(jline("B1"), jline("B2"))),),
        group="text",
        loaded=(Loaded("B1", "bom.jsonl"), Loaded("B2", "bom.jsonl")),
    ),
    Case(
        "bom_csv",
        "UTF-8 byte-order mark before the CSV header",
        (Text("bom.csv", "\ufeff" + lines(CSV_HEADER, cline("BC1"))),),
        loaded=(Loaded("BC1", "bom.csv"),),
    ),
    Case(
        "crlf_jsonl",
        "JSON Lines with Windows CRLF line ends",
        (Text("crlf.jsonl", lines(jline("C1"), jline("C2"), end="\r\n")),),
        group="text",
        loaded=(Loaded("C1", "crlf.jsonl"), Loaded("C2", "crlf.jsonl")),
    ),
    Case(
        "crlf_csv",
        "CSV with CRLF line ends, header included",
        (Text("crlf.csv", lines(CSV_HEADER, cline("C3"), cline("C4"), end="\r\n")),),
        group="text",
        loaded=(Loaded("C3", "crlf.csv"), Loaded("C4", "crlf.csv")),
    ),
    Case(
        "cr_only_jsonl",
        "JSON Lines with bare CR line ends (classic Mac)",
        (Text("cr.jsonl", lines(jline("R1"), jline("R2"), end="\r")),),
        group="text",
        loaded=(Loaded("R1", "cr.jsonl"), Loaded("R2", "cr.jsonl")),
    ),
    Case(
        "latin1_jsonl",
        "Latin-1 bytes, not UTF-8: an accented exchange, an accented symbol",
        (
            Text(
                "latin1.jsonl",
                lines(jline("L1", exchange="Zürich"), jline("L2", symbol="ÄPL")),
                encoding="latin-1",
            ),
        ),
        group="text",
        # The byte 0xFC is not UTF-8: it is read as U+FFFD, never guessed as 'ü'.
        loaded=(Loaded("L1", "latin1.jsonl", exchange="Z\ufffdrich"),),
        rejected=(Rejected("latin1.jsonl", ("symbol_invalid",)),),
    ),
    Case(
        "nul_bytes_jsonl",
        "NUL bytes: raw inside a JSON string, escaped (\\u0000), a line of NULs, NUL padding "
        "after the last line",
        (
            Text(
                "nul.jsonl",
                lines(
                    jline("N1"),
                    jline("N2").replace('"N2"', '"N\x002"'),
                    jline("N\x003"),
                    "\x00\x00\x00\x00",
                )
                + "\x00" * 64,
            ),
        ),
        group="text",
        # An escaped NUL is valid JSON and trade_id has no character rule: loaded as is.
        loaded=(Loaded("N1", "nul.jsonl"), Loaded("N\x003", "nul.jsonl")),
        rejected=(Rejected("nul.jsonl", MALFORMED, 3),),
    ),
    Case(
        "utf16_jsonl",
        "JSON Lines encoded as UTF-16 with a byte-order mark",
        (Text("utf16.jsonl", lines(jline("U1"), jline("U2")), encoding="utf-16"),),
        group="text",
        # Two lines, plus the NUL byte left after the last LF: three non-JSON lines.
        rejected=(Rejected("utf16.jsonl", MALFORMED, 3),),
    ),
    Case(
        "whitespace_lines",
        "empty lines, a line of spaces, a line of a tab, a line of a form feed",
        (Text("blank.jsonl", lines(jline("W1"), "", "   ", "\t", "\f", jline("W2"), "")),),
        group="text",
        loaded=(Loaded("W1", "blank.jsonl"), Loaded("W2", "blank.jsonl")),
        # Lines of nothing but ASCII whitespace (tab, form feed too) are skipped.
    ),
    # --- JSON shapes ---
    Case(
        "long_line_10mb",
        "one line of more than 10 MB: a valid trade with a 10 MiB extra field",
        (Text("long.jsonl", lines(jline("G1", memo="x" * TEN_MB), jline("G2"))),),
        group="json",
        loaded=(Loaded("G1", "long.jsonl"), Loaded("G2", "long.jsonl")),
        drift=("memo",),
        drift_records=1,
    ),
    Case(
        "deep_nesting_jsonl",
        "deeply nested JSON: an extra field 3 deep, one 100,000 deep, a line only of nesting",
        (
            Text(
                "deep.jsonl",
                lines(
                    jline("D1", meta=[[["fine"]]]),
                    jline("D2")[:-1] + ', "meta": ' + nested(100_000) + "}",
                    nested(100_000),
                ),
            ),
        ),
        group="json",
        loaded=(Loaded("D1", "deep.jsonl"),),
        # Beyond the parser's nesting limit the line does not parse: malformed, no crash.
        rejected=(Rejected("deep.jsonl", MALFORMED, 2),),
        drift=("meta",),
        drift_records=1,
    ),
    Case(
        "json_array_one_line",
        "a .json file holding one JSON array of trades on one line instead of JSON Lines",
        (Text("array.json", "[" + ", ".join([jline("J1"), jline("J2")]) + "]\n"),),
        group="json",
        rejected=(Rejected("array.json", MALFORMED),),
    ),
    Case(
        "json_array_pretty",
        "a pretty-printed JSON array of two objects: 8 lines, each a fragment",
        (Text("pretty.json", json.dumps([{"trade_id": "J3"}, {"trade_id": "J4"}], indent=2)),),
        group="json",
        rejected=(Rejected("pretty.json", MALFORMED, 8),),
    ),
    Case(
        "json_not_objects",
        "JSON lines that are not objects (null, a number, a string, true), and {}",
        (Text("scalars.jsonl", lines("null", "42", '"J5"', "true", "{}")),),
        group="json",
        rejected=(Rejected("scalars.jsonl", MALFORMED, 4), Rejected("scalars.jsonl", ALL_MISSING)),
    ),
    Case(
        "json_duplicate_keys",
        "a JSON object with the price key twice (different values)",
        (Text("dupkeys.jsonl", lines(jline("K1")[:-1] + ', "price": 1.5}', jline("K2"))),),
        group="json",
        loaded=(Loaded("K2", "dupkeys.jsonl"),),
        rejected=(Rejected("dupkeys.jsonl", MALFORMED),),
    ),
    Case(
        "json_truncated_tail",
        "the last line cut mid-object, no final newline (a partial write)",
        (Text("cut.jsonl", lines(jline("T1")) + jline("T2")[:40]),),
        group="json",
        loaded=(Loaded("T1", "cut.jsonl"),),
        rejected=(Rejected("cut.jsonl", MALFORMED),),
    ),
    # --- CSV ---
    Case(
        "csv_duplicate_headers",
        "a CSV header naming price twice, the second column holding another value",
        (Text("duphead.csv", lines(CSV_HEADER + ",price", cline("H1") + ",999")),),
        group="csv",
        # The first column of a name wins; the duplicate is not reported as drift.
        loaded=(Loaded("H1", "duphead.csv"),),
    ),
    Case(
        "csv_quoted_newline",
        "a quoted CSV field (the last column) spanning a line break",
        (Text("qnl.csv", lines(CSV_HEADER, cline("Q1"), cline("Q2", exchange='"XNAS\nfloor 2"'))),),
        loaded=(Loaded("Q1", "qnl.csv"),),
        # Lines are records: both halves of the broken row are malformed, never loaded cut.
        rejected=(Rejected("qnl.csv", MALFORMED, 2),),
    ),
    Case(
        "csv_quoted_commas",
        "quoted CSV fields, one with a thousands separator inside the quotes",
        (
            Text(
                "quoted.csv",
                lines(
                    CSV_HEADER,
                    cline("Q3", symbol='"AAPL"', price='"187.25"'),
                    cline("Q4", price='"1,234.50"'),
                ),
            ),
        ),
        group="csv",
        loaded=(Loaded("Q3", "quoted.csv"),),
        rejected=(Rejected("quoted.csv", ("price_not_numeric",)),),
    ),
    Case(
        "csv_ragged_rows",
        "CSV rows with too few and too many fields",
        (Text("ragged.csv", lines(CSV_HEADER, cline("S1"), "S2,AAPL,buy", cline("S3") + ",x")),),
        group="csv",
        loaded=(Loaded("S1", "ragged.csv"),),
        rejected=(Rejected("ragged.csv", MALFORMED, 2),),
    ),
    Case(
        "csv_header_only",
        "a CSV file with its header and no rows",
        (Text("header.csv", lines(CSV_HEADER)),),
        group="csv",
    ),
    Case(
        "csv_blank_first_line",
        "a CSV file whose first line is empty, so it has no header",
        (Text("nohead.csv", lines("", CSV_HEADER, cline("E1"))),),
        group="csv",
        unreadable=(("nohead.csv", "CSV file has no header line"),),
    ),
    Case(
        "csv_semicolons",
        "a semicolon-separated file named .csv",
        (Text("semi.csv", lines(CSV_HEADER.replace(",", ";"), cline("M1").replace(",", ";"))),),
        group="csv",
        rejected=(Rejected("semi.csv", ALL_MISSING),),
        drift=(CSV_HEADER.replace(",", ";"),),
        drift_records=1,
    ),
    Case(
        "csv_concatenated",
        "two CSV files concatenated (cat a.csv b.csv): the header repeated mid-file",
        (Text("twice.csv", lines(CSV_HEADER, cline("CC1"), CSV_HEADER, cline("CC2"))),),
        group="csv",
        loaded=(Loaded("CC1", "twice.csv"), Loaded("CC2", "twice.csv")),
    ),
    Case(
        "csv_header_variants",
        "a CSV header with quoted, padded, mixed-case names in another order",
        (
            Text(
                "variants.csv",
                lines(
                    '"Exchange", SYMBOL ,Trade_ID,side,PRICE,Quantity,"timestamp"',
                    f"XNYS,IBM,CV1,sell,221.5,3,{DAY}T09:30:00Z",
                ),
            ),
        ),
        group="csv",
        loaded=(
            Loaded(
                "CV1",
                "variants.csv",
                symbol="IBM",
                side="sell",
                price="221.5",
                quantity="3",
                time="09:30:00",
                exchange="XNYS",
            ),
        ),
    ),
    # --- Parquet ---
    Case(
        "parquet_other_schema",
        "a Parquet file with another schema: none of the contract's columns",
        (
            Parquet(
                "other.parquet",
                (("id", "int64"), ("ticker", "string"), ("px", "float64")),
                ((1, "AAPL", 187.25), (2, "MSFT", 410.1)),
            ),
        ),
        group="parquet",
        rejected=(Rejected("other.parquet", ALL_MISSING, 2),),
        drift=("id", "px", "ticker"),
        drift_records=2,
    ),
    Case(
        "parquet_other_types",
        "a Parquet file with the contract's names but other types: int64 trade_id, double "
        "price, string quantity, decimal, epoch-seconds timestamp",
        (
            Parquet(
                "types.parquet",
                (
                    ("trade_id", "int64"),
                    ("symbol", "string"),
                    ("side", "string"),
                    ("price", "float64"),
                    ("quantity", "string"),
                    ("timestamp", "int64"),
                    ("exchange", "string"),
                ),
                ((7, "AAPL", "buy", 187.25, "10", 1_740_830_400, "XNAS"),),
            ),
            Parquet(
                "typed.parquet",
                (
                    ("trade_id", "string"),
                    ("symbol", "string"),
                    ("side", "string"),
                    ("price", "decimal(18,8)"),
                    ("quantity", "int64"),
                    ("timestamp", "timestamp[us,UTC]"),
                    ("exchange", "string"),
                ),
                (("PT1", "AAPL", "buy", "187.25", 10, f"{DAY}T12:00:00+00:00", "XNAS"),),
            ),
        ),
        group="parquet",
        loaded=(Loaded("PT1", "typed.parquet"),),
        rejected=(Rejected("types.parquet", ("timestamp_invalid",)),),
    ),
    Case(
        "parquet_garbage",
        "a .parquet file: Parquet magic bytes around garbage",
        (Raw("fake.parquet", b"PAR1 this is not parquet at all PAR1"),),
        group="parquet",
        unreadable=(("fake.parquet", "corrupted file"),),
    ),
    Case(
        "parquet_zero_rows",
        "a valid Parquet file with the contract's columns and no rows",
        (Parquet("none.parquet", STRING_COLUMNS, ()),),
        group="parquet",
    ),
    # --- gzip ---
    Case(
        "gzip_zero_bytes",
        "a .jsonl.gz of zero bytes (not even a gzip header)",
        (Raw("zero.jsonl.gz", b""),),
        group="gzip",
        empty=("zero.jsonl.gz",),
    ),
    Case(
        "gzip_of_nothing",
        "a valid gzip stream of zero bytes of text",
        (Text("nothing.jsonl.gz", "", gzipped=True),),
        group="gzip",
    ),
    Case(
        "gzip_truncated",
        "a .jsonl.gz cut in the middle of its compressed stream",
        (Truncated("cut.jsonl.gz", "Z"),),
        group="gzip",
        unreadable=(("cut.jsonl.gz", "Unexpected end of input stream"),),
    ),
    Case(
        "gzip_not_gzip",
        "plain JSON Lines named .jsonl.gz",
        (Text("plain.jsonl.gz", lines(jline("Z1"))),),
        group="gzip",
        unreadable=(("plain.jsonl.gz", "not a gzip file"),),
    ),
    Case(
        "gzip_multi_member",
        "two gzip members concatenated (cat a.gz b.gz), as appending uploaders write",
        (Gzip("multi.jsonl.gz", (lines(jline("ZM1")), lines(jline("ZM2")))),),
        group="gzip",
        loaded=(Loaded("ZM1", "multi.jsonl.gz"), Loaded("ZM2", "multi.jsonl.gz")),
    ),
    Case(
        "gzip_truncated_name_with_space",
        "a truncated .jsonl.gz whose name has a space (bad upload.jsonl.gz)",
        (Truncated("bad upload.jsonl.gz", "ZS"),),
        unreadable=(("bad upload.jsonl.gz", "Unexpected end of input stream"),),
    ),
    # --- what the listing sees ---
    Case(
        "directory_named_like_file",
        "a directory named trades.jsonl holding a valid file",
        (Folder("trades.jsonl", (Text("inner.jsonl", lines(jline("F1"))),)),),
        group="listing",
        ignored=("trades.jsonl",),
    ),
    Case(
        "symlink_directory_loop",
        "a symbolic link to the day folder itself",
        (Symlink("again", "."),),
        group="listing",
        ignored=("again",),
    ),
    Case(
        "symlink_to_file",
        "a symbolic link to a hidden file of the same folder: read once, through the link",
        (Text(".real.jsonl", lines(jline("Y1"))), Symlink("link.jsonl", ".real.jsonl")),
        group="listing",
        loaded=(Loaded("Y1", "link.jsonl"),),
        ignored=(".real.jsonl",),
    ),
    Case(
        "named_pipe",
        "a named pipe (FIFO) named pipe.jsonl: opening it would block forever",
        (Fifo("pipe.jsonl"),),
        group="listing",
        # A pipe has length 0: counted as empty and never opened.
        empty=("pipe.jsonl",),
    ),
    Case(
        "ignored_names",
        "_SUCCESS, an in-progress upload, a _-prefixed file and a _temporary folder of trades",
        (
            Raw("_SUCCESS", b""),
            Text(".upload.jsonl.part", lines(jline("I1"))),
            Text("_tmp.jsonl", lines(jline("I2"))),
            Folder("_temporary", (Text("t.jsonl", lines(jline("I3"))),)),
        ),
        group="listing",
        ignored=("_SUCCESS", ".upload.jsonl.part", "_tmp.jsonl", "_temporary"),
    ),
    Case(
        "unsupported_names",
        "files with other extensions or none: .txt, .xlsx, no extension",
        (
            Text("notes.txt", lines(jline("X1"))),
            Raw("book.xlsx", b"PK\x03\x04 not a spreadsheet"),
            Text("trades", lines(jline("X2"))),
        ),
        group="listing",
        unreadable=(
            ("notes.txt", UNSUPPORTED),
            ("book.xlsx", UNSUPPORTED),
            ("trades", UNSUPPORTED),
        ),
    ),
    Case(
        "symlink_loop",
        "symbolic links in a loop: one to itself, two to each other",
        (
            Symlink("self.jsonl", "self.jsonl"),
            Symlink("ping.jsonl", "pong.jsonl"),
            Symlink("pong.jsonl", "ping.jsonl"),
        ),
        group="broken_links",
        # "never skipped in silence": each is an unreadable_file dead letter.
        unreadable=(
            ("self.jsonl", "symbolic link"),
            ("ping.jsonl", "symbolic link"),
            ("pong.jsonl", "symbolic link"),
        ),
    ),
    Case(
        "symlink_dangling",
        "a symbolic link to a file that does not exist",
        (Symlink("gone.jsonl", "missing.jsonl"),),
        group="broken_links",
        unreadable=(("gone.jsonl", "symbolic link"),),
    ),
    # --- file names ---
    Case(
        "uppercase_extensions",
        "extensions in upper case: .JSONL, .CSV.GZ, .Parquet",
        (
            Text("UP.JSONL", lines(jline("V1"))),
            Text("UP.CSV.GZ", lines(CSV_HEADER, cline("V2")), gzipped=True),
            Parquet("UP.Parquet", STRING_COLUMNS, (("V3", *DEFAULTS.values()),)),
        ),
        group="names",
        loaded=(Loaded("V1", "UP.JSONL"), Loaded("V2", "UP.CSV.GZ"), Loaded("V3", "UP.Parquet")),
    ),
    Case(
        "odd_file_names",
        "file names with a space, non-ASCII letters, a percent sign, a hash",
        (
            Text("my trades.jsonl", lines(jline("O1"))),
            Text("börse.jsonl", lines(jline("O2"))),
            Text("100%.jsonl", lines(jline("O3"))),
            Text("a#b.jsonl", lines(jline("O4"))),
        ),
        group="names",
        loaded=(
            Loaded("O1", "my trades.jsonl"),
            Loaded("O2", "börse.jsonl"),
            Loaded("O3", "100%.jsonl"),
            Loaded("O4", "a#b.jsonl"),
        ),
    ),
    Case(
        "colon_in_file_name",
        "a file name with a colon (12:00.jsonl), not a valid relative Hadoop path",
        (Text("12:00.jsonl", lines(jline("P1"))),),
        group="names",
        # The local Hadoop filesystem cannot open it (its checksum path is not a valid URI).
        unreadable=(("12:00.jsonl", "Relative path in absolute URI"),),
    ),
    # --- exact money and whole lines (bugs the fuzzer found, fixed) ---
    Case(
        "json_two_objects_one_line",
        "two whole trades on one line with nothing between them",
        (Text("two.jsonl", lines(jline("TW1") + jline("TW2"))),),
        group="exact",
        rejected=(Rejected("two.jsonl", MALFORMED),),
    ),
    Case(
        "json_object_then_text",
        "a whole trade followed by other text on its line",
        (Text("tail.jsonl", lines(jline("TT1") + " // resent")),),
        group="exact",
        rejected=(Rejected("tail.jsonl", MALFORMED),),
    ),
    Case(
        "price_39_digits_bare",
        "a bare JSON price of 39 digits, 187.25 and a 1 in the 36th decimal",
        (Text("d39.jsonl", lines(jline("X39", price="187.25" + "0" * 33 + "1"))),),
        group="exact",
        rejected=(Rejected("d39.jsonl", ("price_too_precise",)),),
    ),
    Case(
        "price_exponent_overflow",
        "a bare JSON price of 1.5e400: valid JSON, far beyond any double",
        (Text("e400.jsonl", lines(jline("X400", price="1.5e400"))),),
        group="exact",
        rejected=(Rejected("e400.jsonl", ("price_out_of_range",)),),
    ),
    Case(
        "quantity_tiny_string",
        'quantity "1e-19" as a JSON string: above zero, 19 decimals',
        (Text("tiny.jsonl", lines(jline("XT1").replace('"quantity": 10', '"quantity": "1e-19"'))),),
        group="exact",
        rejected=(Rejected("tiny.jsonl", ("quantity_too_precise",)),),
    ),
    Case(
        "price_19_decimals_csv",
        "a CSV price of 1.0000000000000000001 (19 decimals)",
        (Text("p19.csv", lines(CSV_HEADER, cline("XC19", price="1.0000000000000000001"))),),
        group="exact",
        rejected=(Rejected("p19.csv", ("price_too_precise",)),),
    ),
    Case(
        "exact_despite_the_digits",
        '187.25 written 187.2500000000 (bare), 1.8725e2 (bare) and "+187.25" (a string)',
        (
            Text(
                "same.jsonl",
                lines(
                    jline("XE1", price="187.2500000000"),
                    jline("XE2", price="1.8725e2"),
                    jline("XE3").replace('"price": 187.25', '"price": "+187.25"'),
                ),
            ),
        ),
        group="exact",
        loaded=(
            Loaded("XE1", "same.jsonl"),
            Loaded("XE2", "same.jsonl"),
            Loaded("XE3", "same.jsonl"),
        ),
    ),
    Case(
        "timestamp_minutes_with_zone",
        "a timestamp of hours and minutes with a zone: @DAY@T12:00Z",
        (Text("hhmm.jsonl", lines(jline("XM1", timestamp=f"{DAY}T12:00Z"))),),
        group="exact",
        loaded=(Loaded("XM1", "hhmm.jsonl"),),
    ),
)


# --- building ----------------------------------------------------------------------------


def plan_days(start: date, cases: tuple[Case, ...] = CASES) -> dict[str, date]:
    """The day of each case: one per group (in order of first use), one per ungrouped case."""
    slots: dict[str, date] = {}
    days: dict[str, date] = {}
    for case in cases:
        slot = case.group if case.group is not None else f"case:{case.name}"
        if slot not in slots:
            slots[slot] = start + timedelta(days=len(slots))
        days[case.name] = slots[slot]
    return days


def check_cases(cases: tuple[Case, ...] = CASES) -> None:
    """Case names unique; within a day, file names and expected trade ids unique."""
    names = [case.name for case in cases]
    if len(set(names)) != len(names):
        raise ValueError(f"case names must be unique: {names}")
    days = plan_days(DEFAULT_START, cases)
    by_day: dict[date, list[Case]] = {}
    for case in cases:
        by_day.setdefault(days[case.name], []).append(case)
    for day, members in by_day.items():
        files = [ANCHOR.name, *[name for case in members for name in case.files]]
        ids = [ANCHOR_ROW.trade_id, *[row.trade_id for case in members for row in case.loaded]]
        for label, values in (("file names", files), ("trade ids", ids)):
            if len(set(values)) != len(values):
                raise ValueError(f"{label} repeat on day {day}: {sorted(values)}")


def manifest_entry(case: Case, day: date) -> dict[str, Any]:
    """A case as JSON: its date, files and expected outcome (the anchor is per day)."""
    return {
        "date": day.isoformat(),
        "group": case.group,
        "what": case.what,
        "files": list(case.files),
        "read": list(case.read),
        "empty": list(case.empty),
        "ignored": list(case.ignored),
        "loaded": [row.__dict__ for row in case.loaded],
        "rejected": [
            {"file": row.file, "reasons": list(row.reasons), "count": row.count}
            for row in case.dead_letters
        ],
        "unreadable": dict(case.unreadable),
        "drift": list(case.drift),
        "drift_records": case.drift_records,
        "outcome": case.outcome(),
    }


def build(out: Path, start: date = DEFAULT_START, only: list[str] | None = None) -> dict[str, Any]:
    """Write every case (or only the named ones) under the raw root ``out``; the manifest."""
    check_cases()
    unknown = sorted(set(only or ()) - {case.name for case in CASES})
    if unknown:
        raise ValueError(f"unknown case(s) {unknown}; choose from {[c.name for c in CASES]}")
    days = plan_days(start)
    manifest: dict[str, Any] = {}
    for case in CASES:
        if only and case.name not in only:
            continue
        day = days[case.name]
        folder = out / "trades" / f"date={day.isoformat()}"
        if not folder.exists():
            folder.mkdir(parents=True)
            ANCHOR.write(folder, day)
        for entry in case.entries:
            entry.write(folder, day)
        manifest[case.name] = manifest_entry(case, day)
    return manifest


def readme_table() -> str:
    """The case table of README.md: one line per case."""
    rows = ["| case | what it is | expected outcome |", "|---|---|---|"]
    for case in CASES:
        what = case.what.replace("|", "\\|")
        outcome = case.outcome().replace("|", "\\|")
        rows.append(f"| `{case.name}` | {what} | {outcome} |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="raw root to write")
    parser.add_argument("--start", type=date.fromisoformat, default=DEFAULT_START)
    parser.add_argument("--only", action="append", help="build only this case (repeatable)")
    parser.add_argument("--readme", action="store_true", help="print the README case table")
    args = parser.parse_args(argv)
    if args.readme:
        sys.stdout.write(readme_table())
        return 0
    if (args.out / "trades").exists():
        parser.error(f"{args.out / 'trades'} exists; remove it or choose another --out")
    manifest = build(args.out, args.start, args.only)
    sys.stdout.write(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
