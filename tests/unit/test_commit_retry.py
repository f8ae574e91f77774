"""Which write failures are retried as commit conflicts, and how long the job waits."""

from __future__ import annotations

import random

import pytest

from tradelake.errors import StorageError
from tradelake.writes import (
    COMMIT_ATTEMPTS,
    COMMIT_BACKOFF_MAX_SECONDS,
    COMMIT_BACKOFF_SECONDS,
    commit_backoff,
    is_commit_conflict,
    with_commit_retries,
)

CONFLICT = "org.apache.iceberg.exceptions.CommitFailedException: Cannot commit: stale metadata"


class Writer:
    """A write that loses ``conflicts`` races, then commits; ``landed`` reports the table."""

    def __init__(self, conflicts: int, error: str = CONFLICT, lands_anyway: bool = False):
        self.conflicts, self.error, self.lands_anyway = conflicts, error, lands_anyway
        self.attempts = 0

    def attempt(self) -> None:
        self.attempts += 1
        if self.attempts <= self.conflicts:
            raise RuntimeError(self.error)

    def landed(self) -> bool:
        return self.lands_anyway


@pytest.mark.parametrize(
    "message",
    [
        "An error occurred while calling o123.overwrite.\n: "
        "org.apache.iceberg.exceptions.CommitFailedException: Table metadata refresh is required",
        "org.apache.iceberg.exceptions.CommitStateUnknownException: Commit status unknown",
        "org.apache.iceberg.exceptions.ValidationException: Found conflicting files that can "
        "contain records matching (trade_date = 2025-01-15)",
        "java.sql.SQLException: [SQLITE_BUSY] The database file is locked (database is locked)",
    ],
)
def test_lost_commit_races_are_retryable(message: str) -> None:
    assert is_commit_conflict(RuntimeError(message))


@pytest.mark.parametrize(
    "message",
    [
        "org.apache.iceberg.exceptions.NoSuchTableException: Table does not exist: trading.trades",
        "java.io.FileNotFoundException: /lake/warehouse/trading/trades/data/x.parquet",
        "[CAST_INVALID_INPUT] The value 'abc' of the type STRING cannot be cast to DECIMAL",
    ],
)
def test_other_failures_are_not_retried(message: str) -> None:
    assert not is_commit_conflict(RuntimeError(message))


def test_backoff_doubles_is_jittered_and_capped() -> None:
    rng = random.Random(7)
    waits = [[commit_backoff(retry, rng) for retry in range(1, 8)] for _ in range(200)]
    for retry, samples in enumerate(zip(*waits, strict=True), start=1):
        ceiling = min(COMMIT_BACKOFF_MAX_SECONDS, COMMIT_BACKOFF_SECONDS * 2 ** (retry - 1))
        assert all(ceiling / 2 <= wait <= ceiling for wait in samples)
        # jittered: concurrent writers do not retry in lockstep
        assert len(set(samples)) > 1
    assert max(max(row) for row in waits) <= COMMIT_BACKOFF_MAX_SECONDS


def test_a_lost_race_is_retried_with_backoff_until_it_commits() -> None:
    writer, sleeps = Writer(conflicts=2), []
    retries = with_commit_retries(writer.attempt, writer.landed, "t", sleep=sleeps.append)
    assert (retries, writer.attempts, len(sleeps)) == (2, 3, 2)


def test_a_commit_that_landed_despite_the_error_is_not_written_twice() -> None:
    """CommitStateUnknown: the commit may have succeeded; an append must not be redone."""
    writer, sleeps = Writer(conflicts=5, lands_anyway=True), []
    assert with_commit_retries(writer.attempt, writer.landed, "t", sleep=sleeps.append) == 0
    assert (writer.attempts, sleeps) == (1, [])


def test_other_errors_are_raised_at_once() -> None:
    writer = Writer(conflicts=1, error="java.io.FileNotFoundException: x.parquet")
    with pytest.raises(RuntimeError, match="FileNotFoundException"):
        with_commit_retries(writer.attempt, writer.landed, "t", sleep=lambda _: None)
    assert writer.attempts == 1


def test_every_attempt_lost_is_a_storage_error_naming_the_write() -> None:
    writer = Writer(conflicts=99)
    with pytest.raises(StorageError, match=r"lake.db.trades: an append lost 4 commit races"):
        with_commit_retries(
            writer.attempt, writer.landed, "lake.db.trades: an append", sleep=lambda _: None
        )
    assert writer.attempts == COMMIT_ATTEMPTS
