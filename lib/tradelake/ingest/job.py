"""The ingest job: one landing's raw files -> ``trade_reports``, ``trades``, ``trades_rejected``.

extract (io) -> validate (contract) -> classify/dedupe (transform) -> quality gate ->
load: the landing's reports, then the days they touch resolved again (versions). Every
count of the run summary comes from one aggregation pass over the persisted, classified
batch, and each raw file is parsed once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from tradelake import io
from tradelake.config import Settings
from tradelake.contract import UNREADABLE_FILE, utc_literal, validate_trades
from tradelake.errors import ConfigError, ConservationError, QualityGateError
from tradelake.ingest.checks import BatchStats, batch_stats, evaluate_checks
from tradelake.ingest.classified import REJECTED, STATUS
from tradelake.ingest.kafka_source import landed_day
from tradelake.ingest.transform import classify_records, to_rejects, to_reports
from tradelake.ingest.versions import Resolved, outcome_summary, publish_versions
from tradelake.pii import KEY_VARIABLE, load_key
from tradelake.quality import gate_failures
from tradelake.runs import loaded_baseline, published_ingest_dates
from tradelake.runtime import Run
from tradelake.session import local_frame
from tradelake.tables import TRADE_REPORTS, TRADES, TRADES_REJECTED, ensure_tables
from tradelake.writes import overwrite_partition

log = logging.getLogger("tradelake.ingest")


@dataclass
class Batch:
    """A day's classified records (raw text on rejected ones only), persisted, with statistics."""

    classified: DataFrame
    stats: BatchStats
    unreadable: list[io.UnreadableFile]
    # Kafka source: what identifies the landed input (files have the listing's).
    fingerprint: str | None = None


def without_loaded_text(classified: DataFrame) -> DataFrame:
    """``classified`` with the raw record text kept only where a dead letter needs it.

    Only rejected records are written with their text; dropping it from the rest before
    the batch is cached keeps the cache (and the driver heap in local mode) to the parsed
    columns, instead of every raw line of the day.
    """
    return classified.withColumn("record", F.when(F.col(STATUS) == REJECTED, F.col("record")))


def window_dates(settings: Settings, landing: date) -> list[date]:
    """The trade days landing ``landing`` may carry, oldest first (``max_lateness_days``)."""
    lateness = settings.contract.max_lateness_days
    return [landing - timedelta(days=back) for back in range(lateness, -1, -1)]


def load_batch(
    spark: SparkSession,
    settings: Settings,
    day: date,
    files: list[io.RawFile],
    now: datetime,
    unlisted: list[io.UnreadableFile] | None = None,
) -> Batch:
    """Read, validate and classify the day's files, then compute the batch statistics.

    A file that fails while being read (corrupt Parquet, truncated gzip) is recorded as
    unreadable and the batch is rebuilt without it, so the rest of the day still loads.
    ``unlisted`` entries (broken links found while listing) are unreadable from the start.
    """
    unreadable: list[io.UnreadableFile] = list(unlisted or [])
    while True:
        excluded = {entry.path for entry in unreadable}
        raw = io.read_raw(spark, [raw for raw in files if raw.path not in excluded])
        unreadable.extend(raw.unreadable)
        classified = classify_raw(raw.frame, settings, day, now)
        try:
            stats = batch_stats(classified, len(unreadable), window_dates(settings, day))
        except Exception as err:
            classified.unpersist()
            candidates = [f.path for f in files if f.path not in {u.path for u in unreadable}]
            failure = io.failed_file(err, candidates)
            if failure is None:
                raise
            unreadable.append(io.UnreadableFile(*failure))
            log.warning("unreadable file", extra={"path": failure[0], "error": failure[1]})
            continue
        return Batch(classified=classified, stats=stats, unreadable=unreadable)


def classify_raw(raw: DataFrame, settings: Settings, day: date, now: datetime) -> DataFrame:
    """Validated and classified raw records (``RAW_SCHEMA``), persisted on local disk.

    On local disk, not in the heap: in local mode the executors share the driver's heap,
    and a cache held there makes the driver grow with the day (the page cache serves the
    two re-reads just as well).
    """
    return without_loaded_text(
        classify_records(validate_trades(raw, day, now, settings.contract))
    ).persist(StorageLevel.DISK_ONLY)


def load_landed_batch(spark: SparkSession, settings: Settings, day: date, now: datetime) -> Batch:
    """The Kafka messages landed for ``day`` (``trades_landed``), classified, with statistics.

    Raises:
        NoInputError: nothing landed for the day.
    """
    landed = landed_day(spark, settings, day)
    classified = classify_raw(landed.frame, settings, day, now)
    try:
        stats = batch_stats(classified, 0, window_dates(settings, day))
    except Exception:
        classified.unpersist()
        raise
    return Batch(classified=classified, stats=stats, unreadable=[], fingerprint=landed.fingerprint)


def unreadable_rejects(
    spark: SparkSession, unreadable: list[io.UnreadableFile], day: date, run_id: str, at: datetime
) -> DataFrame:
    """One dead letter per unreadable file: its path, and the error as the record."""
    schema = (
        "ingest_date DATE, run_id STRING, source_file STRING, record STRING, reasons ARRAY<STRING>"
    )
    rows = [(day, run_id, entry.path, entry.error, [UNREADABLE_FILE]) for entry in unreadable]
    return local_frame(spark, rows, schema).withColumn("rejected_at", utc_literal(at))


def run_ingest(spark: SparkSession, settings: Settings, run: Run, source: str = "files") -> None:
    """Ingest one day; fills the run summary and raises a ``TradelakeError`` on failure.

    ``source``: ``files`` (the raw landing folder of the day) or ``kafka`` (the messages
    ``jobs/land_kafka.py`` landed in ``trades_landed`` with ``landing_date`` = the day).
    Only the extract differs: validation, dedupe, dead letters, the gate and the writes
    are the same.
    """
    day, run_id, summary, started_at = run.day, run.run_id, run.summary, run.started_at
    summary["output_table"] = TRADES.name
    summary["source"] = source
    extract: Callable[[], Batch]
    if source == "kafka":
        extract = partial(load_landed_batch, spark, settings, day, started_at)
    else:
        listing = io.list_day(spark, io.day_uri(settings, day))
        summary["input_fingerprint"] = listing.fingerprint()
        summary["files"] = {
            # Broken links count as read (and unreadable), like files of an unknown format.
            "read": len(listing.files) + len(listing.unlisted),
            "empty": len(listing.empty),
            "ignored": len(listing.ignored),
            "unreadable": 0,
        }
        extract = partial(
            load_batch, spark, settings, day, listing.files, started_at, listing.unlisted
        )
    ensure_tables(spark, settings, TRADE_REPORTS, TRADES, TRADES_REJECTED)
    pii_key = load_key(settings)
    phase_started = time.monotonic()
    batch = extract()
    if batch.fingerprint is not None:
        summary["input_fingerprint"] = batch.fingerprint
    # Where the run's time went: read, parse, validate, dedupe and count (one pass)...
    summary["timings"] = {"classify_seconds": round(time.monotonic() - phase_started, 3)}
    try:
        _publish(spark, settings, day, run_id, started_at, batch, summary, pii_key)
    finally:
        batch.classified.unpersist()


def _publish(
    spark: SparkSession,
    settings: Settings,
    day: date,
    run_id: str,
    started_at: datetime,
    batch: Batch,
    summary: dict[str, Any],
    pii_key: bytes | None,
) -> None:
    stats = batch.stats
    if "files" in summary:
        summary["files"]["unreadable"] = len(batch.unreadable)
        summary["unreadable_files"] = [{"path": u.path, "error": u.error} for u in batch.unreadable]
    summary.update(
        records_read=stats.records_read,
        loaded=stats.loaded,
        duplicates_dropped=stats.duplicates_dropped,
        rejected=stats.rejected,
        # The rows trades_rejected gets: rejected records and one per unreadable file.
        dead_letters=stats.rejected + stats.unreadable_files,
        rejected_by_reason=stats.rejected_by_reason,
        schema_drift={"records": stats.drift_records, "fields": stats.drift_fields},
        conservation_ok=stats.conserved,
    )
    if not stats.conserved:
        raise ConservationError(
            f"records_read={stats.records_read} != loaded={stats.loaded} + duplicates_dropped="
            f"{stats.duplicates_dropped} + rejected={stats.rejected}; nothing was published. "
            "This is a bug: report it with the run summary"
        )
    baseline = loaded_baseline(spark, settings, day, settings.quality.volume_anomaly_days)
    summary["pii_records"] = stats.loaded_with_pii
    if stats.loaded_with_pii and pii_key is None:
        raise ConfigError(
            f"{stats.loaded_with_pii} records carry account_id or trader_email but no masking "
            f"key is configured; set {KEY_VARIABLE} or TRADELAKE_PII_KEY_SECRET_ID and rerun. "
            "Nothing was published"
        )
    checks = evaluate_checks(stats, day, settings.quality, baseline)
    summary["quality"] = [check.as_dict() for check in checks]
    log.info(
        "batch classified",
        extra={
            "run_id": run_id,
            **{k: summary[k] for k in ("records_read", "loaded", "duplicates_dropped", "rejected")},
        },
    )

    rejects = to_rejects(batch.classified, day, run_id, started_at)
    if batch.unreadable:
        rejects = rejects.unionByName(
            unreadable_rejects(spark, batch.unreadable, day, run_id, started_at)
        )
    phase_started = time.monotonic()
    rejected_commit = overwrite_partition(
        rejects, settings.table(TRADES_REJECTED.name), "ingest_date", day, run_id
    )
    summary["timings"]["write_rejects_seconds"] = round(time.monotonic() - phase_started, 3)
    snapshots = {"trades_rejected": rejected_commit.snapshot_id}
    summary["snapshots"] = snapshots
    summary["commit_retries"] = {
        TRADE_REPORTS.name: 0,
        TRADES.name: 0,
        TRADES_REJECTED.name: rejected_commit.retries,
    }
    failures = gate_failures(checks)
    if failures:
        names = ", ".join(
            f"{f.check} (observed {f.observed}, expected {f.threshold})" for f in failures
        )
        raise QualityGateError(
            f"quality gate failed: {names}; trades for {day} were not published (readers keep "
            f"the previous data), rejects are in {settings.table(TRADES_REJECTED.name)}; fix "
            "the input and rerun"
        )
    reports = to_reports(batch.classified, day, run_id, started_at, pii_key)
    summary["loaded_by_date"] = {
        trade_date.isoformat(): count for trade_date, count in sorted(stats.loaded_by_date.items())
    }
    phase_started = time.monotonic()
    resolved = publish_versions(
        spark,
        settings,
        day,
        run_id,
        started_at,
        reports,
        sorted(stats.loaded_by_date),
        {"input-fingerprint": summary["input_fingerprint"]},
    )
    snapshots[TRADE_REPORTS.name] = resolved.reports.snapshot_id
    snapshots[TRADES.name] = resolved.trades.snapshot_id
    # ... and then the two commits (each with its sort and write).
    summary["timings"]["write_trades_seconds"] = round(time.monotonic() - phase_started, 3)
    summary["commit_retries"][TRADE_REPORTS.name] = resolved.reports.retries
    summary["commit_retries"][TRADES.name] = resolved.trades.retries
    summary["touched_dates"] = [touched.isoformat() for touched in resolved.touched_dates]
    summary["resolved"] = outcome_summary(resolved)
    rebuild = gold_dates(spark, settings, day, resolved)
    summary["gold_dates"] = [gold.isoformat() for gold in rebuild]
    summary["published"] = True


def gold_dates(
    spark: SparkSession, settings: Settings, landing: date, resolved: Resolved
) -> list[date]:
    """The days whose gold tables must be rebuilt after this landing.

    Every day it resolved, except an earlier day whose own landing has not been published
    yet: that day's gold is built when its landing is (it would be partial before).
    """
    earlier = [day for day in resolved.touched_dates if day != landing]
    published = published_ingest_dates(spark, settings, earlier)
    return sorted(day for day in resolved.touched_dates if day == landing or day in published)
