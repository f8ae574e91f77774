"""The ingest's Kafka source: the messages landed for one day as raw records.

``jobs/land_kafka.py`` (``tradelake.kafka_landing``) lands a topic in ``trades_landed``;
``jobs/ingest.py --source kafka`` reads one ``landing_date`` of it back here. The two jobs
share only the table (``tables.TRADES_LANDED``), never each other's code.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from tradelake.config import Settings
from tradelake.errors import NoInputError
from tradelake.io import json_records
from tradelake.tables import TRADES_LANDED


@dataclass(frozen=True)
class LandedDay:
    """The messages landed for one ``landing_date``, as raw records, and their fingerprint."""

    frame: DataFrame
    fingerprint: str
    messages: int
    topics: list[str]


def source_file(topic: Column, partition: Column, offset: Column) -> Column:
    """``kafka://topic/partition/offset``: the ingest's ``source_file`` of a message."""
    return F.concat(
        F.lit("kafka://"), topic, F.lit("/"), partition.cast("string"), F.lit("/"), offset
    )


def landed_day(spark: SparkSession, settings: Settings, day: date) -> LandedDay:
    """Raw records (``contract.RAW_SCHEMA``) of the messages landed with ``landing_date = day``.

    ``source_file`` is ``kafka://topic/partition/offset``; a value that is not a JSON object
    (or no value at all) is malformed.

    Raises:
        NoInputError: no message has landed for the day.
    """
    table = settings.table(TRADES_LANDED.name)
    if not spark.catalog.tableExists(table):
        raise NoInputError(
            f"{table} does not exist: no Kafka message has landed yet; run jobs/land_kafka.py"
        )
    # A landing run in another process may have committed since this session cached it.
    spark.catalog.refreshTable(table)
    landed = spark.table(table).where(F.col("landing_date") == F.lit(day))
    # Per topic-partition: the offsets and count landed (tiny: one row per partition). The
    # fingerprint changes when a message lands late or a range is replayed.
    per_partition = (
        landed.groupBy("topic", "kafka_partition")
        .agg(
            F.min("kafka_offset").alias("first"),
            F.max("kafka_offset").alias("last"),
            F.count(F.lit(1)).alias("messages"),
        )
        .orderBy("topic", "kafka_partition")
        .collect()
    )
    if not per_partition:
        raise NoInputError(
            f"no Kafka message landed in {table} for landing_date={day}; run "
            "jobs/land_kafka.py (or check --date), then rerun"
        )
    described = [
        [
            row["topic"],
            int(row["kafka_partition"]),
            int(row["first"]),
            int(row["last"]),
            int(row["messages"]),
        ]
        for row in per_partition
    ]
    fingerprint = hashlib.sha256(json.dumps(described).encode("utf-8")).hexdigest()
    lines = landed.select(
        source_file(F.col("topic"), F.col("kafka_partition"), F.col("kafka_offset")).alias(
            "source_file"
        ),
        F.col("value"),
    )
    topics = sorted({str(row[0]) for row in described})
    # A blank or null value is no JSON object: a malformed record, so every message counts.
    return LandedDay(
        json_records(lines), fingerprint, sum(int(row[4]) for row in described), topics
    )
