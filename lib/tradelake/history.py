"""Reading an Iceberg table's history: the one reader every write path and job uses.

Exactly-once rests on reading history right: a retry asks whether its write already
landed, the Kafka landing reads the offsets of its last landing, a run reports what its
commits added. All of it goes through Iceberg's own ``Table`` and ``SnapshotUtil``
(through py4j, as Iceberg's Kafka Connect sink reads its offsets), never through a Spark
query of ``<table>.snapshots``: that metadata table lists the snapshots of *every*
branch (``trades_landed`` has branches), so "the newest snapshot" there is not main's
head, and each query costs a Spark job. "On main" means an ancestor of main's current
snapshot, the snapshot itself included (``SnapshotUtil.currentAncestors``).

Snapshot-summary properties tradelake writes are built here too (``summary_properties``):
``tradelake.run-id`` (the run), ``tradelake.write-id`` (this write), and ``tradelake.<key>``
for anything else a writer records (the Kafka landing's offsets).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any

RUN_ID_PROPERTY = "tradelake.run-id"
WRITE_ID_PROPERTY = "tradelake.write-id"
PROPERTY_PREFIX = "tradelake."


def summary_properties(
    run_id: str, properties: Mapping[str, str] | None = None, *, write_id: str | None = None
) -> dict[str, str]:
    """The snapshot-summary entries of one write: the run, a write id (new unless given),
    and ``tradelake.<key>`` for each of ``properties``."""
    return {
        RUN_ID_PROPERTY: run_id,
        WRITE_ID_PROPERTY: write_id or uuid.uuid4().hex,
        **{f"{PROPERTY_PREFIX}{key}": value for key, value in (properties or {}).items()},
    }


def java_table(spark: Any, table: str) -> Any:
    """Iceberg's own ``Table`` (py4j) for a Spark table name, freshly refreshed."""
    jvm = spark.sparkContext._jvm
    loaded = jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(spark._jsparkSession, table)
    loaded.refresh()
    return loaded


def main_head(table: Any) -> int | None:
    """The snapshot id main points at (None for a table without snapshots)."""
    current = table.currentSnapshot()
    return None if current is None else int(current.snapshotId())


def current_snapshot_id(spark: Any, table: str) -> int | None:
    """Main's head of the table named ``table`` (None for an empty history)."""
    return main_head(java_table(spark, table))


def main_ancestors(spark: Any, table: Any) -> Iterator[Any]:
    """Main's snapshots, from its head back to the oldest one expiry kept
    (``SnapshotUtil.currentAncestors``); lazily, one py4j call per snapshot."""
    util = spark.sparkContext._jvm.org.apache.iceberg.util.SnapshotUtil
    ancestors = util.currentAncestors(table).iterator()
    while ancestors.hasNext():
        yield ancestors.next()


def is_on_main(spark: Any, table: Any, snapshot_id: int) -> bool:
    """Whether ``snapshot_id`` is main's head or one of its ancestors
    (``SnapshotUtil.isAncestorOf``)."""
    if table.currentSnapshot() is None:
        return False
    util = spark.sparkContext._jvm.org.apache.iceberg.util.SnapshotUtil
    return bool(util.isAncestorOf(table, snapshot_id))


def snapshot_summary(snapshot: Any) -> dict[str, str]:
    """A snapshot's summary as a Python dict (one py4j conversion)."""
    return {str(key): str(value) for key, value in dict(snapshot.summary()).items()}


def summary_of(table: Any, snapshot_id: int) -> dict[str, str] | None:
    """The summary of snapshot ``snapshot_id`` of ``table`` (None once expired)."""
    snapshot = table.snapshot(snapshot_id)
    return None if snapshot is None else snapshot_summary(snapshot)


def find_on_main(spark: Any, table: Any, key: str, value: str | None = None) -> Any | None:
    """The newest snapshot on main whose summary has ``key`` (equal to ``value`` when
    given), as Iceberg's ``Snapshot``; None when no snapshot main still reaches has it.
    One summary look-up per snapshot, not a copy of every summary."""
    for snapshot in main_ancestors(spark, table):
        found = snapshot.summary().get(key)
        if found is not None and (value is None or str(found) == value):
            return snapshot
    return None


def snapshot_of_write(spark: Any, table: str, write_id: str) -> int | None:
    """The snapshot on main that a write (its ``tradelake.write-id``) committed, or None."""
    found = find_on_main(spark, java_table(spark, table), WRITE_ID_PROPERTY, write_id)
    return None if found is None else int(found.snapshotId())
