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
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kafka.broker import Broker, KafkaLake, wait_ready
from tests.lakes import REPO, Lake, free_port

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test of this folder belongs to the Kafka tier (make test-kafka)."""
    for item in items:
        if _HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.kafka)


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
        wait_ready(bootstrap, alive, time.monotonic() + 120)
        yield Broker(bootstrap, folder)
    finally:
        if alive():
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while alive() and time.monotonic() < deadline:
                time.sleep(0.2)
            if alive():
                os.kill(pid, signal.SIGKILL)


_databases = itertools.count(1)


@pytest.fixture
def kafka_lake(
    lake: Lake, broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> KafkaLake:
    """Configuration (environment) pointing at the broker and a fresh database."""
    result = KafkaLake(lake.root, f"kafka_{next(_databases)}", tmp_path, broker=broker)
    result.use(monkeypatch)
    return result
