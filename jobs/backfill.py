"""Run one job over a date range, or over a landing's gold dates, inside one Spark application.

    ./spark-submit.sh jobs/backfill.py ingest --start 2025-01-01 --end 2025-01-31 \\
        [--concurrency 3] [--resume] [-- job flags such as --interval 5m]
    ./spark-submit.sh jobs/backfill.py daily_volume --landing 2025-01-31
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from datetime import date
from pathlib import Path
from types import ModuleType

from tradelake.backfill import JOBS, landing_gold_dates, plan_dates, run_backfill
from tradelake.config import load_settings
from tradelake.errors import ConfigError, TradelakeError
from tradelake.runtime import (
    GOLD_JOBS,
    Run,
    add_settings_argument,
    configure_logging,
    iso_date,
    run_job,
    yesterday_utc,
)
from tradelake.session import build_session


def load_job(name: str) -> ModuleType:
    """The job script next to this one, imported once (its ``main`` is what runs)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(prog="jobs/backfill.py", description=__doc__)
    result.add_argument("job", choices=JOBS)
    result.add_argument("--start", type=iso_date, help="first date, YYYY-MM-DD")
    result.add_argument("--end", type=iso_date, help="last date (inclusive)")
    result.add_argument(
        "--landing",
        type=landing_date,
        help="instead of a range, the gold dates of this landing's latest published ingest "
        "(YYYY-MM-DD, or 'yesterday' in UTC as a schedule passes it); gold jobs only",
    )
    result.add_argument("--concurrency", type=int, default=2, help="dates run at once")
    result.add_argument(
        "--resume", action="store_true", help="skip dates already published from this input"
    )
    result.add_argument("--database", help="namespace of the tables (TRADELAKE_DATABASE)")
    add_settings_argument(result)
    return result


def landing_date(text: str) -> date:
    """``--landing``: an ISO date, or ``yesterday`` (UTC, the jobs' default day)."""
    if text == "yesterday":
        return yesterday_utc()
    return iso_date(text)


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    arguments = sys.argv[1:] if argv is None else argv
    own, _, job_flags = _split_on_dashes(arguments)
    args, unknown = parser().parse_known_args(own)
    job_flags = [*unknown, *job_flags]

    def body(run: Run) -> None:
        settings = load_settings(args.tradelake_settings, database=args.database)
        if args.landing is not None:
            if args.start is not None or args.end is not None or args.job not in GOLD_JOBS:
                raise ConfigError(
                    "--landing takes a gold job (daily_volume or ohlcv) and no --start/--end"
                )
            spark = build_session(settings, f"tradelake-backfill-{args.job}")
            dates = landing_gold_dates(spark, settings, args.landing)
            run.summary["landing"] = args.landing.isoformat()
        else:
            if args.start is None or args.end is None:
                raise ConfigError("give --start and --end (a range), or --landing")
            dates = plan_dates(args.start, args.end, settings, args.concurrency)
            spark = build_session(settings, f"tradelake-backfill-{args.job}")
        job = load_job(args.job)
        extra = ["--database", args.database] if args.database else []
        if args.tradelake_settings:
            extra += ["--tradelake-settings", args.tradelake_settings]

        def run_date(day: date) -> int:
            return int(job.main(["--date", day.isoformat(), *extra, *job_flags]))

        result = run_backfill(
            spark, settings, args.job, dates, args.concurrency, args.resume, run_date
        )
        run.summary.update(result)
        if result["failed"]:
            raise BackfillFailed(
                f"{len(result['failed'])} of {len(dates)} dates failed: {result['failed']} "
                "(exit code per date); fix them and rerun with --resume"
            )

    # The run's date: the landing, or the range's start (yesterday when neither was given:
    # the body then exits 2 naming what is missing).
    day = args.landing or args.start or yesterday_utc()
    return run_job("backfill", day, body)


class BackfillFailed(TradelakeError):
    """At least one date failed; the others are done."""

    exit_code = 1


def _split_on_dashes(arguments: list[str]) -> tuple[list[str], str, list[str]]:
    if "--" in arguments:
        index = arguments.index("--")
        return arguments[:index], "--", arguments[index + 1 :]
    return arguments, "", []


if __name__ == "__main__":
    sys.exit(main())
