"""Table maintenance: compaction, manifest rewrite, snapshot expiry, orphans, retention.

Every number reported comes from Iceberg metadata tables (``.files``, ``.snapshots``,
``.manifests``, ``.partitions``): maintenance never scans table data to measure it.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pyspark.sql import Row, SparkSession

from tradelake import aws
from tradelake.config import Settings
from tradelake.errors import ConfigError, ConservationError, StorageError
from tradelake.history import current_snapshot_id
from tradelake.tables import JOB_RUNS, TableSpec, tradelake_table_spec

log = logging.getLogger("tradelake.maintenance")

STEPS = ("rewrite", "manifests", "expire", "orphans", "retention", "raw")
# Iceberg's binpack treats files under 75% of the target as too small.
SMALL_FILE_RATIO = 0.75
# Iceberg's remove_orphan_files procedure itself refuses anything younger than a day.
ABSOLUTE_MIN_ORPHAN_AGE_HOURS = 24.0


@dataclass(frozen=True)
class TableHealth:
    """A table's shape, from metadata only."""

    data_files: int
    bytes: int
    avg_file_bytes: int
    smallest_file_bytes: int
    snapshots: int
    manifests: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class PartitionScope:
    """Which days compaction may touch: all, one day, or every day since one."""

    day: date | None = None
    since: date | None = None

    def predicate(self, column: str) -> str | None:
        """The rows of the scope, on the table's date column (a filter Iceberg prunes by)."""
        if self.day is not None:
            return f"{column} = DATE'{self.day.isoformat()}'"
        if self.since is not None:
            return f"{column} >= DATE'{self.since.isoformat()}'"
        return None

    def files_predicate(self, spec: TableSpec) -> str | None:
        """The data files of the scope, on the ``.files`` metadata table.

        A date-partitioned table filters on its partition; the run history tables
        (partitioned by job) on the bounds of their date column's values in each file.
        """
        column = spec.date_column
        if column == spec.partition_column:
            predicate = self.predicate(column)
            return None if predicate is None else f"partition.{predicate}"
        bounds = f"readable_metrics.{column}"
        if self.day is not None:
            day = f"DATE'{self.day.isoformat()}'"
            return f"{bounds}.lower_bound <= {day} AND {bounds}.upper_bound >= {day}"
        if self.since is not None:
            return f"{bounds}.upper_bound >= DATE'{self.since.isoformat()}'"
        return None


def _one(spark: SparkSession, query: str) -> Any:
    row = spark.sql(query).first()
    assert row is not None  # aggregations without GROUP BY always return a row
    return row


def table_health(spark: SparkSession, table: str) -> TableHealth:
    """Data files, sizes, snapshots and manifests of ``table`` (metadata tables only)."""
    files = _one(
        spark,
        f"SELECT count(*) AS n, coalesce(sum(file_size_in_bytes), 0) AS total, "
        f"coalesce(min(file_size_in_bytes), 0) AS smallest FROM {table}.files WHERE content = 0",
    )
    snapshots = _one(spark, f"SELECT count(*) AS n FROM {table}.snapshots")
    manifests = _one(spark, f"SELECT count(*) AS n FROM {table}.manifests")
    count = int(files["n"])
    total = int(files["total"])
    return TableHealth(
        data_files=count,
        bytes=total,
        avg_file_bytes=total // count if count else 0,
        smallest_file_bytes=int(files["smallest"]),
        snapshots=int(snapshots["n"]),
        manifests=int(manifests["n"]),
    )


def resolve_tables(spark: SparkSession, settings: Settings, names: list[str]) -> list[TableSpec]:
    """The tradelake tables to maintain: those named, or every one that exists.

    Raises:
        ConfigError: a named table is not a tradelake table or does not exist.
    """
    if names:
        specs = []
        for name in names:
            spec = tradelake_table_spec(name)
            if spec is None or not spark.catalog.tableExists(settings.table(name)):
                raise ConfigError(
                    f"--table {name}: no tradelake table {settings.table(name)}; existing: "
                    f"{[s.name for s in resolve_tables(spark, settings, [])]}"
                )
            specs.append(spec)
        return specs
    if not spark.catalog.databaseExists(f"lake.{settings.database}"):
        return []
    existing = sorted(
        row.tableName for row in spark.sql(f"SHOW TABLES IN lake.{settings.database}").collect()
    )
    return [spec for name in existing if (spec := tradelake_table_spec(name)) is not None]


def orphan_age_floor_hours(spark: SparkSession, settings: Settings) -> float:
    """The youngest age at which a file may be an orphan: the longest recorded job run."""
    table = settings.table(JOB_RUNS.name)
    longest = 0.0
    if spark.catalog.tableExists(table):
        row = _one(spark, f"SELECT coalesce(max(seconds), 0) AS longest FROM {table}")
        longest = float(row["longest"]) / 3600
    return max(longest, ABSOLUTE_MIN_ORPHAN_AGE_HOURS)


def check_orphan_age(requested_hours: float, floor_hours: float, force: bool) -> None:
    """Refuse an orphan age that could delete the files of a running job.

    Raises:
        ConfigError: ``requested_hours`` is below ``floor_hours`` and not forced.
    """
    if requested_hours < ABSOLUTE_MIN_ORPHAN_AGE_HOURS:
        raise ConfigError(
            f"--orphan-age-hours {requested_hours:g} is below the safe minimum of "
            f"{ABSOLUTE_MIN_ORPHAN_AGE_HOURS:g} h (Iceberg refuses younger orphans); use a "
            "larger age"
        )
    if requested_hours < floor_hours and not force:
        raise ConfigError(
            f"--orphan-age-hours {requested_hours:g} is below the safe minimum of "
            f"{floor_hours:.2f} h (the longest recorded job run): files of a running job "
            "could be deleted. Use a larger age, or --force if no job can be running"
        )


def _sql_timestamp(moment: datetime) -> str:
    return f"TIMESTAMP'{moment.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S.%f')}'"


def _call_row(spark: SparkSession, statement: str) -> dict[str, Any]:
    row = spark.sql(statement).first()
    return row.asDict() if row is not None else {}


def _identifier(settings: Settings, spec: TableSpec) -> str:
    return f"{settings.database}.{spec.name}"


def rewrite_data_files(
    spark: SparkSession,
    settings: Settings,
    spec: TableSpec,
    scope: PartitionScope,
    dry_run: bool,
) -> dict[str, Any]:
    """Binpack (or sort, where the spec has a sort order) small files toward the target size.

    Partitions with fewer than ``min_input_files`` small files are healthy and skipped.
    Partial progress commits each file group on its own, so one failed group does not
    lose the others; failed groups are reported, never hidden.
    """
    maintenance = settings.maintenance
    target = maintenance.target_file_size_mb * 1024 * 1024
    predicate = scope.predicate(spec.date_column)
    if dry_run:
        files = scope.files_predicate(spec)
        where = f"AND {files}" if files else ""
        row = _one(
            spark,
            f"SELECT count(*) AS files, count(DISTINCT partition) AS partitions FROM ("
            f"SELECT partition, count(*) OVER (PARTITION BY partition) AS small "
            f"FROM {settings.table(spec.name)}.files WHERE content = 0 "
            f"AND file_size_in_bytes < {int(target * SMALL_FILE_RATIO)} {where}) "
            f"WHERE small >= {maintenance.min_input_files}",
        )
        return {"would_rewrite_files": int(row["files"]), "partitions": int(row["partitions"])}
    options = {
        "target-file-size-bytes": str(target),
        "min-input-files": str(maintenance.min_input_files),
        "partial-progress.enabled": "true",
        "partial-progress.max-commits": "10",
    }
    option_map = ", ".join(f"'{key}', '{value}'" for key, value in options.items())
    arguments = [
        f"table => '{_identifier(settings, spec)}'",
        f"options => map({option_map})",
    ]
    if spec.sort_order:
        arguments += ["strategy => 'sort'", f"sort_order => '{','.join(spec.sort_order)}'"]
    if predicate:
        arguments.append(f'where => "{predicate}"')
    table = settings.table(spec.name)
    before = current_snapshot_id(spark, table)
    result = _call_row(spark, f"CALL lake.system.rewrite_data_files({', '.join(arguments)})")
    verified = verify_rewrites(spark, table, before)
    return {
        "rewritten_files": int(result.get("rewritten_data_files_count", 0)),
        "added_files": int(result.get("added_data_files_count", 0)),
        "rewritten_bytes": int(result.get("rewritten_bytes_count", 0)),
        "failed_files": int(result.get("failed_data_files_count", 0)),
        "verified_partitions": verified,
    }


def rewrite_mismatches(entries: list[Row]) -> list[str]:
    """Partitions of rewrite commits whose added rows differ from the rows they replaced.

    ``entries``: one row per (snapshot_id, partition, status) with the summed
    ``records`` of the data files the commit added (status 1) or deleted (status 2).
    """
    counts: dict[tuple[int, str], dict[int, int]] = {}
    for entry in entries:
        key = (int(entry["snapshot_id"]), str(entry["partition"]))
        counts.setdefault(key, {})[int(entry["status"])] = int(entry["records"])
    return [
        f"snapshot {snapshot}, partition {partition}: {added.get(2, 0)} rows replaced by "
        f"{added.get(1, 0)}"
        for (snapshot, partition), added in sorted(counts.items())
        if added.get(1, 0) != added.get(2, 0)
    ]


def verify_rewrites(spark: SparkSession, table: str, before: int | None) -> int:
    """Check every rewrite committed after ``before`` kept each partition's row count.

    Counted from manifest entries (metadata only): per partition, the rows of the files a
    ``replace`` commit added equal the rows of the files it removed. Returns the number of
    partitions checked.

    Raises:
        ConservationError: a rewrite changed a partition's row count (the message names
            the snapshot to roll back to).
    """
    since = (
        ""
        if before is None
        else f"AND committed_at > (SELECT committed_at FROM {table}.snapshots "
        f"WHERE snapshot_id = {before})"
    )
    entries = spark.sql(
        f"SELECT e.snapshot_id, CAST(e.data_file.partition AS STRING) AS partition, "
        f"e.status, sum(e.data_file.record_count) AS records "
        f"FROM {table}.all_entries e JOIN ("
        f"SELECT snapshot_id FROM {table}.snapshots WHERE operation = 'replace' {since}) s "
        f"ON e.snapshot_id = s.snapshot_id "
        f"WHERE e.status IN (1, 2) AND e.data_file.content = 0 "
        f"GROUP BY e.snapshot_id, CAST(e.data_file.partition AS STRING), e.status"
    ).collect()
    mismatches = rewrite_mismatches(entries)
    if mismatches:
        raise ConservationError(
            f"{table}: compaction changed row counts ({'; '.join(mismatches[:5])}). Roll "
            f"back with CALL lake.system.rollback_to_snapshot('{table.removeprefix('lake.')}'"
            f", {before}) and report this with the run summary"
        )
    return len({(int(entry["snapshot_id"]), str(entry["partition"])) for entry in entries})


def rewrite_manifests(
    spark: SparkSession, settings: Settings, spec: TableSpec, manifests: int, dry_run: bool
) -> dict[str, Any]:
    """Rewrite manifests when the table has more than ``max_manifests`` of them."""
    if manifests <= settings.maintenance.max_manifests:
        return {"skipped": f"{manifests} manifests <= {settings.maintenance.max_manifests}"}
    if dry_run:
        return {"would_rewrite_manifests": manifests}
    result = _call_row(
        spark, f"CALL lake.system.rewrite_manifests(table => '{_identifier(settings, spec)}')"
    )
    return {
        "rewritten_manifests": int(result.get("rewritten_manifests_count", 0)),
        "added_manifests": int(result.get("added_manifests_count", 0)),
    }


def expire_snapshots(
    spark: SparkSession, settings: Settings, spec: TableSpec, now: datetime, dry_run: bool
) -> dict[str, Any]:
    """Expire snapshots older than the configured age, always keeping the last N."""
    maintenance = settings.maintenance
    cutoff = now - timedelta(hours=maintenance.snapshot_max_age_hours)
    if dry_run:
        row = _one(
            spark,
            f"SELECT count(*) AS n FROM (SELECT committed_at, row_number() OVER "
            f"(ORDER BY committed_at DESC) AS newest FROM {settings.table(spec.name)}.snapshots)"
            f" WHERE committed_at < {_sql_timestamp(cutoff)} "
            f"AND newest > {maintenance.snapshots_to_keep}",
        )
        return {"would_expire_snapshots": int(row["n"])}
    result = _call_row(
        spark,
        f"CALL lake.system.expire_snapshots(table => '{_identifier(settings, spec)}', "
        f"older_than => {_sql_timestamp(cutoff)}, "
        f"retain_last => {maintenance.snapshots_to_keep})",
    )
    return {
        "deleted_data_files": int(result.get("deleted_data_files_count", 0)),
        "deleted_manifest_files": int(result.get("deleted_manifest_files_count", 0)),
        "deleted_manifest_lists": int(result.get("deleted_manifest_lists_count", 0)),
    }


def remove_orphan_files(
    spark: SparkSession,
    settings: Settings,
    spec: TableSpec,
    now: datetime,
    age_hours: float,
    dry_run: bool,
) -> dict[str, Any]:
    """Delete files under the table's location that no snapshot references, if old enough."""
    cutoff = now - timedelta(hours=age_hours)
    rows = spark.sql(
        f"CALL lake.system.remove_orphan_files(table => '{_identifier(settings, spec)}', "
        f"older_than => {_sql_timestamp(cutoff)}, dry_run => {'true' if dry_run else 'false'})"
    ).collect()
    paths = sorted(str(row[0]) for row in rows)
    key = "would_remove_orphans" if dry_run else "removed_orphans"
    return {key: len(paths), "orphans": paths[:50]}


@dataclass(frozen=True)
class RetentionPlan:
    """What a table's retention policy would delete: rows per expired date, and the total."""

    table: str
    retention_days: int
    cutoff: date
    # (date, rows) of every date older than the cutoff, oldest first.
    expired: list[tuple[date, int]]
    total_rows: int

    @property
    def rows(self) -> int:
        return sum(rows for _, rows in self.expired)

    @property
    def share(self) -> float:
        """Share of the table's rows the plan deletes (0 for an empty table)."""
        return self.rows / self.total_rows if self.total_rows else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff.isoformat(),
            "retention_days": self.retention_days,
            "rows": self.rows,
            "table_rows": self.total_rows,
            "share": round(self.share, 6),
            "dates": [{"date": day.isoformat(), "rows": rows} for day, rows in self.expired],
        }


def plan_retention(
    spark: SparkSession, settings: Settings, spec: TableSpec, today: date
) -> RetentionPlan | None:
    """The rows ``spec``'s retention policy would delete today; None without a policy.

    Partition-dated tables are counted from the ``.partitions`` metadata table; the run
    history tables (partitioned by job) count their date column, a small scan.
    """
    days = settings.maintenance.retention_for(spec.name)
    if days is None:
        return None
    cutoff = today - timedelta(days=days)
    table = settings.table(spec.name)
    column = spec.date_column
    if column == spec.partition_column:
        source = f"SELECT partition.{column} AS day, record_count AS n FROM {table}.partitions"
    else:
        source = f"SELECT {column} AS day, count(*) AS n FROM {table} GROUP BY {column}"
    rows = spark.sql(f"SELECT day, sum(n) AS n FROM ({source}) GROUP BY day").collect()
    by_day = {row["day"]: int(row["n"]) for row in rows}
    expired = sorted((day, n) for day, n in by_day.items() if day is not None and day < cutoff)
    return RetentionPlan(spec.name, days, cutoff, expired, sum(by_day.values()))


def check_retention_share(plans: list[RetentionPlan], max_share: float, force: bool) -> None:
    """Refuse a retention run that would delete more than ``max_share`` of a table.

    Raises:
        ConfigError: a plan exceeds the share and ``force`` is not set; nothing was deleted.
    """
    over = [plan for plan in plans if plan.share > max_share]
    if over and not force:
        described = ", ".join(
            f"{plan.table}: {plan.rows} of {plan.total_rows} rows ({plan.share:.0%}, dates "
            f"before {plan.cutoff})"
            for plan in over
        )
        raise ConfigError(
            f"retention would delete more than {max_share:.0%} of a table ({described}); "
            "nothing was deleted. Check maintenance.retention_days "
            "(TRADELAKE_MAINTENANCE__RETENTION_DAYS) and the clock, review the plan with "
            "--dry-run, and rerun with --force if it is meant"
        )


def apply_retention(
    spark: SparkSession, settings: Settings, spec: TableSpec, plan: RetentionPlan, dry_run: bool
) -> dict[str, Any]:
    """Delete the rows of ``plan`` (whole partitions where the table is partitioned by date)."""
    result = plan.as_dict()
    if dry_run:
        return {**result, "would_delete_rows": plan.rows}
    if plan.rows:
        spark.sql(
            f"DELETE FROM {settings.table(spec.name)} "
            f"WHERE {spec.date_column} < DATE'{plan.cutoff.isoformat()}'"
        )
    return {**result, "deleted_rows": plan.rows}


@dataclass(frozen=True)
class RawDay:
    """One landing folder of the raw root and its files."""

    day: date
    files: list[str]


def _raw_day(name: str) -> date | None:
    if not name.startswith("date="):
        return None
    try:
        return date.fromisoformat(name.removeprefix("date="))
    except ValueError:
        return None


def expire_raw_files(
    settings: Settings, today: date, dry_run: bool, s3_client: Any = None
) -> dict[str, Any]:
    """Delete raw landing files of days older than ``raw_retention_days``.

    Only ``<raw root>/trades/date=YYYY-MM-DD/`` folders are considered; anything else
    under the raw root, and anything outside it, is never touched.
    """
    days = settings.maintenance.raw_retention_days
    if days is None:
        return {"skipped": "no raw retention configured (maintenance.raw_retention_days)"}
    cutoff = today - timedelta(days=days)
    root = settings.raw_root
    if root.startswith("s3://"):
        removed = _expire_raw_s3(root, cutoff, dry_run, s3_client or aws.client("s3", settings))
    else:
        removed = _expire_raw_local(Path(root.removeprefix("file:")), cutoff, dry_run)
    key = "would_delete_files" if dry_run else "deleted_files"
    return {
        "cutoff": cutoff.isoformat(),
        "retention_days": days,
        key: sum(len(day.files) for day in removed),
        "days": [day.day.isoformat() for day in removed],
    }


def _expire_raw_local(root: Path, cutoff: date, dry_run: bool) -> list[RawDay]:
    trades = (root / "trades").resolve()
    if not trades.is_dir():
        return []
    expired = []
    for folder in sorted(trades.iterdir()):
        day = _raw_day(folder.name)
        resolved = folder.resolve()
        # A symlinked folder pointing elsewhere is outside the raw root: never followed.
        if day is None or day >= cutoff or resolved.parent != trades or not folder.is_dir():
            continue
        files = sorted(str(path) for path in folder.rglob("*") if path.is_file())
        expired.append(RawDay(day, files))
        if not dry_run:
            shutil.rmtree(folder)
    return expired


def _expire_raw_s3(root: str, cutoff: date, dry_run: bool, client: Any) -> list[RawDay]:
    parsed = urlparse(root)
    bucket, prefix = parsed.netloc, parsed.path.strip("/")
    trades_prefix = f"{prefix}/trades/" if prefix else "trades/"
    by_day: dict[date, list[str]] = {}
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{trades_prefix}date="
    ):
        for item in page.get("Contents", []):
            key = item["Key"]
            folder = key.removeprefix(trades_prefix).split("/", 1)[0]
            day = _raw_day(folder)
            if day is not None and day < cutoff and key.startswith(trades_prefix):
                by_day.setdefault(day, []).append(key)
    expired = [RawDay(day, sorted(keys)) for day, keys in sorted(by_day.items())]
    if not dry_run:
        keys = [key for day in expired for key in day.files]
        for start in range(0, len(keys), 1000):  # delete_objects takes 1000 keys at most
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            response = client.delete_objects(Bucket=bucket, Delete={"Objects": batch})
            if response.get("Errors"):
                raise StorageError(
                    f"could not delete raw files under s3://{bucket}/{trades_prefix}: "
                    f"{response['Errors'][:5]}; check the role's s3:DeleteObject permission "
                    "and rerun (deleting is idempotent)"
                )
    return [RawDay(day.day, [f"s3://{bucket}/{key}" for key in day.files]) for day in expired]


@dataclass(frozen=True)
class MaintenanceRequest:
    """What one maintenance run was asked to do (``jobs/compact.py``'s flags)."""

    steps: list[str]
    tables: list[str]
    scope: PartitionScope
    dry_run: bool
    orphan_age_hours: float | None
    force: bool


def maintain(
    spark: SparkSession,
    settings: Settings,
    summary: dict[str, Any],
    request: MaintenanceRequest,
    today: date,
) -> None:
    """Run the requested steps over the requested tables, filling the run summary.

    Retention is planned for every table before any step runs, so a run the share guard
    refuses changes nothing.

    Raises:
        ConfigError: a refused request (unknown table, unsafe orphan age, a retention that
            would delete too much of a table without ``force``).
        StorageError: some file groups could not be rewritten (the others were committed).
    """
    steps = request.steps or list(STEPS)
    summary.update(dry_run=request.dry_run, steps=steps, tables={})
    orphan_age = request.orphan_age_hours or settings.maintenance.orphan_min_age_hours
    if "orphans" in steps:
        check_orphan_age(orphan_age, orphan_age_floor_hours(spark, settings), request.force)
    specs = resolve_tables(spark, settings, request.tables)
    plans: dict[str, RetentionPlan] = {}
    if "retention" in steps:
        for spec in specs:
            plan = plan_retention(spark, settings, spec, today)
            if plan is not None:
                plans[spec.name] = plan
        try:
            check_retention_share(
                list(plans.values()), settings.maintenance.max_retention_share, request.force
            )
        except ConfigError as refusal:
            if not request.dry_run:
                raise
            summary["retention_refused"] = str(refusal)
    now = datetime.now(UTC)
    for spec in specs:
        table = settings.table(spec.name)
        report: dict[str, Any] = {"before": table_health(spark, table).as_dict()}
        summary["tables"][spec.name] = report
        if "rewrite" in steps:
            report["rewrite"] = rewrite_data_files(
                spark, settings, spec, request.scope, request.dry_run
            )
        if "manifests" in steps:
            manifests = table_health(spark, table).manifests
            report["manifests"] = rewrite_manifests(
                spark, settings, spec, manifests, request.dry_run
            )
        if "retention" in steps:
            plan = plans.get(spec.name)
            report["retention"] = (
                apply_retention(spark, settings, spec, plan, request.dry_run)
                if plan is not None
                else {"skipped": "no retention policy (maintenance.retention_days)"}
            )
        if "expire" in steps:
            report["expire"] = expire_snapshots(spark, settings, spec, now, request.dry_run)
        if "orphans" in steps:
            report["orphans"] = remove_orphan_files(
                spark, settings, spec, now, orphan_age, request.dry_run
            )
        report["after"] = table_health(spark, table).as_dict()
    if "raw" in steps:
        summary["raw"] = expire_raw_files(settings, today, request.dry_run)
    print("\n".join(format_report(summary["tables"])), flush=True)
    failed = {
        name: report["rewrite"]["failed_files"]
        for name, report in summary["tables"].items()
        if report.get("rewrite", {}).get("failed_files")
    }
    if failed:
        raise StorageError(
            f"compaction could not rewrite some file groups {failed} (commit conflicts are "
            "retried first); the other groups were committed; rerun to retry"
        )


def format_report(tables: dict[str, dict[str, Any]]) -> list[str]:
    """Before/after table of every maintained table, for people."""
    header = (
        f"{'table':<22}{'files':>14}{'avg KiB':>16}{'min KiB':>16}"
        f"{'snapshots':>12}{'manifests':>12}{'MiB':>14}"
    )
    lines = [header]
    for name, report in tables.items():
        before = report.get("before", {})
        after = report.get("after", before)

        def pair(key: str, scale: float = 1.0, before: Any = before, after: Any = after) -> str:
            return f"{before.get(key, 0) / scale:.0f} -> {after.get(key, 0) / scale:.0f}"

        lines.append(
            f"{name:<22}{pair('data_files'):>14}{pair('avg_file_bytes', 1024):>16}"
            f"{pair('smallest_file_bytes', 1024):>16}{pair('snapshots'):>12}"
            f"{pair('manifests'):>12}{pair('bytes', 1024 * 1024):>14}"
        )
    return lines
