"""Make a one-off SparkApplication for one date from a deployed schedule: a rerun by hand.

    kubectl -n tradelake get scheduledsparkapp tradelake-ingest -o json \\
      | python3 k8s/rerun.py --date 2025-01-15 \\
      | kubectl create -f -

Reads a ScheduledSparkApplication (or a SparkApplication) as JSON on stdin and prints a
SparkApplication with the same spec (image, settings, sizing, retries), the job's
``--date`` set to the given date (replacing any), the job flags given after ``--``
appended, a new name ``<schedule>-<YYYYMMDD>-<4 hex>`` and a 7-day time to live.
Standard library only (Python 3.9+), so it runs wherever kubectl does.
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


class RerunError(ValueError):
    """The input cannot be turned into a rerun; the message says why."""


def without_date(arguments: list[str]) -> list[str]:
    """The job arguments minus any ``--date D`` or ``--date=D``."""
    kept: list[str] = []
    skip_next = False
    for argument in arguments:
        if skip_next:
            skip_next = False
        elif argument == "--date":
            skip_next = True
        elif not argument.startswith("--date="):
            kept.append(argument)
    return kept


def rerun_manifest(
    source: dict[str, Any], day: date | None, extra: list[str], suffix: str
) -> dict[str, Any]:
    """A SparkApplication running ``source``'s job for ``day`` (default: the job's own).

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
    arguments = without_date(list(spec.get("arguments") or []))
    if day is not None:
        arguments += ["--date", day.isoformat()]
        labels["tradelake.io/date"] = day.isoformat()
    spec["arguments"] = arguments + extra
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
    parser.add_argument("--date", type=iso_date, help="the date to run (default: the job's)")
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
