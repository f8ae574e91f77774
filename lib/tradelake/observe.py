"""What every job leaves behind when it runs: lineage events, run and quality history.

``observe(run, spark, settings, inputs, outputs)`` emits the OpenLineage START event and
registers what happens when the run ends: its ``job_runs`` row and ``quality_results``,
then COMPLETE (or FAIL, with the error) with row counts and bytes of every table the run
committed, read from the commit's snapshot summary (metadata, not data). When an
orchestrator started the run (``OPENLINEAGE_PARENT_ID``, set by the Airflow DAG), every
event carries that run as its ``parent`` (the job's ``--openlineage-parent-id`` wins).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from openlineage.client.event_v2 import RunEvent
from pyspark.sql import SparkSession

from tradelake.config import Settings
from tradelake.errors import ConfigError
from tradelake.history import java_table, summary_of
from tradelake.lineage import (
    DatasetRef,
    EventType,
    LineageEmitter,
    build_event,
    lineage_parent,
    run_uuid,
    spark_fields,
    table_dataset,
)
from tradelake.runs import record_run_and_quality
from tradelake.runtime import Run

log = logging.getLogger("tradelake.lineage")

# Inputs are known only once the run has read them (counts): built from the summary.
InputsOf = Callable[[dict[str, Any]], list[DatasetRef]]


def table_ref(
    spark: SparkSession, settings: Settings, name: str, summary: dict[str, Any] | None = None
) -> DatasetRef:
    """A table as a lineage dataset: schema from the catalog, and, when the run committed
    to it, the rows and bytes its snapshot added."""
    table = settings.table(name)
    if not spark.catalog.tableExists(table):
        return table_dataset(settings, name)
    fields = spark_fields(spark.table(table).schema)
    snapshot = ((summary or {}).get("snapshots") or {}).get(name)
    if snapshot is None:
        return table_dataset(settings, name, fields)
    added = summary_of(java_table(spark, table), int(snapshot))
    records = int(added.get("added-records") or 0) if added is not None else None
    size = int(added.get("added-files-size") or 0) if added is not None else None
    return table_dataset(settings, name, fields, row_count=records, bytes=size)


def observe(
    run: Run,
    spark: SparkSession,
    settings: Settings,
    inputs: InputsOf,
    outputs: list[str],
    *,
    parent_id: str | None = None,
    root_parent_id: str | None = None,
) -> None:
    """Emit START now; at the end record the run, then emit COMPLETE or FAIL.

    ``parent_id`` and ``root_parent_id`` are the job's ``--openlineage-parent-id`` and
    ``--openlineage-root-parent-id``; without them, the ``OPENLINEAGE_*`` variables.
    """
    emitter = LineageEmitter(settings.lineage)
    try:
        parent = lineage_parent(parent_id, root_parent_id, os.environ)
    except ConfigError as err:
        # A malformed hand-over is the orchestrator's bug: the run goes on without it.
        log.warning("ignoring the lineage parent run", extra={"error": str(err)})
        parent = None
    run.summary["lineage_run_id"] = run_uuid(run.run_id)
    if parent is not None:
        run.summary["lineage_parent"] = {
            "namespace": parent.namespace,
            "name": parent.name,
            "run_id": parent.run_id,
        }
    namespace = settings.lineage.namespace

    def event(kind: EventType, summary: dict[str, Any], at: datetime) -> RunEvent:
        failed = kind == "FAIL"
        return build_event(
            kind,
            namespace=namespace,
            job_name=run.job,
            run_id=run.run_id,
            event_time=at,
            inputs=inputs(summary),
            outputs=[table_ref(spark, settings, name, summary) for name in outputs],
            error_message=str(summary.get("error", "failed")) if failed else None,
            quality_checks=summary.get("quality", []) if kind != "START" else (),
            parent=parent,
        )

    emitter.emit(event("START", {}, run.started_at))

    def finish(summary: dict[str, Any]) -> None:
        record_run_and_quality(spark, settings, run, summary)
        kind: EventType = "COMPLETE" if summary.get("status") == "ok" else "FAIL"
        delivered = emitter.emit(event(kind, summary, datetime.now(UTC)))
        summary["lineage"] = {"target": emitter.target, "delivered": delivered}

    run.on_finish(finish)
