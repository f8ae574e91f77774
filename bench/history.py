"""Give ``trades`` a history: copy an ingested day to the N-1 days before it.

./spark-submit.sh bench/history.py --date D --days 30

The copies are the day's rows with every date and timestamp moved back k days, written
in one commit with the table's own partitioning and sort order, so the 30-day table
has the files and manifests 29 daily ingests would have left. A Spark application of
the benchmark's setup, not a product job.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date

from pyspark.sql import functions as F

from tradelake.config import load_settings
from tradelake.session import build_session


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/history.py")
    parser.add_argument("--date", required=True, type=date.fromisoformat)
    parser.add_argument("--days", required=True, type=int)
    args = parser.parse_args(argv)
    started = time.monotonic()
    settings = load_settings()
    spark = build_session(settings, "bench-history")
    table = settings.table("trades")
    day = spark.table(table).where(F.col("trade_date") == F.lit(args.date))
    shifts = spark.range(1, args.days).select(F.col("id").cast("int").alias("k"))
    copies = day.crossJoin(shifts).select(
        *[
            (
                F.date_sub("trade_date", F.col("k"))
                if name == "trade_date"
                else F.col("traded_at") - F.make_interval(days=F.col("k"))
                if name == "traded_at"
                else F.col(name)
            ).alias(name)
            for name in day.columns
        ]
    )
    copies.writeTo(table).append()
    partitions = spark.sql(f"SELECT count(*) AS n FROM {table}.partitions").first()
    print(
        json.dumps(
            {
                "days": args.days,
                "partitions": int(partitions["n"]) if partitions else 0,
                "seconds": round(time.monotonic() - started, 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
