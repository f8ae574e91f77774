"""Ingest transforms: dedupe within the day and shape the output tables.

All functions are ``DataFrame -> DataFrame`` and trigger no Spark action.
"""

from __future__ import annotations

from datetime import date, datetime

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from tradelake.contract import CANCEL, DUPLICATE_CONFLICT, utc_literal
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

    A report is identified by (trade_id, report_seq): an original and its correction in
    one landing are two reports. Among valid records sharing both, the winner is the one
    with the latest traded_at; equal timestamps are broken by the smallest content
    (report_type, symbol, side, price, quantity, exchange), so the choice never depends
    on file names, row order or partitioning. Copies with the winner's content are
    duplicates (the copy from the first source_file is kept); every other version is
    rejected as a conflict. Invalid records keep their own reasons and take no part in
    the dedupe.
    """
    valid = F.size("reasons") == 0
    # One window per report, valid versions first: the first row is the winner whenever
    # the id has a valid version, and the count of loaded rows per id below reuses the
    # same shuffle and sort.
    by_id = Window.partitionBy("trade_id", "report_seq")
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


def masked(name: str, pii_key: bytes | None) -> Column:
    """A personal-data column as its keyed HMAC-SHA256 (null without a key: the caller
    refuses to publish PII it cannot mask)."""
    value = hmac_sha256_hex(F.col(name), pii_key) if pii_key else F.lit(None)
    return value.cast("string").alias(name)


def to_reports(
    classified: DataFrame,
    landing_day: date,
    run_id: str,
    started_at: datetime,
    pii_key: bytes | None = None,
) -> DataFrame:
    """Rows of ``trade_reports``: the loaded reports of one landing, personal data masked.

    Output grain: one row per (trade_id, report_seq); each row keeps its own trade_date
    (the day of its traded_at, within the landing's window) and the landing's date.
    """
    return classified.where(F.col(STATUS) == LOADED).select(
        "trade_id",
        "report_type",
        "report_seq",
        "symbol",
        "side",
        "price",
        "quantity",
        "traded_at",
        "exchange",
        "trade_date",
        F.lit(landing_day).alias("landing_date"),
        "source_file",
        F.lit(run_id).alias("run_id"),
        utc_literal(started_at).alias("ingested_at"),
        masked("account_id", pii_key),
        masked("trader_email", pii_key),
    )


# The outcome of each report when a day is resolved (the ``outcome`` column of ``ranked``).
CURRENT, CANCELLED, SUPERSEDED = "current", "cancelled", "superseded"


def rank_reports(reports: DataFrame) -> DataFrame:
    """Every report with its ``outcome``: the one ``trades`` row it gives, if any.

    Per (trade_date, trade_id), the report with the highest report_seq wins, and between
    equal sequence numbers the later landing (producers that send no versions resend). The
    winner is ``current``, or ``cancelled`` when it is a cancel (the trade is then absent
    from ``trades``); every other report is ``superseded``. A landing holds one report per
    (trade_id, report_seq), so the order is total; the last keys only make that explicit.
    """
    order = Window.partitionBy("trade_date", "trade_id").orderBy(
        F.col("report_seq").desc(),
        F.col("landing_date").desc(),
        F.col("traded_at").desc(),
        F.col("source_file").asc(),
    )
    winner = F.row_number().over(order) == 1
    outcome = (
        F.when(~winner, F.lit(SUPERSEDED))
        .when(F.col("report_type") == CANCEL, F.lit(CANCELLED))
        .otherwise(F.lit(CURRENT))
    )
    return reports.withColumn("outcome", outcome)


def to_trades(ranked: DataFrame, run_id: str, started_at: datetime) -> DataFrame:
    """Rows of ``trades``: the current report of every trade, written by this run.

    Output grain: one row per (trade_date, trade_id); cancelled trades are absent.
    ``run_id`` and ``ingested_at`` name the run that resolved the day, so a day's rows
    say which run published them (``runs.ingest_published``).
    """
    return ranked.where(F.col("outcome") == CURRENT).select(
        "trade_id",
        "symbol",
        "side",
        "price",
        "quantity",
        "traded_at",
        "exchange",
        "trade_date",
        "source_file",
        F.lit(run_id).alias("run_id"),
        utc_literal(started_at).alias("ingested_at"),
        "account_id",
        "trader_email",
        "report_type",
        "report_seq",
        "landing_date",
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
