"""tradelake.history: main's history read with Iceberg's SnapshotUtil, branches left out."""

from __future__ import annotations

from typing import Any

import pytest

from tradelake.history import (
    RUN_ID_PROPERTY,
    WRITE_ID_PROPERTY,
    current_snapshot_id,
    find_on_main,
    is_on_main,
    java_table,
    main_ancestors,
    snapshot_of_write,
    summary_of,
    summary_properties,
)
from tradelake.writes import append, append_to_branch, create_branch

pytestmark = pytest.mark.spark

DAY_MS = 24 * 3600 * 1000


def test_main_history_is_read_from_mains_head_whatever_other_branches_hold(
    spark: Any, lake_env: Any
) -> None:
    table = lake_env.table("history_probe")
    spark.sql(f"CREATE TABLE {table} (id INT) USING iceberg")
    empty = java_table(spark, table)
    assert current_snapshot_id(spark, table) is None
    assert list(main_ancestors(spark, empty)) == []
    assert not is_on_main(spark, empty, 1)

    rows = spark.createDataFrame([(1,)], "id INT")
    first = append(rows, table, "run-a")
    second = append(rows, table, "run-b")
    # A branch one commit ahead of main: its snapshot is the newest of the table.
    create_branch(spark, table, "side", second.snapshot_id, DAY_MS)
    append_to_branch(rows, table, "side", "run-c", properties={"probe": "side"})
    loaded = java_table(spark, table)
    side = int(loaded.refs().get("side").snapshotId())
    newest = spark.sql(
        f"SELECT snapshot_id FROM {table}.snapshots ORDER BY committed_at DESC LIMIT 1"
    ).first()
    assert newest is not None and newest["snapshot_id"] == side, "what the .snapshots query saw"

    assert current_snapshot_id(spark, table) == second.snapshot_id
    assert [int(s.snapshotId()) for s in main_ancestors(spark, loaded)] == [
        second.snapshot_id,
        first.snapshot_id,
    ]
    assert is_on_main(spark, loaded, first.snapshot_id)
    assert is_on_main(spark, loaded, second.snapshot_id)
    assert not is_on_main(spark, loaded, side)
    found = find_on_main(spark, loaded, RUN_ID_PROPERTY, "run-a")
    assert found is not None and int(found.snapshotId()) == first.snapshot_id
    assert find_on_main(spark, loaded, "tradelake.probe") is None, "only the branch has it"
    side_summary = summary_of(loaded, side)
    assert side_summary is not None
    assert (side_summary["tradelake.probe"], side_summary[RUN_ID_PROPERTY]) == ("side", "run-c")
    write_id = side_summary[WRITE_ID_PROPERTY]
    assert snapshot_of_write(spark, table, write_id) is None, "a branch write is not on main"
    assert summary_of(loaded, 123456789) is None


def test_summary_properties_label_the_run_the_write_and_the_writers_keys() -> None:
    properties = summary_properties("run-1", {"kafka.offsets": "{}"}, write_id="w1")
    assert properties == {
        "tradelake.run-id": "run-1",
        "tradelake.write-id": "w1",
        "tradelake.kafka.offsets": "{}",
    }
    fresh = [summary_properties("run-1")[WRITE_ID_PROPERTY] for _ in range(2)]
    assert len(set(fresh)) == 2 and all(len(write) == 32 for write in fresh)
