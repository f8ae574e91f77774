"""The Kafka tier (``make test-kafka``): a real broker, a real producer, the real jobs.

One Apache Kafka 4.1 broker per test session, KRaft, broker and controller in one JVM
(``scripts/kafka.sh start``: jars from Maven Central, storage formatted, 127.0.0.1 on free
ports, ``-Xmx512m``). Messages are published with confluent-kafka (librdkafka), with
transactions where a test needs aborted ones.

Landing and ingest runs happen in-process on the shared SparkSession where a test needs
no kill (fast), as ``./spark-submit.sh`` processes where it does (SIGKILL, two at once).
Both use the session's embedded catalog, each test its own database and topic
(``KafkaLake``: a ``ProcessLake`` of tests/submit.py with the broker in its settings).
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.lakes import REPO, Lake, free_port
from tests.submit import ProcessLake

_HERE = Path(__file__).parent
_names = itertools.count(1)
# librdkafka logs connection errors to stderr on its own; the tests check outcomes instead.
QUIET = {"log_level": 0}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test of this folder belongs to the Kafka tier (make test-kafka)."""
    for item in items:
        if _HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.kafka)


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


def _wait_ready(bootstrap: str, process_alive: Any, deadline: float) -> None:
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


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One KRaft broker for the session (scripts/kafka.sh start), stopped at the end."""
    folder = tmp_path_factory.mktemp("kafka")
    port, controller = free_port(), free_port()
    subprocess.run(
        [str(REPO / "scripts" / "kafka.sh"), "start", str(folder), str(port), str(controller)],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    pid = int((folder / "broker.pid").read_text())
    bootstrap = f"127.0.0.1:{port}"

    def alive() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    try:
        _wait_ready(bootstrap, alive, time.monotonic() + 120)
        yield Broker(bootstrap, folder)
    finally:
        if alive():
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while alive() and time.monotonic() < deadline:
                time.sleep(0.2)
            if alive():
                os.kill(pid, signal.SIGKILL)


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


_databases = itertools.count(1)


@pytest.fixture
def kafka_lake(
    lake: Lake, broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> KafkaLake:
    """Configuration (environment) pointing at the broker and a fresh database."""
    result = KafkaLake(lake.root, f"kafka_{next(_databases)}", tmp_path, broker=broker)
    result.use(monkeypatch)
    return result
