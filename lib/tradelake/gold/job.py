"""Running a gold job: read one ``trades`` partition, build, check, replace partition D."""

from __future__ import annotations

import logging
from collections.abc import Callable

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from tradelake.config import Settings
from tradelake.errors import NoInputError, QualityGateError
from tradelake.gold.checks import OutputColumns, output_checks, trades_totals
from tradelake.quality import gate_failures
from tradelake.runs import ingest_published
from tradelake.runtime import Run
from tradelake.tables import TRADES, TableSpec, ensure_tables
from tradelake.writes import overwrite_partition

log = logging.getLogger("tradelake.gold")


# What the gold transforms and checks read of a trade; the rest is never cached.
GOLD_INPUT_COLUMNS = ("trade_date", "symbol", "trade_id", "traded_at", "price", "quantity")


def read_trades_day(spark: SparkSession, settings: Settings, run: Run) -> DataFrame:
    """The ``trades`` columns the gold jobs use, for the run's day (a partition filter)."""
    trades = spark.table(settings.table(TRADES.name))
    return trades.where(F.col("trade_date") == F.lit(run.day)).select(*GOLD_INPUT_COLUMNS)


def partition_files(spark: SparkSession, settings: Settings, run: Run) -> int:
    """Data files of the day's ``trades`` partition, from Iceberg metadata (no data read)."""
    row = spark.sql(
        f"SELECT count(*) AS files FROM {settings.table(TRADES.name)}.files "
        f"WHERE partition.trade_date = DATE'{run.day.isoformat()}'"
    ).first()
    return int(row["files"]) if row is not None else 0


def run_gold(
    spark: SparkSession,
    settings: Settings,
    run: Run,
    spec: TableSpec,
    columns: OutputColumns,
    build: Callable[[DataFrame], DataFrame],
) -> None:
    """Build ``spec``'s partition for the run's day from ``trades`` and publish it atomically.

    Raises:
        NoInputError: no ingest run has published the day yet (a scheduler retries later).
        QualityGateError: an output check failed; nothing was published.
    """
    summary, day = run.summary, run.day
    summary["output_table"] = spec.name
    ingest_run = ingest_published(spark, settings, day)
    if ingest_run is None:
        raise NoInputError(
            f"trades for {day} have not been published by an ingest run yet; run "
            f"jobs/ingest.py --date {day} first (a scheduled run retries later)"
        )
    # The day's trades are exactly what that ingest run published: the gold input.
    summary["input_fingerprint"] = ingest_run
    ensure_tables(spark, settings, spec)
    summary["trades_partition_files"] = partition_files(spark, settings, run)
    trades_day = read_trades_day(spark, settings, run).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        totals = trades_totals(trades_day)
        summary["trades_read"] = totals.trade_count
        if totals.trade_count == 0:
            summary.setdefault("warnings", []).append(
                f"trades holds no rows for {day}; {spec.name} for {day} is replaced by an "
                "empty partition"
            )
            log.warning("empty trades partition", extra={"run_id": run.run_id, "date": str(day)})
        output = (
            build(trades_day)
            .withColumn("run_id", F.lit(run.run_id))
            .persist(StorageLevel.MEMORY_AND_DISK)
        )
        try:
            checks = output_checks(output, columns, totals)
            summary["quality"] = [check.as_dict() for check in checks]
            failures = gate_failures(checks)
            if failures:
                names = ", ".join(f"{f.check} (observed {f.observed})" for f in failures)
                raise QualityGateError(
                    f"quality gate failed: {names}; {spec.name} for {day} was not published"
                )
            summary["rows_written"] = output.count()
            table = settings.table(spec.name)
            ordered = output.select(*spec.column_names())
            commit = overwrite_partition(ordered, table, "trade_date", day, run.run_id)
            summary["snapshots"] = {spec.name: commit.snapshot_id}
            summary["commit_retries"] = {spec.name: commit.retries}
            summary["published"] = True
        finally:
            output.unpersist()
    finally:
        trades_day.unpersist()
