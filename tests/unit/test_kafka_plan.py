"""The Kafka landing's rules without Spark or a broker: committed offsets and run plans."""

from __future__ import annotations

import pytest

from tradelake.config import KafkaSettings
from tradelake.errors import ConfigError
from tradelake.kafka_landing import (
    OFFSETS_PROPERTY,
    TOPIC_PROPERTY,
    Gap,
    PartitionState,
    SnapshotInfo,
    committed_offsets,
    format_offsets,
    parse_offsets,
    plan_ranges,
    spark_offsets,
)


def landing(snapshot_id: int, parent: int | None, topic: str, offsets: str) -> SnapshotInfo:
    return SnapshotInfo(snapshot_id, parent, {TOPIC_PROPERTY: topic, OFFSETS_PROPERTY: offsets})


def other(snapshot_id: int, parent: int | None) -> SnapshotInfo:
    return SnapshotInfo(snapshot_id, parent, {"operation": "replace"})


def test_offsets_round_trip_as_sorted_compact_json() -> None:
    assert format_offsets({10: 5, 2: 7}) == '{"2":7,"10":5}'
    assert parse_offsets('{"2":7,"10":5}') == {2: 7, 10: 5}
    assert spark_offsets("t", {1: 4, 0: 3}) == '{"t": {"0": 3, "1": 4}}'


def test_the_walk_skips_snapshots_without_the_topics_offsets() -> None:
    ancestry = [
        other(5, 4),
        landing(4, 3, "other-topic", '{"0":99}'),
        landing(3, 2, "trades", '{"0":12,"1":7}'),
        landing(2, 1, "trades", '{"0":1,"1":1}'),
    ]
    committed = committed_offsets(ancestry, "trades", tagged=None)
    assert (committed.offsets, committed.snapshot_id, committed.source) == (
        {0: 12, 1: 7},
        3,
        "history",
    )


def test_the_walk_wins_over_the_tag() -> None:
    """After a rewind (rollback) main's history holds older offsets than the tag."""
    ancestry = [landing(3, 2, "trades", '{"0":5}')]
    tagged = landing(9, 8, "trades", '{"0":50}')
    assert committed_offsets(ancestry, "trades", tagged).offsets == {0: 5}


def test_the_tag_is_used_when_expiry_cut_the_walk_short() -> None:
    ancestry = [other(7, 6)]  # snapshot 6 was expired
    tagged = landing(4, 3, "trades", '{"0":12}')
    committed = committed_offsets(ancestry, "trades", tagged)
    assert (committed.offsets, committed.snapshot_id, committed.source) == ({0: 12}, 4, "tag")


def test_a_tag_not_on_a_complete_history_is_ignored() -> None:
    """Main was rolled back to before any landing: its whole history has no offsets."""
    ancestry = [other(2, 1), other(1, None)]
    tagged = landing(4, 3, "trades", '{"0":12}')
    assert committed_offsets(ancestry, "trades", tagged).source == "none"
    assert committed_offsets([], "trades", None).offsets == {}


def test_a_plan_reads_from_the_committed_offsets_to_the_end_offsets() -> None:
    brokers = {0: PartitionState(0, 20), 1: PartitionState(0, 9)}
    plan = plan_ranges({0: 12, 1: 9}, brokers, None)
    assert plan.ranges == {0: (12, 20), 1: (9, 9)}
    assert plan.next_offsets == {0: 20, 1: 9}
    assert plan.offsets_in_range == 8
    assert not plan.empty and plan.gaps == [] and plan.new_partitions == []


def test_new_partitions_start_at_their_earliest_offset_and_a_cap_bounds_each_range() -> None:
    brokers = {0: PartitionState(0, 100), 1: PartitionState(40, 100), 2: PartitionState(0, 3)}
    plan = plan_ranges({0: 10}, brokers, 25)
    assert plan.ranges == {0: (10, 35), 1: (40, 65), 2: (0, 3)}
    assert plan.new_partitions == [1, 2]
    assert plan.gaps == [], "a partition never landed has no gap: it starts where it starts"


def test_offsets_deleted_before_landing_are_a_gap_and_reading_starts_after_it() -> None:
    plan = plan_ranges({0: 5, 1: 3}, {0: PartitionState(8, 12), 1: PartitionState(3, 4)}, None)
    assert plan.gaps == [Gap(0, 5, 8)]
    assert plan.gaps[0].as_dict() == {"partition": 0, "from": 5, "to": 8, "count": 3}
    assert plan.ranges == {0: (8, 12), 1: (3, 4)}


def test_a_partition_that_disappeared_keeps_its_committed_offset() -> None:
    plan = plan_ranges({0: 5, 7: 30}, {0: PartitionState(0, 5)}, None)
    assert plan.empty
    assert plan.next_offsets == {0: 5, 7: 30}


def test_a_committed_offset_past_the_end_is_refused() -> None:
    with pytest.raises(ConfigError, match="past the end offset"):
        plan_ranges({0: 50}, {0: PartitionState(0, 10)}, None)


def test_kafka_settings_build_client_properties_and_refuse_what_the_job_owns() -> None:
    settings = KafkaSettings(
        bootstrap_servers="b-1:9098,b-2:9098",
        security_protocol="SASL_SSL",
        sasl_mechanism="AWS_MSK_IAM",
        options={"sasl.jaas.config": "software.amazon.msk.auth.iam.IAMLoginModule required;"},
    )
    assert settings.client_properties() == {
        "bootstrap.servers": "b-1:9098,b-2:9098",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "AWS_MSK_IAM",
        "sasl.jaas.config": "software.amazon.msk.auth.iam.IAMLoginModule required;",
    }
    with pytest.raises(ValueError, match="BOOTSTRAP_SERVERS is required"):
        KafkaSettings().client_properties()
    with pytest.raises(ValueError, match="isolation.level"):
        KafkaSettings(options={"isolation.level": "read_uncommitted"})
    with pytest.raises(ValueError, match="not a Kafka topic name"):
        KafkaSettings(topic="trades/2025")
