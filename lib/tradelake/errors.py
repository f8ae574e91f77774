"""Named errors, each carrying the process exit code a job ends with.

Exit codes are part of the public interface (README, schedulers retry on them):
0 ok, 1 failure, 2 bad arguments or configuration, 3 quality gate failed,
4 no input for the date.
"""

from __future__ import annotations


class TradelakeError(Exception):
    """Base class: a failure the job reports with a message and an exit code."""

    exit_code = 1


class ConfigError(TradelakeError):
    """Configuration or arguments are invalid; nothing was read or written."""

    exit_code = 2


class StorageError(TradelakeError):
    """Storage could not be reached or read (bucket, endpoint, permissions)."""

    exit_code = 1


class QualityGateError(TradelakeError):
    """An error-level quality check failed; the batch was not published."""

    exit_code = 3


class NoInputError(TradelakeError):
    """The input for the date does not exist (yet); a scheduler may retry later."""

    exit_code = 4


class ConservationError(TradelakeError):
    """Counts do not add up: records_read != loaded + duplicates_dropped + rejected."""

    exit_code = 1
