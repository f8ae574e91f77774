"""The ``job_runs`` table: one row per run, and whether an ingest published its day.

Gold jobs ask it before computing a day, so they never build on an unpublished day.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from tradelake.config import Settings
from tradelake.contract import utc_literal
from tradelake.runtime import Run
from tradelake.tables import JOB_RUNS, ensure_tables


def record_run(spark: SparkSession, settings: Settings, run: Run, summary: dict[str, Any]) -> None:
    """Append the finished run to ``job_runs`` (one small commit)."""
    ensure_tables(spark, settings, JOB_RUNS)
    row = (
        run.run_id,
        run.job,
        run.day,
        str(summary.get("status", "unknown")),
        int(summary.get("exit_code", 1)),
        bool(summary.get("published", False)),
        float(summary.get("seconds", 0.0)),
        json.dumps(summary, default=str, sort_keys=True),
    )
    frame = spark.createDataFrame(
        [row],
        "run_id STRING, job STRING, run_date DATE, status STRING, exit_code INT, "
        "published BOOLEAN, seconds DOUBLE, summary STRING",
    ).withColumn("started_at", utc_literal(run.started_at))
    frame.select(*JOB_RUNS.column_names()).writeTo(settings.table(JOB_RUNS.name)).option(
        "snapshot-property.tradelake.run-id", run.run_id
    ).append()


def ingest_published(spark: SparkSession, settings: Settings, day: date) -> bool:
    """True once an ingest run has published ``trades`` for ``day`` (even zero rows)."""
    table = settings.table(JOB_RUNS.name)
    if not spark.catalog.tableExists(table):
        return False
    published = (
        spark.table(table)
        .where((F.col("job") == "ingest") & (F.col("run_date") == F.lit(day)) & F.col("published"))
        .limit(1)
        .count()
    )
    return published > 0
