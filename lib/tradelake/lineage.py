"""OpenLineage run events: what each job run read and wrote, built and sent with the
standard client (``openlineage-python``).

Every run emits a ``START`` event, then ``COMPLETE`` or ``FAIL`` (spec 2-0-2
``RunEvent``), with the client's standard facets:

- inputs: ``schema`` (dataset facet) and ``dataQualityMetrics`` (input facet);
- outputs: ``schema`` and ``dataQualityMetrics`` (dataset facets) and
  ``outputStatistics`` (output facet);
- run: ``errorMessage`` on ``FAIL``; ``parent`` when an orchestrator started the run
  (the Airflow task, so a lineage UI shows DAG -> task -> job as one chain); and
  ``tradelake_quality``, a custom facet (the spec has none for check results) with the
  run's quality checks.

What stays ours: dataset naming (raw files are ``s3://<bucket>`` + object key, or
``file`` + absolute path; Iceberg tables are the warehouse location +
``<database>.<table>``, whichever catalog tracks them), the quality facet, the parent
identity handed over by the orchestrator, and the rule that delivery never fails a job:
a transport error is logged as a warning on ``tradelake.lineage`` and the run goes on.

Where events go is the client's transports, chosen by ``TRADELAKE_LINEAGE__TRANSPORT``
(``file``, ``http``, ``console``, ``none``) or, when that is not set and the client's own
configuration is present (``OPENLINEAGE_URL``, ``OPENLINEAGE_CONFIG`` or an
``openlineage.yml``, ``OPENLINEAGE__TRANSPORT__*``), by that configuration.
"""

from __future__ import annotations

import json
import logging
import math
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol
from urllib.parse import urlsplit

import attr
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    data_quality_metrics_dataset,
    data_quality_metrics_input_dataset,
    error_message_run,
    output_statistics_output_dataset,
    parent_run,
    schema_dataset,
)
from openlineage.client.generated.base import InputDatasetFacet, RunFacet
from openlineage.client.naming import dataset as naming
from openlineage.client.serde import Serde
from openlineage.client.transport import get_default_factory
from openlineage.client.transport.noop import NoopTransport

from tradelake import __version__
from tradelake.errors import ConfigError

if TYPE_CHECKING:
    from tradelake.config import LineageSettings, Settings

log = logging.getLogger("tradelake.lineage")

EventType = Literal["START", "COMPLETE", "FAIL"]

PRODUCER = f"https://github.com/tradelake/tradelake/tree/{__version__}"
# The spec version the client's RunEvent declares ($id https://openlineage.io/spec/2-0-2/...).
SPEC_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
RUN_EVENT_SCHEMA_URL = f"{SPEC_URL}#/$defs/RunEvent"

# Each standard facet's _schemaURL, as the client sets it (tests/lineage_schema.py checks
# every one against a copied schema).
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
# The client (1.54) names version 1-0-1 of this facet, which the spec never published
# (spec/facets/DataQualityMetricsDatasetFacet.json is 1-0-0, with the same fields): the
# facet below points at the published schema instead.
DATASET_QUALITY_FACET_URL = (
    f"{_FACETS}/1-0-0/DataQualityMetricsDatasetFacet.json#/$defs/DataQualityMetricsDatasetFacet"
)
ERROR_MESSAGE_FACET_URL = f"{_FACETS}/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
PARENT_FACET_URL = f"{_FACETS}/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet"

# How an orchestrator hands its run to a job: "<namespace>/<job name>/<run id>", the
# format of the Airflow OpenLineage provider's lineage_parent_id macro (and of
# OPENLINEAGE_PARENT_ID, which dbt-ol reads too). The root is the DAG run.
PARENT_ID_VARIABLE = "OPENLINEAGE_PARENT_ID"
ROOT_PARENT_ID_VARIABLE = "OPENLINEAGE_ROOT_PARENT_ID"
# The client's own configuration; any of these present means "use it" (see lineage_client).
CLIENT_CONFIG_VARIABLES = ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG", "OPENLINEAGE_DISABLED")
CLIENT_CONFIG_PREFIX = "OPENLINEAGE__"
CLIENT_CONFIG_FILE = "openlineage.yml"

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
# HTTP delivery: urllib3 retries with backoff on these answers and on connection errors.
_HTTP_RETRY_STATUS = [408, 425, 429, 500, 502, 503, 504]
_BACKOFF_FACTOR_SECONDS = 0.5
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


@attr.define
class _OtherStore(naming.DatasetNaming):
    """A store the client's naming has no class for: ``<scheme>://<authority>`` + path."""

    scheme: str
    authority: str
    path: str

    def get_namespace(self) -> str:
        return f"{self.scheme}://{self.authority}"

    def get_name(self) -> str:
        return self.path


def _location(uri: str) -> naming.DatasetNaming:
    """The OpenLineage name of a location (``openlineage.client.naming``): an S3 or GCS
    object, a local or a remote file. A whole bucket is named ``/``."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme == "file" and parts.netloc not in ("", "localhost"):
        return naming.RemoteFileSystem(host=parts.netloc, path=parts.path or "/")
    if scheme in ("", "file"):
        path = parts.path if scheme == "file" else uri
        return naming.LocalFileSystem(path=str(Path(path).expanduser().resolve()))
    if not parts.netloc:
        raise ValueError(f"{uri!r} has no bucket or host; use e.g. s3://bucket/prefix")
    key = parts.path.strip("/") or "/"
    if scheme in _S3_SCHEMES:
        # s3a:// and s3n:// name the same objects as s3:// (Hadoop's clients for them).
        return naming.S3(bucket_name=parts.netloc, object_key=key)
    if scheme == "gs":
        return naming.GCS(bucket_name=parts.netloc, object_key=key)
    return _OtherStore(scheme=scheme, authority=parts.netloc, path=key)


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
    location = _location(raw_uri.rstrip("/") or raw_uri)
    return DatasetRef(
        namespace=location.get_namespace(),
        name=location.get_name(),
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
    location = _location(settings.warehouse_root)
    if isinstance(location, naming.LocalFileSystem):
        return Path(location.get_name()).as_uri()
    path = location.get_name()
    return location.get_namespace() + (f"/{path}" if path != "/" else "")


def kafka_dataset(
    bootstrap_servers: str, topic: str, *, row_count: int | None = None
) -> DatasetRef:
    """A Kafka topic as a dataset (``openlineage.client.naming.Kafka``): namespace
    ``kafka://<first bootstrap server>``, name the topic. A server without a port is
    Kafka's default, 9092."""
    server = bootstrap_servers.split(",")[0].strip()
    host, _, port = server.rpartition(":") if ":" in server else (server, "", "9092")
    topic_naming = naming.Kafka(bootstrap_server_host=host, port=port, topic=topic)
    return DatasetRef(
        namespace=topic_naming.get_namespace(), name=topic_naming.get_name(), row_count=row_count
    )


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


@attr.define
class TradelakeQualityRunFacet(RunFacet):
    """The run's quality checks (``spec/facets/TradelakeQualityRunFacet.json``)."""

    checks: list[dict[str, Any]] = attr.field(factory=list)

    @staticmethod
    def _get_schema() -> str:
        return QUALITY_FACET_URL


@attr.define
class _DatasetQualityMetricsFacet(data_quality_metrics_dataset.DataQualityMetricsDatasetFacet):
    """The client's facet, pointing at the schema version the spec published."""

    _additional_skip_redact: ClassVar[list[str]] = []

    @staticmethod
    def _get_schema() -> str:
        return DATASET_QUALITY_FACET_URL


@dataclass(frozen=True)
class ParentRun:
    """The run that started this one (an Airflow task), and the root of the chain (its DAG run).

    Attributes:
        namespace: the orchestrator's lineage namespace (the provider's ``namespace``).
        name: its job name, for an Airflow task ``<dag_id>.<task_id>``.
        run_id: its OpenLineage run id (a UUID).
        root: the root run, in the same form; None when not handed over.
    """

    namespace: str
    name: str
    run_id: str
    root: ParentRun | None = None


def parse_parent_id(text: str, *, what: str = PARENT_ID_VARIABLE) -> ParentRun:
    """``<namespace>/<job name>/<run id>`` (the provider's ``lineage_parent_id``) as a ParentRun.

    The namespace may itself contain ``/``; the job name and the run id cannot.

    Raises:
        ConfigError: not three non-empty parts, or the run id is not a UUID.
    """
    parts = text.strip().rsplit("/", 2)
    if len(parts) != 3 or not all(parts):
        raise ConfigError(
            f"{what}={text!r} must be '<namespace>/<job name>/<run id>', e.g. "
            "default/tradelake_daily.ingest/01890a6e-...; Airflow's "
            "macros.OpenLineageProviderPlugin.lineage_parent_id(task_instance) gives it"
        )
    namespace, name, run_id = parts
    try:
        uuid.UUID(run_id)
    except ValueError as err:
        raise ConfigError(f"{what}={text!r}: the run id {run_id!r} is not a UUID") from err
    return ParentRun(namespace, name, run_id.lower())


def lineage_parent(
    parent_id: str | None,
    root_parent_id: str | None,
    environ: Mapping[str, str],
) -> ParentRun | None:
    """The run that started this one, and its root, or None.

    Each comes from the job's flag (``--openlineage-parent-id``,
    ``--openlineage-root-parent-id``: on AWS Glue, which passes arguments but no
    environment, the only way) or else from ``OPENLINEAGE_PARENT_ID`` /
    ``OPENLINEAGE_ROOT_PARENT_ID``, the variables OpenLineage integrations hand over.

    Raises:
        ConfigError: a value is malformed (the run must not pretend to have no parent).
    """
    text = (parent_id or environ.get(PARENT_ID_VARIABLE, "")).strip()
    if not text:
        return None
    parent = parse_parent_id(text)
    root_text = (root_parent_id or environ.get(ROOT_PARENT_ID_VARIABLE, "")).strip()
    if root_text:
        root = parse_parent_id(root_text, what=ROOT_PARENT_ID_VARIABLE)
        parent = ParentRun(parent.namespace, parent.name, parent.run_id, root)
    return parent


def _parent_facet(parent: ParentRun) -> parent_run.ParentRunFacet:
    root = None
    if parent.root is not None:
        root = parent_run.Root(
            run=parent_run.RootRun(runId=parent.root.run_id, facets=None),
            job=parent_run.RootJob(
                namespace=parent.root.namespace, name=parent.root.name, facets=None
            ),
        )
    return parent_run.ParentRunFacet(
        run=parent_run.Run(runId=parent.run_id, facets=None),
        job=parent_run.Job(namespace=parent.namespace, name=parent.name, facets=None),
        root=root,
        producer=PRODUCER,
    )


def _format_time(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"event_time {moment!r} must be timezone-aware; use datetime.now(UTC)")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _column_metrics(metrics: Mapping[str, Any], module: Any) -> dict[str, Any]:
    return {
        str(column): module.ColumnMetrics(
            **{key: _json_safe(value) for key, value in values.items() if key != "quantiles"},
            quantiles=values.get("quantiles"),
        )
        for column, values in metrics.items()
    }


def _schema_facet(ref: DatasetRef) -> schema_dataset.SchemaDatasetFacet:
    return schema_dataset.SchemaDatasetFacet(
        fields=[
            schema_dataset.SchemaDatasetFacetFields(name=name, type=type_, fields=None)
            for name, type_ in ref.fields
        ],
        producer=PRODUCER,
    )


def _quality_content(ref: DatasetRef, module: Any) -> dict[str, Any] | None:
    if ref.row_count is None and ref.bytes is None and not ref.quality:
        return None
    extra = dict(ref.quality or {})
    return {
        "columnMetrics": _column_metrics(extra.pop("columnMetrics", {}), module),
        "rowCount": ref.row_count,
        "bytes": ref.bytes,
        **{key: _json_safe(value) for key, value in extra.items()},
    }


def _input(ref: DatasetRef) -> InputDataset:
    facets: dict[str, Any] = {"schema": _schema_facet(ref)} if ref.fields else {}
    module = data_quality_metrics_input_dataset
    content = _quality_content(ref, module)
    input_facets: dict[str, InputDatasetFacet] | None = (
        {
            "dataQualityMetrics": module.DataQualityMetricsInputDatasetFacet(
                **content, producer=PRODUCER
            )
        }
        if content is not None
        else None
    )
    return InputDataset(
        namespace=ref.namespace, name=ref.name, facets=facets or None, inputFacets=input_facets
    )


def _output(ref: DatasetRef) -> OutputDataset:
    facets: dict[str, Any] = {"schema": _schema_facet(ref)} if ref.fields else {}
    content = _quality_content(ref, data_quality_metrics_dataset)
    if content is not None:
        facets["dataQualityMetrics"] = _DatasetQualityMetricsFacet(**content, producer=PRODUCER)
    output_facets: dict[str, Any] | None = None
    if ref.row_count is not None or ref.bytes is not None:
        output_facets = {
            "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=ref.row_count, size=ref.bytes, producer=PRODUCER
            )
        }
    return OutputDataset(
        namespace=ref.namespace, name=ref.name, facets=facets or None, outputFacets=output_facets
    )


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
    parent: ParentRun | None = None,
) -> RunEvent:
    """One OpenLineage ``RunEvent`` (the client's class; ``event_dict`` gives its JSON).

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
        parent: the orchestrator's run that started this one (``parent`` run facet).

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
    run_facets: dict[str, RunFacet] = {}
    if parent is not None:
        run_facets["parent"] = _parent_facet(parent)
    if error_message is not None:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=error_message,
            programmingLanguage="python",
            stackTrace=stack_trace,
            producer=PRODUCER,
        )
    if quality_checks:
        run_facets[QUALITY_FACET] = TradelakeQualityRunFacet(
            checks=[_quality_check(check) for check in quality_checks], producer=PRODUCER
        )
    return RunEvent(
        eventType=RunState[event_type],
        eventTime=_format_time(event_time),
        producer=PRODUCER,
        run=Run(runId=run_uuid(run_id), facets=run_facets or None),
        job=Job(namespace=namespace, name=job_name, facets=None),
        inputs=[_input(ref) for ref in inputs],
        outputs=[_output(ref) for ref in outputs],
    )


def event_dict(event: RunEvent) -> dict[str, Any]:
    """The event as the JSON object the transports send (nulls left out)."""
    parsed: dict[str, Any] = json.loads(Serde.to_json(event))
    return parsed


def client_config_present(environ: Mapping[str, str], cwd: Path) -> bool:
    """True when the OpenLineage client's own configuration is there to be used."""
    if any(environ.get(name) for name in CLIENT_CONFIG_VARIABLES):
        return True
    if any(name.startswith(CLIENT_CONFIG_PREFIX) for name in environ):
        return True
    return (cwd / CLIENT_CONFIG_FILE).is_file()


def transport_config(settings: LineageSettings) -> tuple[dict[str, Any], str | None]:
    """The client's ``transport`` configuration for the settings, and where events go.

    Raises:
        ConfigError: ``transport=http`` without an http(s) ``url``.
    """
    if settings.transport == "http":
        config = _http_transport_config(settings)
        return config, config["url"].rstrip("/") + "/" + settings.endpoint.lstrip("/")
    if settings.transport == "file":
        path = Path(settings.file_path).expanduser().resolve()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # the write fails later and is reported as not delivered
        return {"type": "file", "log_file_path": str(path), "append": True}, str(path)
    if settings.transport == "console":
        return {"type": "console"}, None
    return {"type": "noop"}, None


def _http_transport_config(settings: LineageSettings) -> dict[str, Any]:
    url = settings.url or ""
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise ConfigError(
            f"TRADELAKE_LINEAGE__URL={settings.url!r} must be an http(s) URL when "
            "TRADELAKE_LINEAGE__TRANSPORT=http, e.g. http://marquez:5000; "
            "or use TRADELAKE_LINEAGE__TRANSPORT=file"
        )
    retries = settings.max_attempts - 1
    return {
        "type": "http",
        "url": url,
        "endpoint": settings.endpoint,
        "timeout": settings.timeout_seconds,
        "retry": {
            "total": retries,
            "connect": retries,
            "read": retries,
            "status": retries,
            "other": retries,
            "backoff_factor": _BACKOFF_FACTOR_SECONDS,
            "backoff_max": _BACKOFF_MAX_SECONDS,
            "status_forcelist": list(_HTTP_RETRY_STATUS),
            "allowed_methods": ["POST"],
            # The last answer is reported (HTTP 503), not urllib3's RetryError.
            "raise_on_status": False,
        },
    }


def lineage_client(
    settings: LineageSettings,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[OpenLineageClient, str | None]:
    """The OpenLineage client the settings ask for, and where its events go.

    ``TRADELAKE_LINEAGE__TRANSPORT``, when set, wins: ``file`` (JSON Lines appended to
    ``file_path``), ``http`` (POST to ``url`` + ``endpoint``, bounded retries), ``console``
    (one JSON line per event on the ``openlineage.client.transport.console`` logger),
    ``none``. When it is not set and the client's own configuration is present
    (``client_config_present``), the client configures itself from it; otherwise ``file``.

    Raises:
        ConfigError: ``transport=http`` without an http(s) ``url``.
    """
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    if "transport" not in settings.model_fields_set and client_config_present(environ, cwd):
        client = OpenLineageClient()
        url = getattr(client.transport, "url", None)
        own = f"{url}" if url else f"openlineage client ({client.transport.kind})"
        return client, own
    config, target = transport_config(settings)
    # The client's own factory builds the transport from its configuration, as it would
    # from openlineage.yml. Not OpenLineageClient(config=...): that merges in the client's
    # file and OPENLINEAGE__* variables (the client even writes some itself for
    # OPENLINEAGE_URL), and an explicit TRADELAKE_LINEAGE__TRANSPORT must win over them.
    return OpenLineageClient(transport=get_default_factory().create(config)), target


class LineageEmitter:
    """Sends run events with the OpenLineage client; delivery problems never raise."""

    def __init__(self, settings: LineageSettings, *, client: OpenLineageClient | None = None):
        """Build the client now (file paths resolve against the working directory now).

        Raises:
            ConfigError: ``transport=http`` without an http(s) ``url``.
        """
        self.settings = settings
        if client is None:
            self.client, self._target = lineage_client(settings)
        else:
            self.client, self._target = client, None

    @property
    def target(self) -> str | None:
        """Where events go: the file path or the HTTP URL; None for console and none."""
        return self._target

    def emit(self, event: RunEvent) -> bool:
        """Deliver one event.

        Returns:
            True once delivered; False when it was not (a warning was logged) and when
            nothing is sent (``none``, or the client's ``OPENLINEAGE_DISABLED``).
        """
        if self.client.transport.kind == NoopTransport.kind:
            return False
        try:
            self.client.emit(event)
        except Exception as err:  # noqa: BLE001 - delivery must never fail the job
            log.warning(
                "lineage event not delivered; the run goes on without it",
                extra={"lineage_target": self._target, "error": f"{type(err).__name__}: {err}"},
            )
            return False
        return True
