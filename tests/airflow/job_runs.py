"""``job_runs`` rows as the jobs record them, written with pyiceberg: the Airflow tier has no
Spark. The schema is ``tradelake.tables.JOB_RUNS`` (a module that needs Spark), column by
column, partitioned by job as the jobs create it."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

JOB_RUNS = "job_runs"


def ingest_run(
    run_id: str,
    day: str,
    started_at: str,
    *,
    published: bool = True,
    job: str = "ingest",
    **summary: Any,
) -> dict[str, Any]:
    """One run's row: ``summary`` holds the summary's keys besides run_id, job and date."""
    status, exit_code = ("ok", 0) if published else ("QualityGateError", 3)
    return {
        "run_id": run_id,
        "job": job,
        "run_date": date.fromisoformat(day),
        "status": status,
        "exit_code": exit_code,
        "published": published,
        "started_at": datetime.fromisoformat(started_at),
        "seconds": 21.5,
        "summary": json.dumps(
            {"run_id": run_id, "job": job, "date": day, "published": published, **summary}
        ),
    }


def write_job_runs(catalog: Any, database: str, rows: list[dict[str, Any]]) -> Any:
    """Create ``<database>.job_runs`` in ``catalog`` and append ``rows``; the table."""
    import pyarrow as pa
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.transforms import IdentityTransform
    from pyiceberg.types import (
        BooleanType,
        DateType,
        DoubleType,
        IntegerType,
        NestedField,
        StringType,
        TimestampType,
    )

    schema = Schema(
        NestedField(1, "run_id", StringType(), required=True),
        NestedField(2, "job", StringType(), required=True),
        NestedField(3, "run_date", DateType(), required=True),
        NestedField(4, "status", StringType(), required=True),
        NestedField(5, "exit_code", IntegerType(), required=True),
        NestedField(6, "published", BooleanType(), required=True),
        NestedField(7, "started_at", TimestampType(), required=True),
        NestedField(8, "seconds", DoubleType(), required=False),
        NestedField(9, "summary", StringType(), required=True),
    )
    by_job = PartitionSpec(
        PartitionField(source_id=2, field_id=1000, transform=IdentityTransform(), name="job")
    )
    catalog.create_namespace_if_not_exists(database)
    table = catalog.create_table(f"{database}.{JOB_RUNS}", schema=schema, partition_spec=by_job)
    table.append(pa.Table.from_pylist(rows, schema=schema.as_arrow()))
    return table
