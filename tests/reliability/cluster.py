"""A Spark standalone cluster on 127.0.0.1 for tests: one master, N workers, separate JVMs.

Started straight from the pip-installed pyspark distribution (it ships the jars and
``bin/`` but not ``sbin/start-*.sh``), each daemon in its own process group so that
stopping the cluster also ends the executor JVMs a worker launched.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyspark

SPARK_HOME = Path(pyspark.__file__).parent
# The daemons only route messages; the executors get their own heap (spark.executor.memory).
_DAEMON_HEAP = "256m"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the daemon binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class StandaloneCluster:
    """A running master and its workers; ``master_url`` is what ``--master`` takes."""

    root: Path
    master_url: str
    web_url: str
    work_dirs: list[Path]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def state(self) -> dict[str, Any]:
        """The master's JSON status (workers, active and completed applications)."""
        with urllib.request.urlopen(f"{self.web_url}/json/", timeout=5) as response:
            state: dict[str, Any] = json.loads(response.read())
        return state

    def executor_logs(self) -> dict[str, dict[str, str]]:
        """stderr of every executor, by application id then ``<worker dir>/<executor id>``."""
        logs: dict[str, dict[str, str]] = {}
        for work_dir in self.work_dirs:
            for stderr in sorted(work_dir.glob("app-*/*/stderr")):
                app, executor = stderr.parent.parent.name, stderr.parent.name
                key = f"{work_dir.name}/{executor}"
                logs.setdefault(app, {})[key] = stderr.read_text(errors="replace")
        return logs

    def daemon_logs(self) -> str:
        """The tail of every daemon's log, for an assertion message."""
        parts = []
        for log in sorted(self.root.glob("*.log")):
            parts.append(f"== {log.name}\n" + log.read_text(errors="replace")[-3000:])
        return "\n".join(parts)

    def stop(self) -> None:
        """End every daemon's process group (executors included): TERM, then KILL."""
        for proc in self.processes:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.processes:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            # Executors may outlive their worker briefly; the group takes them along.
            _signal_group(proc, signal.SIGKILL)
            proc.wait()


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def _daemon(
    root: Path, name: str, main_class: str, args: list[str], env: dict[str, str]
) -> subprocess.Popen[bytes]:
    log = (root / f"{name}.log").open("wb")
    try:
        return subprocess.Popen(
            [
                "java",
                f"-Xmx{_DAEMON_HEAP}",
                # No REST submission server: it would take the fixed port 6066.
                "-Dspark.master.rest.enabled=false",
                "-cp",
                f"{SPARK_HOME / 'jars'}/*",
                main_class,
                *args,
            ],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log.close()


def _wait_for(cluster: StandaloneCluster, ready: str, check: Any, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        for proc in cluster.processes:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"a cluster daemon exited ({proc.returncode}) before {ready}:\n"
                    + cluster.daemon_logs()
                )
        try:
            state = cluster.state()
            if check(state):
                return state
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"cluster not {ready} after {timeout:.0f} s:\n" + cluster.daemon_logs()
            )
        time.sleep(0.5)


@contextmanager
def standalone_cluster(
    root: Path, workers: int = 2, cores: int = 1, memory: str = "1g", timeout: float = 120
) -> Iterator[StandaloneCluster]:
    """Start a master and ``workers`` workers on 127.0.0.1; stop them all on exit.

    Each worker offers ``cores`` cores and ``memory`` to executors and keeps its
    executors' working directories (jars, shipped files, logs) under ``root/worker-<k>``.
    """
    root.mkdir(parents=True, exist_ok=True)
    port, web_port = free_port(), free_port()
    env = {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        # What bin/load-spark-env.sh would export: the worker's launcher needs it to
        # build the executor command from a distribution without build directories.
        "SPARK_SCALA_VERSION": "2.13",
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    cluster = StandaloneCluster(
        root=root,
        master_url=f"spark://127.0.0.1:{port}",
        web_url=f"http://127.0.0.1:{web_port}",
        work_dirs=[root / f"worker-{k}" for k in range(1, workers + 1)],
    )
    try:
        cluster.processes.append(
            _daemon(
                root,
                "master",
                "org.apache.spark.deploy.master.Master",
                ["--host", "127.0.0.1", "--port", str(port), "--webui-port", str(web_port)],
                env,
            )
        )
        # Workers started before the master listens back off for several seconds.
        _wait_for(cluster, "up", lambda state: state.get("status") == "ALIVE", timeout)
        for k, work_dir in enumerate(cluster.work_dirs, 1):
            work_dir.mkdir()
            cluster.processes.append(
                _daemon(
                    root,
                    f"worker-{k}",
                    "org.apache.spark.deploy.worker.Worker",
                    [
                        *("--host", "127.0.0.1", "--webui-port", "0"),
                        *("--cores", str(cores), "--memory", memory),
                        *("--work-dir", str(work_dir)),
                        cluster.master_url,
                    ],
                    env,
                )
            )
        _wait_for(
            cluster,
            f"showing {workers} alive workers",
            lambda state: state.get("aliveworkers") == workers,
            timeout,
        )
        yield cluster
    finally:
        cluster.stop()
