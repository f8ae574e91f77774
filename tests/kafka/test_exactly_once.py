"""Exactly once under faults: landing runs SIGKILLed at seeded moments, and two at once.

Each trial publishes a new batch (a committed transaction and an aborted one) to a topic
of three partitions, starts ``./spark-submit.sh jobs/land_kafka.py`` as its own process
and kills it (driver JVM and Python worker, SIGKILL) at a moment anchored on what can be
observed from outside (tests/reliability/crash.py): the JVM is up (before the read), the
"reading and landing" log line (during the read and the branch write), the first data
file of the write, the "publishing" log line (during and right after the commit), plus a
seeded delay. A normal landing run follows every kill. After it, read with pyiceberg:
every offset the producer committed is in ``trades_landed`` exactly once, and no message
of an aborted transaction is.

``TRADELAKE_KAFKA_TRIALS`` sets the number of trials (default 10);
``TRADELAKE_CRASH_SEED`` the seed of the kill moments.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.kafka.broker import Broker, KafkaLake, Published, publish
from tests.lakes import trade_json
from tests.reliability import crash
from tests.submit import JobRun
from tradelake.runtime import last_summary

TRIALS = max(1, int(os.environ.get("TRADELAKE_KAFKA_TRIALS", "10")))
SEED = int(os.environ.get("TRADELAKE_CRASH_SEED", "20250115"))
PARTITIONS = 3
BATCH = 60
NOON_MS = int(datetime(2025, 1, 15, 12, tzinfo=UTC).timestamp() * 1000)
ANCHORS = ["jvm", "log:reading and landing", "files:trades_landed", "log:publishing"]
# The commit itself takes a fraction of a second after "publishing": kills there stay close.
PUBLISH_WINDOW_SECONDS = 0.6
WINDOW_SHARE = 0.8


def publish_batch(broker: Broker, topic: str, number: int, published: Published) -> None:
    """A committed batch with an aborted transaction in the middle of it."""
    values = [trade_json(f"B{number}-{i}") for i in range(BATCH)]
    publish(
        broker, topic, values[: BATCH // 2], NOON_MS, partitions=PARTITIONS, published=published
    )
    publish(
        broker,
        topic,
        [trade_json(f"ABORTED-{number}-{i}") for i in range(9)],
        NOON_MS,
        partitions=PARTITIONS,
        published=published,
        abort=True,
    )
    publish(
        broker, topic, values[BATCH // 2 :], NOON_MS, partitions=PARTITIONS, published=published
    )


def check_exactly_once(kafka_lake: KafkaLake, topic: str, published: Published) -> int:
    """Every committed offset landed once, nothing aborted; returns the offsets checked."""
    rows = [row for row in kafka_lake.rows("trades_landed") if row["topic"] == topic]
    landed = Counter((row["kafka_partition"], row["kafka_offset"]) for row in rows)
    duplicates = {key: count for key, count in landed.items() if count > 1}
    assert not duplicates, f"offsets landed more than once: {sorted(duplicates)[:20]}"
    missing = set(published.committed) - set(landed)
    assert not missing, f"offsets never landed: {sorted(missing)[:20]}"
    assert set(landed) == set(published.committed)
    values = {row["value"] for row in rows}
    assert not values & published.aborted, "a message of an aborted transaction landed"
    assert {(p, o): v for (p, o), v in published.committed.items()} == {
        (row["kafka_partition"], row["kafka_offset"]): row["value"] for row in rows
    }
    return len(landed)


def windows(run: crash.Run) -> list[tuple[str, float]]:
    found = []
    for anchor, window in crash.anchor_windows(run.events, ANCHORS):
        if anchor == "log:publishing":
            window = min(window, PUBLISH_WINDOW_SECONDS)
        found.append((anchor, round(window * WINDOW_SHARE, 3)))
    return found


def test_sigkilled_landing_runs_followed_by_normal_runs_land_every_offset_exactly_once(
    kafka_lake: KafkaLake,
    broker: Broker,
    run_job: Callable[..., JobRun],
    capsys: pytest.CaptureFixture[str],
) -> None:
    topic = broker.create_topic(partitions=PARTITIONS)
    argv = ["--topic", topic]
    published = Published()
    markers = ("reading and landing", "publishing")

    publish_batch(broker, topic, 0, published)
    reference = crash.watch(kafka_lake, "land_kafka", argv, ["trades_landed"], markers=markers)
    summary = reference.summary()
    assert reference.returncode == 0 and summary.get("status") == "ok", reference.tail()
    check_exactly_once(kafka_lake, topic, published)
    plan = crash.plan_moments(random.Random(SEED), windows(reference), TRIALS)

    records = []
    checked = 0
    started = time.monotonic()
    for number, moment in enumerate(plan, start=1):
        publish_batch(broker, topic, number, published)
        killed = crash.watch(kafka_lake, "land_kafka", argv, ["trades_landed"], moment, markers)
        committed = "snapshot:trades_landed" in killed.events
        recovery = run_job("land_kafka", *argv)
        assert recovery.exit_code == 0, recovery.summary
        checked = check_exactly_once(kafka_lake, topic, published)
        records.append(
            {
                "trial": number,
                "moment": str(moment),
                "killed": killed.killed,
                "killed_run_committed": committed,
                "recovery_landed": recovery.summary["kafka"]["messages"],
                "offsets_checked": checked,
            }
        )
    kills = sum(1 for record in records if record["killed"])
    assert kills >= TRIALS * 0.8, records
    moments = {record["moment"].split("+")[0] for record in records}
    assert moments == set(ANCHORS), "kills before the read, during it and around the commit"
    with capsys.disabled():
        print(
            "\nkafka kill trials: "
            + json.dumps(
                {
                    "trials": len(records),
                    "kills": kills,
                    "killed_after_commit": sum(r["killed_run_committed"] for r in records),
                    "offsets_checked": checked,
                    "duplicates": 0,
                    "seconds": round(time.monotonic() - started, 1),
                    "records": records,
                }
            )
        )


def test_two_landing_runs_started_at_once_land_each_offset_once(
    kafka_lake: KafkaLake, broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = broker.create_topic(partitions=PARTITIONS)
    published = Published()
    publish_batch(broker, topic, 0, published)
    processes = [kafka_lake.popen("land_kafka", "--topic", topic) for _ in range(2)]
    outputs = [process.communicate(timeout=900) for process in processes]
    summaries: list[dict[str, Any]] = []
    for process, (stdout, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr[-3000:]
        summaries.append(last_summary(stdout) or {})
    messages = sorted(summary["kafka"]["messages"] for summary in summaries)
    assert messages == [0, len(published.committed)], "one run lands the batch, once"
    assert sum(summary.get("published", False) for summary in summaries) == 1
    check_exactly_once(kafka_lake, topic, published)
    with capsys.disabled():
        attempts = [summary["kafka"]["commit_attempts"] for summary in summaries]
        print(f"\nkafka concurrent landing: messages {messages}, commit attempts {attempts}")
