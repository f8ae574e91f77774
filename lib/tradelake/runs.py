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
from tradelake.runtime import INGEST, Run
from tradelake.session import local_frame
from tradelake.tables import JOB_RUNS, QUALITY_RESULTS, TRADES, ensure_tables
from tradelake.writes import append


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
    frame = local_frame(
        spark,
        [row],
        "run_id STRING, job STRING, run_date DATE, status STRING, exit_code INT, "
        "published BOOLEAN, seconds DOUBLE, summary STRING",
    ).withColumn("started_at", utc_literal(run.started_at))
    append(frame.select(*JOB_RUNS.column_names()), settings.table(JOB_RUNS.name), run.run_id)


def latest_published_run(
    spark: SparkSession, settings: Settings, job: str, day: date
) -> dict[str, Any] | None:
    """The latest run of ``job`` that published ``day``: its run_id and summary, or None."""
    table = settings.table(JOB_RUNS.name)
    if not spark.catalog.tableExists(table):
        return None
    row = (
        spark.table(table)
        .where((F.col("job") == job) & (F.col("run_date") == F.lit(day)) & F.col("published"))
        .orderBy(F.col("started_at").desc())
        .select("run_id", "summary")
        .first()
    )
    if row is None:
        return None
    return {"run_id": row["run_id"], "summary": json.loads(row["summary"])}


def ingest_published(spark: SparkSession, settings: Settings, day: date) -> str | None:
    """The run_id of the ingest run whose ``trades`` for ``day`` readers see, or None.

    None means no ingest has published the day yet (even zero rows count as published).
    The rows themselves name their run: an ingest killed after its ``trades`` commit but
    before its ``job_runs`` row is still the one readers see. An empty day falls back
    to the latest published run in ``job_runs``.
    """
    trades = settings.table(TRADES.name)
    if spark.catalog.tableExists(trades):
        row = spark.sql(
            f"SELECT max(run_id) AS run_id FROM {trades} WHERE trade_date = DATE'{day.isoformat()}'"
        ).first()
        if row is not None and row["run_id"] is not None:
            return str(row["run_id"])
    latest = latest_published_run(spark, settings, INGEST, day)
    return None if latest is None else str(latest["run_id"])


def published_ingest_dates(spark: SparkSession, settings: Settings, days: list[date]) -> set[date]:
    """Which of ``days`` an ingest run has published (its own landing, in ``job_runs``)."""
    table = settings.table(JOB_RUNS.name)
    if not days or not spark.catalog.tableExists(table):
        return set()
    rows = (
        spark.table(table)
        .where((F.col("job") == INGEST) & F.col("published") & F.col("run_date").isin(days))
        .select("run_date")
        .distinct()
        .collect()  # at most len(days) rows
    )
    return {row["run_date"] for row in rows}


def loaded_baseline(spark: SparkSession, settings: Settings, day: date, days: int) -> list[int]:
    """Loaded counts of the last ``days`` days before ``day`` that an ingest published.

    The latest published run of each day counts; failed or gated runs never do.
    """
    table = settings.table(JOB_RUNS.name)
    if not spark.catalog.tableExists(table):
        return []
    rows = spark.sql(
        f"""
        SELECT loaded FROM (
          SELECT run_date,
                 CAST(get_json_object(summary, '$.loaded') AS BIGINT) AS loaded,
                 row_number() OVER (PARTITION BY run_date ORDER BY started_at DESC) AS latest
          FROM {table}
          WHERE job = 'ingest' AND published AND run_date < DATE'{day.isoformat()}'
        ) WHERE latest = 1 AND loaded IS NOT NULL
        ORDER BY run_date DESC LIMIT {int(days)}
        """
    ).collect()
    return [int(row["loaded"]) for row in rows]


def record_quality(
    spark: SparkSession, settings: Settings, run: Run, summary: dict[str, Any]
) -> None:
    """Append the run's check results to ``quality_results`` (nothing when it ran none)."""
    checks = summary.get("quality") or []
    if not checks:
        return
    ensure_tables(spark, settings, QUALITY_RESULTS)
    rows = [
        (
            run.run_id,
            run.job,
            str(summary.get("output_table", "")),
            run.day,
            str(check["check"]),
            str(check["severity"]),
            bool(check["passed"]),
            json.dumps(check["observed"], default=str),
            str(check["threshold"]),
        )
        for check in checks
    ]
    frame = local_frame(
        spark,
        rows,
        "run_id STRING, job STRING, table_name STRING, check_date DATE, `check` STRING, "
        "severity STRING, passed BOOLEAN, observed STRING, threshold STRING",
    ).withColumn("recorded_at", utc_literal(run.started_at))
    append(
        frame.select(*QUALITY_RESULTS.column_names()),
        settings.table(QUALITY_RESULTS.name),
        run.run_id,
    )


def record_run_and_quality(
    spark: SparkSession, settings: Settings, run: Run, summary: dict[str, Any]
) -> None:
    """Everything a finished run leaves behind: its job_runs row and its check results."""
    record_quality(spark, settings, run, summary)
    record_run(spark, settings, run, summary)
