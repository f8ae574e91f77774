"""Landing throughput: N messages on a local broker, landed by one ./spark-submit.sh run.

    .venv/bin/python scripts/kafka_throughput.py [--messages 200000] [--partitions 3]

Starts a broker (scripts/kafka.sh start) in a temporary folder, publishes N trade
messages (about 190 bytes each), lands them into a fresh embedded lake with
``jobs/land_kafka.py`` (local[2], 1 GiB driver unless SPARK_MASTER / SPARK_DRIVER_MEMORY
say otherwise) and prints one JSON line: messages landed, the job's own rate (offset
look-up to commit) and the wall time of the whole spark-submit (JVM start included).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> int:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kafka-throughput-"))
    port, controller = free_port(), free_port()
    kafka_sh = str(REPO / "scripts" / "kafka.sh")
    subprocess.run(
        [kafka_sh, "start", str(root / "broker"), str(port), str(controller)], check=True
    )
    pid = int((root / "broker" / "broker.pid").read_text())
    bootstrap = f"127.0.0.1:{port}"
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
        deadline = time.monotonic() + 120
        while True:
            try:
                if admin.list_topics(timeout=2).brokers:
                    break
            except Exception:  # noqa: BLE001 - not up yet
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("broker did not start")
            time.sleep(0.5)
        for future in admin.create_topics([NewTopic("bench", args.partitions, 1)]).values():
            future.result(timeout=60)
        producer = Producer(
            {"bootstrap.servers": bootstrap, "linger.ms": 20, "enable.idempotence": True}
        )
        noon = 1736942400000  # 2025-01-15T12:00:00Z
        for i in range(args.messages):
            value = json.dumps(
                {
                    "trade_id": f"T{i:09d}",
                    "symbol": "AAPL",
                    "side": "buy" if i % 2 else "sell",
                    "price": f"{100 + i % 997}.{i % 100:02d}",
                    "quantity": str(1 + i % 500),
                    "timestamp": "2025-01-15T14:30:00.123456Z",
                    "exchange": "XNAS",
                }
            )
            while True:
                try:
                    producer.produce("bench", value=value.encode(), timestamp=noon)
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
        producer.flush(120)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TRADELAKE_")},
            "TRADELAKE_JARS_DIR": os.environ.get("TRADELAKE_JARS_DIR", str(REPO / ".jars")),
            "SPARK_MASTER": os.environ.get("SPARK_MASTER", "local[2]"),
            "SPARK_DRIVER_MEMORY": os.environ.get("SPARK_DRIVER_MEMORY", "1g"),
            "TRADELAKE_CONF_DIR": str(REPO / "conf"),
            "TRADELAKE_WAREHOUSE": str(root / "warehouse"),
            "TRADELAKE_CATALOG_URI": f"jdbc:sqlite:{root / 'catalog.db'}",
            "TRADELAKE_LINEAGE__FILE_PATH": str(root / "lineage.jsonl"),
            "TRADELAKE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        }
        started = time.monotonic()
        result = subprocess.run(
            [str(REPO / "spark-submit.sh"), "jobs/land_kafka.py", "--topic", "bench"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.monotonic() - started
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        kafka = summary.get("kafka", {})
        print(
            json.dumps(
                {
                    "messages": kafka.get("messages"),
                    "exit_code": summary.get("exit_code"),
                    "job_messages_per_second": kafka.get("messages_per_second"),
                    "job_seconds": summary.get("seconds"),
                    "spark_submit_wall_seconds": round(wall, 1),
                    "end_to_end_messages_per_second": round((kafka.get("messages") or 0) / wall, 1),
                    "master": env["SPARK_MASTER"],
                    "driver_memory": env["SPARK_DRIVER_MEMORY"],
                }
            )
        )
        return int(summary.get("exit_code", 1))
    finally:
        os.kill(pid, signal.SIGTERM)


if __name__ == "__main__":
    sys.exit(main())
