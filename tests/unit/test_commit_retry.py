"""Which write failures are retried as commit conflicts, and how long the job waits."""

from __future__ import annotations

import random

import pytest

from tradelake.ingest.job import (
    COMMIT_BACKOFF_MAX_SECONDS,
    COMMIT_BACKOFF_SECONDS,
    commit_backoff,
    is_commit_conflict,
)


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
