"""What every job shares: arguments, structured logs, the JSON summary and exit codes."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tradelake.errors import ExitCode, TradelakeError

log = logging.getLogger("tradelake")

# The jobs, by the name each runs under (jobs/<name>.py, ``run_job``, job_runs.job, the
# Glue job names of tradelake.deploy, the Airflow task ids).
INGEST = "ingest"
DAILY_VOLUME = "daily_volume"
OHLCV = "ohlcv"
COMPACT = "compact"
LAND_KAFKA = "land_kafka"
# The jobs that build a day's gold tables from its trades.
GOLD_JOBS: tuple[str, ...] = (DAILY_VOLUME, OHLCV)
# A day's chain, in order: what a backfill reruns and the report's runs table shows.
DAILY_JOBS: tuple[str, ...] = (INGEST, *GOLD_JOBS)
# The jobs of raw files on a schedule; the Kafka landing job joins them when Kafka is used.
FILE_JOBS: tuple[str, ...] = (*DAILY_JOBS, COMPACT)
JOBS: tuple[str, ...] = (*FILE_JOBS, LAND_KAFKA)

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per log line; ``extra={...}`` fields become keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    """Send tradelake's structured logs to stderr, keeping stdout for the summary line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def yesterday_utc() -> date:
    """The default ``--date``: scheduled runs process the previous UTC day."""
    return datetime.now(UTC).date() - timedelta(days=1)


def iso_date(text: str) -> date:
    """argparse type for ``--date``: YYYY-MM-DD."""
    try:
        return date.fromisoformat(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD") from err


def job_parser(
    job: str,
    description: str,
    date_help: str = "partition date to process, YYYY-MM-DD (default: yesterday, UTC)",
) -> argparse.ArgumentParser:
    """Argument parser with the flags every job takes."""
    parser = argparse.ArgumentParser(prog=f"jobs/{job}.py", description=description)
    parser.add_argument("--date", type=iso_date, default=None, help=date_help)
    parser.add_argument("--database", help="namespace of the tables (TRADELAKE_DATABASE)")
    add_settings_argument(parser)
    # Set by the Airflow DAG (docs/lineage.md): on AWS Glue, which passes arguments but no
    # environment variables, these carry what OPENLINEAGE_PARENT_ID carries elsewhere. The
    # job hands them to observe(); a flag wins over the variable.
    parser.add_argument(
        "--openlineage-parent-id",
        help="the run that started this one, <namespace>/<job name>/<run id> "
        "(OPENLINEAGE_PARENT_ID)",
    )
    parser.add_argument(
        "--openlineage-root-parent-id",
        help="the root of that run's chain, same form (OPENLINEAGE_ROOT_PARENT_ID)",
    )
    return parser


def add_settings_argument(parser: argparse.ArgumentParser) -> None:
    """``--tradelake-settings JSON``: how an AWS Glue job receives its configuration."""
    parser.add_argument(
        "--tradelake-settings",
        metavar="JSON",
        help="settings as a JSON object, over the environment and under the flags "
        "(AWS Glue jobs get their configuration this way: python -m tradelake.deploy)",
    )


def parse_job_args(
    parser: argparse.ArgumentParser, argv: list[str] | None, *, default_yesterday: bool = True
) -> argparse.Namespace:
    """Parse known flags; unknown ones (AWS Glue adds ``--JOB_NAME`` …) are logged, not fatal.

    ``--date`` defaults to yesterday (UTC) unless ``default_yesterday`` is false.
    """
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        log.info("ignoring arguments this job does not define", extra={"ignored": unknown})
    if args.date is None and default_yesterday:
        args.date = yesterday_utc()
    return args


def describe_error(err: BaseException) -> str:
    """One line saying what failed; for a JVM error, the Java exception, not py4j's wrapper,
    and the AWS call it failed in (``aws_call``)."""
    java = getattr(err, "java_exception", None)
    if java is not None:
        try:
            text = str(java.toString()).splitlines()[0][:1000]
        except Exception:  # noqa: BLE001 - the gateway may be gone; fall back to Python's text
            pass
        else:
            call = aws_call(java)
            return f"{text} (during {call})" if call else text
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else ''}"[:1000]


# A frame of an AWS SDK v2 client call: ``software.amazon.awssdk.services.glue.DefaultGlueClient
# .getTable`` is Glue's GetTable (Iceberg's GlueCatalog and S3FileIO, Hadoop's S3A).
_AWS_CLIENT_CLASS = re.compile(r"software\.amazon\.awssdk\.services\.\w+\.Default(\w+)Client")
# The settings that point a service at an endpoint other than AWS's own (config.Settings).
_ENDPOINT_VARIABLES = {"S3": "TRADELAKE_S3_ENDPOINT", "Glue": "TRADELAKE_GLUE_ENDPOINT"}
# How far into a JVM error's causes and stack frames to look for the AWS call.
_CAUSES_SEARCHED = 8
_FRAMES_SEARCHED = 80


def aws_call(java_exception: Any) -> str | None:
    """The AWS call a JVM error failed in, e.g. ``Glue GetTable at http://127.0.0.1:5000``.

    Found from the error's stack (its root cause first, where the SDK's frames are): the
    client and operation of the first AWS SDK frame, with the endpoint the job was pointed
    at (``TRADELAKE_<SERVICE>_ENDPOINT``), else "AWS's endpoint". None when no AWS call is
    on the stack or the JVM cannot be asked.
    """
    try:
        chain: list[Any] = []
        throwable = java_exception
        while throwable is not None and len(chain) < _CAUSES_SEARCHED:
            chain.append(throwable)
            throwable = throwable.getCause()
        for cause in reversed(chain):
            for frame in list(cause.getStackTrace())[:_FRAMES_SEARCHED]:
                found = _AWS_CLIENT_CLASS.fullmatch(str(frame.getClassName()))
                if found:
                    service, method = found.group(1), str(frame.getMethodName())
                    endpoint = os.environ.get(_ENDPOINT_VARIABLES.get(service, ""), "")
                    where = endpoint or "AWS's endpoint"
                    return f"{service} {method[:1].upper()}{method[1:]} at {where}"
    except Exception:  # noqa: BLE001 - the gateway may be gone; the message stands without it
        return None
    return None


def new_run_id() -> str:
    """A run id sortable by start time: ``YYYYMMDDTHHMMSSZ-<8 hex>``."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def run_summaries(output: str) -> list[dict[str, Any]]:
    """Every JSON run summary line in a process's stdout, in order (a backfill prints one
    per date): the lines that are a JSON object with a ``status``; anything else a library
    printed is skipped."""
    found = []
    for line in output.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            parsed = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(parsed, dict) and "status" in parsed:
            found.append(parsed)
    return found


def last_summary(output: str) -> dict[str, Any] | None:
    """A job's JSON run summary from its stdout (``run_job`` prints it last), or None."""
    found = run_summaries(output)
    return found[-1] if found else None


@dataclass
class Run:
    """One run of a job: its id, the summary it fills, and what to do once it ends."""

    run_id: str
    job: str
    day: date
    started_at: datetime
    summary: dict[str, Any]
    finishers: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)

    def on_finish(self, finisher: Callable[[dict[str, Any]], None]) -> None:
        """Call ``finisher(summary)`` after the run ends, whatever its status."""
        self.finishers.append(finisher)


def run_job(job: str, day: date, body: Callable[[Run], None]) -> int:
    """Run ``body(run)``, then print the run summary as the last stdout line.

    ``body`` fills ``run.summary`` as it goes, so a failure still reports what was done.
    Returns the exit code: 0, or the code of the ``TradelakeError`` raised, or 1.
    """
    run = Run(
        run_id=new_run_id(),
        job=job,
        day=day,
        started_at=datetime.now(UTC),
        summary={},
    )
    summary = run.summary
    summary.update(run_id=run.run_id, job=job, date=day.isoformat())
    started = time.monotonic()
    exit_code = ExitCode.OK.value
    try:
        body(run)
        summary["status"] = "ok"
    except TradelakeError as err:
        exit_code = int(err.exit_code)
        summary["status"] = type(err).__name__
        summary["error"] = str(err)
        log.error(str(err), extra={"run_id": run.run_id, "exit_code": exit_code})
    except Exception as err:  # noqa: BLE001 - the run must still end with its summary line
        exit_code = ExitCode.FAILURE.value
        summary["status"] = "failed"
        summary["error"] = describe_error(err)
        log.exception("job failed", extra={"run_id": run.run_id})
    summary["exit_code"] = exit_code
    summary["seconds"] = round(time.monotonic() - started, 3)
    for finisher in run.finishers:
        try:
            finisher(summary)
        except Exception:  # noqa: BLE001 - bookkeeping must not change the run's outcome
            log.exception("could not record the run", extra={"run_id": run.run_id})
            summary["run_log_error"] = True
    print(json.dumps(summary, default=str), flush=True)
    return exit_code
