"""Trades as a log of versions: a landing's reports, and the days they re-resolve.

The ingest of landing L makes two commits (docs/jobs.md, "Late reports and corrections"):

1. ``trade_reports``: L's accepted reports replace L's previous ones (an overwrite of
   ``landing_date = L``: whole partitions, metadata only), whatever days they belong to.
   The commit records the days it sets out to resolve (``tradelake.resolve-dates``).
2. ``trades``: every day L touches now, or touched before, is resolved again from all the
   reports of that day and replaced in one overwrite, validated against concurrent commits
   to the same days (``writes.overwrite_where_unchanged``).

``trades`` is therefore a function of the set of the landings' latest reports: the order
landings run in, reruns and concurrent runs do not change it. A run that dies between the
two commits leaves ``trades`` as it was; the rerun of L reads the days the dead run meant
to resolve from its ``trade_reports`` commit and resolves them too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from tradelake.config import Settings
from tradelake.errors import ConservationError
from tradelake.history import PROPERTY_PREFIX, find_on_main, java_table, summary_of
from tradelake.ingest.transform import CANCELLED, CURRENT, SUPERSEDED, rank_reports, to_trades
from tradelake.tables import TRADE_REPORTS, TRADES
from tradelake.writes import Commit, overwrite_partition, overwrite_where_unchanged

LANDING_PROPERTY = "landing-date"
RESOLVE_DATES_PROPERTY = "resolve-dates"
# On a trades commit: the trade_reports snapshot whose days it resolved.
REPORTS_SNAPSHOT_PROPERTY = "reports-snapshot"


@dataclass(frozen=True)
class DayOutcome:
    """What resolving one day found: ``reports = current + cancelled + superseded``."""

    reports: int
    current: int
    cancelled: int
    superseded: int

    @property
    def conserved(self) -> bool:
        return self.reports == self.current + self.cancelled + self.superseded


@dataclass(frozen=True)
class Resolved:
    """The two commits of a landing and what they decided."""

    reports: Commit
    trades: Commit
    touched_dates: list[date]
    outcomes: dict[date, DayOutcome]


def _dates_text(days: list[date]) -> str:
    return ",".join(day.isoformat() for day in days)


def _parse_dates(text: str | None) -> set[date]:
    return {date.fromisoformat(part) for part in (text or "").split(",") if part}


def previous_dates(spark: SparkSession, settings: Settings, landing: date) -> set[date]:
    """The days landing ``landing``'s earlier ingest left reports in, or set out to resolve.

    From the partitions of ``trade_reports`` (metadata only) and, when the landing's latest
    ``trade_reports`` commit on main has no ``trades`` commit after it (the run died
    between the two), the days that run meant to resolve: they may include days its
    reports no longer carry (a landing that shrank).
    """
    table = settings.table(TRADE_REPORTS.name)
    if not spark.catalog.tableExists(table):
        return set()
    spark.catalog.refreshTable(table)  # another run of the landing may have committed since
    rows = spark.sql(
        f"SELECT DISTINCT partition.trade_date AS trade_date FROM {table}.partitions "
        f"WHERE partition.landing_date = DATE'{landing.isoformat()}'"
    ).collect()
    days = {row["trade_date"] for row in rows}
    loaded = java_table(spark, table)
    last = find_on_main(spark, loaded, PROPERTY_PREFIX + LANDING_PROPERTY, landing.isoformat())
    if last is not None:
        reports_snapshot = str(last.snapshotId())
        resolved = find_on_main(
            spark,
            java_table(spark, settings.table(TRADES.name)),
            PROPERTY_PREFIX + REPORTS_SNAPSHOT_PROPERTY,
            reports_snapshot,
        )
        if resolved is None:
            summary = summary_of(loaded, int(reports_snapshot)) or {}
            days |= _parse_dates(summary.get(PROPERTY_PREFIX + RESOLVE_DATES_PROPERTY))
    return days


def day_outcomes(ranked: DataFrame) -> dict[date, DayOutcome]:
    """Per trade_date: reports, and how many are current, cancelled and superseded."""
    outcome = F.col("outcome")
    rows = (
        ranked.groupBy("trade_date")
        .agg(
            F.count(F.lit(1)).alias("reports"),
            F.count_if(outcome == CURRENT).alias("current"),
            F.count_if(outcome == CANCELLED).alias("cancelled"),
            F.count_if(outcome == SUPERSEDED).alias("superseded"),
        )
        .collect()  # one row per resolved day: at most the window's length
    )
    return {
        row["trade_date"]: DayOutcome(
            int(row["reports"]), int(row["current"]), int(row["cancelled"]), int(row["superseded"])
        )
        for row in rows
    }


def publish_versions(
    spark: SparkSession,
    settings: Settings,
    landing: date,
    run_id: str,
    started_at: datetime,
    reports: DataFrame,
    report_dates: list[date],
    properties: dict[str, str],
) -> Resolved:
    """Replace ``landing``'s reports, then resolve and replace every day they touch.

    ``reports``: the landing's rows of ``trade_reports`` (``transform.to_reports``), whose
    trade_dates are ``report_dates``. ``properties`` go into both snapshot summaries.

    Raises:
        StorageError: a commit lost every race with concurrent writers.
        ConservationError: a resolved day's reports do not add up, or ``trades`` did not
            get the rows the resolution decided (a bug; nothing after it is published).
    """
    touched = sorted(set(report_dates) | previous_dates(spark, settings, landing))
    reports_commit = overwrite_partition(
        reports,
        settings.table(TRADE_REPORTS.name),
        "landing_date",
        landing,
        run_id,
        properties={
            **properties,
            LANDING_PROPERTY: landing.isoformat(),
            RESOLVE_DATES_PROPERTY: _dates_text(touched),
        },
        # A landing is mostly one partition (its own day): by ranges of the sort order,
        # every core writes a slice of it, as for trades, instead of one task all of it.
        options={"distribution-mode": "range"},
    )
    outcomes: dict[date, DayOutcome] = {}
    held: list[DataFrame] = []
    reports_table = settings.table(TRADE_REPORTS.name)
    in_touched = F.col("trade_date").isin(touched)

    def resolved_trades() -> DataFrame:
        # Called once per commit attempt, after the attempt read the head of trades: the
        # other landings' reports are read again, so a redo sees what won the race.
        for frame in held:
            frame.unpersist()
        # Iceberg's Spark catalog caches a table's metadata (cache-enabled): without a
        # refresh, a redo would read the reports as this process last saw them and miss
        # the ones the winning landing committed.
        spark.catalog.refreshTable(reports_table)
        others = spark.table(reports_table).where(
            in_touched & (F.col("landing_date") != F.lit(landing))
        )
        ranked = rank_reports(reports.unionByName(others)).persist(StorageLevel.DISK_ONLY)
        held[:] = [ranked]
        outcomes.clear()
        outcomes.update(day_outcomes(ranked))
        return to_trades(ranked, run_id, started_at)

    try:
        trades_commit = overwrite_where_unchanged(
            spark,
            resolved_trades,
            settings.table(TRADES.name),
            in_touched,
            run_id,
            f"{settings.table(TRADES.name)}: the overwrite of trade_date in {_dates_text(touched)}",
            properties={
                **properties,
                LANDING_PROPERTY: landing.isoformat(),
                REPORTS_SNAPSHOT_PROPERTY: str(reports_commit.snapshot_id),
            },
            # By ranges of (symbol, traded_at) rather than hashed by day: the day is sorted
            # and written by every core at once instead of by one task.
            options={"distribution-mode": "range"},
        )
    finally:
        for frame in held:
            frame.unpersist()
    _check_outcomes(spark, settings, outcomes, trades_commit)
    return Resolved(reports_commit, trades_commit, touched, outcomes)


def _check_outcomes(
    spark: SparkSession, settings: Settings, outcomes: dict[date, DayOutcome], commit: Commit
) -> None:
    broken = {day: asdict(outcome) for day, outcome in outcomes.items() if not outcome.conserved}
    if broken:
        raise ConservationError(
            f"resolved days do not add up (reports != current + cancelled + superseded): "
            f"{broken}. This is a bug: report it with the run summary"
        )
    summary = summary_of(java_table(spark, settings.table(TRADES.name)), commit.snapshot_id)
    written = int((summary or {}).get("added-records") or 0)
    current = sum(outcome.current for outcome in outcomes.values())
    if summary is not None and written != current:
        raise ConservationError(
            f"trades snapshot {commit.snapshot_id} added {written} rows, but {current} reports "
            "are current. This is a bug: report it with the run summary"
        )


def outcome_summary(resolved: Resolved) -> dict[str, Any]:
    """The run summary's view of the resolution: per day, its counts."""
    return {day.isoformat(): asdict(outcome) for day, outcome in sorted(resolved.outcomes.items())}
