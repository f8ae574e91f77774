"""Run every benchmark scenario side by side and record the numbers.

python -m bench.run [--smoke] [--large]   (make bench, make bench BENCH_SMOKE=1)

Each scenario is its own process (a Spark application through ./spark-submit.sh, or a
baseline's Python process) on the same generated data, watched from here: wall time,
the time the process reports for its own work, and the peak resident memory of the
process tree (the driver JVM, which in local mode also runs the executors, and its
Python driver). A full run writes ``bench/results/<timestamp>.json`` and the results
section of ``docs/benchmarks.md``; a smoke run (tiny data, every scenario, no timing
claims) writes under ``build/bench/`` only, so CI proves the harness without
touching the documented numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
DAY = date(2025, 1, 15)
# The landing after DAY: the late-reports scenario's (see Bench.late_reports).
LANDING = DAY + timedelta(days=1)
MIB = 1024 * 1024
# Spark's event log holds each Iceberg scan's own metrics (data files kept, skipped).
SCAN_FILES_METRIC = "number of result data files"
SKIPPED_FILES_METRIC = "number of skipped data files"


# RSS samples per PSS sample (see watch).
PSS_EVERY = 20
# A smoke run's Spark applications: spark-submit.sh's tiny JVM profile (C1 only, the
# serial GC, no production JIT option), two shuffle partitions.
SMOKE_SPARK_OPTIONS = "--conf spark.sql.shuffle.partitions=2 --conf spark.ui.enabled=false"


def event_log_conf(folder: Path) -> str:
    """spark-submit flags writing one plain-JSON event log into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return (
        f"--conf spark.eventLog.enabled=true --conf spark.eventLog.dir=file:{folder} "
        "--conf spark.eventLog.compress=false --conf spark.eventLog.rolling.enabled=false"
    )


@dataclass(frozen=True)
class Plan:
    """Data sizes of one benchmark run."""

    sizes: tuple[int, ...]
    baseline_size: int
    history_trades: int
    history_days: int
    compaction_rows: int
    compaction_files: int
    files_per_day: int
    smoke: bool
    # The late-reports scenario: late reports as a share of the landing's trades, over
    # this many days before the landing (also the ingest's lateness window).
    late_ratio: float = 0.01
    late_days: int = 7
    # Timed scans of the compaction scenario, before and after (the median is reported).
    compaction_repeats: int = 5
    # The fixed cost every run pays: a day this small, ingest and parse floor as whole
    # processes (the smoke's one size is small already, so it compares those).
    small_day: int = 500

    @classmethod
    def choose(cls, smoke: bool, large: bool) -> Plan:
        if smoke:
            # One size: the smoke proves every scenario runs, and each size costs four JVMs.
            # Compaction of 20 files scanned twice each side proves the same path as 200
            # scanned five times, in a fifth of the time.
            return cls(
                (2_000,),
                2_000,
                1_000,
                30,
                5_000,
                20,
                4,
                True,
                compaction_repeats=2,
                small_day=2_000,
            )
        # 2M: the whole-process ratio (JVM start included) at a size a day often has.
        sizes = (1_000_000, 2_000_000, 5_000_000) + ((10_000_000,) if large else ())
        return cls(sizes, 5_000_000, 300_000, 30, 1_000_000, 200, 8, False)


@dataclass
class Measured:
    """One watched process: exit code, wall seconds, peak RSS, its last JSON line."""

    exit_code: int
    wall_seconds: float
    peak_rss_mib: float
    peak_root_rss_mib: float
    result: dict[str, Any]
    output: str
    # Resident memory that is not file-backed: what the processes themselves hold
    # (Spark reads large shuffle blocks through mmap; those pages are page cache).
    peak_anonymous_rss_mib: float = 0.0
    # Proportional set size of the tree: a page shared by several processes (a forked
    # Python worker and its parent) counts once in total, not once per process as RSS does.
    peak_pss_mib: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "wall_seconds": round(self.wall_seconds, 2),
            "peak_rss_mib": round(self.peak_rss_mib, 1),
            "peak_anonymous_rss_mib": round(self.peak_anonymous_rss_mib, 1),
            "peak_pss_mib": round(self.peak_pss_mib, 1),
            "peak_jvm_or_root_rss_mib": round(self.peak_root_rss_mib, 1),
            **{k: v for k, v in self.result.items() if k not in ("quality", "lineage")},
        }


def _proc_bytes(pid: int, file: str, field: str) -> int:
    """A ``<field>: N kB`` line of ``/proc/<pid>/<file>`` in bytes (Linux), 0 where unknown."""
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _anonymous_rss(pid: int) -> int:
    """RssAnon of a process in bytes."""
    return _proc_bytes(pid, "status", "RssAnon")


def _pss(pid: int) -> int:
    """Pss of a process in bytes (``smaps_rollup``: the kernel walks its page tables)."""
    return _proc_bytes(pid, "smaps_rollup", "Pss")


def watch(command: list[str], env: dict[str, str], log: Path) -> Measured:
    """Run ``command``, sampling its process tree's RSS every 0.1 s and its PSS every 2 s."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("w") as sink:
        proc = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=sink, text=True
        )
        peaks = [0, 0, 0, 0]
        done = threading.Event()

        def sample() -> None:
            try:
                root = psutil.Process(proc.pid)
            except psutil.NoSuchProcess:
                return
            tick = 0
            while not done.is_set():
                # PSS only every PSS_EVERY-th sample: the kernel walks every page table of
                # the process to compute it (smaps_rollup), under the lock the process's
                # own page faults need. Read every 0.1 s, the 8 GiB pure-Python baseline
                # took 300 s instead of 169 s (same machine, same hour).
                with_pss = tick % PSS_EVERY == 0
                tick += 1
                try:
                    tree = [root, *root.children(recursive=True)]
                    sizes, anonymous, proportional = [], 0, 0
                    for member in tree:
                        try:
                            sizes.append(member.memory_info().rss)
                            anonymous += _anonymous_rss(member.pid)
                            proportional += _pss(member.pid) if with_pss else 0
                        except psutil.NoSuchProcess:
                            continue
                    peaks[0] = max(peaks[0], sum(sizes))
                    peaks[1] = max(peaks[1], sizes[0] if sizes else 0)
                    peaks[2] = max(peaks[2], anonymous)
                    peaks[3] = max(peaks[3], proportional)
                except psutil.NoSuchProcess:
                    return
                done.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        stdout, _ = proc.communicate()
        done.set()
        sampler.join()
    wall = time.monotonic() - started
    sink_text = log.read_text(errors="replace")
    log.write_text(sink_text + "\n--- stdout ---\n" + stdout)
    # The last JSON line: a job's run summary, or what a floor or baseline printed.
    result: dict[str, Any] = {}
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                result = json.loads(line)
                break
            except json.JSONDecodeError:
                continue
    return Measured(
        proc.returncode,
        wall,
        peaks[0] / MIB,
        peaks[1] / MIB,
        result,
        stdout + sink_text,
        peaks[2] / MIB,
        peaks[3] / MIB,
    )


class Bench:
    """Lakes, data and environment of one benchmark run."""

    def __init__(self, plan: Plan, work: Path) -> None:
        self.plan = plan
        self.work = work
        self.scenarios: dict[str, dict[str, Any]] = {}

    def raw_root(self, trades: int) -> Path:
        return self.work / "raw" / f"{trades}"

    def lake(self, name: str) -> Path:
        root = self.work / "lakes" / name
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        return root

    def env(self, lake: Path, raw: Path, extra_submit_opts: str = "") -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("TRADELAKE_")}
        return {
            **base,
            "TRADELAKE_JARS_DIR": os.environ.get("TRADELAKE_JARS_DIR", str(REPO / ".jars")),
            "TRADELAKE_CONF_DIR": str(REPO / "conf"),
            "TRADELAKE_RAW_URI": str(raw),
            "TRADELAKE_WAREHOUSE": str(lake / "warehouse"),
            "TRADELAKE_CATALOG_URI": f"jdbc:sqlite:{lake / 'catalog.db'}",
            "TRADELAKE_DATABASE": "bench",
            "TRADELAKE_LINEAGE__TRANSPORT": "none",
            "SPARK_MASTER": os.environ.get("BENCH_SPARK_MASTER", "local[2]"),
            **(
                {"SPARK_DRIVER_MEMORY": os.environ["BENCH_DRIVER_MEMORY"]}
                if "BENCH_DRIVER_MEMORY" in os.environ
                else {}
            ),
            "SPARK_SUBMIT_OPTS_EXTRA": extra_submit_opts,
            # The smoke's numbers mean nothing: its tiny jobs run the test tiers' JVM
            # profile (tiny) with two shuffle partitions (tests/submit.py), half the CPU.
            **(
                {
                    "TRADELAKE_JVM_PROFILE": "tiny",
                    "SPARK_SUBMIT_OPTS_EXTRA": f"{SMOKE_SPARK_OPTIONS} {extra_submit_opts}",
                }
                if self.plan.smoke
                else {}
            ),
        }

    def landing_root(self, trades: int) -> Path:
        """Raw root of the landing after DAY (``LANDING``), ``trades`` trades."""
        return self.work / "raw" / f"landing-{trades}"

    def generate(self, trades: int, day: date = DAY, root: Path | None = None) -> dict[str, Any]:
        """The day of ``trades`` trades (JSON Lines), generated once and reused.

        Under ``root`` (default: ``raw_root(trades)``), which holds that one day.
        """
        root = root or self.raw_root(trades)
        description = root / "description.json"
        args = {"trades": trades, "files": self.plan.files_per_day, "seed": 7, "format": "jsonl"}
        if description.is_file():
            cached = json.loads(description.read_text())
            if cached.get("args") == args and cached.get("date") == day.isoformat():
                return dict(cached)
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        shards = max(1, min(self.plan.files_per_day, trades // 250_000))
        command = [
            sys.executable,
            "-m",
            "tradelake.sample",
            "--date",
            day.isoformat(),
            "--out",
            str(root),
            "--trades",
            str(trades),
            "--files",
            str(self.plan.files_per_day),
            "--seed",
            "7",
            "--format",
            "jsonl",
            "--shards",
            str(shards),
        ]
        started = time.monotonic()
        out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True)
        described = json.loads(out.stdout)
        described["args"] = args
        described["generate_seconds"] = round(time.monotonic() - started, 1)
        described["raw_bytes"] = sum(p.stat().st_size for p in root.rglob("*.jsonl"))
        description.write_text(json.dumps(described))
        return dict(described)

    def submit(self, name: str, script: str, argv: list[str], env: dict[str, str]) -> Measured:
        print(f"bench: {name} …", file=sys.stderr, flush=True)
        measured = watch(
            [str(REPO / "spark-submit.sh"), script, *argv], env, self.work / "logs" / f"{name}.log"
        )
        self.record(name, measured)
        return measured

    def python(
        self, name: str, module: str, argv: list[str], env: dict[str, str] | None = None
    ) -> Measured:
        print(f"bench: {name} …", file=sys.stderr, flush=True)
        measured = watch(
            [sys.executable, "-m", module, *argv],
            dict(os.environ) if env is None else env,
            self.work / "logs" / f"{name}.log",
        )
        self.record(name, measured)
        return measured

    def record(self, name: str, measured: Measured) -> None:
        self.scenarios[name] = measured.as_dict()
        status = "ok" if measured.exit_code == 0 else f"exit {measured.exit_code}"
        print(
            f"bench: {name} {status} wall {measured.wall_seconds:.1f} s, "
            f"peak RSS {measured.peak_rss_mib:.0f} MiB",
            file=sys.stderr,
            flush=True,
        )
        if measured.exit_code != 0:
            tail = "\n".join(measured.output.splitlines()[-30:])
            raise RuntimeError(f"scenario {name} failed (exit {measured.exit_code}):\n{tail}")

    # --- scenarios -------------------------------------------------------------------

    def ingest_and_floors(self, trades: int) -> None:
        raw = self.raw_root(trades)
        label = label_of(trades)
        lake = self.lake(f"ingest-{label}")
        env = self.env(lake, raw)
        self.submit(f"ingest_{label}", "jobs/ingest.py", ["--date", DAY.isoformat()], env)
        self.submit(
            f"daily_volume_{label}", "jobs/daily_volume.py", ["--date", DAY.isoformat()], env
        )
        floors = self.lake(f"floors-{label}")
        for mode in ("io", "parse", "design"):
            self.submit(
                f"floor_{mode}_{label}",
                "bench/floors.py",
                ["--date", DAY.isoformat(), "--mode", mode],
                self.env(floors, raw),
            )

    def small_day_and_floor(self) -> None:
        """A day of ``plan.small_day`` trades: ingest and parse floor, whole processes."""
        trades = self.plan.small_day
        label = label_of(trades)
        if f"ingest_{label}" in self.scenarios:
            return  # one of the sizes (the smoke's): both already ran on it
        raw = self.raw_root(trades)
        date_argv = ["--date", DAY.isoformat()]
        self.submit(
            f"ingest_{label}",
            "jobs/ingest.py",
            date_argv,
            self.env(self.lake(f"ingest-{label}"), raw),
        )
        self.submit(
            f"floor_parse_{label}",
            "bench/floors.py",
            [*date_argv, "--mode", "parse"],
            self.env(self.lake(f"floors-{label}"), raw),
        )

    def baselines(self, trades: int) -> None:
        raw, label = self.raw_root(trades), label_of(trades)
        for name, module in (
            ("pure_python", "bench.baselines.pure_python"),
            ("duckdb", "bench.baselines.duckdb_sql"),
        ):
            out = self.work / "baselines" / f"{name}-{label}"
            shutil.rmtree(out, ignore_errors=True)
            self.python(
                f"{name}_{label}",
                module,
                ["--raw", str(raw), "--date", DAY.isoformat(), "--out", str(out)],
            )

    def history(self) -> None:
        trades, days = self.plan.history_trades, self.plan.history_days
        raw = self.raw_root(trades)
        for depth in (1, days):
            lake = self.lake(f"history-{depth}")
            env = self.env(lake, raw)
            self.submit(
                f"history_{depth}d_ingest", "jobs/ingest.py", ["--date", DAY.isoformat()], env
            )
            if depth > 1:
                self.submit(
                    f"history_{depth}d_setup",
                    "bench/history.py",
                    ["--date", DAY.isoformat(), "--days", str(depth)],
                    env,
                )
            for job, argv in (("daily_volume", []), ("ohlcv", ["--interval", "1m"])):
                name = f"history_{depth}d_{job}"
                event_logs = self.work / "events" / name
                shutil.rmtree(event_logs, ignore_errors=True)
                self.submit(
                    name,
                    f"jobs/{job}.py",
                    ["--date", DAY.isoformat(), *argv],
                    self.env(lake, raw, event_log_conf(event_logs)),
                )
                self.scenarios[name]["trades_scan"] = table_scans(event_logs, "trades")
                self.scenarios[name]["trades_table_files"] = table_files(lake)

    def late_reports(self) -> None:
        """A landing with late reports, against the same landing without them.

        On the history scenario's lake after its gold jobs (``history_days`` days in
        ``trades`` and in ``trade_reports``, each day the resolution of its own reports,
        as in production): the landing after DAY, ``history_trades`` trades, ingested
        with the lateness window at ``late_days``; then the same landing plus late reports
        (``late_ratio`` of its trades: corrections and new trades, equal shares of the
        ``late_days`` days before it) ingested again. The first rewrites one day of
        ``trades``; the second that day and every day a late report belongs to, each
        resolved from all of its reports.
        """
        plan = self.plan
        lake = self.work / "lakes" / f"history-{plan.history_days}"
        if not (lake / "catalog.db").is_file():
            raise RuntimeError(
                f"{lake} does not exist: the late-reports scenario runs on the history "
                "scenario's lake; run the history group first"
            )
        plain = self.landing_root(plan.history_trades)
        self.generate(plan.history_trades, LANDING, plain)
        late = self.work / "raw" / f"landing-late-{plan.history_trades}"
        shutil.rmtree(late, ignore_errors=True)
        folder = late / "trades" / f"date={LANDING.isoformat()}"
        folder.mkdir(parents=True)
        # The plain landing's files (linked: same bytes, same names) and one more file.
        for source in sorted((plain / "trades" / f"date={LANDING.isoformat()}").iterdir()):
            os.link(source, folder / source.name)
        self.python(
            "late_reports_setup",
            "bench.late_reports",
            [
                "--date",
                DAY.isoformat(),
                "--days",
                str(plan.late_days),
                "--count",
                str(round(plan.history_trades * plan.late_ratio)),
                "--out",
                str(folder / "late-reports.jsonl"),
            ],
            self.env(lake, plain),
        )
        window = {"TRADELAKE_CONTRACT__MAX_LATENESS_DAYS": str(plan.late_days)}
        for name, raw in (("late_plain_ingest", plain), ("late_ingest", late)):
            self.submit(
                name,
                "jobs/ingest.py",
                ["--date", LANDING.isoformat()],
                self.env(lake, raw) | window,
            )
            snapshot = int(self.scenarios[name]["snapshots"]["trades"])
            self.scenarios[name]["trades_commit"] = snapshot_summary(lake, "trades", snapshot)

    def compaction(self) -> None:
        lake = self.lake("compaction")
        self.submit(
            "compaction",
            "bench/compaction.py",
            [
                "--date",
                DAY.isoformat(),
                "--rows",
                str(self.plan.compaction_rows),
                "--files",
                str(self.plan.compaction_files),
                "--repeats",
                str(self.plan.compaction_repeats),
            ],
            self.env(lake, self.work / "raw" / "none"),
        )


def label_of(trades: int) -> str:
    if trades >= 1_000_000 and trades % 1_000_000 == 0:
        return f"{trades // 1_000_000}M"
    if trades >= 1_000 and trades % 1_000 == 0:
        return f"{trades // 1_000}k"
    return str(trades)


def table_scans(event_logs: Path, table: str) -> dict[str, int]:
    """Data files an application's scans of ``table`` read and skipped, from its event log.

    Every plan node ``BatchScan lake.<db>.<table>`` carries Iceberg's scan metrics as
    accumulators; their final values arrive as driver accumulator updates. A scan
    re-planned by AQE keeps its accumulators, so each is counted once.
    """
    wanted: dict[int, str] = {}
    values: dict[int, int] = {}

    def visit(node: dict[str, Any]) -> None:
        name = node.get("nodeName", "")
        if name.startswith("BatchScan ") and name.split(".")[-1] == table:
            for metric in node.get("metrics", []):
                if metric["name"] in (SCAN_FILES_METRIC, SKIPPED_FILES_METRIC):
                    wanted[metric["accumulatorId"]] = metric["name"]
        for child in node.get("children", []):
            visit(child)

    for log in sorted(p for p in event_logs.rglob("*") if p.is_file()):
        for line in log.read_text().splitlines():
            event = json.loads(line)
            kind = event.get("Event", "")
            if "sparkPlanInfo" in event:
                visit(event["sparkPlanInfo"])
            elif kind.endswith("SparkListenerDriverAccumUpdates"):
                for accumulator, value in event["accumUpdates"]:
                    values[accumulator] = max(values.get(accumulator, 0), int(value))
    totals = {SCAN_FILES_METRIC: 0, SKIPPED_FILES_METRIC: 0}
    for accumulator, metric in wanted.items():
        totals[metric] += values.get(accumulator, 0)
    return {
        "data_files_scanned": totals[SCAN_FILES_METRIC],
        "data_files_skipped": totals[SKIPPED_FILES_METRIC],
    }


def table_files(lake: Path) -> int:
    """Data files of ``trades`` in a benchmark lake, counted from the warehouse on disk."""
    data = lake / "warehouse" / "bench" / "trades" / "data"
    return sum(1 for p in data.rglob("*.parquet")) if data.is_dir() else 0


def snapshot_summary(lake: Path, table: str, snapshot_id: int) -> dict[str, str]:
    """The summary of one snapshot of a benchmark lake's table (added, deleted records...).

    Read from the table's current metadata file, which the SQLite catalog names: a
    snapshot's summary (``added-records``, ``deleted-data-files``, ``added-files-size``)
    is what Iceberg itself counted when it committed.
    """
    with closing(sqlite3.connect(lake / "catalog.db")) as catalog:
        row = catalog.execute(
            "SELECT metadata_location FROM iceberg_tables WHERE table_namespace = ? "
            "AND table_name = ?",
            ("bench", table),
        ).fetchone()
    if row is None:
        raise RuntimeError(f"no table bench.{table} in {lake / 'catalog.db'}")
    location = str(row[0]).removeprefix("file:")
    metadata = json.loads(Path(location).read_text())
    for snapshot in metadata.get("snapshots", []):
        if snapshot["snapshot-id"] == snapshot_id:
            return dict(snapshot.get("summary", {}))
    raise RuntimeError(f"no snapshot {snapshot_id} in {location}")


def machine() -> dict[str, Any]:
    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    versions = {}
    for package in ("pyspark", "pyiceberg", "duckdb", "pydantic", "pyarrow"):
        try:
            from importlib.metadata import version

            versions[package] = version(package)
        except Exception:  # noqa: BLE001 - a missing package is reported, not fatal
            versions[package] = "missing"
    from tradelake.jars import JARS

    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "cpu_model": _cpu_model(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "java": (java.stderr.splitlines() or ["?"])[0],
        "packages": versions,
        "jars": [f"{jar.artifact}-{jar.version}" for jar in JARS],
        "spark_master": os.environ.get("BENCH_SPARK_MASTER", "local[2]"),
        "driver_memory": os.environ.get("BENCH_DRIVER_MEMORY", "2g (spark-submit.sh default)"),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 3) if denominator else float("nan")


def landing_run(scenario: dict[str, Any]) -> dict[str, Any]:
    """One ingest of the late-reports scenario: its time and what it rewrote in ``trades``."""
    resolved = scenario.get("resolved", {})
    commit = scenario.get("trades_commit", {})
    timings = scenario.get("timings", {})
    return {
        "records_read": scenario["records_read"],
        "late_reports": sum(
            count
            for day, count in scenario.get("loaded_by_date", {}).items()
            if day != LANDING.isoformat()
        ),
        "touched_dates": scenario["touched_dates"],
        "days_rewritten": len(scenario["touched_dates"]),
        # What the overwrite wrote: every current trade of every resolved day.
        "rows_rewritten": sum(day["current"] for day in resolved.values()),
        "reports_resolved": sum(day["reports"] for day in resolved.values()),
        "rows_deleted": int(commit.get("deleted-records", 0)),
        "data_files_added": int(commit.get("added-data-files", 0)),
        "data_files_removed": int(commit.get("deleted-data-files", 0)),
        "mib_written": round(int(commit.get("added-files-size", 0)) / MIB, 2),
        "seconds": scenario["seconds"],
        "wall_seconds": scenario["wall_seconds"],
        "classify_seconds": timings.get("classify_seconds"),
        "write_seconds": timings.get("write_trades_seconds"),
    }


def small_day_analysis(plan: Plan, scenarios: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The fixed cost: the small day's ingest against its parse floor, whole processes."""
    label = label_of(plan.small_day)
    ingest, floor = scenarios[f"ingest_{label}"], scenarios[f"floor_parse_{label}"]
    return {
        "trades": plan.small_day,
        "ingest_wall_seconds": ingest["wall_seconds"],
        "ingest_seconds": ingest["seconds"],
        "parse_floor_wall_seconds": floor["wall_seconds"],
        "parse_floor_seconds": floor["seconds"],
        "wall_ratio": ratio(ingest["wall_seconds"], floor["wall_seconds"]),
    }


def late_analysis(plan: Plan, scenarios: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The late landing against the plain one: the factors a late landing costs."""
    plain = landing_run(scenarios["late_plain_ingest"])
    late = landing_run(scenarios["late_ingest"])
    return {
        "trades_per_day": plan.history_trades,
        "late_ratio": plan.late_ratio,
        "late_days": plan.late_days,
        "lake_days": plan.history_days,
        "plain": plain,
        "late": late,
        "seconds_ratio": ratio(late["seconds"], plain["seconds"]),
        "wall_ratio": ratio(late["wall_seconds"], plain["wall_seconds"]),
        "write_seconds_ratio": ratio(late["write_seconds"] or 0, plain["write_seconds"] or 0),
        "rows_rewritten_ratio": ratio(late["rows_rewritten"], plain["rows_rewritten"]),
    }


def size_analysis(trades: int, scenarios: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One size's ingest against its three floors (I/O, parse, design)."""
    label = label_of(trades)
    ingest = scenarios[f"ingest_{label}"]
    io_floor = scenarios[f"floor_io_{label}"]
    parse_floor = scenarios[f"floor_parse_{label}"]
    design_floor = scenarios[f"floor_design_{label}"]
    return {
        "trades": trades,
        "records_read": ingest.get("records_read"),
        "ingest_seconds": ingest["seconds"],
        "ingest_wall_seconds": ingest["wall_seconds"],
        "records_per_second": round(ingest["records_read"] / ingest["seconds"]),
        "microseconds_per_record": round(ingest["seconds"] / ingest["records_read"] * 1e6, 3),
        "io_floor_seconds": io_floor["seconds"],
        "parse_floor_seconds": parse_floor["seconds"],
        "design_floor_seconds": design_floor["seconds"],
        "ingest_over_io_floor": ratio(ingest["seconds"], io_floor["seconds"]),
        "ingest_over_parse_floor": ratio(ingest["seconds"], parse_floor["seconds"]),
        # What the versions design alone costs, and what the ingest adds to it.
        "design_floor_over_parse_floor": ratio(design_floor["seconds"], parse_floor["seconds"]),
        "ingest_over_design_floor": ratio(ingest["seconds"], design_floor["seconds"]),
        "ingest_wall_over_parse_floor_wall": ratio(
            ingest["wall_seconds"], parse_floor["wall_seconds"]
        ),
        "driver_peak_rss_mib": ingest["peak_rss_mib"],
        "driver_peak_anonymous_rss_mib": ingest.get("peak_anonymous_rss_mib", 0.0),
        "driver_peak_pss_mib": ingest.get("peak_pss_mib", 0.0),
        "phase_seconds": ingest.get("timings", {}),
    }


def analyse(plan: Plan, scenarios: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The figures the targets are about, computed from the measured scenarios."""
    out: dict[str, Any] = {"sizes": {}, "targets": []}
    for trades in plan.sizes:
        out["sizes"][label_of(trades)] = size_analysis(trades, scenarios)
    # The two sizes the scaling figures compare, 1M and 5M (the smoke has one: ratios of 1).
    small = label_of(plan.sizes[0])
    big = label_of(5_000_000 if 5_000_000 in plan.sizes else plan.sizes[-1])
    # The whole-process ratio: 2M in the full plan.
    whole = label_of(2_000_000 if 2_000_000 in plan.sizes else plan.sizes[0])
    sizes = out["sizes"]
    out["small_day"] = small_day_analysis(plan, scenarios)
    per_row = ratio(sizes[big]["microseconds_per_record"], sizes[small]["microseconds_per_record"])
    rss = ratio(sizes[big]["driver_peak_rss_mib"], sizes[small]["driver_peak_rss_mib"])
    anonymous_rss = ratio(
        sizes[big]["driver_peak_anonymous_rss_mib"], sizes[small]["driver_peak_anonymous_rss_mib"]
    )
    pss = ratio(sizes[big]["driver_peak_pss_mib"], sizes[small]["driver_peak_pss_mib"])
    history = {}
    for job in ("daily_volume", "ohlcv"):
        one = scenarios[f"history_1d_{job}"]
        many = scenarios[f"history_{plan.history_days}d_{job}"]
        history[job] = {
            "seconds_1_day": one["seconds"],
            f"seconds_{plan.history_days}_days": many["seconds"],
            "ratio": ratio(many["seconds"], one["seconds"]),
            "files_scanned_1_day": one["trades_scan"]["data_files_scanned"],
            f"files_scanned_{plan.history_days}_days": many["trades_scan"]["data_files_scanned"],
            f"files_skipped_{plan.history_days}_days": many["trades_scan"]["data_files_skipped"],
            f"table_files_{plan.history_days}_days": many["trades_table_files"],
        }
    out["history"] = history
    late = out["late"] = late_analysis(plan, scenarios)
    compaction = scenarios["compaction"]
    out["compaction"] = {
        "files_before": compaction["files_before"],
        "files_after": compaction["files_after"],
        "scan_median_before": compaction["scan_median_before"],
        "scan_median_after": compaction["scan_median_after"],
        "speedup": ratio(compaction["scan_median_before"], compaction["scan_median_after"]),
    }
    base = label_of(plan.baseline_size)
    spark_total = (
        scenarios[f"ingest_{base}"]["wall_seconds"]
        + scenarios[f"daily_volume_{base}"]["wall_seconds"]
    )
    out["baselines"] = {
        "size": base,
        "spark_ingest_plus_daily_volume_wall": round(spark_total, 2),
        "pure_python_wall": scenarios[f"pure_python_{base}"]["wall_seconds"],
        "duckdb_wall": scenarios[f"duckdb_{base}"]["wall_seconds"],
        "spark_over_pure_python": ratio(
            spark_total, scenarios[f"pure_python_{base}"]["wall_seconds"]
        ),
        "spark_over_duckdb": ratio(spark_total, scenarios[f"duckdb_{base}"]["wall_seconds"]),
        "pure_python_peak_rss_mib": scenarios[f"pure_python_{base}"]["peak_rss_mib"],
        "duckdb_peak_rss_mib": scenarios[f"duckdb_{base}"]["peak_rss_mib"],
    }
    history_ok = all(
        h["ratio"] <= 1.1
        and h[f"files_scanned_{plan.history_days}_days"] == h["files_scanned_1_day"]
        for h in history.values()
    )
    whole_ratio = sizes[whole]["ingest_wall_over_parse_floor_wall"]
    out["targets"] = [
        target(
            f"ingest <= 2.0x parse floor at {big}",
            sizes[big]["ingest_over_parse_floor"],
            sizes[big]["ingest_over_parse_floor"] <= 2.0,
        ),
        target(
            f"ingest <= 2.3x parse floor at {small}",
            sizes[small]["ingest_over_parse_floor"],
            sizes[small]["ingest_over_parse_floor"] <= 2.3,
        ),
        target(
            f"ingest <= 2.5x parse floor at {whole}, whole process (JVM start included)",
            whole_ratio,
            whole_ratio <= 2.5,
        ),
        target(
            f"a {label_of(plan.small_day)}-trade day, whole process: ingest <= 1.3x parse floor",
            out["small_day"]["wall_ratio"],
            out["small_day"]["wall_ratio"] <= 1.3,
        ),
        target(
            f"ingest vs I/O floor at {big} (reported)", sizes[big]["ingest_over_io_floor"], None
        ),
        target(f"time per record {big} / {small} <= 1.1", per_row, per_row <= 1.1),
        target(
            f"gold jobs with {plan.history_days} days of history <= 1.1x one day, "
            "same files scanned",
            max(h["ratio"] for h in history.values()),
            history_ok,
        ),
        target(f"driver peak PSS (process tree) {big} / {small} <= 1.2", pss, pss <= 1.2),
        *(
            [
                target(
                    "10M with the default driver: peak PSS <= 1.1x the 5M run's",
                    ratio(sizes["10M"]["driver_peak_pss_mib"], sizes["5M"]["driver_peak_pss_mib"]),
                    ratio(sizes["10M"]["driver_peak_pss_mib"], sizes["5M"]["driver_peak_pss_mib"])
                    <= 1.1,
                )
            ]
            if "10M" in sizes and "5M" in sizes
            else []
        ),
        target(f"driver peak RSS {big} / {small} (reported)", rss, None),
        target(
            f"driver peak anonymous RSS {big} / {small} (reported)",
            anonymous_rss,
            None,
        ),
        target(
            f"ingest + daily_volume <= 0.6x pure Python at {base}",
            out["baselines"]["spark_over_pure_python"],
            out["baselines"]["spark_over_pure_python"] <= 0.6,
        ),
        target(
            f"landing with {plan.late_ratio:.0%} late reports over {plan.late_days} days / "
            f"plain landing, ingest seconds, {label_of(plan.history_trades)} trades (reported)",
            late["seconds_ratio"],
            None,
        ),
    ]
    return out


def target(name: str, value: float, met: bool | None) -> dict[str, Any]:
    return {"target": name, "measured": value, "met": met}


def markdown(results: dict[str, Any]) -> str:
    """The generated results section of docs/benchmarks.md."""
    m, a, s = results["machine"], results["analysis"], results["scenarios"]
    lines = [
        f"Measured {results['finished_at']} in {results['total_seconds'] / 60:.1f} min "
        f"(`{results['command']}`), raw JSON: `{results['results_file']}`.",
        "",
        f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, {m['os']}; "
        f"Python {m['python']}, {m['java']}; pyspark {m['packages']['pyspark']}, "
        f"{', '.join(m['jars'][:1])}; Spark `{m['spark_master']}`, driver memory "
        f"{m['driver_memory']}; duckdb {m['packages']['duckdb']}, pydantic "
        f"{m['packages']['pydantic']}.",
        "",
        "### Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    for t in a["targets"]:
        met = "—" if t["met"] is None else ("yes" if t["met"] else "**no**")
        lines.append(f"| {t['target']} | {t['measured']} | {met} |")
    lines += [
        "",
        "### Ingest vs its floors, and scaling",
        "",
        "Seconds are the application's own time (session start to last commit, the jobs' "
        "`seconds`); wall adds the JVM launch.",
        "",
        "| trades | records read | ingest s (wall) | records/s | µs/record | I/O floor s | "
        "parse floor s | design floor s | ingest / I/O floor | ingest / parse floor | "
        "design floor / parse floor | ingest / design floor | driver peak PSS MiB | "
        "driver peak RSS MiB (anonymous) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, row in a["sizes"].items():
        lines.append(
            f"| {label} | {row['records_read']:,} | {row['ingest_seconds']} "
            f"({row['ingest_wall_seconds']}) | {row['records_per_second']:,} | "
            f"{row['microseconds_per_record']} | {row['io_floor_seconds']} | "
            f"{row['parse_floor_seconds']} | {row['design_floor_seconds']} | "
            f"{row['ingest_over_io_floor']} | {row['ingest_over_parse_floor']} | "
            f"{row['design_floor_over_parse_floor']} | {row['ingest_over_design_floor']} | "
            f"{row['driver_peak_pss_mib']} | "
            f"{row['driver_peak_rss_mib']} ({row['driver_peak_anonymous_rss_mib']}) |"
        )
    small_day = a["small_day"]
    lines += [
        "",
        f"A {small_day['trades']:,}-trade day, whole processes (the fixed cost every run pays): "
        f"ingest {small_day['ingest_wall_seconds']} s wall ({small_day['ingest_seconds']} s "
        f"own), parse floor {small_day['parse_floor_wall_seconds']} s wall "
        f"({small_day['parse_floor_seconds']} s own): {small_day['wall_ratio']}x.",
    ]
    days = results["plan"]["history_days"]
    lines += [
        "",
        f"### History independence ({results['plan']['history_trades']:,} trades per day)",
        "",
        f"| job | 1 day s | {days} days s | ratio | data files scanned (1 day) | "
        f"scanned ({days} days) | skipped ({days} days) | files in trades ({days} days) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for job, h in a["history"].items():
        lines.append(
            f"| {job} | {h['seconds_1_day']} | {h[f'seconds_{days}_days']} | {h['ratio']} | "
            f"{h['files_scanned_1_day']} | {h[f'files_scanned_{days}_days']} | "
            f"{h[f'files_skipped_{days}_days']} | {h[f'table_files_{days}_days']} |"
        )
    late = a["late"]
    lines += [
        "",
        f"### Late reports ({late['late_ratio']:.0%} over {late['late_days']} days)",
        "",
        f"The landing after the {late['lake_days']}-day lake's last day, "
        f"{late['trades_per_day']:,} trades, lateness window {late['late_days']} days: "
        "ingested plain, then again with its late reports (corrections and new trades, "
        f"equal shares of the {late['late_days']} days before it). Rows, files and MiB are "
        "the `trades` overwrite's own snapshot summary.",
        "",
        "| landing | records read | late reports | days rewritten | trades rows rewritten | "
        "reports resolved | data files written (removed) | MiB written | ingest s (wall) | "
        "write phase s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind in ("plain", "late"):
        run = late[kind]
        lines.append(
            f"| {kind} | {run['records_read']:,} | {run['late_reports']:,} | "
            f"{run['days_rewritten']} ({run['touched_dates'][0]} .. {run['touched_dates'][-1]}) | "
            f"{run['rows_rewritten']:,} | {run['reports_resolved']:,} | "
            f"{run['data_files_added']} ({run['data_files_removed']}) | {run['mib_written']} | "
            f"{run['seconds']} ({run['wall_seconds']}) | {run['write_seconds']} |"
        )
    lines += [
        "",
        f"Late / plain: {late['seconds_ratio']}x the ingest's own seconds, "
        f"{late['wall_ratio']}x wall, {late['write_seconds_ratio']}x the write phase, "
        f"{late['rows_rewritten_ratio']}x the rows rewritten.",
    ]
    c = a["compaction"]
    comp = s["compaction"]
    lines += [
        "",
        f"### Compaction ({comp['rows']:,} rows in one partition)",
        "",
        "| data files | median scan s | scans (s) |",
        "|---|---|---|",
        f"| {c['files_before']} before | {c['scan_median_before']} | "
        f"{comp['scan_seconds_before']} |",
        f"| {c['files_after']} after | {c['scan_median_after']} | {comp['scan_seconds_after']} |",
        "",
        f"Scan speed-up {c['speedup']}x; the compaction itself took "
        f"{comp['compaction_seconds']} s; results identical before and after: "
        f"{comp['same_result']}.",
    ]
    b = a["baselines"]
    spark_rss = s[f"ingest_{b['size']}"]["peak_rss_mib"]
    lines += [
        "",
        f"### Baselines at {b['size']} trades (ingest + dedupe + daily volume, wall seconds)",
        "",
        "| implementation | wall s | peak RSS MiB | Spark / it |",
        "|---|---|---|---|",
        f"| tradelake on Spark (ingest + daily_volume, two applications) | "
        f"{b['spark_ingest_plus_daily_volume_wall']} | "
        f"{spark_rss} | 1 |",
        f"| pure Python (pydantic, dict, pyarrow), 1 core | {b['pure_python_wall']} | "
        f"{b['pure_python_peak_rss_mib']} | {b['spark_over_pure_python']} |",
        f"| DuckDB SQL, 2 threads | {b['duckdb_wall']} | {b['duckdb_peak_rss_mib']} | "
        f"{b['spark_over_duckdb']} |",
        "",
        "### Every scenario",
        "",
        "| scenario | wall s | own s | peak RSS MiB |",
        "|---|---|---|---|",
    ]
    for name, row in s.items():
        lines.append(
            f"| {name} | {row['wall_seconds']} | {row.get('seconds', '—')} | "
            f"{row['peak_rss_mib']} |"
        )
    return "\n".join(lines)


def write_docs(results: dict[str, Any], docs: Path) -> None:
    begin, end = "<!-- results:begin -->", "<!-- results:end -->"
    text = docs.read_text()
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    docs.write_text(f"{head}{begin}\n{markdown(results)}\n{end}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny data, every scenario")
    parser.add_argument("--large", action="store_true", help="add 10M trades")
    parser.add_argument(
        "--only",
        choices=["ingest", "baselines", "history", "late", "compaction"],
        action="append",
        help="run only these scenario groups (no results file, no docs); late runs on "
        "history's lake, so it runs history too",
    )
    args = parser.parse_args(argv)
    plan = Plan.choose(args.smoke, args.large)
    work = Path(
        os.environ.get("BENCH_DIR", REPO / "build" / "bench" / ("smoke" if plan.smoke else "full"))
    )
    bench = Bench(plan, work)
    started = time.monotonic()
    groups = set(args.only or ["ingest", "baselines", "history", "late", "compaction"])
    if "late" in groups:
        groups.add("history")
    # Only the days the chosen groups read (a 5M-trade day takes minutes to generate).
    needed = {
        *((*plan.sizes, plan.small_day) if "ingest" in groups else ()),
        *((plan.baseline_size,) if "baselines" in groups else ()),
        *((plan.history_trades,) if "history" in groups else ()),
    }
    data = {}
    for trades in sorted(needed):
        print(f"bench: generating {trades:,} trades …", file=sys.stderr, flush=True)
        data[label_of(trades)] = bench.generate(trades)
    if "late" in groups:
        trades = plan.history_trades
        print(f"bench: generating the landing of {LANDING} …", file=sys.stderr, flush=True)
        data[f"landing_{label_of(trades)}"] = bench.generate(
            trades, LANDING, bench.landing_root(trades)
        )
    if "ingest" in groups:
        for trades in plan.sizes:
            bench.ingest_and_floors(trades)
        bench.small_day_and_floor()
    if "baselines" in groups:
        bench.baselines(plan.baseline_size)
    if "history" in groups:
        bench.history()
    if "late" in groups:
        bench.late_reports()
    if "compaction" in groups:
        bench.compaction()
    finished = datetime.now(UTC)
    results: dict[str, Any] = {
        "finished_at": finished.strftime("%Y-%m-%d %H:%M UTC"),
        "total_seconds": round(time.monotonic() - started, 1),
        "command": "make bench"
        + (" BENCH_SMOKE=1" if plan.smoke else "")
        + (" BENCH_LARGE=1" if args.large else ""),
        "machine": machine(),
        "plan": plan.__dict__,
        "data": {
            label: {
                k: d[k]
                for k in ("records_written", "clean_trades", "raw_bytes", "generate_seconds")
            }
            for label, d in data.items()
        },
        "scenarios": bench.scenarios,
    }
    if args.only:
        print(json.dumps(results, indent=2))
        return 0
    results["analysis"] = analyse(plan, bench.scenarios)
    stamp = finished.strftime("%Y%m%dT%H%M%SZ")
    results_dir = work / "results" if plan.smoke else REPO / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    results_file = results_dir / f"{stamp}.json"
    results["results_file"] = (
        str(results_file.relative_to(REPO))
        if results_file.is_relative_to(REPO)
        else str(results_file)
    )
    results_file.write_text(json.dumps(results, indent=2) + "\n")
    rendered = markdown(results)
    if plan.smoke:
        (work / "benchmarks.md").write_text(rendered + "\n")
    else:
        write_docs(results, REPO / "docs" / "benchmarks.md")
    print(rendered)
    print(f"bench: results in {results_file}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
