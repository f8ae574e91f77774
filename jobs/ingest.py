"""Ingest one landing of raw trade files: ``trade_reports``, ``trades``, ``trades_rejected``.

./spark-submit.sh jobs/ingest.py --date 2025-01-15 [--source kafka]
"""

from __future__ import annotations

import sys
from typing import Any

from tradelake.config import load_settings
from tradelake.ingest.job import run_ingest
from tradelake.io import day_uri as landing_day_uri
from tradelake.lineage import DatasetRef, raw_dataset, table_dataset
from tradelake.observe import observe
from tradelake.runtime import Run, configure_logging, job_parser, parse_job_args, run_job
from tradelake.session import build_session
from tradelake.tables import TRADE_REPORTS, TRADES, TRADES_LANDED, TRADES_REJECTED


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    parser = job_parser("ingest", __doc__ or "")
    parser.add_argument("--raw-uri", help="raw landing root (TRADELAKE_RAW_URI)")
    parser.add_argument(
        "--source",
        choices=["files", "kafka"],
        default="files",
        help="files: the raw landing folder of the day (default); kafka: the messages "
        "jobs/land_kafka.py landed in trades_landed with landing_date = the day",
    )
    parser.add_argument(
        "--max-reject-ratio", type=float, help="quality gate: highest share of rejected records"
    )
    args = parse_job_args(parser, argv)

    def body(run: Run) -> None:
        quality = (
            {"max_reject_ratio": args.max_reject_ratio}
            if args.max_reject_ratio is not None
            else None
        )
        settings = load_settings(
            args.tradelake_settings, raw_uri=args.raw_uri, database=args.database, quality=quality
        )
        spark = build_session(settings, "tradelake-ingest")
        day_uri = landing_day_uri(settings, run.day)

        def inputs(summary: dict[str, Any]) -> list[DatasetRef]:
            if args.source == "kafka":
                return [
                    table_dataset(
                        settings, TRADES_LANDED.name, row_count=summary.get("records_read")
                    )
                ]
            return [raw_dataset(day_uri, row_count=summary.get("records_read"))]

        observe(
            run,
            spark,
            settings,
            inputs=inputs,
            outputs=[TRADE_REPORTS.name, TRADES.name, TRADES_REJECTED.name],
            parent_id=args.openlineage_parent_id,
            root_parent_id=args.openlineage_root_parent_id,
        )
        run_ingest(spark, settings, run, source=args.source)

    return run_job("ingest", args.date, body)


if __name__ == "__main__":
    sys.exit(main())
