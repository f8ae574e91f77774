"""Ingest transforms: dedupe within the day and shape the output tables.

All functions are ``DataFrame -> DataFrame`` and trigger no Spark action.
"""

from __future__ import annotations

from datetime import date, datetime

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from tradelake.contract import DUPLICATE_CONFLICT, utc_literal
from tradelake.ingest.classified import (
    CONTENT_COLUMNS,
    DUPLICATE,
    LOADED,
    LOADED_WITH_ID,
    REJECTED,
    STATUS,
)
from tradelake.pii import hmac_sha256_hex


def classify_records(validated: DataFrame) -> DataFrame:
    """Decide, for every validated record, whether it is loaded, a duplicate or rejected.

    Input: the output of ``contract.validate_trades`` (reasons empty when valid).
    Output: the classified batch (``ingest.classified``): the same columns plus ``status``
    and ``loaded_with_id``; ``reasons`` gains ``duplicate_conflict`` for losing versions.
    One row per input row.

    Among valid records sharing a trade_id, the winner is the version with the latest
    traded_at; equal timestamps are broken by the smallest content
    (symbol, side, price, quantity, exchange), so the choice never depends on file
    names, row order or partitioning. Copies with the winner's content are duplicates
    (the copy from the first source_file is kept); every other version is rejected as
    a conflict. Invalid records keep their own reasons and take no part in the dedupe.
    """
    valid = F.size("reasons") == 0
    # One window per trade_id, valid versions first: the first row is the winner whenever
    # the id has a valid version, and the count of loaded rows per id below reuses the
    # same shuffle and sort.
    by_id = Window.partitionBy("trade_id")
    version_order = by_id.orderBy(
        F.col("_valid").desc(),
        F.col("traded_at").desc(),
        *[F.col(name).asc() for name in CONTENT_COLUMNS if name != "traded_at"],
        F.col("source_file").asc(),
        F.col("record").asc(),
    )
    content = F.struct(*CONTENT_COLUMNS)
    ranked = validated.withColumn("_valid", valid).select(
        "*",
        F.row_number().over(version_order).alias("_rank"),
        F.first(content).over(version_order).alias("_winner"),
    )
    status = (
        F.when(~F.col("_valid"), F.lit(REJECTED))
        .when(F.col("_rank") == 1, F.lit(LOADED))
        .when(content == F.col("_winner"), F.lit(DUPLICATE))
        .otherwise(F.lit(REJECTED))
    )
    conflict = F.col("_valid") & (status == REJECTED)
    classified = ranked.select(
        *[name for name in validated.columns if name != "reasons"],
        F.when(conflict, F.array(F.lit(DUPLICATE_CONFLICT)))
        .otherwise(F.col("reasons"))
        .alias("reasons"),
        status.alias(STATUS),
    )
    return classified.withColumn(
        LOADED_WITH_ID, F.count_if(F.col(STATUS) == LOADED).over(by_id).cast("int")
    )


def to_trades(
    classified: DataFrame,
    day: date,
    run_id: str,
    started_at: datetime,
    pii_key: bytes | None = None,
) -> DataFrame:
    """Rows of the ``trades`` table: the loaded records of the day, personal data masked.

    Output grain: one row per trade_id. account_id and trader_email become their keyed
    HMAC-SHA256 (null without a key: the caller refuses to publish PII it cannot mask).
    """

    def masked(name: str) -> Column:
        value = hmac_sha256_hex(F.col(name), pii_key) if pii_key else F.lit(None)
        return value.cast("string").alias(name)

    return classified.where(F.col(STATUS) == LOADED).select(
        "trade_id",
        "symbol",
        "side",
        "price",
        "quantity",
        "traded_at",
        "exchange",
        F.lit(day).alias("trade_date"),
        "source_file",
        F.lit(run_id).alias("run_id"),
        utc_literal(started_at).alias("ingested_at"),
        masked("account_id"),
        masked("trader_email"),
    )


def to_rejects(classified: DataFrame, day: date, run_id: str, started_at: datetime) -> DataFrame:
    """Rows of ``trades_rejected``: one row per rejected record, with all its reasons."""
    return classified.where(F.col(STATUS) == REJECTED).select(
        F.lit(day).alias("ingest_date"),
        F.lit(run_id).alias("run_id"),
        "source_file",
        "record",
        "reasons",
        utc_literal(started_at).alias("rejected_at"),
    )
