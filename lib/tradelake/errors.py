"""Named errors, each carrying the process exit code a job ends with, and what each
exit code means.

Exit codes are part of the public interface (README, schedulers retry on them):
0 ok, 1 failure, 2 bad arguments or configuration, 3 quality gate failed,
4 no input for the date. This module is their one home: the Airflow DAG
(orchestration.py), the report and the tests read them from here.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The exit codes of every tradelake job and tool."""

    OK = 0
    FAILURE = 1
    CONFIG = 2
    QUALITY_GATE = 3
    NO_INPUT = 4


# What each exit code means, for logs, alerts and the report.
EXIT_MEANINGS: dict[int, str] = {
    ExitCode.OK: "ok",
    ExitCode.FAILURE: "failure",
    ExitCode.CONFIG: "bad configuration",
    ExitCode.QUALITY_GATE: "quality gate failed: trades not published",
    ExitCode.NO_INPUT: "no input yet",
}
# A rerun of the same input fails the same way: a scheduler fails these at once instead
# of retrying. 1 (transient), 4 (input not there yet) and a killed process are retried.
FAIL_FAST_EXIT_CODES = frozenset({ExitCode.CONFIG, ExitCode.QUALITY_GATE})


def exit_meaning(exit_code: int) -> str:
    """What ``exit_code`` means; a code no job returns is a killed or crashed process."""
    return EXIT_MEANINGS.get(exit_code, "killed or crashed")


# The errors carry plain ints (``.value``): a summary, a job_runs row or sys.exit gets
# the number, never the enum.


class TradelakeError(Exception):
    """Base class: a failure the job reports with a message and an exit code."""

    exit_code: int = ExitCode.FAILURE.value


class ConfigError(TradelakeError):
    """Configuration or arguments are invalid; nothing was read or written."""

    exit_code = ExitCode.CONFIG.value


class StorageError(TradelakeError):
    """Storage could not be reached or read (bucket, endpoint, permissions)."""

    exit_code = ExitCode.FAILURE.value


class QualityGateError(TradelakeError):
    """An error-level quality check failed; the batch was not published."""

    exit_code = ExitCode.QUALITY_GATE.value


class NoInputError(TradelakeError):
    """The input for the date does not exist (yet); a scheduler may retry later."""

    exit_code = ExitCode.NO_INPUT.value


class ConservationError(TradelakeError):
    """Counts do not add up: records_read != loaded + duplicates_dropped + rejected."""

    exit_code = ExitCode.FAILURE.value


class DataLossError(TradelakeError):
    """Offsets the topic's retention deleted before they were landed; nothing was published.

    Rerun ``land_kafka`` with ``--allow-data-loss`` to land from the earliest available
    offset (the gap is reported in the summary), or restore the messages first.
    """

    exit_code = ExitCode.FAILURE.value


class LandingConflictError(TradelakeError):
    """Every landing attempt lost its commit to another writer; nothing was published."""

    exit_code = ExitCode.FAILURE.value
