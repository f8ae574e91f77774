"""The Kafka tier's broker handle, its publisher and its lake (plain helpers; the
fixtures that start the broker and make a lake are in tests/kafka/conftest.py)."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.submit import ProcessLake

_names = itertools.count(1)
# librdkafka logs connection errors to stderr on its own; the tests check outcomes instead.
QUIET = {"log_level": 0}


@dataclass(frozen=True)
class Broker:
    """A running single-node broker."""

    bootstrap: str
    folder: Path

    def admin(self) -> Any:
        from confluent_kafka.admin import AdminClient

        return AdminClient({"bootstrap.servers": self.bootstrap, **QUIET})

    def create_topic(self, partitions: int) -> str:
        """A new topic with ``partitions`` partitions; its name is unique in the session."""
        from confluent_kafka.admin import NewTopic

        name = f"trades-{next(_names)}"
        # The client must outlive its futures: a collected client cancels them.
        admin = self.admin()
        for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
            future.result(timeout=60)
        return name

    def add_partitions(self, topic: str, total: int) -> None:
        from confluent_kafka.admin import NewPartitions

        admin = self.admin()
        for future in admin.create_partitions([NewPartitions(topic, total)]).values():
            future.result(timeout=60)

    def delete_records_before(self, topic: str, partition: int, offset: int) -> int:
        """Advance the partition's log start offset to ``offset`` (kafka-delete-records)."""
        from confluent_kafka import TopicPartition

        admin = self.admin()
        futures = admin.delete_records([TopicPartition(topic, partition, offset)])
        (result,) = [future.result(timeout=60) for future in futures.values()]
        return int(result.low_watermark)

    def producer(self, transactional_id: str | None = None) -> Any:
        from confluent_kafka import Producer

        config: dict[str, Any] = {"bootstrap.servers": self.bootstrap, "linger.ms": 5, **QUIET}
        if transactional_id:
            config["transactional.id"] = transactional_id
        return Producer(config)


@dataclass
class Published:
    """What a test published: every committed (partition, offset) and the aborted values."""

    committed: dict[tuple[int, int], str | None] = field(default_factory=dict)
    aborted: set[str] = field(default_factory=set)

    def offsets(self) -> Counter[tuple[int, int]]:
        return Counter(self.committed.keys())


def publish(
    broker: Broker,
    topic: str,
    values: Iterable[str | None],
    timestamp_ms: int,
    *,
    partitions: int,
    published: Published | None = None,
    abort: bool = False,
    transactional_id: str | None = None,
) -> Published:
    """Publish ``values`` round-robin over ``partitions`` in ONE transaction.

    ``abort``: the transaction is aborted (its messages must never land). Committed
    messages are recorded with the offset the broker gave them.
    """
    published = published or Published()
    producer = broker.producer(transactional_id or f"tx-{topic}-{next(_names)}")
    producer.init_transactions(30)
    producer.begin_transaction()
    delivered: list[tuple[int, int, str | None]] = []

    def on_delivery(err: Any, message: Any) -> None:
        assert err is None, err
        value = message.value()
        delivered.append(
            (message.partition(), message.offset(), None if value is None else value.decode())
        )

    for index, value in enumerate(values):
        producer.produce(
            topic,
            value=None if value is None else value.encode(),
            key=f"k{index}".encode(),
            partition=index % partitions,
            timestamp=timestamp_ms,
            on_delivery=on_delivery,
        )
        producer.poll(0)
    producer.flush(60)
    if abort:
        producer.abort_transaction(60)
        published.aborted |= {value for _, _, value in delivered if value is not None}
    else:
        producer.commit_transaction(60)
        for partition, offset, value in delivered:
            published.committed[(partition, offset)] = value
    return published


def wait_ready(bootstrap: str, process_alive: Any, deadline: float) -> None:
    """Until the broker at ``bootstrap`` answers (or its process died, or ``deadline``)."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, **QUIET})
    while True:
        try:
            metadata = admin.list_topics(timeout=2)
            if metadata.brokers:
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        if not process_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the Kafka broker did not start on {bootstrap}")
        time.sleep(0.5)


@dataclass(frozen=True, kw_only=True)
class KafkaLake(ProcessLake):
    """A fresh database of the session's lake, its jobs pointed at the session's broker.

    Its raw root and lineage file are the test's own (``files``); jobs run in-process
    (``use`` it, then the ``run_job`` fixture) or as processes (``popen``, ``submit``).
    """

    broker: Broker

    def settings_env(self) -> dict[str, str]:
        return {
            **super().settings_env(),
            "TRADELAKE_KAFKA__BOOTSTRAP_SERVERS": self.broker.bootstrap,
        }

    def landed_offsets(self, topic: str) -> Counter[tuple[int, int]]:
        """(partition, offset) of every landed message of ``topic``, as a multiset."""
        return Counter(
            (row["kafka_partition"], row["kafka_offset"])
            for row in self.rows("trades_landed")
            if row["topic"] == topic
        )
