"""The raw landing layout, and reading its files: a day's folder, listed and parsed.

Raw files are listed through Hadoop's FileSystem (any scheme Spark can read), and read
with an explicit all-string contract schema: schemas are never inferred. JSON Lines are
parsed into VARIANT so numbers keep their exact text (a JSON number never passes
through a double) and the raw line is kept for the dead-letter table.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import reduce
from typing import Any
from urllib.parse import unquote

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    DataType,
    DateType,
    StringType,
    StructType,
    TimestampNTZType,
    TimestampType,
)

from tradelake.config import Settings
from tradelake.contract import RAW_SCHEMA, READ_FIELDS, clean_text
from tradelake.errors import NoInputError, StorageError
from tradelake.runtime import describe_error

log = logging.getLogger(__name__)

JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet",)
_FAILED_READ = re.compile(r"Encountered error while reading file (\S+?)\.?\s+SQLSTATE")
_ERROR_DETAIL = re.compile(r"Caused by: ([^\n]+)")


@dataclass(frozen=True)
class RawFile:
    """One landing file and how to read it."""

    path: str
    size: int
    kind: str  # "json", "csv", "parquet" or "unsupported"
    modified_ms: int = 0


@dataclass
class RawListing:
    """The files of one landing day, sorted by path."""

    files: list[RawFile]
    empty: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    # Directory entries the file system could not describe (a symlink loop, a broken
    # link): never skipped in silence, they become unreadable_file dead letters.
    unlisted: list[UnreadableFile] = field(default_factory=list)

    def fingerprint(self) -> str:
        """SHA-256 over every file's name, size and modification time (empty ones too).

        The same landing folder gives the same fingerprint, so a resumed backfill can
        skip a day already published from exactly this input.
        """
        entries = [(f.path, f.size, f.modified_ms) for f in self.files]
        entries += [(path, 0, 0) for path in self.empty]
        entries += [(entry.path, -1, 0) for entry in self.unlisted]
        digest = hashlib.sha256(json.dumps(sorted(entries)).encode("utf-8"))
        return digest.hexdigest()


@dataclass(frozen=True)
class UnreadableFile:
    """A file that could not be read, with the error that says why."""

    path: str
    error: str


def day_uri(settings: Settings, day: date) -> str:
    """Landing folder of one day: ``<raw root>/trades/date=YYYY-MM-DD``."""
    return f"{settings.raw_root}/trades/date={day.isoformat()}"


def file_kind(name: str) -> str:
    """Format of a landing file from its name; text formats may end in ``.gz``."""
    lowered = name.lower()
    text_name = lowered.removesuffix(".gz")
    if text_name.endswith(JSON_SUFFIXES):
        return "json"
    if text_name.endswith(CSV_SUFFIXES):
        return "csv"
    if lowered.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return "unsupported"


def _hadoop_path(spark: SparkSession, uri: str) -> tuple[Any, Any]:
    """A Hadoop Path and its FileSystem (py4j proxies) for any URI Spark can read."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    path = jvm.org.apache.hadoop.fs.Path(uri)
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    return path, path.getFileSystem(conf)


def list_day(spark: SparkSession, day_uri: str) -> RawListing:
    """List the landing files of one day (not recursive).

    Names starting with ``_`` or ``.`` (``_SUCCESS``, temp files) are ignored; empty
    files are listed apart, because an empty file holds no records.

    Raises:
        NoInputError: the day's folder does not exist.
    """
    try:
        path, fs = _hadoop_path(spark, day_uri)
        exists = fs.exists(path)
    except Exception as err:
        raise StorageError(
            f"cannot reach {day_uri}: {describe_error(err)}; check TRADELAKE_RAW_URI (bucket "
            "and prefix), TRADELAKE_S3_ENDPOINT and the AWS credentials"
        ) from err
    if not exists:
        raise NoInputError(
            f"no input folder {day_uri}; land the day's files there (or check "
            "TRADELAKE_RAW_URI and --date), then rerun"
        )
    listing = RawListing(files=[])
    statuses = sorted(fs.listStatus(path), key=lambda s: s.getPath().toString())
    for status in statuses:
        uri = status.getPath().toString()
        name = status.getPath().getName()
        if status.isDirectory() or name.startswith(("_", ".")):
            listing.ignored.append(uri)
        elif status.getLen() == 0:
            listing.empty.append(uri)
        else:
            listing.files.append(
                RawFile(
                    uri,
                    int(status.getLen()),
                    file_kind(name),
                    int(status.getModificationTime()),
                )
            )
    if str(path.toUri().getScheme() or "file") == "file":
        listed = {str(status.getPath().getName()) for status in statuses}
        _add_unlisted(listing, str(path.toUri().getPath()), listed)
    return listing


def _add_unlisted(listing: RawListing, folder: str, listed: set[str]) -> None:
    """Record the local entries Hadoop's listing dropped because they cannot be stat'ed."""
    for name in sorted(set(os.listdir(folder)) - listed):
        uri = f"file:{os.path.join(folder, name)}"
        if name.startswith(("_", ".")):
            listing.ignored.append(uri)
            continue
        try:
            os.stat(os.path.join(folder, name))
            reason = "skipped by the file system listing"
        except OSError as err:
            if err.errno == errno.ELOOP:
                reason = "a symbolic link loop (too many levels of symbolic links)"
            elif os.path.islink(os.path.join(folder, name)):
                reason = "a broken symbolic link: its target does not exist"
            else:
                reason = f"cannot be read: {err.strerror}"
        listing.unlisted.append(UnreadableFile(uri, f"{name} is {reason}"))


def read_first_line(spark: SparkSession, uri: str) -> str | None:
    """First line of a text file, decompressing ``.gz``; None when the file has no line."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    path, fs = _hadoop_path(spark, uri)
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    codec = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(conf).getCodec(path)
    stream = fs.open(path)
    try:
        if codec is not None:
            stream = codec.createInputStream(stream)
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
        line = reader.readLine()
        return None if line is None else str(line)
    finally:
        stream.close()


def failed_file(error: Exception, candidates: Iterable[str]) -> tuple[str, str] | None:
    """The candidate file a Spark read error names, with the error's cause, if any."""
    message = str(error)
    match = _FAILED_READ.search(message)
    if not match:
        return None
    named = _normalize_uri(match.group(1))
    for candidate in candidates:
        if _normalize_uri(candidate) == named:
            causes = _ERROR_DETAIL.findall(message)
            detail = causes[-1] if causes else message.splitlines()[0]
            return candidate, detail.strip()[:1000]
    return None


def _normalize_uri(uri: str) -> str:
    # Hadoop prints local files as file:/x, Spark's error as file:///x, and Spark
    # percent-encodes the path (a space is %20) where Hadoop does not.
    return re.sub(r"^file:/+", "file:/", unquote(uri))


def _text_lines(spark: SparkSession, paths: list[str]) -> DataFrame:
    return (
        spark.read.text(paths)
        .select(F.col("_metadata.file_path").alias("source_file"), F.col("value"))
        # Blank means nothing but ASCII whitespace (Spark's trim strips spaces only).
        .where(clean_text(F.col("value")).isNotNull())
    )


# Every bare JSON number wrapped in quotes, strings left as they are: each match is the
# text up to the next number outside a string (strings consumed whole, escapes included),
# then the number; \G chains the matches, so a digit inside a string never starts one.
# Possessive quantifiers keep a 10 MB line from exhausting the regex engine's stack.
_BARE_NUMBERS = r'\G((?:[^"0-9-]++|"[^"\\]*+(?:\\.[^"\\]*+)*+")*+)(-?[0-9][0-9.eE+-]*+)'
# In schema_of_variant's text (``OBJECT<price: DECIMAL(5,2), trade_id: BIGINT, …>``): a
# double anywhere, or a contract field read as text (all but the amounts, whose value is
# what counts) holding a number.
_TEXT_FIELDS = tuple(name for name in READ_FIELDS if name not in ("price", "quantity"))
_INTEGER_OR_DECIMAL = "(?:DECIMAL|BIGINT|INT|SMALLINT|TINYINT)"
_NUMBER_AS_WRITTEN = rf"DOUBLE|FLOAT|[<,] (?:{'|'.join(_TEXT_FIELDS)}): {_INTEGER_OR_DECIMAL}"


def json_records(lines: DataFrame) -> DataFrame:
    """JSON Lines as raw rows (``RAW_SCHEMA``): one row per line, fields taken from a VARIANT.

    Input: ``source_file``, ``value`` (one non-blank line each). A line is a record when
    it holds exactly one JSON object and nothing else; anything else (not JSON, an array,
    a bare value, two objects, an object followed by other text, a repeated name) is
    malformed. Field values are their exact text: a JSON string's content, or a JSON
    number as written, however many digits or whatever exponent it has.
    """
    # Spark's JSON parser stops after the first value of its input and ignores the rest.
    # Inside an array, text after the object is a syntax error instead; a line whose own
    # "]" would close that array early is parsed a second time inside an object.
    wrapped = F.try_parse_json(F.concat(F.lit("["), F.col("value"), F.lit("]")))
    parsed = lines.select("source_file", "value", wrapped.alias("_wrapped"))
    first = F.try_variant_get(F.col("_wrapped"), "$[0]", "variant")
    single = F.try_variant_get(F.col("_wrapped"), "$[1]", "variant").isNull() & (
        ~F.col("value").contains("]")
        | F.try_parse_json(F.concat(F.lit('{"v":'), F.col("value"), F.lit("}"))).isNotNull()
    )
    # The object's members as text, converted once (one map per line is cheaper than a
    # path look-up per field): null when the line's first value is not an object.
    objects = parsed.select(
        "source_file", "value", first.alias("_object"), single.alias("_single")
    ).select("*", F.try_variant_get(F.col("_object"), "$", "map<string,string>").alias("_members"))
    # A VARIANT holds a number exactly as DECIMAL up to 38 digits; beyond that, or with an
    # exponent, it falls back to a double. Its text is canonical, not as written: 1.50
    # reads "1.5", -0 reads "0". That changes no amount's value, but it changes a field
    # judged on its text (a trade_id 1.50 is not 1.5; a report_seq 1.0 is no integer).
    # Lines with a double anywhere, or a bare number in a text field, are read again
    # with every number quoted, so their fields keep the text as written. One schema
    # string per line says which (a member merely named so only costs the second read,
    # whose text is the same).
    needs_text = F.coalesce(
        F.schema_of_variant(F.col("_object")).rlike(_NUMBER_AS_WRITTEN), F.lit(False)
    )
    quoted = F.try_parse_json(F.regexp_replace(F.col("value"), _BARE_NUMBERS, '$1"$2"'))
    sources = objects.select(
        "source_file",
        "value",
        F.map_keys(F.col("_members")).alias("keys"),
        (F.col("_members").isNotNull() & F.col("_single")).alias("_single_object"),
        F.when(needs_text, F.try_variant_get(quoted, "$", "map<string,string>"))
        .otherwise(F.col("_members"))
        .alias("_source"),
    )
    return sources.select(
        "source_file",
        F.col("value").alias("record"),
        (~F.col("_single_object")).alias("malformed"),
        *[F.col("_source")[name].alias(name) for name in READ_FIELDS],
        F.when(
            F.col("_single_object"),
            F.array_except(F.col("keys"), F.array(*[F.lit(name) for name in READ_FIELDS])),
        ).alias("extra_fields"),
    )


def _json_records(spark: SparkSession, paths: list[str]) -> DataFrame:
    return json_records(_text_lines(spark, paths))


def header_names(header: str) -> list[str]:
    """A CSV header line's field names as the reader matches them: BOM, quotes and spaces
    dropped, lower-cased (the replay rebuilds a row under the same names)."""
    names = [name.strip().strip('"').strip().lower() for name in header.lstrip("\ufeff").split(",")]
    return names


def _csv_records(spark: SparkSession, paths: list[str], header: str) -> DataFrame:
    """CSV files sharing one header line as raw rows; short or long rows are malformed."""
    names = header_names(header)
    schema = ", ".join(f"`c{index}` STRING" for index in range(len(names)))
    parsed = F.from_csv(
        F.col("value"),
        f"{schema}, `_corrupt_record` STRING",
        {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt_record"},
    )
    by_name = {name: index for index, name in reversed(list(enumerate(names)))}
    extras = sorted({name for name in names if name not in READ_FIELDS})
    # Spark's text reader drops a byte-order mark that read_first_line keeps.
    headers = F.col("value").isin(header, header.lstrip("\ufeff"))
    lines = _text_lines(spark, paths).where(~headers)
    rows = lines.select("source_file", "value", parsed.alias("c"))
    # Records are read line by line: an odd number of quotes means a quoted field runs
    # on into the next line, so both parts are malformed rather than silently cut.
    quotes = F.length("value") - F.length(F.regexp_replace("value", '"', ""))
    return rows.select(
        "source_file",
        F.col("value").alias("record"),
        (F.col("c._corrupt_record").isNotNull() | (quotes % 2 == 1)).alias("malformed"),
        *[
            (F.col(f"c.c{by_name[name]}") if name in by_name else F.lit(None).cast("string")).alias(
                name
            )
            for name in READ_FIELDS
        ],
        F.array(*[F.lit(name) for name in extras])
        .cast(ArrayType(StringType(), False))
        .alias("extra_fields"),
    )


def _as_text(column: Column, data_type: DataType) -> Column:
    """Render a typed Parquet value as the text the contract parses."""
    if isinstance(data_type, TimestampType | TimestampNTZType):
        # UTC session: both render as UTC wall-clock time; 'Z' makes that explicit.
        return F.date_format(column, "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'")
    if isinstance(data_type, DateType | StringType):
        return column.cast("string")
    if isinstance(data_type, StructType | ArrayType) or data_type.typeName() == "map":
        return F.to_json(column)
    return column.cast("string")


# A Parquet row's dead-letter record is its JSON rendering: timestamps to the microsecond,
# as _as_text renders them for the contract (to_json's default stops at the millisecond,
# so a replayed record would be a different trade).
RECORD_JSON_OPTIONS = {
    "timestampFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX",
    "timestampNTZFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'",
}


def _parquet_records(spark: SparkSession, paths: list[str], schema: StructType) -> DataFrame:
    """Parquet files sharing one footer schema as raw rows (typed values rendered as text)."""
    present = {f.name.lower(): f for f in schema.fields}
    extras = sorted(name for name in present if name not in READ_FIELDS)
    frame = spark.read.schema(schema).parquet(*paths)
    return frame.select(
        F.col("_metadata.file_path").alias("source_file"),
        F.to_json(
            F.struct(*[F.col(f"`{f.name}`") for f in schema.fields]), RECORD_JSON_OPTIONS
        ).alias("record"),
        F.lit(False).alias("malformed"),
        *[
            (
                _as_text(F.col(f"`{present[name].name}`"), present[name].dataType)
                if name in present
                else F.lit(None).cast("string")
            ).alias(name)
            for name in READ_FIELDS
        ],
        F.array(*[F.lit(name) for name in extras])
        .cast(ArrayType(StringType(), False))
        .alias("extra_fields"),
    )


@dataclass
class RawRead:
    """The raw rows of a day, plus the files that could not even be planned."""

    frame: DataFrame
    unreadable: list[UnreadableFile]


def read_raw(spark: SparkSession, files: list[RawFile]) -> RawRead:
    """Build one DataFrame (``RAW_SCHEMA``) over every readable file of the day.

    CSV headers and Parquet footers are read here, on the driver (metadata only), to
    group files that share a layout; a file whose header or footer cannot be read is
    returned as unreadable. Corruption further inside a file surfaces when the frame is
    evaluated; ``failed_file`` maps that error back to the file.
    """
    unreadable = [
        UnreadableFile(
            raw.path,
            "unsupported file type: expected .jsonl, .ndjson, .json, "
            ".csv (each optionally .gz) or .parquet",
        )
        for raw in files
        if raw.kind == "unsupported"
    ]
    parts: list[DataFrame] = []
    json_paths = [raw.path for raw in files if raw.kind == "json"]
    if json_paths:
        parts.append(_json_records(spark, json_paths))

    csv_groups: dict[str, list[str]] = defaultdict(list)
    for raw in (raw for raw in files if raw.kind == "csv"):
        try:
            header = read_first_line(spark, raw.path)
        except Exception as err:  # noqa: BLE001 - any read failure makes the file unreadable
            unreadable.append(UnreadableFile(raw.path, _short_error(err)))
            continue
        if header is None or not header.strip():
            unreadable.append(UnreadableFile(raw.path, "CSV file has no header line"))
            continue
        csv_groups[header].append(raw.path)
    parts.extend(_csv_records(spark, paths, header) for header, paths in csv_groups.items())

    parquet_groups: dict[str, tuple[StructType, list[str]]] = {}
    for raw in (raw for raw in files if raw.kind == "parquet"):
        try:
            # The file's own footer, never an inference over data: Parquet is self-describing.
            schema = spark.read.parquet(raw.path).schema
        except Exception as err:  # noqa: BLE001 - any read failure makes the file unreadable
            unreadable.append(UnreadableFile(raw.path, _short_error(err)))
            continue
        key = schema.json()
        parquet_groups.setdefault(key, (schema, []))[1].append(raw.path)
    parts.extend(
        _parquet_records(spark, paths, schema) for schema, paths in parquet_groups.values()
    )

    frame = reduce(DataFrame.unionByName, parts) if parts else spark.createDataFrame([], RAW_SCHEMA)
    return RawRead(frame=frame, unreadable=unreadable)


def _short_error(err: Exception) -> str:
    causes = _ERROR_DETAIL.findall(str(err))
    text = causes[-1] if causes else (str(err).strip().splitlines() or [type(err).__name__])[0]
    return text.strip()[:1000]
