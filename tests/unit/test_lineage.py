"""OpenLineage events, built and sent with the openlineage-python client (no Spark).

Every event shape tradelake produces is validated against the OpenLineage spec copied
in tests/schemas/openlineage (tests/lineage_schema.py).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.lineage_schema import SCHEMA_DIR, assert_valid_run_event, schema_documents
from tradelake import __version__
from tradelake.config import LineageSettings, Settings
from tradelake.errors import ConfigError
from tradelake.lineage import (
    DATASET_QUALITY_FACET_URL,
    ERROR_MESSAGE_FACET_URL,
    INPUT_QUALITY_FACET_URL,
    OUTPUT_STATISTICS_FACET_URL,
    PARENT_FACET_URL,
    QUALITY_FACET_URL,
    RUN_EVENT_SCHEMA_URL,
    RUN_ID_NAMESPACE,
    SCHEMA_FACET_URL,
    SPEC_URL,
    DatasetRef,
    LineageEmitter,
    ParentRun,
    build_event,
    event_dict,
    lineage_client,
    lineage_parent,
    parse_parent_id,
    raw_dataset,
    run_uuid,
    spark_fields,
    table_dataset,
)
from tradelake.runtime import job_parser, parse_job_args

RUN_ID = "20261127T050044Z-c1e1f615"
STARTED = datetime(2026, 11, 27, 5, 0, 44, 123456, tzinfo=UTC)
RAW = DatasetRef(
    namespace="s3://tradelake-raw",
    name="raw/trades/date=2025-01-15",
    fields=(("trade_id", "string"), ("price", "string")),
)
TRADES = DatasetRef(
    namespace="s3://tradelake-lake/warehouse",
    name="trading.trades",
    fields=(("trade_id", "string"), ("price", "decimal(18,8)"), ("traded_at", "timestamp")),
)
CHECKS = [
    {
        "check": "reject_ratio",
        "severity": "error",
        "passed": True,
        "observed": 0.030476,
        "threshold": "<= 0.1",
    },
    {"check": "record_count", "severity": "error", "passed": True, "observed": 5000},
    {
        "check": "freshness",
        "severity": "warn",
        "passed": False,
        "observed": datetime(2025, 1, 15, 17, 59, tzinfo=UTC),
        "threshold": None,
    },
    {
        "check": "reconcile_volume",
        "severity": "error",
        "passed": True,
        "observed": Decimal("12345.67890123"),
        "threshold": Decimal("12345.67890123"),
    },
    {"check": "volume_anomaly", "severity": "warn", "passed": True, "observed": float("nan")},
]


def start_event() -> dict[str, Any]:
    return event_dict(start_run_event())


def start_run_event() -> Any:
    return build_event(
        "START",
        namespace="tradelake",
        job_name="ingest",
        run_id=RUN_ID,
        event_time=STARTED,
        inputs=[RAW],
        outputs=[TRADES],
    )


def complete_event() -> dict[str, Any]:
    return event_dict(complete_run_event())


def complete_run_event() -> Any:
    raw = DatasetRef(
        namespace=RAW.namespace,
        name=RAW.name,
        fields=RAW.fields,
        row_count=5250,
        bytes=812_345,
        quality={"fileCount": 6, "columnMetrics": {"price": {"nullCount": 3, "count": 5247}}},
    )
    trades = DatasetRef(
        namespace=TRADES.namespace,
        name=TRADES.name,
        fields=TRADES.fields,
        row_count=5000,
        bytes=204_800,
        quality={
            "columnMetrics": {
                "trade_id": {"nullCount": 0, "distinctCount": 5000},
                "price": {"nullCount": 0, "min": 0.5, "max": 999.25},
            }
        },
    )
    rejected = DatasetRef(namespace=TRADES.namespace, name="trading.trades_rejected", row_count=160)
    return build_event(
        "COMPLETE",
        namespace="tradelake",
        job_name="ingest",
        run_id=RUN_ID,
        event_time=STARTED + timedelta(seconds=21.4),
        inputs=[raw],
        outputs=[trades, rejected],
        quality_checks=CHECKS,
    )


def fail_event() -> dict[str, Any]:
    return event_dict(fail_run_event())


def fail_run_event() -> Any:
    return build_event(
        "FAIL",
        namespace="tradelake",
        job_name="ingest",
        run_id=RUN_ID,
        event_time=STARTED + timedelta(seconds=3),
        inputs=[RAW],
        outputs=[TRADES],
        error_message="StorageError: s3://tradelake-raw is not reachable",
        stack_trace='Traceback (most recent call last):\n  File "jobs/ingest.py", line 1',
        quality_checks=CHECKS[:1],
    )


# ---------------------------------------------------------------- ids and names


def test_run_uuid_is_a_stable_uuid5_of_the_run_id() -> None:
    assert RUN_ID_NAMESPACE == uuid.uuid5(
        uuid.NAMESPACE_URL, "https://github.com/tradelake/tradelake#run-id"
    )
    # Pinned: a changed derivation would split every run's lineage history.
    assert run_uuid(RUN_ID) == "ad6c5e3a-e045-54a7-973d-c84ee6da43b3"
    assert uuid.UUID(run_uuid(RUN_ID)).version == 5
    assert run_uuid("20261127T050044Z-c1e1f616") != run_uuid(RUN_ID)
    with pytest.raises(ValueError, match="empty"):
        run_uuid("")


@pytest.mark.parametrize(
    ("raw_uri", "namespace", "name"),
    [
        ("s3://bkt/raw/trades/date=2025-01-15/", "s3://bkt", "raw/trades/date=2025-01-15"),
        ("s3a://bkt/raw/trades/date=2025-01-15", "s3://bkt", "raw/trades/date=2025-01-15"),
        ("s3://raw-bucket", "s3://raw-bucket", "/"),
        ("gs://bucket/raw/x.jsonl", "gs://bucket", "raw/x.jsonl"),
        ("file:/data/raw/trades/date=2025-01-15", "file", "/data/raw/trades/date=2025-01-15"),
        ("file:///data/raw/trades", "file", "/data/raw/trades"),
        ("/data/raw/trades/", "file", "/data/raw/trades"),
    ],
)
def test_raw_dataset_follows_the_openlineage_naming_spec(
    raw_uri: str, namespace: str, name: str
) -> None:
    ref = raw_dataset(raw_uri)
    assert (ref.namespace, ref.name) == (namespace, name)


def test_raw_dataset_resolves_a_relative_path_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ref = raw_dataset("./lake/raw/trades/date=2025-01-15", row_count=7, bytes=70)
    assert ref.namespace == "file"
    assert ref.name == str(tmp_path.resolve() / "lake/raw/trades/date=2025-01-15")
    assert (ref.row_count, ref.bytes) == (7, 70)


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No profile and no TRADELAKE_* variables: settings come from the test alone."""
    for name in list(os.environ):
        if name.startswith(("TRADELAKE_", "AWS_")):
            monkeypatch.delenv(name)
    empty = tmp_path / "conf"
    empty.mkdir()
    monkeypatch.setenv("TRADELAKE_CONF_DIR", str(empty))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_table_dataset_is_the_warehouse_and_database_dot_table(clean_env: Path) -> None:
    glue = Settings(
        catalog_type="glue",
        warehouse="s3://tradelake-lake/warehouse/",
        raw_uri="s3://tradelake-raw/raw",
        aws_region="eu-west-1",
        database="markets",
    )
    ref = table_dataset(glue, "trades", [("trade_id", "string")], row_count=3, bytes=10)
    assert (ref.namespace, ref.name) == ("s3://tradelake-lake/warehouse", "markets.trades")
    assert ref.fields == (("trade_id", "string"),)
    assert (ref.row_count, ref.bytes) == (3, 10)

    # The same warehouse gives the same dataset whichever catalog tracks the table.
    local = Settings(catalog_type="hadoop", warehouse="./lake/warehouse")
    expected = (clean_env.resolve() / "lake/warehouse").as_uri()
    assert table_dataset(local, "daily_volume").namespace == expected
    assert expected.startswith("file:///")
    jdbc = Settings(
        catalog_type="jdbc", catalog_uri="jdbc:sqlite:./c.db", warehouse="lake/warehouse"
    )
    assert table_dataset(jdbc, "daily_volume") == table_dataset(local, "daily_volume")
    assert table_dataset(local, "daily_volume").name == "trading.daily_volume"

    with pytest.raises(ValueError, match="bare table name"):
        table_dataset(local, "trading.trades")


def test_spark_fields_reads_a_struct_type_without_importing_spark() -> None:
    class DataType:
        def __init__(self, text: str) -> None:
            self.text = text

        def simpleString(self) -> str:
            return self.text

    class Field:
        def __init__(self, name: str, text: str) -> None:
            self.name = name
            self.dataType = DataType(text)

    class Schema:
        fields = [Field("price", "decimal(18,8)"), Field("reasons", "array<string>")]

    assert spark_fields(Schema()) == (("price", "decimal(18,8)"), ("reasons", "array<string>"))


def test_importing_the_module_does_not_import_spark() -> None:
    code = "import sys, tradelake.lineage; print('pyspark' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (result.returncode, result.stdout.strip()) == (0, "False"), result.stderr


def test_dataset_ref_rejects_what_no_facet_can_carry() -> None:
    with pytest.raises(ValueError, match="count >= 0"):
        DatasetRef(namespace="file", name="/x", row_count=-1)
    with pytest.raises(ValueError, match="dataQualityMetrics fields"):
        DatasetRef(namespace="file", name="/x", quality={"nullCount": 1})
    with pytest.raises(ValueError, match="namespace and a name"):
        DatasetRef(namespace="", name="/x")


# ---------------------------------------------------------------- the copied schemas


def test_copied_schemas_are_valid_draft_2020_12_and_match_the_urls_used() -> None:
    documents = schema_documents()
    for document in documents.values():
        assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        Draft202012Validator.check_schema(document)
    assert SPEC_URL in documents
    assert RUN_EVENT_SCHEMA_URL == f"{SPEC_URL}#/$defs/RunEvent"
    for url in (
        SCHEMA_FACET_URL,
        OUTPUT_STATISTICS_FACET_URL,
        INPUT_QUALITY_FACET_URL,
        DATASET_QUALITY_FACET_URL,
        ERROR_MESSAGE_FACET_URL,
        QUALITY_FACET_URL,
    ):
        document_id, _, pointer = url.partition("#")
        assert pointer.removeprefix("/$defs/") in documents[document_id]["$defs"], url
    copied = {path.name for path in SCHEMA_DIR.glob("*.json")}
    assert "OpenLineage.json" in copied
    assert {"LICENSE", "NOTICE"} <= {path.name for path in SCHEMA_DIR.iterdir()}


# ---------------------------------------------------------------- events


def test_start_event_is_valid_with_schema_facets() -> None:
    event = start_event()
    assert_valid_run_event(event)
    assert event["eventType"] == "START"
    assert event["eventTime"] == "2026-11-27T05:00:44.123Z"
    assert event["producer"] == f"https://github.com/tradelake/tradelake/tree/{__version__}"
    assert (
        event["schemaURL"] == "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
    )
    assert event["run"] == {"runId": "ad6c5e3a-e045-54a7-973d-c84ee6da43b3"}
    assert event["job"] == {"namespace": "tradelake", "name": "ingest"}
    [raw] = event["inputs"]
    assert raw["namespace"] == "s3://tradelake-raw"
    assert raw["facets"]["schema"] == {
        "_producer": event["producer"],
        "_schemaURL": SCHEMA_FACET_URL,
        "fields": [{"name": "trade_id", "type": "string"}, {"name": "price", "type": "string"}],
    }
    assert "inputFacets" not in raw
    [trades] = event["outputs"]
    assert trades["name"] == "trading.trades"
    assert [field["type"] for field in trades["facets"]["schema"]["fields"]] == [
        "string",
        "decimal(18,8)",
        "timestamp",
    ]
    assert "outputFacets" not in trades


def test_complete_event_is_valid_with_statistics_and_quality() -> None:
    event = complete_event()
    assert_valid_run_event(event)
    [raw] = event["inputs"]
    assert raw["inputFacets"]["dataQualityMetrics"] == {
        "_producer": event["producer"],
        "_schemaURL": INPUT_QUALITY_FACET_URL,
        "rowCount": 5250,
        "bytes": 812_345,
        "fileCount": 6,
        "columnMetrics": {"price": {"nullCount": 3, "count": 5247}},
    }
    trades, rejected = event["outputs"]
    assert trades["outputFacets"]["outputStatistics"] == {
        "_producer": event["producer"],
        "_schemaURL": OUTPUT_STATISTICS_FACET_URL,
        "rowCount": 5000,
        "size": 204_800,
    }
    metrics = trades["facets"]["dataQualityMetrics"]
    assert metrics["_schemaURL"] == DATASET_QUALITY_FACET_URL
    assert metrics["rowCount"] == 5000
    assert metrics["columnMetrics"]["trade_id"] == {"nullCount": 0, "distinctCount": 5000}
    assert rejected == {
        "namespace": "s3://tradelake-lake/warehouse",
        "name": "trading.trades_rejected",
        "facets": {
            "dataQualityMetrics": {
                "_producer": event["producer"],
                "_schemaURL": DATASET_QUALITY_FACET_URL,
                "rowCount": 160,
                "columnMetrics": {},
            }
        },
        "outputFacets": {
            "outputStatistics": {
                "_producer": event["producer"],
                "_schemaURL": OUTPUT_STATISTICS_FACET_URL,
                "rowCount": 160,
            }
        },
    }
    quality = event["run"]["facets"]["tradelake_quality"]
    assert quality["_schemaURL"] == QUALITY_FACET_URL
    assert quality["checks"] == [
        {
            "check": "reject_ratio",
            "severity": "error",
            "passed": True,
            "observed": 0.030476,
            "threshold": "<= 0.1",
        },
        {"check": "record_count", "severity": "error", "passed": True, "observed": 5000},
        {
            "check": "freshness",
            "severity": "warn",
            "passed": False,
            # None values are left out of the JSON (the client's serializer drops nulls).
            "observed": "2025-01-15T17:59:00+00:00",
        },
        {
            "check": "reconcile_volume",
            "severity": "error",
            "passed": True,
            "observed": "12345.67890123",
            "threshold": "12345.67890123",
        },
        {"check": "volume_anomaly", "severity": "warn", "passed": True, "observed": "nan"},
    ]
    json.dumps(event, allow_nan=False)  # strict JSON: no NaN slipped through


def test_fail_event_is_valid_with_an_error_message() -> None:
    event = fail_event()
    assert_valid_run_event(event)
    assert event["eventType"] == "FAIL"
    assert event["run"]["facets"]["errorMessage"] == {
        "_producer": event["producer"],
        "_schemaURL": ERROR_MESSAGE_FACET_URL,
        "message": "StorageError: s3://tradelake-raw is not reachable",
        "programmingLanguage": "python",
        "stackTrace": 'Traceback (most recent call last):\n  File "jobs/ingest.py", line 1',
    }
    without_trace = event_dict(
        build_event(
            "FAIL",
            namespace="tradelake",
            job_name="daily_volume",
            run_id=RUN_ID,
            event_time=STARTED,
            inputs=[],
            outputs=[],
            error_message="boom",
        )
    )
    assert_valid_run_event(without_trace)
    assert "stackTrace" not in without_trace["run"]["facets"]["errorMessage"]


def test_event_time_is_converted_to_utc_with_z() -> None:
    paris = timezone(timedelta(hours=1))
    event = event_dict(
        build_event(
            "COMPLETE",
            namespace="tradelake",
            job_name="ohlcv",
            run_id=RUN_ID,
            event_time=datetime(2026, 1, 1, 1, 0, tzinfo=paris),
            inputs=[],
            outputs=[],
        )
    )
    assert event["eventTime"] == "2026-01-01T00:00:00.000Z"
    assert event["inputs"] == [] and event["outputs"] == []
    assert_valid_run_event(event)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"event_type": "DONE"}, "START, COMPLETE or FAIL"),
        ({"event_type": "FAIL"}, "required for FAIL"),
        ({"error_message": "x"}, "only allowed there"),
        ({"stack_trace": "x"}, "only allowed on FAIL"),
        ({"event_time": datetime(2026, 1, 1)}, "timezone-aware"),
        ({"job_name": ""}, "must not be empty"),
        ({"quality_checks": [{"check": "x", "passed": True}]}, "severity"),
    ],
)
def test_build_event_refuses_arguments_that_cannot_make_a_valid_event(
    change: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {
        "event_type": "COMPLETE",
        "namespace": "tradelake",
        "job_name": "ingest",
        "run_id": RUN_ID,
        "event_time": STARTED,
        "inputs": [],
        "outputs": [],
    } | change
    event_type = arguments.pop("event_type")
    with pytest.raises(ValueError, match=message):
        build_event(event_type, **arguments)


def _mutated(mutate: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    event = copy.deepcopy(complete_event())
    mutate(event)
    return event


def _dataset_facet(event: dict[str, Any], role: str, key: str, facet: str) -> Any:
    return event[role][0][key][facet]


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda e: e.update(eventType="DONE"), "'DONE' is not one of"),
        (lambda e: e["run"].pop("runId"), "'runId' is a required property"),
        (lambda e: e["run"].update(runId=RUN_ID), "is not a 'uuid'"),
        (lambda e: e.update(eventTime="2026-11-27T05:00:44"), "is not a 'date-time'"),
        (lambda e: e.update(producer="not a uri"), "is not a 'uri'"),
        (lambda e: e.pop("job"), "'job' is a required property"),
        (lambda e: e["job"].pop("name"), "'name' is a required property"),
        (lambda e: e["inputs"][0].pop("namespace"), "'namespace' is a required property"),
        (
            lambda e: _dataset_facet(e, "inputs", "facets", "schema").pop("_producer"),
            "'_producer' is a required property",
        ),
        (
            lambda e: _dataset_facet(e, "inputs", "facets", "schema")["fields"].append({"t": 1}),
            "'name' is a required property",
        ),
        (
            lambda e: _dataset_facet(e, "outputs", "outputFacets", "outputStatistics").update(
                rowCount="5000"
            ),
            "'5000' is not of type 'integer'",
        ),
        (
            lambda e: _dataset_facet(e, "inputs", "inputFacets", "dataQualityMetrics").pop(
                "columnMetrics"
            ),
            "'columnMetrics' is a required property",
        ),
        (
            # An input facet in the output slot: structurally a BaseFacet, still wrong.
            lambda e: e["outputs"][0]["outputFacets"].update(
                dataQualityMetrics=_dataset_facet(e, "inputs", "inputFacets", "dataQualityMetrics")
            ),
            "cannot go in outputs[0].outputFacets",
        ),
        (
            lambda e: e["run"]["facets"].update(
                errorMessage={
                    "_producer": e["producer"],
                    "_schemaURL": ERROR_MESSAGE_FACET_URL,
                    "message": "x",
                }
            ),
            "'programmingLanguage' is a required property",
        ),
        (
            lambda e: _dataset_facet(e, "inputs", "facets", "schema").update(
                _schemaURL="https://openlineage.io/spec/facets/9-9-9/SchemaDatasetFacet.json"
                "#/$defs/SchemaDatasetFacet"
            ),
            "is not a known facet schema",
        ),
        (
            lambda e: e["inputs"][0]["facets"].update(
                columns=_dataset_facet(e, "inputs", "facets", "schema")
            ),
            "not 'columns'",
        ),
        (
            lambda e: e["run"]["facets"]["tradelake_quality"]["checks"][0].pop("passed"),
            "'passed' is a required property",
        ),
        (lambda e: e.update(schemaURL=SPEC_URL), "schemaURL"),
    ],
)
def test_broken_events_fail_validation(
    mutate: Callable[[dict[str, Any]], None], problem: str
) -> None:
    event = _mutated(mutate)
    with pytest.raises(AssertionError, match="invalid OpenLineage RunEvent") as failure:
        assert_valid_run_event(event)
    assert problem in str(failure.value)


# ---------------------------------------------------------------- the parent run


PARENT_ID = "default/tradelake_daily.ingest/0199b1a4-6a3c-7b1e-8f00-1234567890ab"
ROOT_ID = "default/tradelake_daily/0199b1a4-6a3c-7b1e-8f00-1234567890ac"
# What PARENT_ID with ROOT_ID parse to.
INGEST_TASK_RUN = ParentRun(
    "default",
    "tradelake_daily.ingest",
    "0199b1a4-6a3c-7b1e-8f00-1234567890ab",
    ParentRun("default", "tradelake_daily", "0199b1a4-6a3c-7b1e-8f00-1234567890ac"),
)


def test_parent_id_parses_the_providers_macro_format() -> None:
    assert parse_parent_id(PARENT_ID) == ParentRun(
        "default", "tradelake_daily.ingest", "0199b1a4-6a3c-7b1e-8f00-1234567890ab"
    )
    # The namespace may itself hold a slash; the job name and the run id cannot.
    assert parse_parent_id("team/prod/dag.task/0199B1A4-6A3C-7B1E-8F00-1234567890AB") == (
        ParentRun("team/prod", "dag.task", "0199b1a4-6a3c-7b1e-8f00-1234567890ab")
    )


@pytest.mark.parametrize("text", ["", "a/b", "a//0199b1a4-6a3c-7b1e-8f00-1234567890ab", "a/b/c"])
def test_a_malformed_parent_id_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="OPENLINEAGE_PARENT_ID"):
        parse_parent_id(text)


def test_parent_comes_from_the_environment_with_its_root() -> None:
    assert lineage_parent(None, None, {}) is None
    assert lineage_parent(None, None, {"OPENLINEAGE_PARENT_ID": " "}) is None
    parent = lineage_parent(
        None, None, {"OPENLINEAGE_PARENT_ID": PARENT_ID, "OPENLINEAGE_ROOT_PARENT_ID": ROOT_ID}
    )
    assert parent == INGEST_TASK_RUN


def test_the_jobs_flags_win_over_the_environment_and_are_not_parked_there() -> None:
    other = "team/other.task/0199b1a4-6a3c-7b1e-8f00-00000000000f"
    environ = {"OPENLINEAGE_PARENT_ID": other, "OPENLINEAGE_ROOT_PARENT_ID": ROOT_ID}
    before = dict(os.environ)
    parent = lineage_parent(PARENT_ID, None, environ)
    assert parent == INGEST_TASK_RUN
    # Each of the two comes from its own flag, else its own variable.
    root_flag_only = lineage_parent(None, PARENT_ID, environ)
    assert root_flag_only == ParentRun(
        "team",
        "other.task",
        "0199b1a4-6a3c-7b1e-8f00-00000000000f",
        ParentRun("default", "tradelake_daily.ingest", "0199b1a4-6a3c-7b1e-8f00-1234567890ab"),
    )
    # Parsing a job's flags leaves the process environment alone (observe gets them).
    args = parse_job_args(job_parser("ingest", ""), ["--openlineage-parent-id", PARENT_ID])
    assert args.openlineage_parent_id == PARENT_ID
    assert dict(os.environ) == before


def test_every_event_carries_the_parent_run_facet() -> None:
    parent = lineage_parent(
        None, None, {"OPENLINEAGE_PARENT_ID": PARENT_ID, "OPENLINEAGE_ROOT_PARENT_ID": ROOT_ID}
    )
    for kind, error in (("START", None), ("COMPLETE", None), ("FAIL", "gate")):
        event = event_dict(
            build_event(
                kind,  # type: ignore[arg-type]
                namespace="tradelake",
                job_name="ingest",
                run_id=RUN_ID,
                event_time=STARTED,
                inputs=[RAW],
                outputs=[TRADES],
                error_message=error,
                parent=parent,
            )
        )
        assert_valid_run_event(event)
        assert event["run"]["facets"]["parent"] == {
            "_producer": event["producer"],
            "_schemaURL": PARENT_FACET_URL,
            "run": {"runId": "0199b1a4-6a3c-7b1e-8f00-1234567890ab"},
            "job": {"namespace": "default", "name": "tradelake_daily.ingest"},
            "root": {
                "run": {"runId": "0199b1a4-6a3c-7b1e-8f00-1234567890ac"},
                "job": {"namespace": "default", "name": "tradelake_daily"},
            },
        }


def test_a_parent_facet_without_a_job_fails_validation() -> None:
    event = event_dict(
        build_event(
            "START",
            namespace="tradelake",
            job_name="ingest",
            run_id=RUN_ID,
            event_time=STARTED,
            inputs=[],
            outputs=[],
            parent=parse_parent_id(PARENT_ID),
        )
    )
    del event["run"]["facets"]["parent"]["job"]
    with pytest.raises(AssertionError, match="'job' is a required property"):
        assert_valid_run_event(event)


# ---------------------------------------------------------------- delivery: the client's transports


def _settings(**values: Any) -> LineageSettings:
    return LineageSettings(**values)


def sent(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` as the client sends it: with its ``tags`` run facet (the client version)."""
    from openlineage.client.constants import __version__ as client_version

    tags = {
        "_producer": f"https://github.com/OpenLineage/OpenLineage/tree/{client_version}"
        "/client/python",
        "_schemaURL": "https://openlineage.io/spec/facets/1-0-0/TagsRunFacet.json"
        "#/$defs/TagsRunFacet",
        "tags": [
            {
                "key": "openlineage_client_version",
                "source": "OPENLINEAGE_CLIENT",
                "value": client_version,
            }
        ],
    }
    run = dict(event["run"])
    run["facets"] = {**run.get("facets", {}), "tags": tags}
    return {**event, "run": run}


@pytest.fixture
def no_client_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No OPENLINEAGE_* configuration and no openlineage.yml: only TRADELAKE_LINEAGE__*.

    The client itself writes OPENLINEAGE__TRANSPORT__* variables into the process
    environment when OPENLINEAGE_URL is set: they are removed afterwards, or every later
    test in the process would see "the client's own configuration".
    """
    for name in list(os.environ):
        if name.startswith("OPENLINEAGE"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    for name in list(os.environ):
        if name.startswith("OPENLINEAGE"):
            del os.environ[name]


@pytest.fixture
def lineage_log(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> Iterator[pytest.LogCaptureFixture]:
    """Records of tradelake.lineage, once each, whether or not ``tradelake`` propagates."""
    logger = logging.getLogger("tradelake.lineage")
    monkeypatch.setattr(logger, "propagate", False)
    logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)


def test_file_transport_appends_one_json_line_per_event(
    no_client_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_path = no_client_config
    emitter = LineageEmitter(_settings(transport="file", file_path="lake/lineage/events.jsonl"))
    monkeypatch.chdir("/")  # resolved when the emitter was built, not at each emit
    target = tmp_path / "lake" / "lineage" / "events.jsonl"
    assert emitter.target == str(target.resolve())
    assert emitter.emit(start_run_event()) is True
    assert emitter.emit(complete_run_event()) is True
    lines = target.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [sent(start_event()), sent(complete_event())]
    for line in lines:
        assert_valid_run_event(json.loads(line))

    again = LineageEmitter(_settings(transport="file", file_path=str(target)))
    assert again.emit(fail_run_event()) is True
    assert len(target.read_text(encoding="utf-8").splitlines()) == 3


def test_file_transport_failure_is_a_warning_not_an_error(
    no_client_config: Path, lineage_log: pytest.LogCaptureFixture
) -> None:
    blocker = no_client_config / "not-a-folder"
    blocker.write_text("")
    emitter = LineageEmitter(_settings(transport="file", file_path=str(blocker / "events.jsonl")))
    assert emitter.emit(start_run_event()) is False
    [record] = [r for r in lineage_log.records if r.name == "tradelake.lineage"]
    assert record.levelno == logging.WARNING
    assert "not-a-folder" in record.__dict__["error"]


def test_console_transport_logs_one_json_line(
    no_client_config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    emitter = LineageEmitter(_settings(transport="console"))
    assert emitter.target is None
    with caplog.at_level(logging.INFO, logger="openlineage.client.transport.console"):
        assert emitter.emit(start_run_event()) is True
    [record] = [r for r in caplog.records if r.name == "openlineage.client.transport.console"]
    assert json.loads(record.getMessage()) == sent(start_event())


def test_none_transport_sends_nothing(
    no_client_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert LineageEmitter(_settings(transport="none")).emit(start_run_event()) is False
    assert list(no_client_config.iterdir()) == []
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("url", [None, "", "marquez:5000", "ftp://marquez"])
def test_http_transport_needs_an_http_url(no_client_config: Path, url: str | None) -> None:
    with pytest.raises(ConfigError, match="TRADELAKE_LINEAGE__URL"):
        LineageEmitter(_settings(transport="http", url=url))


class _Receiver:
    """A tiny OpenLineage endpoint: answers each POST with the next status, records it."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((self.path, dict(self.headers.items()), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 201
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, fmt: str, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def receiver(
    no_client_config: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[list[int]], _Receiver]]:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    started: list[_Receiver] = []

    def start(statuses: list[int]) -> _Receiver:
        server = _Receiver(statuses)
        server.thread.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.server.shutdown()
        server.server.server_close()
        server.thread.join(timeout=5)


def test_http_transport_posts_the_event_as_json(
    receiver: Callable[[list[int]], _Receiver],
) -> None:
    server = receiver([201])
    emitter = LineageEmitter(_settings(transport="http", url=server.url + "/", timeout_seconds=2))
    assert emitter.target == f"{server.url}/api/v1/lineage"
    assert emitter.emit(complete_run_event()) is True
    [(path, headers, body)] = server.requests
    assert path == "/api/v1/lineage"
    assert headers["Content-Type"] == "application/json"
    received = json.loads(body.decode("utf-8"))
    assert received == sent(complete_event())
    assert_valid_run_event(received)


def test_http_transport_retries_a_busy_endpoint_then_delivers(
    receiver: Callable[[list[int]], _Receiver],
) -> None:
    server = receiver([503, 500])
    emitter = LineageEmitter(
        _settings(transport="http", url=server.url, endpoint="custom/lineage", max_attempts=3)
    )
    assert emitter.emit(start_run_event()) is True
    assert [path for path, _, _ in server.requests] == ["/custom/lineage"] * 3


def test_http_transport_does_not_retry_a_rejected_event(
    receiver: Callable[[list[int]], _Receiver], lineage_log: pytest.LogCaptureFixture
) -> None:
    server = receiver([400])
    emitter = LineageEmitter(_settings(transport="http", url=server.url, max_attempts=5))
    assert emitter.emit(start_run_event()) is False
    assert len(server.requests) == 1
    [record] = [r for r in lineage_log.records if r.levelno == logging.WARNING]
    assert "400" in record.__dict__["error"]


def test_a_busy_endpoint_gives_up_after_max_attempts_with_a_warning(
    receiver: Callable[[list[int]], _Receiver], lineage_log: pytest.LogCaptureFixture
) -> None:
    server = receiver([503] * 10)
    emitter = LineageEmitter(_settings(transport="http", url=server.url, max_attempts=2))
    assert emitter.emit(fail_run_event()) is False
    assert len(server.requests) == 2
    warnings = [r for r in lineage_log.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].__dict__["lineage_target"] == f"{server.url}/api/v1/lineage"
    assert "503" in warnings[0].__dict__["error"]


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_an_unreachable_endpoint_is_a_warning(
    no_client_config: Path, lineage_log: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    url = f"http://127.0.0.1:{_closed_port()}"
    emitter = LineageEmitter(_settings(transport="http", url=url, max_attempts=1))
    assert emitter.emit(start_run_event()) is False
    [warning] = [r for r in lineage_log.records if r.levelno == logging.WARNING]
    assert "ConnectionError" in warning.__dict__["error"]


def test_the_clients_own_configuration_is_used_when_tradelake_sets_no_transport(
    receiver: Callable[[list[int]], _Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = receiver([201, 201])
    monkeypatch.setenv("OPENLINEAGE_URL", server.url)
    client, target = lineage_client(_settings())
    assert (client.transport.kind, target) == ("http", server.url)
    assert LineageEmitter(_settings()).emit(start_run_event()) is True
    assert [path for path, _, _ in server.requests] == ["/api/v1/lineage"]
    # An explicit TRADELAKE_LINEAGE__TRANSPORT wins over the client's configuration.
    client, _ = lineage_client(_settings(transport="none"))
    assert client.transport.kind == "noop"


def test_an_openlineage_yml_in_the_working_directory_is_the_clients_configuration(
    no_client_config: Path,
) -> None:
    events = no_client_config / "ol-events.jsonl"
    (no_client_config / "openlineage.yml").write_text(
        f"transport:\n  type: file\n  log_file_path: {events}\n  append: true\n"
    )
    emitter = LineageEmitter(_settings())
    assert emitter.client.transport.kind == "file"
    assert emitter.emit(start_run_event()) is True
    assert json.loads(events.read_text()) == sent(start_event())


def test_openlineage_disabled_sends_nothing(
    no_client_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    assert LineageEmitter(_settings()).emit(start_run_event()) is False
    assert list(no_client_config.iterdir()) == []


def test_events_serialize_dates_in_quality_checks() -> None:
    event = event_dict(
        build_event(
            "COMPLETE",
            namespace="tradelake",
            job_name="compact",
            run_id=RUN_ID,
            event_time=STARTED,
            inputs=[],
            outputs=[],
            quality_checks=[
                {
                    "check": "retention",
                    "severity": "warn",
                    "passed": True,
                    "observed": date(2025, 1, 1),
                }
            ],
        )
    )
    assert event["run"]["facets"]["tradelake_quality"]["checks"][0]["observed"] == "2025-01-01"
    assert_valid_run_event(event)


def test_the_custom_quality_facet_schema_is_published_in_the_repo() -> None:
    import json as _json

    from tests.lakes import REPO
    from tradelake.lineage import QUALITY_FACET_SCHEMA

    published = REPO / "spec" / "facets" / "TradelakeQualityRunFacet.json"
    assert _json.loads(published.read_text()) == QUALITY_FACET_SCHEMA
