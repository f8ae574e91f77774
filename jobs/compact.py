"""Keep every tradelake table healthy: compaction, manifests, expiry, orphans, retention.

./spark-submit.sh jobs/compact.py [--table trades] [--date D | --since D] [--dry-run]
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from tradelake import maintenance as m
from tradelake.config import load_settings
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
        "--force",
        action="store_true",
        help="allow an orphan age below the longest recorded run, and a retention that "
        "deletes more than maintenance.max_retention_share of a table",
    )
    return result


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    # --date limits compaction to one partition; without it and --since, all partitions.
    args = parse_job_args(parser(), argv, default_yesterday=False)
    request = m.MaintenanceRequest(
        steps=args.only,
        tables=args.table,
        scope=m.PartitionScope(day=args.date, since=args.since),
        dry_run=args.dry_run,
        orphan_age_hours=args.orphan_age_hours,
        force=args.force,
    )
    today = datetime.now(UTC).date()

    def body(run: Run) -> None:
        settings = load_settings(args.tradelake_settings, database=args.database)
        spark = build_session(settings, "tradelake-compact")
        if not args.dry_run:
            tables = [spec.name for spec in m.resolve_tables(spark, settings, args.table)]
            observe(
                run,
                spark,
                settings,
                inputs=lambda summary: [],
                outputs=tables,
                parent_id=args.openlineage_parent_id,
                root_parent_id=args.openlineage_root_parent_id,
            )
        m.maintain(spark, settings, run.summary, request, today)

    return run_job("compact", args.date or today, body)


if __name__ == "__main__":
    sys.exit(main())
