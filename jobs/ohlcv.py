"""Build the OHLCV bars of one day, ``ohlcv_<interval>``, from ``trades``.

./spark-submit.sh jobs/ohlcv.py --date 2025-01-15 --interval 5m [--fill forward]
"""

from __future__ import annotations

import sys

from pyspark.sql import DataFrame

from tradelake.config import interval_seconds, load_settings
from tradelake.gold.checks import OHLCV_COLUMNS
from tradelake.gold.job import run_gold
from tradelake.gold.transform import FILL_MODES, fill_forward, ohlcv_bars
from tradelake.observe import observe, table_ref
from tradelake.runtime import Run, configure_logging, job_parser, parse_job_args, run_job
from tradelake.session import build_session
from tradelake.tables import TRADES, ohlcv_spec


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    parser = job_parser("ohlcv", __doc__ or "")
    parser.add_argument(
        "--interval",
        default="1m",
        help="bar length: <n>m, <n>h or 1d dividing a day, e.g. 1m, 5m, 15m, 1h, 1d "
        "(default 1m); the table is ohlcv_<interval>",
    )
    parser.add_argument(
        "--fill",
        choices=FILL_MODES,
        default="none",
        help="forward: add empty bars between a symbol's first and last bar of the day",
    )
    args = parse_job_args(parser, argv)

    def body(run: Run) -> None:
        seconds = interval_seconds(args.interval)
        run.summary.update(interval=args.interval, fill=args.fill)
        settings = load_settings(args.tradelake_settings, database=args.database)
        spark = build_session(settings, "tradelake-ohlcv")
        spec = ohlcv_spec(args.interval)
        observe(
            run,
            spark,
            settings,
            inputs=lambda summary: [table_ref(spark, settings, TRADES.name)],
            outputs=[spec.name],
            parent_id=args.openlineage_parent_id,
            root_parent_id=args.openlineage_root_parent_id,
        )

        def build(trades_day: DataFrame) -> DataFrame:
            bars = ohlcv_bars(trades_day, seconds)
            return fill_forward(bars, seconds) if args.fill == "forward" else bars

        run_gold(spark, settings, run, spec, OHLCV_COLUMNS, build)

    return run_job("ohlcv", args.date, body)


if __name__ == "__main__":
    sys.exit(main())
