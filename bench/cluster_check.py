"""The capacity model (docs/capacity.md) against a real cluster run.

python -m bench.cluster_check [--results bench/results/<run>.json] [--trades 2000000]

Generates a day of ``--trades`` trades (the bench's generator and seed), starts a Spark
standalone cluster on this machine (one master, two workers of one core each, separate
JVMs: the reliability tier's cluster), ingests the day on it with an event log, and
compares what it measured with what the model predicts from a ``make bench`` result:

- per phase (classify, write rejects, write trades; the job's own ``timings``): the
  model's fixed seconds + records x core-seconds per record / cores;
- per stage (the event log): tasks, wall seconds, executor CPU seconds, bytes read and
  shuffled, so the shuffle volume per trade the model assumes is measured, not guessed.

Writes ``build/bench/cluster/check.json`` and prints the tables for docs/capacity.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from bench.run import event_log_conf
from tests.reliability.cluster import standalone_cluster
from tradelake.runtime import last_summary

REPO = Path(__file__).resolve().parents[1]
DAY = date(2025, 1, 15)
PHASES = ("classify_seconds", "write_rejects_seconds", "write_trades_seconds")
# Executors as a small cluster would size them; the shuffle partitions as docs/capacity.md
# advises (a few per core).
EXECUTOR_CORES = 1
WORKERS = 2
CLUSTER_OPTS = (
    "--conf spark.executor.memory=2g --conf spark.executor.cores=1 --conf spark.cores.max=2 "
    "--conf spark.scheduler.minRegisteredResourcesRatio=1.0 "
    "--conf spark.sql.shuffle.partitions=16"
)


def phase_model(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per phase: fixed seconds and core-seconds per record, from the bench's two sizes.

    Two points (1M and 5M on ``local[2]``) give a line per phase: its slope is the
    marginal cost of a record (times the 2 cores it ran on: core-seconds), its intercept
    the cost that does not grow with the day (planning, commits, metadata).
    """
    cores = int(results["machine"]["cpus"])
    sizes = sorted(results["analysis"]["sizes"].values(), key=lambda size: size["records_read"])
    small, big = sizes[0], sizes[-1]
    model = {}
    for phase in PHASES:
        slope = (big["phase_seconds"][phase] - small["phase_seconds"][phase]) / (
            big["records_read"] - small["records_read"]
        )
        model[phase] = {
            "core_seconds_per_million_records": round(slope * cores * 1e6, 3),
            "fixed_seconds": round(
                small["phase_seconds"][phase] - slope * small["records_read"], 3
            ),
        }
    return model


def predict(model: dict[str, dict[str, float]], records: int, cores: int) -> dict[str, float]:
    """Seconds of each phase for ``records`` on ``cores`` cores, by the model."""
    return {
        phase: round(
            line["fixed_seconds"]
            + records * line["core_seconds_per_million_records"] / 1e6 / cores,
            3,
        )
        for phase, line in model.items()
    }


def _metric(accumulables: list[dict[str, Any]], name: str) -> int:
    for accumulable in accumulables:
        if accumulable.get("Name") == name:
            return int(accumulable.get("Value") or 0)
    return 0


def stages_of(event_log: Path) -> list[dict[str, Any]]:
    """Every completed stage of an event log: name, tasks, seconds, CPU, bytes."""
    stages = []
    for line in event_log.read_text().splitlines():
        event = json.loads(line)
        if event.get("Event") != "SparkListenerStageCompleted":
            continue
        info = event["Stage Info"]
        metrics = info.get("Accumulables", [])
        stages.append(
            {
                "stage": info["Stage ID"],
                "name": info["Stage Name"].split(" at ")[0]
                + " at "
                + Path(info["Stage Name"].split(" at ")[-1]).name,
                "tasks": info["Number of Tasks"],
                "seconds": round((info["Completion Time"] - info["Submission Time"]) / 1000, 2),
                "executor_seconds": round(
                    _metric(metrics, "internal.metrics.executorRunTime") / 1000, 2
                ),
                "executor_cpu_seconds": round(
                    _metric(metrics, "internal.metrics.executorCpuTime") / 1e9, 2
                ),
                "input_mib": round(_metric(metrics, "internal.metrics.input.bytesRead") / 2**20, 1),
                "shuffle_write_mib": round(
                    _metric(metrics, "internal.metrics.shuffle.write.bytesWritten") / 2**20, 1
                ),
                "shuffle_read_mib": round(
                    (
                        _metric(metrics, "internal.metrics.shuffle.read.remoteBytesRead")
                        + _metric(metrics, "internal.metrics.shuffle.read.localBytesRead")
                    )
                    / 2**20,
                    1,
                ),
            }
        )
    return stages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, help="a make bench result (default: the latest)")
    parser.add_argument("--trades", type=int, default=2_000_000)
    parser.add_argument("--work", type=Path, default=REPO / "build" / "bench" / "cluster")
    args = parser.parse_args(argv)
    results_file = args.results or sorted((REPO / "bench" / "results").glob("*.json"))[-1]
    results = json.loads(results_file.read_text())
    model = phase_model(results)

    work: Path = args.work
    raw = work / "raw"
    if not (raw / "description.json").is_file():
        described = subprocess.run(
            [sys.executable, "-m", "tradelake.sample", "--date", DAY.isoformat(), "--out",
             str(raw), "--trades", str(args.trades), "--files", "8", "--seed", "7",
             "--format", "jsonl", "--shards", str(max(1, min(8, args.trades // 250_000)))],
            cwd=REPO, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        (raw / "description.json").write_text(described)
    lake = work / "lake"
    subprocess.run(["rm", "-rf", str(lake), str(work / "events")], check=True)
    events = work / "events"
    env = {
        **os.environ,
        "TRADELAKE_RAW_URI": str(raw),
        "TRADELAKE_WAREHOUSE": str(lake / "warehouse"),
        "TRADELAKE_CATALOG_URI": f"jdbc:sqlite:{lake / 'catalog.db'}",
        "TRADELAKE_LINEAGE__TRANSPORT": "none",
        "TRADELAKE_QUALITY__MAX_REJECT_RATIO": "0.5",
    }
    lake.mkdir(parents=True)
    with standalone_cluster(
        work / "cluster", workers=WORKERS, cores=EXECUTOR_CORES, memory="2g"
    ) as cluster:
        env["SPARK_MASTER"] = cluster.master_url
        env["SPARK_SUBMIT_OPTS_EXTRA"] = f"{CLUSTER_OPTS} {event_log_conf(events)}"
        started = time.monotonic()
        done = subprocess.run(
            [str(REPO / "spark-submit.sh"), "jobs/ingest.py", "--date", DAY.isoformat()],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=3600,
        )  # fmt: skip
        wall = time.monotonic() - started
    summary = last_summary(done.stdout) or {}
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"ingest on the cluster exited {done.returncode}: {summary}")
    records = int(summary["records_read"])
    cores = WORKERS * EXECUTOR_CORES
    predicted = predict(model, records, cores)
    stages = stages_of(next(events.iterdir()))
    shuffled = sum(stage["shuffle_write_mib"] for stage in stages) * 2**20
    check = {
        "results": results_file.name,
        "trades": args.trades,
        "records_read": records,
        "cores": cores,
        "wall_seconds": round(wall, 1),
        "job_seconds": summary["seconds"],
        "model": model,
        "phases": {
            phase: {"measured": summary["timings"][phase], "predicted": predicted[phase]}
            for phase in PHASES
        },
        "shuffle_bytes_per_record": round(shuffled / records, 1),
        "stages": stages,
    }
    (work / "check.json").write_text(json.dumps(check, indent=1))
    print(f"cluster check: {records:,} records on {cores} executor cores, wall {wall:.1f} s")
    print("| phase | predicted s | measured s | measured / predicted |\n|---|---|---|---|")
    for phase, pair in check["phases"].items():
        ratio = pair["measured"] / pair["predicted"] if pair["predicted"] else float("nan")
        print(f"| {phase} | {pair['predicted']} | {pair['measured']} | {ratio:.2f} |")
    print(f"\nshuffle written per record: {check['shuffle_bytes_per_record']} bytes\n")
    print("| stage | tasks | s | executor s | CPU s | input MiB | shuffle write MiB |")
    print("|---|---|---|---|---|---|---|")
    for stage in stages:
        print(
            f"| {stage['stage']} {stage['name']} | {stage['tasks']} | {stage['seconds']} | "
            f"{stage['executor_seconds']} | {stage['executor_cpu_seconds']} | "
            f"{stage['input_mib']} | {stage['shuffle_write_mib']} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
