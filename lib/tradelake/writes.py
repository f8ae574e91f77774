"""Every table write: one Iceberg commit, labelled with its run, retried when it lost a race.

A partition overwrite replaces a day as a whole (idempotent); an append adds rows (the run
history tables). Each commit carries ``tradelake.run-id`` (the run that wrote it) and a
``tradelake.write-id`` of its own in its snapshot summary (``history.summary_properties``),
so a table's history links back to its runs, and a retry after an unknown commit outcome
can tell whether the write already landed (``history.snapshot_of_write``) instead of
writing it twice.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from pyspark.sql import Column, DataFrame, DataFrameWriterV2
from pyspark.sql import functions as F

from tradelake.errors import StorageError
from tradelake.history import (
    WRITE_ID_PROPERTY,
    is_on_main,
    java_table,
    main_head,
    snapshot_of_write,
    summary_properties,
)

log = logging.getLogger("tradelake.writes")

# Iceberg retries a conflicting commit itself (commit.retry.* table properties); these
# attempts wrap the whole write around that, for races Iceberg gives up on.
COMMIT_ATTEMPTS = 4
COMMIT_BACKOFF_SECONDS = 2.0
COMMIT_BACKOFF_MAX_SECONDS = 20.0
_RETRYABLE_COMMIT_ERRORS = (
    "org.apache.iceberg.exceptions.CommitFailedException",
    "org.apache.iceberg.exceptions.CommitStateUnknownException",
    "org.apache.iceberg.exceptions.ValidationException",
    # The embedded SQLite catalog, locked by another process's commit.
    "SQLITE_BUSY",
)


@dataclass(frozen=True)
class Commit:
    """What one write committed, and how many retries it took."""

    snapshot_id: int
    retries: int


def is_commit_conflict(err: BaseException) -> bool:
    """Whether ``err`` is a lost commit race (retryable), judged from the JVM's message."""
    return any(marker in str(err) for marker in _RETRYABLE_COMMIT_ERRORS)


def commit_backoff(retry: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``retry`` (1-based): doubling, capped, jittered."""
    ceiling = min(COMMIT_BACKOFF_MAX_SECONDS, COMMIT_BACKOFF_SECONDS * 2 ** (retry - 1))
    return ceiling * (0.5 + 0.5 * (rng or random).random())


def with_commit_retries(
    attempt: Callable[[], None],
    landed: Callable[[], bool],
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Run ``attempt`` until it commits; return the retries it took.

    A lost race is retried up to ``COMMIT_ATTEMPTS`` times with backoff, unless
    ``landed()`` says the write is in the table already (a commit whose outcome was
    unknown to this process); any other error is raised as it is.

    Raises:
        StorageError: every attempt lost a commit race; nothing of this write committed.
    """
    retries = 0
    while True:
        try:
            attempt()
            return retries
        except Exception as err:
            if not is_commit_conflict(err):
                raise
            if landed():
                return retries
            if retries + 1 >= COMMIT_ATTEMPTS:
                raise StorageError(
                    f"{what} lost {COMMIT_ATTEMPTS} commit races with concurrent writers; "
                    "nothing of it was committed. Rerun the job (its writes are idempotent)"
                ) from err
            retries += 1
            wait = commit_backoff(retries)
            log.warning(
                "commit conflict, retrying",
                extra={"write": what, "retry": retries, "wait_seconds": round(wait, 2)},
            )
            sleep(wait)


def overwrite_partition(
    frame: DataFrame,
    table: str,
    column: str,
    day: date,
    run_id: str,
    *,
    properties: Mapping[str, str] | None = None,
    options: Mapping[str, str] | None = None,
) -> Commit:
    """Replace partition ``column = day`` of ``table`` with ``frame`` in one commit.

    Works when ``frame`` is empty or smaller than what was there: the whole partition is
    replaced, so a row removed upstream disappears on rerun. ``properties`` become
    ``tradelake.<key>`` entries of the snapshot summary; ``options`` are writer options
    (e.g. ``distribution-mode``).

    Raises:
        StorageError: every attempt lost a commit race.
    """
    return _write(
        frame,
        table,
        run_id,
        lambda writer: writer.overwrite(F.col(column) == F.lit(day)),
        f"{table}: the overwrite of {column}={day}",
        properties,
        options,
    )


def overwrite_where_unchanged(
    spark: Any,
    build: Callable[[], DataFrame],
    table: str,
    condition: Column,
    run_id: str,
    what: str,
    *,
    properties: Mapping[str, str] | None = None,
    options: Mapping[str, str] | None = None,
) -> Commit:
    """Replace the rows of ``table`` matching ``condition`` with ``build()``, if no one
    changed them in between; otherwise read and build again.

    For a result computed from other tables (``trades`` resolved from ``trade_reports``):
    each attempt reads main's head of ``table`` first, then calls ``build`` (which reads
    its inputs), and commits with ``validate-from-snapshot-id`` = that head and
    ``serializable`` isolation. A concurrent commit that added or removed rows matching
    ``condition`` since then fails the commit (``ValidationException``), and the attempt
    is redone on fresh inputs, so the last commit always saw every earlier one.

    Raises:
        StorageError: every attempt lost a commit race.
    """
    summary = summary_properties(run_id, properties)
    write_id = summary[WRITE_ID_PROPERTY]

    def attempt() -> None:
        head = main_head(java_table(spark, table))
        writer = build().writeTo(table).option("isolation-level", "serializable")
        if head is not None:
            # Without a head, Iceberg validates against the whole history: a table that
            # was empty when read conflicts with any commit that filled the same rows.
            writer = writer.option("validate-from-snapshot-id", str(head))
        for key, value in summary.items():
            writer = writer.option(f"snapshot-property.{key}", value)
        for key, value in (options or {}).items():
            writer = writer.option(key, value)
        writer.overwrite(condition)

    def landed() -> bool:
        return snapshot_of_write(spark, table, write_id) is not None

    retries = with_commit_retries(attempt, landed, what)
    snapshot = snapshot_of_write(spark, table, write_id)
    assert snapshot is not None  # the write above just committed it
    return Commit(snapshot, retries)


def append(
    frame: DataFrame, table: str, run_id: str, *, properties: Mapping[str, str] | None = None
) -> Commit:
    """Append ``frame`` to ``table`` in one commit, never twice (see ``with_commit_retries``).

    Raises:
        StorageError: every attempt lost a commit race.
    """
    return _write(
        frame, table, run_id, DataFrameWriterV2.append, f"{table}: an append", properties, None
    )


def _write(
    frame: DataFrame,
    table: str,
    run_id: str,
    commit: Callable[[DataFrameWriterV2], Any],
    what: str,
    properties: Mapping[str, str] | None,
    options: Mapping[str, str] | None,
) -> Commit:
    spark = frame.sparkSession
    summary = summary_properties(run_id, properties)
    write_id = summary[WRITE_ID_PROPERTY]

    def attempt() -> None:
        writer = frame.writeTo(table)
        for key, value in summary.items():
            writer = writer.option(f"snapshot-property.{key}", value)
        for key, value in (options or {}).items():
            writer = writer.option(key, value)
        commit(writer)

    def landed() -> bool:
        return snapshot_of_write(spark, table, write_id) is not None

    retries = with_commit_retries(attempt, landed, what)
    snapshot = snapshot_of_write(spark, table, write_id)
    assert snapshot is not None  # the write above just committed it
    return Commit(snapshot, retries)


# --- Write, audit, publish: rows written to a private branch, published in one commit ----


class LostRace(Exception):
    """A branch write or publish lost to a concurrent commit: start the attempt over."""


def create_branch(spark: Any, table: str, branch: str, head: int | None, max_age_ms: int) -> None:
    """Create ``branch`` at ``head`` (or empty); expiry drops it after ``max_age_ms``.

    Raises:
        LostRace: a concurrent commit changed the table first.
    """
    try:
        manage = java_table(spark, table).manageSnapshots()
        manage = manage.createBranch(branch) if head is None else manage.createBranch(branch, head)
        manage.setMaxRefAgeMs(branch, max_age_ms).commit()
    except Exception as err:
        if is_commit_conflict(err):
            raise LostRace(f"creating branch {branch}: {err}") from err
        raise


def append_to_branch(
    frame: DataFrame,
    table: str,
    branch: str,
    run_id: str,
    *,
    properties: Mapping[str, str] | None = None,
) -> None:
    """Append ``frame`` to ``branch`` of ``table`` in one commit (invisible on main).

    ``properties`` become ``tradelake.<key>`` entries of the snapshot summary, beside
    ``tradelake.run-id`` and ``tradelake.write-id``.

    Raises:
        LostRace: a concurrent commit to the branch's table won the race.
    """
    writer = frame.writeTo(f"{table}.branch_{branch}")
    for key, value in summary_properties(run_id, properties).items():
        writer = writer.option(f"snapshot-property.{key}", value)
    try:
        writer.append()
    except Exception as err:
        if is_commit_conflict(err):
            raise LostRace(f"writing branch {branch}: {err}") from err
        raise


def publish_branch(spark: Any, table: str, branch: str, head: int | None, tag: str) -> int:
    """Fast-forward main to ``branch`` if main is still ``head``; point ``tag`` at it.

    One metadata commit, which also drops the branch. The fast-forward refuses when main
    is no ancestor of the branch, and the catalog's compare-and-swap of the metadata
    pointer refuses when anything changed since the commit was prepared (Iceberg does
    not re-apply a reference update on refreshed metadata), so whatever was read at
    ``head`` is exactly what the published snapshot continues. Returns its id.

    Raises:
        LostRace: main moved since ``head``, or the commit lost to another writer.
    """
    loaded = java_table(spark, table)
    published = int(loaded.refs().get(branch).snapshotId())
    if main_head(loaded) != head:
        raise LostRace(f"main moved from {head} to {main_head(loaded)}")
    try:
        manage = loaded.manageSnapshots().fastForwardBranch("main", branch)
        if loaded.refs().get(tag) is None:
            manage = manage.createTag(tag, published)
        else:
            manage = manage.replaceTag(tag, published)
        manage.removeBranch(branch).commit()
    except Exception as err:
        if "CommitStateUnknownException" in str(err):
            # The catalog may or may not have taken the commit: ask it.
            if is_on_main(spark, java_table(spark, table), published):
                return published
            raise LostRace(f"commit state unknown, not on main: {err}") from err
        if is_commit_conflict(err) or "Cannot fast-forward" in str(err):
            raise LostRace(str(err)) from err
        raise
    return published


def drop_branch(spark: Any, table: str, branch: str) -> None:
    """Best effort: a branch left behind is dropped by snapshot expiry once it is old."""
    try:
        loaded = java_table(spark, table)
        if loaded.refs().get(branch) is not None:
            loaded.manageSnapshots().removeBranch(branch).commit()
    except Exception as err:  # noqa: BLE001 - cleanup must not hide the run's own outcome
        log.warning("could not drop a branch", extra={"branch": branch, "error": str(err)})
