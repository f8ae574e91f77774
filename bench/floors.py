"""The floors the ingest is measured against, on the same raw files (a Spark application).

./spark-submit.sh bench/floors.py --date D --mode io|parse|design

- ``io``: the day's JSON Lines read with the raw all-string schema and appended to an
  Iceberg table untouched: the cost of reading the bytes and writing them once.
- ``parse``: the same read, every field parsed to its typed column with the contract's
  own helpers (trim, try_cast to DECIMAL, timestamp parsing), appended with no
  validation, dedupe, dead letters or quality checks: the least work any correct ingest
  must do.
- ``design``: the parse floor plus what the versions design itself requires of any
  implementation (docs/jobs.md, "Late reports and corrections"): the day's reports deduped
  per (trade_id, report_seq), written to a reports table partitioned like
  ``trade_reports``, and ranked per (trade_date, trade_id) into a current-state table
  partitioned like ``trades``: one shuffle shared by both windows, the ranked rows kept
  on local disk between the two writes, each task writing its own files (no sort for
  layout). Still no validation, dead letters, statistics, checks or run records: what the
  ingest spends above this floor is its own work, not the design's.

Prints one JSON line: mode, rows written, seconds (session start to commit, like the
jobs' own ``seconds``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from tradelake import io
from tradelake.config import load_settings
from tradelake.contract import MONEY, clean_text, parse_decimal, parse_timestamp
from tradelake.io import day_uri
from tradelake.session import build_session

# The generator's columns; the raw schema says every one of them is text.
RAW_COLUMNS = ("trade_id", "symbol", "side", "price", "quantity", "timestamp", "exchange")
# The version fields the design floor reads too (absent in the generator's plain days).
VERSION_COLUMNS = ("report_type", "report_seq")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/floors.py")
    parser.add_argument("--date", required=True, type=date.fromisoformat)
    parser.add_argument("--mode", required=True, choices=["io", "parse", "design"])
    args = parser.parse_args(argv)
    started = time.monotonic()
    settings = load_settings()
    spark = build_session(settings, f"bench-floor-{args.mode}")
    listing = io.list_day(spark, day_uri(settings, args.date))
    paths = [raw.path for raw in listing.files]
    columns = RAW_COLUMNS + (VERSION_COLUMNS if args.mode == "design" else ())
    raw_schema = StructType([StructField(name, StringType()) for name in columns])
    # Explicit schema, never inferred; a malformed line becomes a row of nulls here.
    raw = spark.read.schema(raw_schema).json(paths)
    database = f"lake.{settings.database}"
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {database}")
    if args.mode == "design":
        rows = design_floor(spark, raw, args.date, database)
    else:
        frame = parse_floor(raw, args.date) if args.mode == "parse" else raw
        table = f"{database}.floor_{args.mode}"
        create_table(spark, table, frame, "")
        frame.writeTo(table).append()
        rows = added_records(spark, table)
    seconds = round(time.monotonic() - started, 3)
    print(json.dumps({"mode": args.mode, "rows": rows, "files": len(paths), "seconds": seconds}))
    return 0


def parse_floor(raw: DataFrame, day: date) -> DataFrame:
    """Every generator field parsed to its typed column with the contract's own helpers."""
    return raw.select(*parsed_columns(), F.lit(day).alias("trade_date"))


def parsed_columns() -> list[Column]:
    """The generator's fields typed: trim, try_cast to DECIMAL, timestamp parsing."""
    return [
        clean_text(F.col("trade_id")).alias("trade_id"),
        F.upper(clean_text(F.col("symbol"))).alias("symbol"),
        F.lower(clean_text(F.col("side"))).alias("side"),
        parse_decimal(clean_text(F.col("price"))).try_cast(MONEY).alias("price"),
        parse_decimal(clean_text(F.col("quantity"))).try_cast(MONEY).alias("quantity"),
        parse_timestamp(clean_text(F.col("timestamp"))).alias("traded_at"),
        clean_text(F.col("exchange")).alias("exchange"),
    ]


def design_floor(spark: SparkSession, raw: DataFrame, day: date, database: str) -> int:
    """Dedupe, write the reports, rank, write the current state; the rows of the latter."""
    parsed = raw.select(
        *parsed_columns(),
        F.coalesce(F.lower(clean_text(F.col("report_type"))), F.lit("new")).alias("report_type"),
        F.coalesce(clean_text(F.col("report_seq")).try_cast("int"), F.lit(0)).alias("report_seq"),
        F.lit(day).alias("landing_date"),
        F.col("_metadata.file_path").alias("source_file"),
    ).withColumn("trade_date", F.to_date("traded_at"))
    per_report = Window.partitionBy("trade_id", "report_seq").orderBy(F.col("traded_at").desc())
    per_trade = Window.partitionBy("trade_date", "trade_id").orderBy(
        F.col("report_seq").desc(), F.col("landing_date").desc()
    )
    # Hashed by trade_id: both windows' clusterings are satisfied by this one shuffle.
    ranked = (
        parsed.repartition("trade_id")
        .withColumn("_copy", F.row_number().over(per_report))
        .where(F.col("_copy") == 1)
        .withColumn("_rank", F.row_number().over(per_trade))
        .persist(StorageLevel.DISK_ONLY)
    )
    reports = ranked.drop("_copy", "_rank")
    reports_table, current_table = (
        f"{database}.floor_design_reports",
        f"{database}.floor_design_trades",
    )
    create_table(spark, reports_table, reports, "PARTITIONED BY (trade_date, landing_date)")
    create_table(spark, current_table, reports, "PARTITIONED BY (trade_date)")
    try:
        reports.writeTo(reports_table).option("distribution-mode", "none").append()
        current = ranked.where((F.col("_rank") == 1) & (F.col("report_type") != "cancel"))
        current.drop("_copy", "_rank").writeTo(current_table).option(
            "distribution-mode", "none"
        ).append()
    finally:
        ranked.unpersist()
    return added_records(spark, current_table)


def create_table(spark: SparkSession, table: str, frame: DataFrame, partitioning: str) -> None:
    """(Re)create ``table`` with ``frame``'s columns, empty."""
    spark.sql(f"DROP TABLE IF EXISTS {table} PURGE")
    columns = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in frame.schema.fields)
    spark.sql(
        f"CREATE TABLE {table} ({columns}) USING iceberg {partitioning} "
        "TBLPROPERTIES ('format-version'='2')"
    )


def added_records(spark: SparkSession, table: str) -> int:
    """Rows the table's one append added (its snapshot summary)."""
    added = spark.sql(
        f"SELECT summary['added-records'] AS n FROM {table}.snapshots "
        "ORDER BY committed_at DESC LIMIT 1"
    ).first()
    return int(added["n"]) if added is not None else 0


if __name__ == "__main__":
    sys.exit(main())
