"""Where a replay reads and writes: the lake's tables and the raw landing folders.

Tables are read with pyiceberg (``tradelake.catalog``, no Spark session): the embedded
SQLite catalog, Glue or REST. Landing folders are the ingest's own
layout (``io.day_uri``), on a local path or under ``s3://`` with the project's boto3
client (``tradelake.aws``: region, endpoint override, retries). A replay only ever adds
or replaces its own two files in one landing folder; nothing else is written or deleted.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import unquote, urlparse

from tradelake import aws
from tradelake.catalog import catalog_source, lake_catalog, storage_errors
from tradelake.config import Settings
from tradelake.errors import ConfigError, NoInputError, StorageError
from tradelake.io import day_uri
from tradelake.replay.records import MARKER_PREFIX
from tradelake.runtime import INGEST
from tradelake.tables import JOB_RUNS, TRADES_REJECTED

DEAD_LETTER_COLUMNS = ("ingest_date", "source_file", "record", "reasons")
# A manifest's name: "_replay-<first ingest date>-<last ingest date>-<reasons tag>.json".
MANIFEST_NAME = re.compile(r"^_replay-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}-[a-z0-9]+\.json$")
_LANDING_FOLDER = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
# How much of a raw file is read at a time while looking for the end of its first line.
_CHUNK_BYTES = 64 * 1024


def _scan(settings: Settings, table: str, row_filter: str, columns: tuple[str, ...]) -> Any:
    """The selected columns of ``table``'s rows matching ``row_filter`` (a pyarrow Table);
    None when the table does not exist.

    Raises:
        StorageError: the catalog or the storage cannot be reached.
    """
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    try:
        catalog = lake_catalog(settings)
        if catalog is None:
            return None
        try:
            loaded = catalog.load_table(f"{settings.database}.{table}")
        except (NoSuchTableError, NoSuchNamespaceError):
            return None
        return loaded.scan(row_filter=row_filter, selected_fields=columns).to_arrow()
    except storage_errors() as err:
        raise StorageError(
            f"cannot read {settings.table(table)} ({catalog_source(settings)}): {err}; check "
            "TRADELAKE_CATALOG_TYPE, TRADELAKE_CATALOG_URI, TRADELAKE_WAREHOUSE, AWS_REGION "
            "and the endpoint overrides"
        ) from err


def _between(column: str, since: date, until: date) -> str:
    return f"{column} >= '{since.isoformat()}' AND {column} <= '{until.isoformat()}'"


def dead_letters(settings: Settings, since: date, until: date) -> list[dict[str, Any]]:
    """Rows of ``trades_rejected`` with ``ingest_date`` in [since, until], in a fixed order.

    Sorted by ingest date, source file and record, so the same dead letters always give
    the same landing file, whatever order the table's files are read in.

    Raises:
        NoInputError: the table does not exist yet (no ingest has run).
    """
    rows = _scan(
        settings, TRADES_REJECTED.name, _between("ingest_date", since, until), DEAD_LETTER_COLUMNS
    )
    if rows is None:
        raise NoInputError(
            f"no table {settings.table(TRADES_REJECTED.name)} in {catalog_source(settings)}: "
            "no ingest has written dead letters there; check TRADELAKE_DATABASE (--database)"
        )
    order = [(name, "ascending") for name in ("ingest_date", "source_file", "record")]
    result: list[dict[str, Any]] = rows.sort_by(order).to_pylist()
    return result


def _one_of(column: str, days: list[date]) -> str:
    return f"{column} IN ({', '.join(repr(day.isoformat()) for day in sorted(days))})"


def marked_dead_letters(settings: Settings, days: list[date]) -> list[dict[str, Any]]:
    """The dead letters of ingest dates ``days`` that carry a replay marker.

    ``ingest_date``, ``record`` and ``rejected_at`` of each: the replayed lines a replay
    landing's ingest rejected again.
    """
    import pyarrow.compute as pc

    rows = None
    if days:
        columns = ("ingest_date", "record", "rejected_at")
        rows = _scan(settings, TRADES_REJECTED.name, _one_of("ingest_date", days), columns)
    if rows is None:
        return []
    marked = pc.starts_with(rows["record"], MARKER_PREFIX)
    result: list[dict[str, Any]] = rows.filter(marked).to_pylist()
    return result


def ingest_runs(settings: Settings, days: list[date]) -> list[dict[str, Any]]:
    """``run_date``, ``started_at`` and ``published`` of every ingest run of ``days``."""
    rows = None
    if days:
        row_filter = f"job = '{INGEST}' AND {_one_of('run_date', days)}"
        rows = _scan(settings, JOB_RUNS.name, row_filter, ("run_date", "started_at", "published"))
    result: list[dict[str, Any]] = [] if rows is None else rows.to_pylist()
    return result


class LandingFolder(Protocol):
    """One landing folder, ``<raw root>/trades/date=D``: its files, read and written."""

    @property
    def uri(self) -> str: ...

    def names(self) -> list[str]:
        """Names of the files directly in the folder (none when it does not exist)."""
        ...

    def read(self, name: str) -> bytes: ...

    def write(self, name: str, data: bytes) -> None:
        """Create or replace one file, whole: a reader never sees a part of it."""
        ...


@dataclass(frozen=True)
class LocalFolder:
    """A landing folder on a local file system."""

    path: Path

    @property
    def uri(self) -> str:
        return str(self.path)

    def names(self) -> list[str]:
        if not self.path.is_dir():
            return []
        return sorted(entry.name for entry in self.path.iterdir() if not entry.is_dir())

    def read(self, name: str) -> bytes:
        return (self.path / name).read_bytes()

    def write(self, name: str, data: bytes) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        # Written aside under a "."-name (which the ingest ignores), then renamed over.
        partial = self.path / f".{name}.partial"
        partial.write_bytes(data)
        os.replace(partial, self.path / name)


@dataclass(frozen=True)
class S3Folder:
    """A landing folder under an S3 prefix (``put_object`` replaces an object atomically)."""

    client: Any
    bucket: str
    prefix: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def names(self) -> list[str]:
        names = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{self.prefix}/", Delimiter="/"
        )
        for page in pages:
            names += [item["Key"].rsplit("/", 1)[-1] for item in page.get("Contents", [])]
        return sorted(name for name in names if name)

    def read(self, name: str) -> bytes:
        body: bytes = self.client.get_object(Bucket=self.bucket, Key=f"{self.prefix}/{name}")[
            "Body"
        ].read()
        return body

    def write(self, name: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=f"{self.prefix}/{name}", Body=data)


def _s3_location(uri: str) -> tuple[str, str] | None:
    """(bucket, key) of an ``s3://`` (or ``s3a://``) URI; None for any other."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("s3", "s3a"):
        return None
    return parsed.netloc, parsed.path.strip("/")


def _local_path(uri: str) -> Path | None:
    """The local path of a plain path or a ``file:`` URI; None for any other scheme."""
    if uri.startswith("file:"):
        # Spark names files as percent-encoded URIs (file:/a/b%20c.csv).
        return Path(unquote(re.sub(r"^file:(//)?", "", uri)))
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", uri):
        return None
    return Path(uri)


@dataclass
class RawRoot:
    """The raw landing root of the settings (``TRADELAKE_RAW_URI``): local or ``s3://``."""

    settings: Settings
    # The boto3 S3 client; built from the settings when first needed.
    s3_client: Any = field(default=None, repr=False)

    def s3(self) -> Any:
        if self.s3_client is None:
            self.s3_client = aws.client("s3", self.settings)
        return self.s3_client

    def landing(self, day: date) -> LandingFolder:
        """The landing folder of ``day``, as the ingest lists it.

        Raises:
            ConfigError: the raw root is neither a local path nor an s3:// URI.
        """
        uri = day_uri(self.settings, day)
        location = _s3_location(uri)
        if location is not None:
            return S3Folder(self.s3(), *location)
        path = _local_path(uri)
        if path is None:
            raise ConfigError(
                f"TRADELAKE_RAW_URI={self.settings.raw_uri!r}: a replay writes landings on a "
                "local path or under s3://; point it there (or use --raw-uri)"
            )
        return LocalFolder(path)

    def replay_landings(self) -> dict[date, LandingFolder]:
        """Every landing folder that holds a replay manifest, by its date."""
        root = self.settings.raw_root
        location = _s3_location(root)
        days: set[date] = set()
        if location is not None:
            bucket, prefix = location
            trades = f"{prefix}/trades/" if prefix else "trades/"
            pages = (
                self.s3()
                .get_paginator("list_objects_v2")
                .paginate(Bucket=bucket, Prefix=f"{trades}date=")
            )
            for page in pages:
                for item in page.get("Contents", []):
                    folder, _, name = item["Key"].removeprefix(trades).partition("/")
                    days |= _manifest_day(folder, name)
        else:
            path = _local_path(root)
            if path is None:
                raise ConfigError(
                    f"TRADELAKE_RAW_URI={self.settings.raw_uri!r}: a replay reads landings on a "
                    "local path or under s3://"
                )
            for manifest in sorted((path / "trades").glob("date=*/_replay-*.json")):
                days |= _manifest_day(manifest.parent.name, manifest.name)
        return {day: self.landing(day) for day in sorted(days)}

    def first_line(self, uri: str) -> str | None:
        """The first line of a raw file (``.gz`` decompressed); None when it is gone, blank
        or no longer decompresses (it was replaced since it was ingested).

        Raises:
            StorageError: the file exists but cannot be read.
        """
        location = _s3_location(uri)
        path = None if location is not None else _local_path(uri)
        compressed = uri.lower().endswith(".gz")
        try:
            if location is not None:
                bucket, key = location
                try:
                    body = self.s3().get_object(Bucket=bucket, Key=unquote(key))["Body"]
                except self.s3().exceptions.NoSuchKey:
                    return None
                line = _read_first_line(body, compressed)
            elif path is not None and path.is_file():
                with path.open("rb") as stream:
                    line = _read_first_line(stream, compressed)
            else:
                return None
        except (EOFError, zlib.error, gzip.BadGzipFile):
            return None
        except storage_errors() as err:
            raise StorageError(
                f"cannot read the header of {uri}: {err}; check the raw root's permissions "
                "(TRADELAKE_RAW_URI, AWS credentials)"
            ) from err
        return line if line and line.strip() else None


def _manifest_day(folder: str, name: str) -> set[date]:
    match = _LANDING_FOLDER.match(folder)
    if match is None or not MANIFEST_NAME.match(name):
        return set()
    try:
        return {date.fromisoformat(match.group(1))}
    except ValueError:
        return set()


def _read_first_line(stream: IO[bytes] | Any, compressed: bool) -> str:
    """The first line, ended as Java's readLine ends it (line feed, carriage return or both):
    the ingest reads CSV headers that way. Only as much of the file as that line is read."""
    source = gzip.GzipFile(fileobj=stream) if compressed else stream
    head = b""
    while chunk := source.read(_CHUNK_BYTES):
        head += chunk
        if b"\n" in chunk or b"\r" in chunk:
            break
    return re.split(rb"\r|\n", head, maxsplit=1)[0].decode("utf-8", errors="replace")
