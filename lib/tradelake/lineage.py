"""OpenLineage run events: what each job run read and wrote, and where the events go.

Every run emits a ``START`` event, then ``COMPLETE`` or ``FAIL``, shaped by the
OpenLineage spec 2-0-2 (``RunEvent``) and its standard facets:

- inputs: ``schema`` (dataset facet) and ``dataQualityMetrics`` (input facet);
- outputs: ``schema`` and ``dataQualityMetrics`` (dataset facets) and
  ``outputStatistics`` (output facet);
- run: ``errorMessage`` on ``FAIL``, and ``tradelake_quality`` (a custom facet, the
  spec's copied facets have none for check results) with the quality checks.

Dataset names follow the OpenLineage naming spec: raw files are ``s3://<bucket>`` +
object key, or ``file`` + absolute path; Iceberg tables are the warehouse location +
``<database>.<table>``, the same whichever catalog (jdbc, glue, rest, hadoop) tracks
them, because the warehouse is what identifies the data.

Delivery never fails a job: the HTTP transport retries a bounded number of times, then
logs a warning on ``tradelake.lineage``.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlsplit

from tradelake import __version__
from tradelake.errors import ConfigError

if TYPE_CHECKING:
    from tradelake.config import LineageSettings, Settings

log = logging.getLogger("tradelake.lineage")

EventType = Literal["START", "COMPLETE", "FAIL"]

PRODUCER = f"https://github.com/tradelake/tradelake/tree/{__version__}"
# The spec version of the copied OpenLineage.json ($id https://openlineage.io/spec/2-0-2/...).
SPEC_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
RUN_EVENT_SCHEMA_URL = f"{SPEC_URL}#/$defs/RunEvent"

# Each standard facet's _schemaURL: the $id of its schema file + "#/$defs/<FacetName>".
_FACETS = "https://openlineage.io/spec/facets"
SCHEMA_FACET_URL = f"{_FACETS}/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet"
OUTPUT_STATISTICS_FACET_URL = (
    f"{_FACETS}/1-0-2/OutputStatisticsOutputDatasetFacet.json"
    "#/$defs/OutputStatisticsOutputDatasetFacet"
)
INPUT_QUALITY_FACET_URL = (
    f"{_FACETS}/1-0-3/DataQualityMetricsInputDatasetFacet.json"
    "#/$defs/DataQualityMetricsInputDatasetFacet"
)
DATASET_QUALITY_FACET_URL = (
    f"{_FACETS}/1-0-0/DataQualityMetricsDatasetFacet.json#/$defs/DataQualityMetricsDatasetFacet"
)
ERROR_MESSAGE_FACET_URL = f"{_FACETS}/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"

# Custom facets are named "<producer>_<facet>" and point at a schema the producer owns:
# the JSON Schema below, versioned with the package.
QUALITY_FACET = "tradelake_quality"
QUALITY_FACET_SCHEMA_ID = f"{PRODUCER}/spec/facets/TradelakeQualityRunFacet.json"
QUALITY_FACET_URL = f"{QUALITY_FACET_SCHEMA_ID}#/$defs/TradelakeQualityRunFacet"
QUALITY_FACET_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": QUALITY_FACET_SCHEMA_ID,
    "$defs": {
        "TradelakeQualityRunFacet": {
            "allOf": [
                {"$ref": f"{SPEC_URL}#/$defs/RunFacet"},
                {
                    "type": "object",
                    "properties": {
                        "checks": {
                            "description": "The run's quality checks, in evaluation order.",
                            "type": "array",
                            "items": {"$ref": "#/$defs/QualityCheck"},
                        },
                    },
                    "required": ["checks"],
                },
            ],
            "type": "object",
        },
        "QualityCheck": {
            "type": "object",
            "properties": {
                "check": {"description": "Name of the check", "type": "string"},
                "severity": {"type": "string", "enum": ["error", "warn"]},
                "passed": {"type": "boolean"},
                "observed": {"description": "The value measured, any JSON value"},
                "threshold": {"description": "The bound it is held to, any JSON value"},
            },
            "required": ["check", "severity", "passed"],
        },
    },
    "type": "object",
    "properties": {QUALITY_FACET: {"$ref": "#/$defs/TradelakeQualityRunFacet"}},
}

# Namespace of the uuid5 run ids: uuid5(NAMESPACE_URL, "https://github.com/tradelake/tradelake#run-id").
# Never change it: every run's OpenLineage id is derived from it.
RUN_ID_NAMESPACE = uuid.UUID("49b6a146-6e9e-501c-bfec-281bc25b7a2a")

# Keys of DatasetRef.quality, added to the dataQualityMetrics facet (rowCount and bytes
# come from DatasetRef.row_count and DatasetRef.bytes).
_QUALITY_KEYS = frozenset({"columnMetrics", "fileCount", "lastUpdated"})
_S3_SCHEMES = {"s3", "s3a", "s3n"}
_HTTP_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
_BACKOFF_SECONDS = 0.5
_BACKOFF_MAX_SECONDS = 4.0


@dataclass(frozen=True)
class DatasetRef:
    """One dataset a run reads or writes, with what is known about it.

    Attributes:
        namespace: the data source, e.g. ``s3://bucket``, ``file`` or a warehouse URI.
        name: the dataset within it, e.g. ``raw/trades/date=2025-01-15`` or ``trading.trades``.
        fields: ``(name, type)`` pairs for the ``schema`` facet; none, no facet.
        row_count: rows read (inputs) or written (outputs).
        bytes: bytes read or written.
        quality: more ``dataQualityMetrics`` content: ``columnMetrics`` (column name to
            ``nullCount``, ``distinctCount``, ``sum``, ``count``, ``min``, ``max``),
            ``fileCount``, ``lastUpdated``.
    """

    namespace: str
    name: str
    fields: tuple[tuple[str, str], ...] = ()
    row_count: int | None = None
    bytes: int | None = None
    quality: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if not self.namespace or not self.name:
            raise ValueError(f"a dataset needs a namespace and a name, got {self!r}")
        for label, value in (("row_count", self.row_count), ("bytes", self.bytes)):
            if value is not None and (isinstance(value, bool) or value < 0):
                raise ValueError(f"DatasetRef.{label}={value!r} must be a count >= 0 or None")
        unknown = sorted(set(self.quality or ()) - _QUALITY_KEYS)
        if unknown:
            raise ValueError(
                f"DatasetRef.quality keys {unknown} are not dataQualityMetrics fields; "
                f"use {sorted(_QUALITY_KEYS)}"
            )
        object.__setattr__(self, "fields", tuple((str(n), str(t)) for n, t in self.fields))


class _SparkField(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def dataType(self) -> Any: ...


class _SparkSchema(Protocol):
    @property
    def fields(self) -> Sequence[_SparkField]: ...


def spark_fields(schema: _SparkSchema) -> tuple[tuple[str, str], ...]:
    """``(name, type)`` pairs of a Spark ``StructType``, for ``DatasetRef.fields``.

    Types are Spark's simple strings (``decimal(18,8)``, ``timestamp``, ``array<string>``).
    Duck-typed, so this module does not import PySpark.
    """
    return tuple((field.name, field.dataType.simpleString()) for field in schema.fields)


def run_uuid(run_id: str) -> str:
    """The OpenLineage run id (a UUID) of a tradelake run id, always the same for a run.

    Args:
        run_id: the tradelake run id, e.g. ``20261127T050044Z-c1e1f615``.

    Returns:
        ``uuid5(RUN_ID_NAMESPACE, run_id)`` as a string.
    """
    if not run_id:
        raise ValueError("run_id must not be empty")
    return str(uuid.uuid5(RUN_ID_NAMESPACE, run_id))


def _split_uri(uri: str) -> tuple[str, str]:
    """``(namespace, path)`` of a location: ``s3://bucket`` + key, or ``file`` + absolute path."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme == "file" and parts.netloc not in ("", "localhost"):
        return f"file://{parts.netloc}", parts.path
    if scheme in ("", "file"):
        path = parts.path if scheme == "file" else uri
        return "file", str(Path(path).expanduser().resolve())
    if scheme in _S3_SCHEMES:
        # s3a:// and s3n:// name the same objects as s3:// (Hadoop's clients for them).
        scheme = "s3"
    if not parts.netloc:
        raise ValueError(f"{uri!r} has no bucket or host; use e.g. s3://bucket/prefix")
    return f"{scheme}://{parts.netloc}", parts.path.strip("/")


def raw_dataset(
    raw_uri: str,
    *,
    row_count: int | None = None,
    bytes: int | None = None,
    quality: Mapping[str, Any] | None = None,
) -> DatasetRef:
    """The dataset of a raw landing folder (or file), named as OpenLineage does.

    ``s3://bucket/raw/trades/date=D`` is namespace ``s3://bucket``, name
    ``raw/trades/date=D`` (``/`` for a whole bucket); a local path or ``file:`` URI is
    namespace ``file``, name the absolute path.
    """
    namespace, path = _split_uri(raw_uri.rstrip("/") or raw_uri)
    return DatasetRef(
        namespace=namespace,
        name=path or "/",
        row_count=row_count,
        bytes=bytes,
        quality=quality,
    )


def warehouse_namespace(settings: Settings) -> str:
    """Dataset namespace of the Iceberg tables: the warehouse location as a URI.

    ``s3://bucket/warehouse`` stays as it is; a local warehouse becomes
    ``file:///abs/path``. It does not depend on the catalog type, so the same tables
    keep the same identity when moved between a jdbc, glue or rest catalog.
    """
    namespace, path = _split_uri(settings.warehouse_root)
    if namespace == "file":
        return Path(path).as_uri()
    return f"{namespace}/{path}" if path else namespace


def table_dataset(
    settings: Settings,
    table_name: str,
    fields: Iterable[tuple[str, str]] = (),
    *,
    row_count: int | None = None,
    bytes: int | None = None,
    quality: Mapping[str, Any] | None = None,
) -> DatasetRef:
    """The dataset of a tradelake table: warehouse namespace, name ``<database>.<table>``.

    Args:
        settings: where the warehouse is and which database holds the table.
        table_name: the bare table name, e.g. ``trades``.
        fields: ``(name, type)`` pairs for the schema facet (see ``spark_fields``).
        row_count: rows read or written.
        bytes: bytes read or written.
        quality: more dataQualityMetrics content (see ``DatasetRef``).
    """
    if not table_name or "." in table_name:
        raise ValueError(
            f"table_name={table_name!r} must be a bare table name such as 'trades'; "
            "the database comes from settings"
        )
    return DatasetRef(
        namespace=warehouse_namespace(settings),
        name=f"{settings.database}.{table_name}",
        fields=tuple(fields),
        row_count=row_count,
        bytes=bytes,
        quality=quality,
    )


def _json_safe(value: Any) -> Any:
    """A JSON value for ``value``: exact decimals and dates as strings, never NaN."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        # str keeps every digit; a float would round money.
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(item) for item in value]
    return str(value)


def _facet(schema_url: str, **content: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": schema_url, **content}


def _format_time(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"event_time {moment!r} must be timezone-aware; use datetime.now(UTC)")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _quality_metrics(ref: DatasetRef, schema_url: str) -> dict[str, Any] | None:
    if ref.row_count is None and ref.bytes is None and not ref.quality:
        return None
    content: dict[str, Any] = {"columnMetrics": {}}
    if ref.row_count is not None:
        content["rowCount"] = ref.row_count
    if ref.bytes is not None:
        content["bytes"] = ref.bytes
    content.update({key: _json_safe(value) for key, value in (ref.quality or {}).items()})
    return _facet(schema_url, **content)


def _dataset(ref: DatasetRef, role: Literal["input", "output"]) -> dict[str, Any]:
    dataset: dict[str, Any] = {"namespace": ref.namespace, "name": ref.name}
    facets: dict[str, Any] = {}
    if ref.fields:
        facets["schema"] = _facet(
            SCHEMA_FACET_URL,
            fields=[{"name": name, "type": type_} for name, type_ in ref.fields],
        )
    if role == "input":
        metrics = _quality_metrics(ref, INPUT_QUALITY_FACET_URL)
        if metrics is not None:
            dataset["inputFacets"] = {"dataQualityMetrics": metrics}
    else:
        metrics = _quality_metrics(ref, DATASET_QUALITY_FACET_URL)
        if metrics is not None:
            facets["dataQualityMetrics"] = metrics
        if ref.row_count is not None or ref.bytes is not None:
            statistics: dict[str, Any] = {}
            if ref.row_count is not None:
                statistics["rowCount"] = ref.row_count
            if ref.bytes is not None:
                statistics["size"] = ref.bytes
            dataset["outputFacets"] = {
                "outputStatistics": _facet(OUTPUT_STATISTICS_FACET_URL, **statistics)
            }
    if facets:
        dataset["facets"] = facets
    return dataset


def _quality_check(check: Mapping[str, Any]) -> dict[str, Any]:
    missing = [key for key in ("check", "severity", "passed") if key not in check]
    if missing:
        raise ValueError(f"quality check {dict(check)!r} lacks {missing}")
    return {str(key): _json_safe(value) for key, value in check.items()}


def build_event(
    event_type: EventType,
    *,
    namespace: str,
    job_name: str,
    run_id: str,
    event_time: datetime,
    inputs: Sequence[DatasetRef],
    outputs: Sequence[DatasetRef],
    error_message: str | None = None,
    stack_trace: str | None = None,
    quality_checks: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """One OpenLineage ``RunEvent``, as a JSON-ready dict.

    Args:
        event_type: ``START``, then ``COMPLETE`` or ``FAIL``.
        namespace: the job namespace (``settings.lineage.namespace``).
        job_name: the job, e.g. ``ingest``.
        run_id: the tradelake run id; the event carries ``run_uuid(run_id)``.
        event_time: when it happened; must be timezone-aware.
        inputs: datasets read.
        outputs: datasets written (or to be written, on START).
        error_message: why the run failed; required for ``FAIL`` and only allowed there.
        stack_trace: the Python traceback of the failure, if any (``FAIL`` only).
        quality_checks: ``{"check", "severity", "passed", "observed", "threshold"}``
            mappings, carried by the ``tradelake_quality`` run facet.

    Raises:
        ValueError: an argument cannot make a valid event (the message says which).
    """
    if event_type not in ("START", "COMPLETE", "FAIL"):
        raise ValueError(f"event_type={event_type!r}; use START, COMPLETE or FAIL")
    if (event_type == "FAIL") != (error_message is not None):
        raise ValueError("error_message is required for FAIL events and only allowed there")
    if stack_trace is not None and event_type != "FAIL":
        raise ValueError("stack_trace is only allowed on FAIL events")
    if not namespace or not job_name:
        raise ValueError("namespace and job_name must not be empty")
    run_facets: dict[str, Any] = {}
    if error_message is not None:
        error = _facet(ERROR_MESSAGE_FACET_URL, message=error_message, programmingLanguage="python")
        if stack_trace is not None:
            error["stackTrace"] = stack_trace
        run_facets["errorMessage"] = error
    if quality_checks:
        run_facets[QUALITY_FACET] = _facet(
            QUALITY_FACET_URL, checks=[_quality_check(check) for check in quality_checks]
        )
    run: dict[str, Any] = {"runId": run_uuid(run_id)}
    if run_facets:
        run["facets"] = run_facets
    return {
        "eventType": event_type,
        "eventTime": _format_time(event_time),
        "producer": PRODUCER,
        "schemaURL": RUN_EVENT_SCHEMA_URL,
        "run": run,
        "job": {"namespace": namespace, "name": job_name},
        "inputs": [_dataset(ref, "input") for ref in inputs],
        "outputs": [_dataset(ref, "output") for ref in outputs],
    }


class Opener(Protocol):
    """What the HTTP transport calls to send a request: ``urllib.request.urlopen``'s shape."""

    def __call__(self, request: urllib.request.Request, /, *, timeout: float) -> Any: ...


class LineageEmitter:
    """Sends run events to the configured transport; delivery problems never raise.

    - ``file``: appends one JSON line per event to ``file_path`` (parents created);
    - ``http``: POSTs the event as JSON to ``url`` + ``endpoint`` (Marquez and any
      OpenLineage HTTP consumer), up to ``max_attempts`` times with exponential backoff
      on connection errors, timeouts and 408/425/429/5xx answers;
    - ``console``: one JSON line on stderr;
    - ``none``: nothing.

    An event that could not be delivered is logged as a warning on ``tradelake.lineage``.
    """

    def __init__(
        self,
        settings: LineageSettings,
        *,
        opener: Opener | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Check the settings; the file path is resolved against the working directory now.

        Raises:
            ConfigError: ``transport=http`` without an http(s) ``url``.
        """
        self.settings = settings
        self._opener: Opener = opener or urllib.request.urlopen
        self._sleep = sleep
        self._url: str | None = None
        self._file: Path | None = None
        if settings.transport == "http":
            url = settings.url or ""
            if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
                raise ConfigError(
                    f"TRADELAKE_LINEAGE__URL={settings.url!r} must be an http(s) URL when "
                    "TRADELAKE_LINEAGE__TRANSPORT=http, e.g. http://marquez:5000; "
                    "or use TRADELAKE_LINEAGE__TRANSPORT=file"
                )
            self._url = url.rstrip("/") + "/" + settings.endpoint.lstrip("/")
        elif settings.transport == "file":
            self._file = Path(settings.file_path).expanduser().resolve()

    @property
    def target(self) -> str | None:
        """Where events go: the file path or the full HTTP URL; None for console and none."""
        return self._url or (str(self._file) if self._file else None)

    def emit(self, event: dict[str, Any]) -> bool:
        """Deliver one event.

        Returns:
            True once delivered; False when it was not (a warning was logged) and for
            ``transport=none``, which sends nothing.

        Raises:
            ValueError: the event is not JSON-serializable (a bug, not a delivery problem).
        """
        transport = self.settings.transport
        if transport == "none":
            return False
        line = json.dumps(event, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        if transport == "console":
            print(line, file=sys.stderr, flush=True)
            return True
        if self._file is not None:
            return self._append(self._file, line)
        if self._url is not None:
            return self._post(self._url, line.encode("utf-8"))
        raise AssertionError(f"unhandled lineage transport {transport!r}")

    def _append(self, path: Path, line: str) -> bool:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Unbuffered append: each event is one write() on an O_APPEND file, so lines
            # from concurrent runs sharing the file do not interleave.
            with path.open("ab", buffering=0) as sink:
                sink.write((line + "\n").encode("utf-8"))
        except OSError as err:
            log.warning(
                "could not write the lineage event; the run goes on without it",
                extra={"lineage_target": str(path), "error": str(err)},
            )
            return False
        return True

    def _post(self, url: str, body: bytes) -> bool:
        attempts = self.settings.max_attempts
        error = ""
        for attempt in range(1, attempts + 1):
            request = urllib.request.Request(
                url,
                data=body,
                method="POST",
                headers={
                    "Content-Type": "application/json",
                    "User-Agent": f"tradelake/{__version__}",
                },
            )
            retry = True
            try:
                with self._opener(request, timeout=self.settings.timeout_seconds) as response:
                    response.read()
                    status = int(response.status)
                if 200 <= status < 300:
                    return True
                error = f"HTTP {status}"
                retry = status in _HTTP_RETRY_STATUS
            except urllib.error.HTTPError as err:
                error = f"HTTP {err.code} {err.reason}"
                retry = err.code in _HTTP_RETRY_STATUS
            except (OSError, http.client.HTTPException) as err:
                # URLError (refused, DNS), timeouts, dropped connections: worth a retry.
                error = f"{type(err).__name__}: {err}"
            log.debug(
                "lineage event not delivered",
                extra={"lineage_target": url, "attempt": attempt, "error": error},
            )
            if not retry:
                break
            if attempt < attempts:
                self._sleep(min(_BACKOFF_SECONDS * 2 ** (attempt - 1), _BACKOFF_MAX_SECONDS))
        log.warning(
            "lineage endpoint did not accept the event; the run goes on without it",
            extra={"lineage_target": url, "attempts": attempt, "error": error},
        )
        return False
