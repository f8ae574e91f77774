"""Land a Kafka topic into ``trades_landed``, exactly once (offsets committed with the rows).

./spark-submit.sh jobs/land_kafka.py --topic trades [--max-offsets-per-partition N]
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from tradelake.config import load_settings
from tradelake.kafka_landing import land
from tradelake.lineage import kafka_dataset
from tradelake.observe import observe
from tradelake.runtime import Run, configure_logging, job_parser, parse_job_args, run_job
from tradelake.session import build_session
from tradelake.tables import TRADES_LANDED


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    parser = job_parser(
        "land_kafka",
        __doc__ or "",
        date_help="run date recorded in job_runs (default: today, UTC); offsets decide what lands",
    )
    parser.add_argument("--topic", help="topic to land (TRADELAKE_KAFKA__TOPIC, default trades)")
    parser.add_argument(
        "--max-offsets-per-partition",
        type=int,
        help="read at most this many offsets per partition in this run (the rest lands next run)",
    )
    parser.add_argument(
        "--allow-data-loss",
        action="store_true",
        help="land from the earliest available offset when the topic's retention deleted "
        "offsets before they were landed (the gap is reported); without it the run fails",
    )
    args = parse_job_args(parser, argv, default_yesterday=False)
    day = args.date or datetime.now(UTC).date()

    def body(run: Run) -> None:
        settings = load_settings(args.tradelake_settings, database=args.database)
        topic = args.topic or settings.kafka.topic
        cap = args.max_offsets_per_partition or settings.kafka.max_offsets_per_partition
        spark = build_session(settings, "tradelake-land-kafka")
        servers = settings.kafka.bootstrap_servers or ""
        observe(
            run,
            spark,
            settings,
            inputs=lambda summary: [
                kafka_dataset(
                    servers, topic, row_count=(summary.get("kafka") or {}).get("messages")
                )
            ],
            outputs=[TRADES_LANDED.name],
            parent_id=args.openlineage_parent_id,
            root_parent_id=args.openlineage_root_parent_id,
        )
        land(spark, settings, run, topic, cap, args.allow_data_loss)

    if args.max_offsets_per_partition is not None and args.max_offsets_per_partition < 1:
        parser.error("--max-offsets-per-partition must be at least 1")
    return run_job("land_kafka", day, body)


if __name__ == "__main__":
    sys.exit(main())
