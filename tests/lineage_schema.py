"""Validate OpenLineage run events against the spec copied in ``tests/schemas/openlineage``.

The core schema (``OpenLineage.json``) only checks that a facet is a ``BaseFacet`` (it
has ``_producer`` and ``_schemaURL``). So every facet is also validated against the
schema its ``_schemaURL`` names, which must be one of the copied files (or a tradelake
custom facet schema), and must sit under the key and in the slot (run, job, dataset,
input or output facets) that schema defines it for. Formats (``uuid``, ``date-time``,
``uri``) are asserted, with checks defined here so they do not depend on optional
packages.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from tradelake.lineage import PARENT_FACET_URL, QUALITY_FACET_SCHEMA, RUN_EVENT_SCHEMA_URL

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas" / "openlineage"
SPEC_ID = "https://openlineage.io/spec/2-0-2/OpenLineage.json"

_RUN = {
    "type": "object",
    "properties": {"runId": {"type": "string", "format": "uuid"}},
    "required": ["runId"],
}
_JOB = {
    "type": "object",
    "properties": {"namespace": {"type": "string"}, "name": {"type": "string"}},
    "required": ["namespace", "name"],
}
# The ParentRunFacet (spec facets 1-2-0), written here from the spec's field list (run,
# job, the optional root with its own run and job) rather than copied: it is the facet
# that joins a job's run to the Airflow task that started it.
PARENT_FACET_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": PARENT_FACET_URL.partition("#")[0],
    "$defs": {
        "ParentRunFacet": {
            "allOf": [
                {"$ref": f"{SPEC_ID}#/$defs/RunFacet"},
                {
                    "type": "object",
                    "properties": {
                        "run": _RUN,
                        "job": _JOB,
                        "root": {
                            "type": "object",
                            "properties": {"run": _RUN, "job": _JOB},
                            "required": ["run", "job"],
                        },
                    },
                    "required": ["run", "job"],
                },
            ],
            "type": "object",
        }
    },
    "type": "object",
    "properties": {"parent": {"$ref": "#/$defs/ParentRunFacet"}},
}
# The TagsRunFacet (spec facets 1-0-0), likewise written from the spec's field list: the
# client adds it to every event it sends (the client version, and any configured tags).
TAGS_FACET_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://openlineage.io/spec/facets/1-0-0/TagsRunFacet.json",
    "$defs": {
        "TagsRunFacet": {
            "allOf": [
                {"$ref": f"{SPEC_ID}#/$defs/RunFacet"},
                {
                    "type": "object",
                    "properties": {
                        "tags": {"type": "array", "items": {"$ref": "#/$defs/TagsRunFacetFields"}}
                    },
                },
            ],
            "type": "object",
        },
        "TagsRunFacetFields": {
            "type": "object",
            "properties": {
                "key": {"type": "string"},
                "value": {"type": "string"},
                "source": {"type": "string"},
            },
            "required": ["key", "value"],
        },
    },
    "type": "object",
    "properties": {"tags": {"$ref": "#/$defs/TagsRunFacet"}},
}

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
_URI_FORBIDDEN = re.compile(r'[\s<>"{}|\\^`]')


def _is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    scheme = urlsplit(value).scheme
    return bool(_URI_SCHEME.match(scheme)) and not _URI_FORBIDDEN.search(value)


def _format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    checker.checks("uuid")(_is_uuid)
    checker.checks("date-time")(_is_date_time)
    checker.checks("uri")(_is_uri)
    return checker


@functools.cache
def schema_documents() -> dict[str, dict[str, Any]]:
    """Every schema an event may refer to, by ``$id``: the copied files and tradelake's own."""
    documents: dict[str, dict[str, Any]] = {}
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        documents[document["$id"]] = document
    documents[QUALITY_FACET_SCHEMA["$id"]] = QUALITY_FACET_SCHEMA
    documents[PARENT_FACET_SCHEMA["$id"]] = PARENT_FACET_SCHEMA
    documents[TAGS_FACET_SCHEMA["$id"]] = TAGS_FACET_SCHEMA
    return documents


@functools.cache
def _registry() -> Registry:
    return Registry().with_resources(
        (schema_id, Resource.from_contents(document))
        for schema_id, document in schema_documents().items()
    )


@functools.cache
def _validator(schema_url: str) -> Draft202012Validator:
    return Draft202012Validator(
        {"$ref": schema_url}, registry=_registry(), format_checker=_format_checker()
    )


def _facet_slots(event: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """``(where, base facet type, facets)`` for every place facets may appear."""
    run, job = event.get("run"), event.get("job")
    if isinstance(run, Mapping):
        yield "run.facets", "RunFacet", run.get("facets")
    if isinstance(job, Mapping):
        yield "job.facets", "JobFacet", job.get("facets")
    for role, own in (("inputs", "InputDatasetFacet"), ("outputs", "OutputDatasetFacet")):
        datasets = event.get(role)
        if not isinstance(datasets, list):
            continue
        for index, dataset in enumerate(datasets):
            if isinstance(dataset, Mapping):
                yield f"{role}[{index}].facets", "DatasetFacet", dataset.get("facets")
                key = "inputFacets" if role == "inputs" else "outputFacets"
                yield f"{role}[{index}].{key}", own, dataset.get(key)


def _facet_errors(where: str, base: str, key: str, facet: Mapping[str, Any]) -> list[str]:
    schema_url = facet.get("_schemaURL")
    if not isinstance(schema_url, str):
        return []  # the core schema already reports it
    document_id, _, pointer = schema_url.partition("#")
    document = schema_documents().get(document_id)
    if document is None:
        return [
            f"{where}.{key}: _schemaURL {schema_url} is not a known facet schema "
            f"(copy it into {SCHEMA_DIR} or use a facet whose schema is there)"
        ]
    expected_ref = document.get("properties", {}).get(key, {}).get("$ref")
    if expected_ref is None:
        defined = sorted(document.get("properties", {}))
        return [f"{where}.{key}: {document_id} defines facet keys {defined}, not {key!r}"]
    if f"#{pointer}" != expected_ref:
        return [f"{where}.{key}: _schemaURL points at #{pointer}, the facet is {expected_ref}"]
    definition = document["$defs"][expected_ref.rsplit("/", 1)[-1]]
    bases = [part.get("$ref") for part in definition.get("allOf", [])]
    if f"{SPEC_ID}#/$defs/{base}" not in bases:
        return [f"{where}.{key}: a {bases} cannot go in {where} (it takes a {base})"]
    return [
        f"{where}.{key}: {error.message} (at {list(error.absolute_path)})"
        for error in _validator(schema_url).iter_errors(facet)
    ]


def run_event_errors(event: Mapping[str, Any]) -> list[str]:
    """Every reason ``event`` is not a valid OpenLineage RunEvent with valid facets."""
    errors = [
        f"{error.message} (at {list(error.absolute_path)})"
        for error in _validator(f"{SPEC_ID}#/$defs/RunEvent").iter_errors(event)
    ]
    if event.get("schemaURL") != RUN_EVENT_SCHEMA_URL:
        errors.append(f"schemaURL {event.get('schemaURL')!r} is not {RUN_EVENT_SCHEMA_URL}")
    for where, base, facets in _facet_slots(event):
        if not isinstance(facets, Mapping):
            continue
        for key, facet in facets.items():
            if isinstance(facet, Mapping):
                errors.extend(_facet_errors(where, base, key, facet))
    return errors


def assert_valid_run_event(event: Mapping[str, Any]) -> None:
    """Fail with every problem found unless ``event`` is a valid OpenLineage RunEvent."""
    errors = run_event_errors(event)
    if errors:
        raise AssertionError("invalid OpenLineage RunEvent:\n" + "\n".join(errors))
