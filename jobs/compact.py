"""Keep every tradelake table healthy: compaction, manifests, expiry, orphans, retention.

./spark-submit.sh jobs/compact.py [--table trades] [--date D | --since D] [--dry-run]
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from typing import Any

from tradelake import maintenance as m
from tradelake.config import load_settings
from tradelake.deploy import apply_settings_argument
from tradelake.observe import observe
from tradelake.runtime import Run, configure_logging, iso_date, job_parser, parse_job_args, run_job
from tradelake.session import build_session


def parser() -> argparse.ArgumentParser:
    result = job_parser(
        "compact", __doc__ or "", date_help="compact only this partition date (default: all)"
    )
    result.add_argument("--since", type=iso_date, help="compact partitions from this date on")
    result.add_argument(
        "--table", action="append", default=[], help="only this table (repeatable; default all)"
    )
    result.add_argument(
        "--only", action="append", choices=m.STEPS, default=[], help="only these steps"
    )
    result.add_argument("--dry-run", action="store_true", help="report, change nothing")
    result.add_argument(
        "--orphan-age-hours",
        type=float,
        help="only files older than this are orphans (default maintenance.orphan_min_age_hours)",
    )
    result.add_argument(
        "--force", action="store_true", help="allow an orphan age below the safe minimum"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    # --date limits compaction to one partition; without it and --since, all partitions.
    args = parse_job_args(parser(), argv, default_yesterday=False)
    scope = m.PartitionScope(day=args.date, since=args.since)
    today = datetime.now(UTC).date()

    def body(run: Run) -> None:
        # On AWS Glue, configuration arrives as a job argument, not environment variables.
        apply_settings_argument(sys.argv[1:] if argv is None else argv)
        settings = load_settings(database=args.database)
        spark = build_session(settings, "tradelake-compact")
        if not args.dry_run:
            tables = [spec.name for spec in m.resolve_tables(spark, settings, args.table)]
            observe(run, spark, settings, inputs=lambda summary: [], outputs=tables)
        maintain(spark, settings, run, args, scope, today)

    return run_job("compact", args.date or today, body)


def maintain(
    spark: Any,
    settings: Any,
    run: Run,
    args: argparse.Namespace,
    scope: m.PartitionScope,
    today: date,
) -> None:
    """Run the selected steps over the selected tables, filling the run summary."""
    steps = args.only or list(m.STEPS)
    summary = run.summary
    summary.update(dry_run=args.dry_run, steps=steps, tables={})
    orphan_age = args.orphan_age_hours or settings.maintenance.orphan_min_age_hours
    if "orphans" in steps:
        m.check_orphan_age(orphan_age, m.orphan_age_floor_hours(spark, settings), args.force)
    now = datetime.now(UTC)
    for spec in m.resolve_tables(spark, settings, args.table):
        table = settings.table(spec.name)
        report: dict[str, Any] = {"before": m.table_health(spark, table).as_dict()}
        summary["tables"][spec.name] = report
        if "rewrite" in steps:
            report["rewrite"] = m.rewrite_data_files(spark, settings, spec, scope, args.dry_run)
        if "manifests" in steps:
            manifests = m.table_health(spark, table).manifests
            report["manifests"] = m.rewrite_manifests(
                spark, settings, spec, manifests, args.dry_run
            )
        if "retention" in steps:
            report["retention"] = m.apply_retention(spark, settings, spec, today, args.dry_run)
        if "expire" in steps:
            report["expire"] = m.expire_snapshots(spark, settings, spec, now, args.dry_run)
        if "orphans" in steps:
            report["orphans"] = m.remove_orphan_files(
                spark, settings, spec, now, orphan_age, args.dry_run
            )
        report["after"] = m.table_health(spark, table).as_dict()
    if "raw" in steps:
        summary["raw"] = m.expire_raw_files(settings, today, args.dry_run)
    print("\n".join(m.format_report(summary["tables"])), flush=True)
    failed = {
        name: report["rewrite"]["failed_files"]
        for name, report in summary["tables"].items()
        if report.get("rewrite", {}).get("failed_files")
    }
    if failed:
        raise RuntimeError(
            f"compaction could not rewrite some file groups {failed} (commit conflicts are "
            "retried first); the other groups were committed; rerun to retry"
        )


if __name__ == "__main__":
    sys.exit(main())
