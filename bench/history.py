"""Give the lake a history: copy an ingested day to the N-1 days before it.

./spark-submit.sh bench/history.py --date D --days 30

The copies of ``trades`` and of ``trade_reports`` are the day's rows with every trade
and landing date and ``traded_at`` moved back k days (the rest kept: ids, prices, run
ids), written in one commit per table with the table's own partitioning and sort order.
The lake then has the files and manifests 29 daily ingests would have left, and each
copied day of ``trades`` is the resolution of its own day of reports, as the ingest
keeps it: a landing that re-resolves one of those days reads a full day of reports. A
Spark application of the benchmark's setup, not a product job.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from tradelake.config import load_settings
from tradelake.session import build_session
from tradelake.tables import TRADE_REPORTS, TRADES

# The columns that say which day a row belongs to; everything else is copied as is.
SHIFTED_DATES = ("trade_date", "landing_date")
SHIFTED_TIMESTAMPS = ("traded_at",)


def shifted(name: str) -> Column:
    """Column ``name`` of a copy moved back ``k`` days (``k`` a column of the copy)."""
    if name in SHIFTED_DATES:
        return F.date_sub(name, F.col("k"))
    if name in SHIFTED_TIMESTAMPS:
        return F.col(name) - F.make_interval(days=F.col("k"))
    return F.col(name)


def copies(day: DataFrame, days: int) -> DataFrame:
    """``day``'s rows moved back 1 .. ``days``-1 days, in ``day``'s columns."""
    spark = day.sparkSession
    shifts = spark.range(1, days).select(F.col("id").cast("int").alias("k"))
    return day.crossJoin(shifts).select(*[shifted(name).alias(name) for name in day.columns])


def partition_count(spark: SparkSession, table: str) -> int:
    row = spark.sql(f"SELECT count(*) AS n FROM {table}.partitions").first()
    return int(row["n"]) if row else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/history.py")
    parser.add_argument("--date", required=True, type=date.fromisoformat)
    parser.add_argument("--days", required=True, type=int)
    args = parser.parse_args(argv)
    started = time.monotonic()
    settings = load_settings()
    spark = build_session(settings, "bench-history")
    partitions = {}
    for spec in (TRADES, TRADE_REPORTS):
        table = settings.table(spec.name)
        day = spark.table(table).where(F.col("trade_date") == F.lit(args.date))
        copies(day, args.days).writeTo(table).append()
        partitions[spec.name] = partition_count(spark, table)
    print(
        json.dumps(
            {
                "days": args.days,
                "partitions": partitions[TRADES.name],
                "report_partitions": partitions[TRADE_REPORTS.name],
                "seconds": round(time.monotonic() - started, 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
