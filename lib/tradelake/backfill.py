"""Backfill: one job over a date range, in one Spark application, with bounded concurrency.

Each date runs the job's own ``main`` (same code, same summary, same exit codes), on a
thread of this driver, so Spark schedules the dates' jobs side by side. With
``resume``, a date is skipped when the job already published it from the same input:
for ingest the landing files' fingerprint (names, sizes, modification times, also
recorded in the commit's snapshot summary), for gold jobs the ingest run they read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import date, timedelta
from typing import Any

from pyspark.sql import SparkSession

from tradelake import io
from tradelake.config import Settings
from tradelake.errors import ConfigError, NoInputError, StorageError
from tradelake.runs import ingest_published, latest_published_run
from tradelake.runtime import DAILY_JOBS, INGEST

log = logging.getLogger("tradelake.backfill")

# What a backfill can rerun: a day's chain (runtime.DAILY_JOBS).
JOBS = DAILY_JOBS


def plan_dates(start: date, end: date, settings: Settings, concurrency: int) -> list[date]:
    """Every date from ``start`` to ``end`` inclusive, after checking the bounds.

    Raises:
        ConfigError: the range is inverted or too long, or the concurrency too high.
    """
    if end < start:
        raise ConfigError(f"--end {end} is before --start {start}; swap them")
    days = (end - start).days + 1
    if days > settings.backfill.max_days:
        raise ConfigError(
            f"{days} days from {start} to {end} exceed backfill.max_days="
            f"{settings.backfill.max_days}; split the range or raise "
            "TRADELAKE_BACKFILL__MAX_DAYS"
        )
    if not 1 <= concurrency <= settings.backfill.max_concurrency:
        raise ConfigError(
            f"--concurrency {concurrency} must be between 1 and backfill.max_concurrency="
            f"{settings.backfill.max_concurrency} (TRADELAKE_BACKFILL__MAX_CONCURRENCY)"
        )
    return [start + timedelta(days=offset) for offset in range(days)]


def landing_gold_dates(spark: SparkSession, settings: Settings, landing: date) -> list[date]:
    """The gold dates of landing ``landing``: the days its latest published ingest resolved
    and whose gold must be rebuilt (the summary's ``gold_dates``).

    A run recorded before versions existed has none: its own day is its gold date.

    Raises:
        NoInputError: no ingest run has published the landing yet (a scheduler retries).
    """
    latest = latest_published_run(spark, settings, INGEST, landing)
    if latest is None:
        raise NoInputError(
            f"landing {landing} has not been published by an ingest run yet; run "
            f"jobs/ingest.py --date {landing} first (a scheduled run retries later)"
        )
    recorded = latest["summary"].get("gold_dates")
    if recorded is None:
        return [landing]
    return [date.fromisoformat(text) for text in recorded]


def input_fingerprint(spark: SparkSession, settings: Settings, job: str, day: date) -> str | None:
    """What the job would read for ``day``, as a fingerprint; None when there is nothing."""
    if job == INGEST:
        try:
            return io.list_day(spark, io.day_uri(settings, day)).fingerprint()
        except (NoInputError, StorageError):
            return None
    return ingest_published(spark, settings, day)


def already_published(spark: SparkSession, settings: Settings, job: str, day: date) -> bool:
    """True when the job's latest publish of ``day`` came from the input there now."""
    latest = latest_published_run(spark, settings, job, day)
    if latest is None:
        return False
    current = input_fingerprint(spark, settings, job, day)
    return current is not None and latest["summary"].get("input_fingerprint") == current


def run_backfill(
    spark: SparkSession,
    settings: Settings,
    job: str,
    dates: list[date],
    concurrency: int,
    resume: bool,
    run_date: Callable[[date], int],
) -> dict[str, Any]:
    """Run ``run_date`` for each date (skipping published ones when resuming)."""
    skipped = [d for d in dates if resume and already_published(spark, settings, job, d)]
    pending = [d for d in dates if d not in skipped]
    results: dict[date, int] = {}
    log.info(
        "backfill planned",
        extra={"job": job, "dates": len(dates), "skipped": len(skipped), "to_run": len(pending)},
    )
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="backfill") as pool:
        futures = {pool.submit(run_date, day): day for day in pending}
        for done, future in enumerate(as_completed(futures), start=1):
            day = futures[future]
            try:
                results[day] = future.result()
            except Exception:  # noqa: BLE001 - one date's crash must not hide the others
                log.exception("backfill date crashed", extra={"date": str(day)})
                results[day] = 1
            log.info(
                f"backfill {done}/{len(pending)}: {day} exit {results[day]}",
                extra={"job": job, "date": str(day), "exit_code": results[day]},
            )
    failed = {str(day): code for day, code in sorted(results.items()) if code != 0}
    return {
        "backfill_job": job,
        "start": str(dates[0]),
        "end": str(dates[-1]),
        "dates": len(dates),
        "succeeded": sorted(str(day) for day, code in results.items() if code == 0),
        "skipped": [str(day) for day in skipped],
        "failed": failed,
    }
