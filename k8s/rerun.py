"""Make a one-off SparkApplication for one date from a deployed schedule: a rerun by hand.

    kubectl -n tradelake get scheduledsparkapp tradelake-ingest -o json \\
      | python3 k8s/rerun.py --date 2025-01-15 \\
      | kubectl create -f -

Reads a ScheduledSparkApplication (or a SparkApplication) as JSON on stdin and prints a
SparkApplication with the same spec (image, settings, sizing, retries) run for the given
date, the job flags given after ``--`` added, a new name ``<schedule>-<YYYYMMDD>-<4 hex>``
and a 7-day time to live. The date is what the schedule would have run the next morning:

- for most jobs, the job's ``--date`` (replacing any);
- for the gold schedules, which run ``jobs/backfill.py <job> --landing yesterday``, the
  landing: ``--landing <date>`` rebuilds the gold of every day that landing's latest
  ingest changed, and the job flags go after backfill's ``--``, to each date's job.

Without ``--date``, yesterday (UTC), as the schedule. Standard library only (Python
3.9+), so it runs wherever kubectl does.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import secrets
import sys
from datetime import date
from typing import Any

GROUP_VERSION = "sparkoperator.k8s.io/v1beta2"
SCHEDULE_LABEL = "sparkoperator.k8s.io/scheduled-app-name"
TTL_SECONDS = 7 * 24 * 3600
# The operator names the Spark UI service "<application>-ui-svc", a DNS-1035 label
# of at most 63 characters.
MAX_NAME = 63 - len("-ui-svc")
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DATE_FLAG = "--date"
# A gold schedule runs jobs/backfill.py over a landing's gold dates: its day is the landing,
# "yesterday" (UTC) on the schedule, and the flags after "--" are each date's job's.
LANDING_FLAG = "--landing"
SCHEDULED_LANDING = "yesterday"
JOB_FLAGS = "--"


class RerunError(ValueError):
    """The input cannot be turned into a rerun; the message says why."""


def without_flag(arguments: list[str], flag: str) -> list[str]:
    """The arguments minus any ``flag V`` or ``flag=V``."""
    kept: list[str] = []
    skip_next = False
    for argument in arguments:
        if skip_next:
            skip_next = False
        elif argument == flag:
            skip_next = True
        elif not argument.startswith(f"{flag}="):
            kept.append(argument)
    return kept


def rerun_arguments(arguments: list[str], day: date | None, extra: list[str]) -> list[str]:
    """The job's ``arguments`` set to run ``day`` (None: yesterday), with ``extra`` job flags.

    A backfill of a landing's gold dates (``--landing`` before any ``--``) gets
    ``--landing day`` and ``extra`` after its ``--``, so that they reach each date's job
    rather than backfill; any other job gets ``--date day`` and ``extra`` at the end.
    """
    own, job_flags = arguments, []
    if JOB_FLAGS in arguments:
        index = arguments.index(JOB_FLAGS)
        own, job_flags = arguments[:index], arguments[index + 1 :]
    if any(arg == LANDING_FLAG or arg.startswith(f"{LANDING_FLAG}=") for arg in own):
        landing = day.isoformat() if day is not None else SCHEDULED_LANDING
        job_flags = [*job_flags, *extra]
        tail = [JOB_FLAGS, *job_flags] if job_flags else []
        return [*without_flag(own, LANDING_FLAG), LANDING_FLAG, landing, *tail]
    dated = without_flag(arguments, DATE_FLAG)
    if day is not None:
        dated += [DATE_FLAG, day.isoformat()]
    return [*dated, *extra]


def rerun_manifest(
    source: dict[str, Any], day: date | None, extra: list[str], suffix: str
) -> dict[str, Any]:
    """A SparkApplication running ``source``'s job for ``day`` (default: the job's own).

    ``day`` is the job's ``--date``, or the landing of a gold schedule (``rerun_arguments``).

    Raises:
        RerunError: ``source`` is not a (Scheduled)SparkApplication or the name is too long.
    """
    kind = source.get("kind")
    if kind == "ScheduledSparkApplication":
        spec = copy.deepcopy(source["spec"]["template"])
    elif kind == "SparkApplication":
        spec = copy.deepcopy(source["spec"])
    else:
        raise RerunError(
            f"expected a ScheduledSparkApplication or SparkApplication as JSON, got kind {kind!r}"
        )
    metadata = source.get("metadata", {})
    labels = dict(metadata.get("labels") or {})
    # A run the schedule created is named <schedule>-<timestamp>; name the rerun after
    # the schedule, and drop the operator's own labels so the schedule never counts it.
    base = labels.get(SCHEDULE_LABEL, metadata["name"])
    labels = {key: value for key, value in labels.items() if not key.startswith("sparkoperator.")}
    labels["tradelake.io/rerun-of"] = base
    spec["arguments"] = rerun_arguments(list(spec.get("arguments") or []), day, extra)
    if day is not None:
        labels["tradelake.io/date"] = day.isoformat()
    spec.setdefault("timeToLiveSeconds", TTL_SECONDS)
    name = f"{base}-{day:%Y%m%d}-{suffix}" if day is not None else f"{base}-now-{suffix}"
    if len(name) > MAX_NAME or not _DNS_1035.match(name):
        raise RerunError(
            f"rerun name {name!r} is not a DNS-1035 label of at most {MAX_NAME} characters; "
            "shorten the schedule's name"
        )
    result_metadata: dict[str, Any] = {"name": name, "labels": labels}
    if metadata.get("namespace"):
        result_metadata["namespace"] = metadata["namespace"]
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "SparkApplication",
        "metadata": result_metadata,
        "spec": spec,
    }


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD") from err


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="k8s/rerun.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--date",
        type=iso_date,
        help="the date to run, the landing for a gold schedule (default: the job's, yesterday)",
    )
    parser.add_argument("extra", nargs="*", help="job flags to add, after --")
    args = parser.parse_args(argv)
    try:
        source = json.load(sys.stdin)
        manifest = rerun_manifest(source, args.date, args.extra, secrets.token_hex(2))
    except (json.JSONDecodeError, KeyError, RerunError) as err:
        print(f"k8s/rerun.py: {err}", file=sys.stderr)
        return 2
    json.dump(manifest, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
