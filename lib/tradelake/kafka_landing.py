"""Kafka -> ``trades_landed``, exactly once: offsets committed in the same Iceberg snapshot.

A landing run reads every partition of a topic from its last committed offset to the end
offset resolved when the run starts (``read_committed``: aborted transactions never land),
and appends the messages to ``trades_landed`` in ONE Iceberg commit whose snapshot summary
carries the topic's next offsets (``tradelake.kafka.offsets``, JSON ``{partition: next}``).
The next run reads them back by walking ``main``'s history from its head (Iceberg's
``SnapshotUtil`` through tradelake.history); snapshots without them (compaction, other
topics) are skipped.

The commit is a check-and-swap, not a blind append (a plain append never conflicts, so two
runs that read the same offsets would both land the same messages):

1. read ``main``'s head snapshot H and the offsets its history holds;
2. write the batch to a private branch created at H (Spark's Iceberg writer, snapshot
   properties included), so nothing is visible on ``main``;
3. publish with ONE metadata commit (``ManageSnapshots``): fast-forward ``main`` to the
   branch, move the topic's offsets tag to the new snapshot, drop the branch. It succeeds
   only if ``main`` is still H: the fast-forward refuses when ``main`` is not an ancestor of
   the branch, and the catalog's compare-and-swap of the metadata pointer refuses when
   anything changed since the commit was prepared (Iceberg does not re-apply a reference
   update on refreshed metadata). Any other commit in between (another landing run,
   compaction) makes this attempt start over from step 1, so offsets read at step 1 are
   always the ones the new snapshot continues.
4. ``CommitStateUnknownException``: the history is read again; the run succeeded if the
   branch's snapshot is on ``main``, else the attempt starts over.

Expiry: ``expire_snapshots`` may remove the landing snapshot from ``main``'s reachable
history (e.g. after many compactions). The tag ``tradelake-kafka-offsets-<topic>``, moved in
the same commit as ``main``, keeps that snapshot (and its summary) alive; when the walk ends
at an expired parent without finding offsets, the tag's snapshot is used.

I/O lives here (Kafka look-ups through the JVM's kafka-clients, Iceberg's Java API through
py4j); the planning rules are pure functions, tested without Spark or Kafka.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from tradelake import aws
from tradelake.config import KafkaSettings, Settings, check_kafka_options
from tradelake.contract import utc_literal
from tradelake.errors import (
    ConfigError,
    DataLossError,
    LandingConflictError,
    NoInputError,
    StorageError,
    TradelakeError,
)
from tradelake.history import java_table, main_ancestors, main_head, snapshot_summary, summary_of
from tradelake.runtime import Run, describe_error
from tradelake.tables import TRADES_LANDED, ensure_tables
from tradelake.writes import (
    LostRace,
    append_to_branch,
    commit_backoff,
    create_branch,
    drop_branch,
    publish_branch,
)

log = logging.getLogger("tradelake.kafka")

TOPIC_PROPERTY = "tradelake.kafka.topic"
OFFSETS_PROPERTY = "tradelake.kafka.offsets"
START_PROPERTY = "tradelake.kafka.start-offsets"
TAG_PREFIX = "tradelake-kafka-offsets-"
BRANCH_PREFIX = "land_"
# A killed run's branch is dropped by expire_snapshots once it is this old.
BRANCH_MAX_AGE_MS = 24 * 3600 * 1000


# --- pure planning --------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotInfo:
    """One Iceberg snapshot: id, parent id and summary properties."""

    snapshot_id: int
    parent_id: int | None
    summary: Mapping[str, str]


@dataclass(frozen=True)
class Committed:
    """The next offset of every partition landed so far, and where it was read from.

    ``source``: ``history`` (walking main from its head), ``tag`` (the offsets tag, when
    expiry cut the walk short), ``none`` (the topic was never landed).
    """

    offsets: dict[int, int]
    snapshot_id: int | None
    source: str


def offsets_tag(topic: str) -> str:
    """Name of the tag that keeps a topic's latest offsets snapshot from expiring."""
    return f"{TAG_PREFIX}{topic}"


def parse_offsets(text: str) -> dict[int, int]:
    """``{"0": 12, "1": 7}`` -> ``{0: 12, 1: 7}``."""
    return {int(partition): int(offset) for partition, offset in json.loads(text).items()}


def format_offsets(offsets: Mapping[int, int]) -> str:
    """``{0: 12, 1: 7}`` -> ``{"0": 12, "1": 7}`` (sorted, compact): the summary value."""
    return json.dumps({str(p): int(offsets[p]) for p in sorted(offsets)}, separators=(",", ":"))


def carries_offsets(snapshot: SnapshotInfo, topic: str) -> bool:
    return snapshot.summary.get(TOPIC_PROPERTY) == topic and OFFSETS_PROPERTY in snapshot.summary


def committed_offsets(
    ancestry: list[SnapshotInfo], topic: str, tagged: SnapshotInfo | None
) -> Committed:
    """The offsets the latest landing of ``topic`` on main committed.

    ``ancestry`` is main's history from its head backwards as far as it can be followed
    (expired snapshots end it early); ``tagged`` the snapshot of the topic's offsets tag.
    The walk wins. The tag is used only when the walk was cut short by expiry (its last
    snapshot has a parent that is gone): a tag whose snapshot is not on a complete walk
    belongs to a history main was rolled back from, and is ignored.
    """
    for snapshot in ancestry:
        if carries_offsets(snapshot, topic):
            offsets = parse_offsets(snapshot.summary[OFFSETS_PROPERTY])
            return Committed(offsets, snapshot.snapshot_id, "history")
    cut_short = bool(ancestry) and ancestry[-1].parent_id is not None
    if tagged is not None and cut_short and carries_offsets(tagged, topic):
        offsets = parse_offsets(tagged.summary[OFFSETS_PROPERTY])
        return Committed(offsets, tagged.snapshot_id, "tag")
    return Committed({}, None, "none")


@dataclass(frozen=True)
class PartitionState:
    """Offsets of one partition on the brokers when the run started."""

    earliest: int  # the log start offset: lower offsets were deleted (retention, delete-records)
    end: int  # the last stable offset under read_committed: the run reads up to here


@dataclass(frozen=True)
class Gap:
    """Offsets deleted on the brokers before they were landed: ``[start, end)``."""

    partition: int
    start: int
    end: int

    def as_dict(self) -> dict[str, int]:
        return {
            "partition": self.partition,
            "from": self.start,
            "to": self.end,
            "count": self.end - self.start,
        }


@dataclass(frozen=True)
class Plan:
    """What a run reads: ``[start, end)`` per partition, the next offsets it commits."""

    ranges: dict[int, tuple[int, int]]
    next_offsets: dict[int, int]
    gaps: list[Gap]
    new_partitions: list[int]

    @property
    def empty(self) -> bool:
        return all(start >= end for start, end in self.ranges.values())

    @property
    def offsets_in_range(self) -> int:
        return sum(end - start for start, end in self.ranges.values())


def plan_ranges(
    committed: Mapping[int, int],
    brokers: Mapping[int, PartitionState],
    max_per_partition: int | None,
) -> Plan:
    """Plan one run from the committed offsets and the brokers' offsets.

    A partition never landed starts at its earliest offset. A committed offset below the
    earliest available one is a gap (reported; reading starts at the earliest). A cap
    limits each partition's range; the next offsets are the ends read. Partitions that
    were committed but no longer exist keep their committed offsets.

    Raises:
        ConfigError: a committed offset is past the partition's end (the topic was
            recreated, or the offsets belong to another cluster).
    """
    ranges: dict[int, tuple[int, int]] = {}
    gaps: list[Gap] = []
    new_partitions = sorted(set(brokers) - set(committed))
    for partition in sorted(brokers):
        state = brokers[partition]
        start = committed.get(partition, state.earliest)
        if start > state.end:
            raise ConfigError(
                f"partition {partition}: committed offset {start} is past the end offset "
                f"{state.end}; the topic was recreated or TRADELAKE_KAFKA__BOOTSTRAP_SERVERS "
                "names another cluster. Rewind the offsets (docs/kafka.md) before landing"
            )
        if start < state.earliest:
            gaps.append(Gap(partition, start, state.earliest))
            start = state.earliest
        end = state.end if max_per_partition is None else min(state.end, start + max_per_partition)
        ranges[partition] = (start, end)
    next_offsets = dict(committed)
    next_offsets.update({partition: end for partition, (_, end) in ranges.items()})
    return Plan(ranges, next_offsets, gaps, new_partitions)


def spark_offsets(topic: str, offsets: Mapping[int, int]) -> str:
    """Offsets as the Spark Kafka source's ``startingOffsets``/``endingOffsets`` JSON."""
    return json.dumps({topic: {str(p): int(offsets[p]) for p in sorted(offsets)}})


def with_secret_options(settings: Settings) -> KafkaSettings:
    """The Kafka settings with the options of ``kafka.options_secret_id`` laid over them.

    The secret's string is a JSON object of client options (string values), e.g.
    ``{"sasl.jaas.config": "...ScramLoginModule required username=... password=...;"}``.

    Raises:
        ConfigError: the secret cannot be read, is not such an object, or sets a property
            that has a setting of its own.
    """
    kafka = settings.kafka
    if not kafka.options_secret_id:
        return kafka
    variable = "TRADELAKE_KAFKA__OPTIONS_SECRET_ID"
    text = aws.secret_string(settings, kafka.options_secret_id, variable)
    try:
        options = json.loads(text)
    except json.JSONDecodeError:
        options = None
    if not isinstance(options, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in options.items()
    ):
        # The secret's text is never echoed: it may be a password.
        raise ConfigError(
            f"the secret {kafka.options_secret_id!r} ({variable}) must hold a JSON object of "
            "Kafka client options with string values"
        )
    try:
        check_kafka_options(options, f"the secret {kafka.options_secret_id!r}")
    except ValueError as err:
        raise ConfigError(str(err)) from err
    return kafka.model_copy(update={"options": {**kafka.options, **options}})


# --- Kafka look-ups through the JVM -------------------------------------------------------------


def _jvm(spark: SparkSession) -> Any:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    return jvm


def broker_offsets(
    spark: SparkSession, kafka: KafkaSettings, topic: str
) -> dict[int, PartitionState]:
    """Earliest and last stable offsets of every partition of ``topic``.

    Uses the kafka-clients consumer already on Spark's classpath (the same client and
    security settings as the Spark source), read_committed, no consumer group.

    Raises:
        NoInputError: the topic does not exist on the brokers.
        StorageError: the brokers cannot be reached.
    """
    jvm = _jvm(spark)
    properties = jvm.java.util.Properties()
    settings = {
        **kafka.client_properties(),
        "isolation.level": "read_committed",
        "enable.auto.commit": "false",
        "key.deserializer": "org.apache.kafka.common.serialization.ByteArrayDeserializer",
        "value.deserializer": "org.apache.kafka.common.serialization.ByteArrayDeserializer",
        "request.timeout.ms": str(kafka.request_timeout_ms),
        "default.api.timeout.ms": str(kafka.request_timeout_ms),
    }
    for key, value in settings.items():
        properties.setProperty(key, value)
    timeout = jvm.java.time.Duration.ofMillis(kafka.request_timeout_ms)
    try:
        consumer = jvm.org.apache.kafka.clients.consumer.KafkaConsumer(properties)
    except Exception as err:
        raise ConfigError(f"cannot create a Kafka consumer: {describe_error(err)}") from err
    try:
        infos = consumer.partitionsFor(topic, timeout)
        partitions = [int(info.partition()) for info in infos] if infos is not None else []
        if not partitions:
            raise NoInputError(
                f"topic {topic!r} does not exist on {kafka.bootstrap_servers}; create it or "
                "check --topic / TRADELAKE_KAFKA__TOPIC"
            )
        topic_partitions = jvm.java.util.ArrayList()
        for partition in partitions:
            topic_partitions.add(jvm.org.apache.kafka.common.TopicPartition(topic, partition))
        earliest = consumer.beginningOffsets(topic_partitions, timeout)
        ends = consumer.endOffsets(topic_partitions, timeout)
        return {
            int(tp.partition()): PartitionState(int(earliest.get(tp)), int(ends.get(tp)))
            for tp in topic_partitions
        }
    except TradelakeError:
        raise
    except Exception as err:
        raise StorageError(
            f"cannot read the offsets of topic {topic!r} from {kafka.bootstrap_servers}: "
            f"{describe_error(err)}; check TRADELAKE_KAFKA__BOOTSTRAP_SERVERS and the "
            "security settings"
        ) from err
    finally:
        consumer.close()


# --- Iceberg history and commits through the Java API -----------------------------------------


def _info(snapshot: Any) -> SnapshotInfo:
    parent = snapshot.parentId()
    return SnapshotInfo(
        int(snapshot.snapshotId()),
        None if parent is None else int(parent),
        snapshot_summary(snapshot),
    )


def main_ancestry(spark: SparkSession, table: Any, topic: str) -> list[SnapshotInfo]:
    """Main's history from its head back to the first snapshot with ``topic``'s offsets,
    or as far as it can be followed (an expired parent ends it): history.main_ancestors."""
    ancestry: list[SnapshotInfo] = []
    for snapshot in main_ancestors(spark, table):
        info = _info(snapshot)
        ancestry.append(info)
        if carries_offsets(info, topic):
            break
    return ancestry


def _tagged(table: Any, topic: str) -> SnapshotInfo | None:
    ref = table.refs().get(offsets_tag(topic))
    if ref is None:
        return None
    snapshot = table.snapshot(ref.snapshotId())
    return None if snapshot is None else _info(snapshot)


def read_committed_offsets(
    spark: SparkSession, table: Any, topic: str
) -> tuple[int | None, Committed]:
    """(main's head, the committed offsets of ``topic``) from a freshly refreshed table."""
    return main_head(table), committed_offsets(
        main_ancestry(spark, table, topic), topic, _tagged(table, topic)
    )


@dataclass
class Attempt:
    """One landing attempt's plan and commit."""

    number: int
    head: int | None
    committed: Committed
    plan: Plan
    snapshot_id: int | None = None
    messages: int = 0
    gaps_during_read: list[Gap] = field(default_factory=list)


def _branch_name(run: Run, attempt: int) -> str:
    return f"{BRANCH_PREFIX}{run.run_id.replace('-', '_').lower()}_{attempt}"


def read_topic(
    spark: SparkSession, kafka: KafkaSettings, topic: str, plan: Plan, run: Run
) -> DataFrame:
    """The planned ranges as ``trades_landed`` rows (Spark's Kafka source, read_committed)."""
    starts = {p: start for p, (start, end) in plan.ranges.items() if start < end}
    ends = {p: plan.ranges[p][1] for p in starts}
    reader = (
        spark.read.format("kafka")
        .option("subscribe", topic)
        .option("startingOffsets", spark_offsets(topic, starts))
        .option("endingOffsets", spark_offsets(topic, ends))
        # Aborted transactions and control records are never read.
        .option("kafka.isolation.level", "read_committed")
        # Deleted offsets are checked by the run itself (a reported gap, or a failure).
        .option("failOnDataLoss", "false")
    )
    for key, value in kafka.client_properties().items():
        reader = reader.option(f"kafka.{key}", value)
    return reader.load().select(
        F.col("topic"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.col("timestamp").alias("kafka_timestamp"),
        F.col("key").cast("string").alias("key"),
        F.col("value").cast("string").alias("value"),
        F.to_date(F.col("timestamp")).alias("landing_date"),
        F.lit(run.run_id).alias("run_id"),
        utc_literal(run.started_at).alias("landed_at"),
    )


def _gaps_during_read(
    before: Mapping[int, PartitionState], after: Mapping[int, PartitionState], plan: Plan
) -> list[Gap]:
    """Offsets of the planned ranges that the brokers deleted while the run read them."""
    gaps = []
    for partition, (start, end) in plan.ranges.items():
        now = after.get(partition)
        if now is not None and start < end and now.earliest > start:
            gaps.append(Gap(partition, start, min(now.earliest, end)))
    return gaps


def land(
    spark: SparkSession,
    settings: Settings,
    run: Run,
    topic: str,
    max_per_partition: int | None,
    allow_data_loss: bool,
) -> None:
    """Land ``topic`` from its committed offsets to the end offsets seen at the start.

    Fills ``run.summary``. Raises a ``TradelakeError`` on failure; nothing is published then.
    """
    kafka = with_secret_options(settings)
    summary = run.summary
    summary["output_table"] = TRADES_LANDED.name
    kafka_summary: dict[str, Any] = {
        "topic": topic,
        "bootstrap_servers": kafka.bootstrap_servers,
        "allow_data_loss": allow_data_loss,
        "max_offsets_per_partition": max_per_partition,
    }
    summary["kafka"] = kafka_summary
    try:
        kafka.client_properties()
    except ValueError as err:
        raise ConfigError(str(err)) from err
    table_name = settings.table(TRADES_LANDED.name)
    ensure_tables(spark, settings, TRADES_LANDED)
    # The end offsets of the run's start bound the batch, whatever the attempts.
    brokers = broker_offsets(spark, kafka, topic)
    started = time.monotonic()
    for number in range(1, kafka.commit_attempts + 1):
        table = java_table(spark, table_name)
        head, committed = read_committed_offsets(spark, table, topic)
        plan = plan_ranges(committed.offsets, brokers, max_per_partition)
        attempt = Attempt(number, head, committed, plan)
        _describe(kafka_summary, attempt, brokers)
        if plan.gaps and not allow_data_loss:
            lost = sum(gap.end - gap.start for gap in plan.gaps)
            raise DataLossError(
                f"{lost} offsets of {topic} were deleted on the brokers (retention) before "
                f"they were landed: {[gap.as_dict() for gap in plan.gaps]}; nothing was "
                "published. Rerun with --allow-data-loss to land from the earliest available "
                "offsets (the gap stays in this summary and job_runs)"
            )
        if plan.empty:
            log.info("nothing to land", extra={"run_id": run.run_id, "topic": topic})
            summary.update(published=False)
            kafka_summary.update(messages=0, commit_attempts=number)
            return
        try:
            _attempt(spark, table_name, kafka, topic, run, attempt, brokers, allow_data_loss)
        except LostRace as retry:
            if number == kafka.commit_attempts:
                raise LandingConflictError(
                    f"{table_name}: each of {kafka.commit_attempts} landing attempts lost its "
                    f"commit to another writer (last: {retry}); nothing of this run was "
                    "published. Rerun (a landing run reads its offsets again)"
                ) from retry
            wait = commit_backoff(number)
            log.warning(
                "landing commit lost a race, starting over",
                extra={"attempt": number, "reason": str(retry), "wait_seconds": round(wait, 2)},
            )
            time.sleep(wait)
            continue
        seconds = max(time.monotonic() - started, 1e-6)
        kafka_summary.update(
            messages=attempt.messages,
            commit_attempts=number,
            offsets_committed={str(p): o for p, o in sorted(plan.next_offsets.items())},
            messages_per_second=round(attempt.messages / seconds, 1),
        )
        if attempt.gaps_during_read:
            kafka_summary["data_loss"] += [gap.as_dict() for gap in attempt.gaps_during_read]
        summary["snapshots"] = {TRADES_LANDED.name: attempt.snapshot_id}
        summary["published"] = True
        return


def _describe(
    kafka_summary: dict[str, Any], attempt: Attempt, brokers: Mapping[int, PartitionState]
) -> None:
    plan = attempt.plan
    kafka_summary.update(
        offsets_source=attempt.committed.source,
        offsets_snapshot=attempt.committed.snapshot_id,
        partitions={
            str(p): {
                "start": start,
                "end": end,
                "earliest": brokers[p].earliest,
                "end_at_start": brokers[p].end,
            }
            for p, (start, end) in sorted(plan.ranges.items())
        },
        new_partitions=plan.new_partitions,
        data_loss=[gap.as_dict() for gap in plan.gaps],
    )


def _attempt(
    spark: SparkSession,
    table_name: str,
    kafka: KafkaSettings,
    topic: str,
    run: Run,
    attempt: Attempt,
    brokers: Mapping[int, PartitionState],
    allow_data_loss: bool,
) -> None:
    branch = _branch_name(run, attempt.number)
    create_branch(spark, table_name, branch, attempt.head, BRANCH_MAX_AGE_MS)
    published = False
    try:
        frame = read_topic(spark, kafka, topic, attempt.plan, run)
        log.info(
            "reading and landing",
            extra={
                "run_id": run.run_id,
                "topic": topic,
                "attempt": attempt.number,
                "offsets": attempt.plan.offsets_in_range,
            },
        )
        # The offsets go into the same snapshot as the rows (tradelake.kafka.*).
        append_to_branch(
            frame,
            table_name,
            branch,
            run.run_id,
            properties={
                TOPIC_PROPERTY.removeprefix("tradelake."): topic,
                OFFSETS_PROPERTY.removeprefix("tradelake."): format_offsets(
                    attempt.plan.next_offsets
                ),
                START_PROPERTY.removeprefix("tradelake."): format_offsets(
                    {p: s for p, (s, _) in attempt.plan.ranges.items()}
                ),
            },
        )
        after = broker_offsets(spark, kafka, topic)
        attempt.gaps_during_read = _gaps_during_read(brokers, after, attempt.plan)
        if attempt.gaps_during_read and not allow_data_loss:
            raise DataLossError(
                f"offsets of {topic} were deleted on the brokers while this run read them: "
                f"{[gap.as_dict() for gap in attempt.gaps_during_read]}; nothing was "
                "published. Rerun (with --allow-data-loss to accept the loss)"
            )
        log.info("publishing", extra={"run_id": run.run_id, "branch": branch})
        attempt.snapshot_id = publish_branch(
            spark, table_name, branch, attempt.head, offsets_tag(topic)
        )
        published = True
        table = java_table(spark, table_name)
        added = summary_of(table, attempt.snapshot_id) or {}
        attempt.messages = int(added.get("added-records") or 0)
        log.info(
            "landed",
            extra={
                "run_id": run.run_id,
                "snapshot_id": attempt.snapshot_id,
                "messages": attempt.messages,
            },
        )
    finally:
        if not published:
            drop_branch(spark, table_name, branch)
