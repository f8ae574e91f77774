"""Build the ``daily_volume`` partition of one day from ``trades``.

./spark-submit.sh jobs/daily_volume.py --date 2025-01-15
"""

from __future__ import annotations

import sys

from tradelake.config import load_settings
from tradelake.gold.checks import DAILY_VOLUME_COLUMNS
from tradelake.gold.job import run_gold
from tradelake.gold.transform import daily_volume
from tradelake.observe import observe, table_ref
from tradelake.runtime import Run, configure_logging, job_parser, parse_job_args, run_job
from tradelake.session import build_session
from tradelake.tables import DAILY_VOLUME, TRADES


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args = parse_job_args(job_parser("daily_volume", __doc__ or ""), argv)

    def body(run: Run) -> None:
        settings = load_settings(args.tradelake_settings, database=args.database)
        spark = build_session(settings, "tradelake-daily-volume")
        observe(
            run,
            spark,
            settings,
            inputs=lambda summary: [table_ref(spark, settings, TRADES.name)],
            outputs=[DAILY_VOLUME.name],
            parent_id=args.openlineage_parent_id,
            root_parent_id=args.openlineage_root_parent_id,
        )
        run_gold(spark, settings, run, DAILY_VOLUME, DAILY_VOLUME_COLUMNS, daily_volume)

    return run_job("daily_volume", args.date, body)


if __name__ == "__main__":
    sys.exit(main())
