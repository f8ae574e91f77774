"""The ingest's quality checks: batch statistics in one aggregation pass, then each check.

The gate itself (which failures block publishing) is ``quality.gate_failures``, shared
with the gold jobs.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from tradelake.config import DEFAULT_INGEST_SEVERITY, QualitySettings, Severity
from tradelake.contract import CANCEL, REASON_CODES
from tradelake.ingest.classified import (
    DUPLICATE,
    IDENTITY_COLUMNS,
    LOADED,
    LOADED_WITH_ID,
    REJECTED,
    REQUIRED_COLUMNS,
    STATUS,
)
from tradelake.quality import CheckResult

_MAX_DRIFT_FIELDS = 100


@dataclass(frozen=True)
class BatchStats:
    """What one ingest batch contained: records, and apart from them the unreadable files.

    An unreadable file is one dead letter but no record: nobody knows how many it held.
    """

    records_read: int
    loaded: int
    duplicates_dropped: int
    rejected: int
    rejected_by_reason: dict[str, int]
    # Loaded rows whose trade_id another loaded row carries too (0 when unique).
    loaded_sharing_trade_id: int
    loaded_with_nulls: int
    latest_traded_at: datetime | None
    drift_records: int
    drift_fields: list[str]
    loaded_with_pii: int = 0
    unreadable_files: int = 0
    # Loaded reports per trade_date (days without any left out).
    loaded_by_date: dict[date, int] = field(default_factory=dict)

    @property
    def conserved(self) -> bool:
        """records_read = loaded + duplicates_dropped + rejected."""
        return self.records_read == self.loaded + self.duplicates_dropped + self.rejected


def batch_stats(
    classified: DataFrame, unreadable_files: int, trade_dates: list[date] | None = None
) -> BatchStats:
    """Compute every count the summary and the checks need, in one aggregation pass.

    ``trade_dates``: the days the landing may carry (its window); loaded reports are
    counted per day among them.
    """
    status = F.col(STATUS)
    loaded = status == LOADED
    # A cancel needs only its identity; every other report all of REQUIRED_COLUMNS.
    is_cancel = F.col("report_type") == CANCEL
    any_null = F.lit(False)
    for name in REQUIRED_COLUMNS:
        null = F.col(name).isNull()
        any_null = any_null | (null if name in IDENTITY_COLUMNS else null & ~is_cancel)
    days = trade_dates or []
    row = classified.agg(
        F.count(F.lit(1)).alias("records"),
        F.count_if(loaded).alias("loaded"),
        F.count_if(status == DUPLICATE).alias("duplicates"),
        F.count_if(status == REJECTED).alias("rejected"),
        # Not count_distinct: a distinct aggregate makes Spark expand and re-shuffle every
        # row; the per-id count comes from the dedupe's own window.
        F.count_if(loaded & (F.col(LOADED_WITH_ID) > 1)).alias("loaded_sharing_trade_id"),
        F.count_if(loaded & any_null).alias("loaded_with_nulls"),
        # Epoch micros, not a timestamp: collect() would render it in the local time zone.
        F.max(F.when(loaded, F.unix_micros("traded_at"))).alias("latest_micros"),
        F.count_if(F.size("extra_fields") > 0).alias("drift_records"),
        F.count_if(
            loaded & (F.col("account_id").isNotNull() | F.col("trader_email").isNotNull())
        ).alias("loaded_with_pii"),
        F.slice(
            F.array_sort(F.array_distinct(F.flatten(F.collect_set("extra_fields")))),
            1,
            _MAX_DRIFT_FIELDS,
        ).alias("drift_fields"),
        *[
            F.count_if(F.array_contains("reasons", code)).alias(f"reason_{code}")
            for code in REASON_CODES
        ],
        # One count per day of the window: no second pass, no group-by shuffle.
        *[
            F.count_if(loaded & (F.col("trade_date") == F.lit(day))).alias(f"loaded_{position}")
            for position, day in enumerate(days)
        ],
    ).first()
    assert row is not None  # a global aggregation always returns one row
    by_reason = {code: int(row[f"reason_{code}"]) for code in REASON_CODES}
    return BatchStats(
        records_read=int(row["records"]),
        loaded=int(row["loaded"]),
        duplicates_dropped=int(row["duplicates"]),
        rejected=int(row["rejected"]),
        rejected_by_reason={code: count for code, count in by_reason.items() if count},
        loaded_sharing_trade_id=int(row["loaded_sharing_trade_id"]),
        loaded_with_nulls=int(row["loaded_with_nulls"]),
        latest_traded_at=(
            None
            if row["latest_micros"] is None
            else datetime.fromtimestamp(row["latest_micros"] / 1_000_000, UTC)
        ),
        drift_records=int(row["drift_records"]),
        drift_fields=list(row["drift_fields"] or []),
        loaded_with_pii=int(row["loaded_with_pii"]),
        unreadable_files=unreadable_files,
        loaded_by_date={
            day: int(row[f"loaded_{position}"])
            for position, day in enumerate(days)
            if row[f"loaded_{position}"]
        },
    )


def volume_anomaly(
    loaded: int, baseline: list[int], settings: QualitySettings, severity: Severity
) -> CheckResult:
    """The day's loaded count against the median of earlier published days."""
    if len(baseline) < settings.volume_anomaly_min_days:
        return CheckResult(
            "volume_anomaly",
            severity,
            True,
            loaded,
            f"needs {settings.volume_anomaly_min_days} published days, found {len(baseline)}",
        )
    median = statistics.median(baseline)
    low = median * (1 - settings.volume_anomaly_tolerance)
    high = median * (1 + settings.volume_anomaly_tolerance)
    return CheckResult(
        "volume_anomaly",
        severity,
        low <= loaded <= high,
        loaded,
        f"within [{low:g}, {high:g}] (median {median:g} of the last {len(baseline)} days)",
    )


def evaluate_checks(
    stats: BatchStats, day: date, settings: QualitySettings, baseline: list[int] | None = None
) -> list[CheckResult]:
    """Run the ingest checks over the batch statistics.

    Freshness is measured against the end of the partition day, not the wall clock, so
    a backfill of an old day passes when that day's data reached its end. ``baseline``
    holds the loaded counts of earlier published days (failed runs excluded).
    """
    severity = {**DEFAULT_INGEST_SEVERITY, **settings.severity}
    reject_ratio = stats.rejected / stats.records_read if stats.records_read else 0.0
    day_end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    lag_hours = (
        round((day_end - stats.latest_traded_at).total_seconds() / 3600, 3)
        if stats.latest_traded_at is not None
        else None
    )
    return [
        CheckResult(
            "record_count", severity["record_count"], stats.loaded > 0, stats.loaded, "> 0"
        ),
        CheckResult(
            "trade_id_unique",
            severity["trade_id_unique"],
            stats.loaded_sharing_trade_id == 0,
            stats.loaded_sharing_trade_id,
            "0 loaded reports sharing a trade_id and report_seq",
        ),
        CheckResult(
            "required_not_null",
            severity["required_not_null"],
            stats.loaded_with_nulls == 0,
            stats.loaded_with_nulls,
            "0 rows with a null required column",
        ),
        CheckResult(
            "reject_ratio",
            severity["reject_ratio"],
            reject_ratio <= settings.max_reject_ratio,
            round(reject_ratio, 6),
            f"<= {settings.max_reject_ratio}",
        ),
        CheckResult(
            "freshness",
            severity["freshness"],
            lag_hours is not None and lag_hours <= settings.freshness_max_lag_hours,
            lag_hours,
            f"<= {settings.freshness_max_lag_hours} h between the latest trade and the day's end",
        ),
        volume_anomaly(stats.loaded, baseline or [], settings, severity["volume_anomaly"]),
        CheckResult(
            "unreadable_files",
            severity["unreadable_files"],
            stats.unreadable_files == 0,
            stats.unreadable_files,
            "0 files that could not be read (each is a dead letter)",
        ),
    ]
