"""The floors the ingest is measured against, on the same raw files (a Spark application).

./spark-submit.sh bench/floors.py --date D --mode io|parse

- ``io``: the day's JSON Lines read with the raw all-string schema and appended to an
  Iceberg table untouched: the cost of reading the bytes and writing them once.
- ``parse``: the same read, every field parsed to its typed column with the contract's
  own helpers (trim, try_cast to DECIMAL, timestamp parsing), appended with no
  validation, dedupe, dead letters or quality checks: the least work any correct ingest
  must do.

Prints one JSON line: mode, rows written, seconds (session start to commit, like the
jobs' own ``seconds``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date

from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from tradelake import io
from tradelake.config import load_settings
from tradelake.contract import MONEY, clean_text, parse_decimal, parse_timestamp
from tradelake.io import day_uri
from tradelake.session import build_session

# The generator's columns; the raw schema says every one of them is text.
RAW_COLUMNS = ("trade_id", "symbol", "side", "price", "quantity", "timestamp", "exchange")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/floors.py")
    parser.add_argument("--date", required=True, type=date.fromisoformat)
    parser.add_argument("--mode", required=True, choices=["io", "parse"])
    args = parser.parse_args(argv)
    started = time.monotonic()
    settings = load_settings()
    spark = build_session(settings, f"bench-floor-{args.mode}")
    listing = io.list_day(spark, day_uri(settings, args.date))
    paths = [raw.path for raw in listing.files]
    raw_schema = StructType([StructField(name, StringType()) for name in RAW_COLUMNS])
    # Explicit schema, never inferred; a malformed line becomes a row of nulls here.
    raw = spark.read.schema(raw_schema).json(paths)
    if args.mode == "parse":
        frame = raw.select(
            clean_text(F.col("trade_id")).alias("trade_id"),
            F.upper(clean_text(F.col("symbol"))).alias("symbol"),
            F.lower(clean_text(F.col("side"))).alias("side"),
            parse_decimal(clean_text(F.col("price"))).try_cast(MONEY).alias("price"),
            parse_decimal(clean_text(F.col("quantity"))).try_cast(MONEY).alias("quantity"),
            parse_timestamp(clean_text(F.col("timestamp"))).alias("traded_at"),
            clean_text(F.col("exchange")).alias("exchange"),
            F.lit(args.date).alias("trade_date"),
        )
    else:
        frame = raw
    table = f"lake.{settings.database}.floor_{args.mode}"
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS lake.{settings.database}")
    spark.sql(f"DROP TABLE IF EXISTS {table} PURGE")
    columns = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in frame.schema.fields)
    spark.sql(
        f"CREATE TABLE {table} ({columns}) USING iceberg TBLPROPERTIES ('format-version'='2')"
    )
    frame.writeTo(table).append()
    added = spark.sql(
        f"SELECT summary['added-records'] AS n FROM {table}.snapshots "
        "ORDER BY committed_at DESC LIMIT 1"
    ).first()
    seconds = round(time.monotonic() - started, 3)
    rows = int(added["n"]) if added is not None else 0
    print(json.dumps({"mode": args.mode, "rows": rows, "files": len(paths), "seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
