"""Landing a topic and ingesting a landed day, in-process on the shared SparkSession.

Every test publishes with a real producer to a real broker, lands with
``jobs/land_kafka.py`` and reads the tables back with pyiceberg.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.kafka.broker import Broker, KafkaLake, publish
from tests.lakes import multiset, trade_json
from tests.submit import JobRun
from tradelake.sample import generate_day

DAY = date(2025, 1, 15)
# Kafka timestamp of the day's messages: noon UTC, so landing_date is DAY.
NOON_MS = int(datetime(2025, 1, 15, 12, tzinfo=UTC).timestamp() * 1000)
TRADES_RUN_COLUMNS = ("source_file", "run_id", "ingested_at")
PREVIOUS_DAY = date(2025, 1, 14)
# Late reports of the day before: LATE-1 and its correction, LATE-2 and its cancel, LATE-3.
LATE_REPORTS = [
    trade_json("LATE-1", price="10", timestamp="2025-01-14T20:00:00Z"),
    trade_json("LATE-1", price="11", timestamp="2025-01-14T20:00:00Z", report_type="correct",
               report_seq=1),
    trade_json("LATE-2", price="12", timestamp="2025-01-14T21:00:00Z"),
    json.dumps({"trade_id": "LATE-2", "timestamp": "2025-01-14T21:00:00Z",
                "report_type": "cancel", "report_seq": 1}),
    trade_json("LATE-3", price="13", timestamp="2025-01-14T22:00:00Z"),
]  # fmt: skip
REJECTS_RUN_COLUMNS = ("source_file", "run_id", "rejected_at")


def land(run_job: Callable[..., JobRun], topic: str, *argv: str) -> JobRun:
    return run_job("land_kafka", "--topic", topic, *argv)


def test_a_day_landed_from_kafka_ingests_to_the_same_tables_as_its_files(
    kafka_lake: KafkaLake,
    broker: Broker,
    run_job: Callable[..., JobRun],
    tmp_path: Path,
    monkeypatch: Any,
) -> None:
    """The sample generator's messy day, one message per line, gives the files' tables.

    An aborted transaction of more messy lines sits between the two committed ones: none
    of it lands. With a window of one day, late reports of the day before (a correction
    and a cancel among them) reach that day on both paths: the landing day of a message
    is its landing.
    """
    monkeypatch.setenv("TRADELAKE_CONTRACT__MAX_LATENESS_DAYS", "1")
    generate_day(tmp_path / "raw", DAY, trades=600, files=3, seed=7, file_format="jsonl")
    folder = tmp_path / "raw" / "trades" / f"date={DAY.isoformat()}"
    (folder / "late.jsonl").write_text("\n".join(LATE_REPORTS) + "\n", encoding="utf-8")
    # A file's records are its lines as Spark's text reader splits them, blank ones skipped.
    lines = [
        line
        for path in sorted(folder.glob("*.jsonl"))
        for line in re.split(r"\r\n|\r|\n", path.read_text(encoding="utf-8"))
        if line.strip(" \t\r\n\f\v")
    ]
    assert len(lines) > 600
    topic = broker.create_topic(partitions=3)
    half = len(lines) // 2
    published = publish(broker, topic, lines[:half], NOON_MS, partitions=3)
    publish(
        broker,
        topic,
        [trade_json(f"ABORTED-{i}") for i in range(25)],
        NOON_MS,
        partitions=3,
        published=published,
        abort=True,
    )
    publish(broker, topic, lines[half:], NOON_MS, partitions=3, published=published)

    landing = land(run_job, topic)
    assert landing.exit_code == 0, landing.summary
    assert landing.summary["kafka"]["messages"] == len(lines)
    assert kafka_lake.landed_offsets(topic) == published.offsets()
    values = [row["value"] for row in kafka_lake.rows("trades_landed")]
    assert sorted(values) == sorted(lines)
    assert not published.aborted & set(values)
    assert {row["landing_date"] for row in kafka_lake.rows("trades_landed")} == {DAY}

    from_kafka = run_job("ingest", "--date", DAY.isoformat(), "--source", "kafka")
    assert from_kafka.exit_code == 0, from_kafka.summary
    kafka_trades = kafka_lake.rows("trades")
    kafka_rejects = kafka_lake.rows("trades_rejected")
    assert {row["source_file"].rsplit("/", 1)[0] for row in kafka_trades} == {
        f"kafka://{topic}/{p}" for p in range(3)
    }

    # The same files, ingested as files, into a database of their own.
    monkeypatch.setenv("TRADELAKE_DATABASE", f"{kafka_lake.database}_files")
    from_files = run_job("ingest", "--date", DAY.isoformat(), "--raw-uri", str(tmp_path / "raw"))
    assert from_files.exit_code == 0, from_files.summary
    files_lake = replace(kafka_lake, database=f"{kafka_lake.database}_files")

    counts = ("records_read", "loaded", "duplicates_dropped", "rejected", "rejected_by_reason")
    assert {k: from_kafka.summary[k] for k in counts} == {k: from_files.summary[k] for k in counts}
    assert from_kafka.summary["conservation_ok"] is True
    assert from_kafka.summary["loaded"] == 600 + len(LATE_REPORTS)
    for summary in (from_kafka.summary, from_files.summary):
        assert summary["loaded_by_date"] == {PREVIOUS_DAY.isoformat(): 5, DAY.isoformat(): 600}
        assert summary["touched_dates"] == [PREVIOUS_DAY.isoformat(), DAY.isoformat()]
    late = {
        (row["trade_id"], row["price"], row["report_type"], row["report_seq"])
        for row in kafka_trades
        if row["trade_date"] == PREVIOUS_DAY
    }
    assert late == {("LATE-1", Decimal("11"), "correct", 1), ("LATE-3", Decimal("13"), "new", 0)}
    assert multiset(kafka_trades, TRADES_RUN_COLUMNS) == files_lake.content(
        "trades", TRADES_RUN_COLUMNS
    )
    assert multiset(kafka_rejects, REJECTS_RUN_COLUMNS) == files_lake.content(
        "trades_rejected", REJECTS_RUN_COLUMNS
    )


def test_messages_that_are_not_json_objects_are_malformed_dead_letters(
    kafka_lake: KafkaLake, broker: Broker, run_job: Callable[..., JobRun]
) -> None:
    topic = broker.create_topic(partitions=1)
    bad = ["[1, 2]", "42", "not json", "", "   ", '"text"', None]
    good = [trade_json(f"T{i}") for i in range(100)]
    publish(broker, topic, good + bad, NOON_MS, partitions=1)
    assert land(run_job, topic).exit_code == 0
    result = run_job("ingest", "--date", DAY.isoformat(), "--source", "kafka")
    assert result.exit_code == 0, result.summary
    assert result.summary["records_read"] == 107
    assert result.summary["loaded"] == 100
    assert result.summary["rejected"] == 7
    assert result.summary["rejected_by_reason"]["malformed_record"] == 7
    rejects = kafka_lake.rows("trades_rejected")
    assert sorted(row["source_file"] for row in rejects) == sorted(
        f"kafka://{topic}/0/{offset}" for offset in range(100, 107)
    )
    assert sorted((row["record"] is None, row["record"] or "") for row in rejects) == sorted(
        (value is None, value or "") for value in bad
    )


def test_ingest_of_a_day_nothing_landed_for_exits_4(
    kafka_lake: KafkaLake, broker: Broker, run_job: Callable[..., JobRun]
) -> None:
    result = run_job("ingest", "--date", DAY.isoformat(), "--source", "kafka")
    assert result.exit_code == 4
    assert "land_kafka" in result.summary["error"]


def test_a_second_run_lands_only_what_is_new_and_a_cap_splits_a_backlog(
    kafka_lake: KafkaLake, broker: Broker, run_job: Callable[..., JobRun]
) -> None:
    topic = broker.create_topic(partitions=2)
    published = publish(
        broker, topic, [trade_json(f"A{i}") for i in range(10)], NOON_MS, partitions=2
    )
    first = land(run_job, topic, "--max-offsets-per-partition", "3")
    assert first.exit_code == 0
    assert first.summary["kafka"]["messages"] == 6
    assert first.summary["kafka"]["offsets_committed"] == {"0": 3, "1": 3}
    assert first.summary["kafka"]["new_partitions"] == [0, 1]
    second = land(run_job, topic)
    assert second.summary["kafka"]["messages"] == 4
    assert second.summary["kafka"]["offsets_source"] == "history"
    assert second.summary["kafka"]["partitions"]["0"]["start"] == 3
    nothing = land(run_job, topic)
    assert nothing.exit_code == 0
    assert nothing.summary["kafka"]["messages"] == 0
    assert nothing.summary["published"] is False
    publish(
        broker,
        topic,
        [trade_json(f"B{i}") for i in range(4)],
        NOON_MS,
        partitions=2,
        published=published,
    )
    assert land(run_job, topic).summary["kafka"]["messages"] == 4
    assert kafka_lake.landed_offsets(topic) == published.offsets()
    # Each landing commit carries the topic's offsets; the tag follows the latest.
    table = kafka_lake.catalog().load_table(f"{kafka_lake.database}.trades_landed")
    tag = table.metadata.refs[f"tradelake-kafka-offsets-{topic}"]
    assert tag.snapshot_id == table.current_snapshot().snapshot_id
    summary = table.current_snapshot().summary
    # Next offsets: each transaction's commit marker takes an offset of every partition.
    assert json.loads(summary["tradelake.kafka.offsets"]) == {"0": 9, "1": 9}
    assert summary["tradelake.kafka.topic"] == topic
    assert set(table.metadata.refs) == {"main", f"tradelake-kafka-offsets-{topic}"}


def test_a_partition_added_to_the_topic_is_landed_from_its_earliest_offset(
    kafka_lake: KafkaLake, broker: Broker, run_job: Callable[..., JobRun]
) -> None:
    topic = broker.create_topic(partitions=1)
    published = publish(
        broker, topic, [trade_json(f"A{i}") for i in range(5)], NOON_MS, partitions=1
    )
    assert land(run_job, topic).summary["kafka"]["messages"] == 5
    broker.add_partitions(topic, 3)
    publish(
        broker,
        topic,
        [trade_json(f"B{i}") for i in range(9)],
        NOON_MS,
        partitions=3,
        published=published,
    )
    result = land(run_job, topic)
    assert result.exit_code == 0
    assert result.summary["kafka"]["new_partitions"] == [1, 2]
    assert result.summary["kafka"]["partitions"]["1"]["start"] == 0
    assert result.summary["kafka"]["messages"] == 9
    assert kafka_lake.landed_offsets(topic) == published.offsets()
    assert set(published.offsets()) >= {(1, 0), (2, 0)}


def test_offsets_deleted_before_landing_fail_the_run_unless_data_loss_is_allowed(
    kafka_lake: KafkaLake, broker: Broker, run_job: Callable[..., JobRun]
) -> None:
    topic = broker.create_topic(partitions=2)
    published = publish(
        broker, topic, [trade_json(f"A{i}") for i in range(8)], NOON_MS, partitions=2
    )
    # 4 messages per partition and the transaction's commit marker: next offset 5.
    assert land(run_job, topic).summary["kafka"]["offsets_committed"] == {"0": 5, "1": 5}
    publish(
        broker,
        topic,
        [trade_json(f"B{i}") for i in range(12)],
        NOON_MS,
        partitions=2,
        published=published,
    )
    # Retention (here kafka-delete-records) removes partition 0's offsets 5..7 unlanded.
    assert broker.delete_records_before(topic, 0, 8) == 8

    refused = land(run_job, topic)
    assert refused.exit_code == 1
    assert refused.summary["status"] == "DataLossError"
    assert refused.summary["kafka"]["data_loss"] == [
        {"partition": 0, "from": 5, "to": 8, "count": 3}
    ]
    assert "--allow-data-loss" in refused.summary["error"]
    assert kafka_lake.landed_offsets(topic) == Counter(
        (p, o) for p in range(2) for o in range(4)
    ), "nothing was published"

    allowed = land(run_job, topic, "--allow-data-loss")
    assert allowed.exit_code == 0, allowed.summary
    assert allowed.summary["kafka"]["data_loss"] == [
        {"partition": 0, "from": 5, "to": 8, "count": 3}
    ]
    assert allowed.summary["kafka"]["messages"] == 12 - 3
    expected = published.offsets() - Counter({(0, 5): 1, (0, 6): 1, (0, 7): 1})
    assert kafka_lake.landed_offsets(topic) == expected
    # The gap is on record in the run history too.
    runs = [row for row in kafka_lake.rows("job_runs") if row["job"] == "land_kafka"]
    gaps = [json.loads(row["summary"])["kafka"]["data_loss"] for row in runs]
    assert sorted(map(len, gaps)) == [0, 1, 1]


def test_a_commit_after_another_landing_of_the_same_offsets_starts_over_and_lands_nothing_twice(
    kafka_lake: KafkaLake,
    broker: Broker,
    run_job: Callable[..., JobRun],
    monkeypatch: Any,
) -> None:
    """Deterministic race: another landing run commits the same range while this one reads.

    The late run's fast-forward is refused (main moved since its offsets were read), it
    starts over, finds the range landed and publishes nothing.
    """
    from tradelake import kafka_landing, writes

    topic = broker.create_topic(partitions=2)
    published = publish(
        broker, topic, [trade_json(f"A{i}") for i in range(10)], NOON_MS, partitions=2
    )
    real_read = kafka_landing.read_topic
    raced: list[JobRun] = []

    def read_then_lose_the_race(*args: Any, **kwargs: Any) -> Any:
        frame = real_read(*args, **kwargs)
        if not raced:
            monkeypatch.setattr(kafka_landing, "read_topic", real_read)
            raced.append(land(run_job, topic))
        return frame

    monkeypatch.setattr(kafka_landing, "read_topic", read_then_lose_the_race)
    monkeypatch.setattr(writes, "COMMIT_BACKOFF_SECONDS", 0.01)
    late = land(run_job, topic)
    (winner,) = raced
    assert winner.exit_code == 0 and winner.summary["kafka"]["messages"] == 10
    assert late.exit_code == 0, late.summary
    assert late.summary["kafka"]["commit_attempts"] == 2
    assert late.summary["kafka"]["messages"] == 0
    assert late.summary["published"] is False
    assert kafka_lake.landed_offsets(topic) == published.offsets()
    table = kafka_lake.catalog().load_table(f"{kafka_lake.database}.trades_landed")
    assert set(table.metadata.refs) == {"main", f"tradelake-kafka-offsets-{topic}"}, (
        "the loser's branch is dropped"
    )


def test_offsets_survive_compaction_and_the_expiry_of_the_landing_snapshot(
    kafka_lake: KafkaLake, broker: Broker, run_job: Callable[..., JobRun], spark: Any
) -> None:
    """Compaction commits snapshots without offsets on top; expiry then removes the landing
    snapshot from main's history. The tag keeps it: the next run continues exactly."""
    topic = broker.create_topic(partitions=2)
    published = publish(
        broker, topic, [trade_json(f"A{i}") for i in range(6)], NOON_MS, partitions=2
    )
    for _ in range(3):
        more = [trade_json(f"B{i}") for i in range(4)]
        publish(broker, topic, more, NOON_MS, partitions=2, published=published)
        assert land(run_job, topic, "--max-offsets-per-partition", "2").exit_code == 0
    table = f"{kafka_lake.database}.trades_landed"
    # Two compactions, so that main's history from its head passes through a compaction
    # snapshot that expiry removes before it reaches the landing snapshot.
    for _ in range(2):
        spark.sql(
            f"CALL lake.system.rewrite_data_files(table => '{table}', "
            "options => map('rewrite-all', 'true'))"
        ).collect()
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    spark.sql(
        f"CALL lake.system.expire_snapshots(table => '{table}', "
        f"older_than => TIMESTAMP '{now}', retain_last => 1)"
    ).collect()
    loaded = kafka_lake.catalog().load_table(table)
    head = loaded.current_snapshot()
    assert head.summary.get("tradelake.kafka.offsets") is None
    assert loaded.snapshot_by_id(head.parent_snapshot_id) is None, "main's history is cut"
    assert len(loaded.snapshots()) == 2, "the head and the tagged landing snapshot"

    landed_before = sum(kafka_lake.landed_offsets(topic).values())
    assert 0 < landed_before < 18
    result = land(run_job, topic)
    assert result.exit_code == 0, result.summary
    assert result.summary["kafka"]["offsets_source"] == "tag"
    assert result.summary["kafka"]["messages"] == 18 - landed_before
    assert kafka_lake.landed_offsets(topic) == published.offsets()
