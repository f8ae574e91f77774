"""Issue 9 part 6: a day several times the driver's memory ingests with a small, bounded driver.

Local mode runs the executors inside the driver JVM, so the driver heap is all the
memory the job has. A generated day of plain JSON Lines and CSV, several times that heap,
must ingest with exit 0, every record accounted for, and the driver's peak memory (the
PSS of the JVM and every process under it: the job's Python process, PySpark's workers)
must stay below a bound that does not grow with the input. The measured figures are
printed, recorded as junit properties and written to ``<pytest basetemp>/resource_bounds.json``.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.reliability.profiles import scale
from tests.submit import ProcessLake
from tradelake.runtime import run_summaries
from tradelake.sample import generate_day

DAY = date(2025, 1, 15)
MIB = 1024 * 1024
HEAP_MIB = 512
# The raw day is at least this many times the heap (times TRADELAKE_RELIABILITY_SCALE).
INPUT_HEAP_RATIO = 3
# What a JVM holds besides its heap, whatever the input size: metaspace and code cache
# of Spark + Iceberg (~250 MiB), thread stacks, GC structures, Netty and zstd/Parquet
# native buffers; plus the driver's Python processes. Measured on 2 cores with 1.55 GiB
# of input: JVM 964 MiB, JVM + Python 1199 MiB (heap included). The heap itself is
# capped, so what this bound catches is native memory that grows with the input; the
# input is larger than the bound.
FIXED_OVERHEAD_MIB = 960
SAMPLE_SECONDS = 0.2
# Bytes of the extra field every record carries (see _write_big_day).
MEMO_BYTES = 900
# Trade id prefix written by generate_day; each copy of a base file gets its own.
ID_PREFIX = f"T{DAY:%Y%m%d}-".encode()


@dataclass(frozen=True)
class Expected:
    """Counts the ingest must report for the whole generated day."""

    records_read: int
    loaded: int
    duplicates_dropped: int
    rejected: int


def _base_day(root: Path, file_format: str, seed: int) -> tuple[list[Path], dict[str, Any]]:
    """A modest single-format day (files and description) to be copied many times."""
    described = generate_day(root, DAY, trades=30_000, files=2, seed=seed, file_format=file_format)
    files = [root / entry["path"] for entry in described["files"] if entry["records"] > 0]
    return files, described


def _with_memo(data: bytes, *, csv: bool) -> bytes:
    """Every line with a ``memo`` field of ``MEMO_BYTES`` (malformed JSON lines unchanged)."""
    pad = b"m" * MEMO_BYTES
    lines = data.split(b"\n")
    if csv:
        header, rows = lines[0], lines[1:]
        return b"\n".join([header + b",memo", *[row + b"," + pad if row else row for row in rows]])
    closing = b', "memo": "' + pad + b'"}'
    return b"\n".join(line[:-1] + closing if line.endswith(b"}") else line for line in lines)


def _write_big_day(raw_root: Path, scratch: Path, target_bytes: int) -> tuple[int, Expected]:
    """Land copies of a JSONL day and a CSV day until ``target_bytes``; return size and counts.

    Every copy rewrites the trade id prefix (``T20250115-`` -> ``T20250115-j0007-``), so
    copies never share a trade id: duplicates and conflicts stay within a copy, and the
    counts of the whole day are exactly the base counts times the number of copies.
    Every record also carries a ``memo`` of ``MEMO_BYTES`` (an extra field: schema
    drift, kept in the raw record), so gigabytes of input are about a million records
    and the test stays within the CI budget; the bytes are what the memory bound is about.
    """
    bases = [
        ("j", *_base_day(scratch / "jsonl", "jsonl", seed=21)),
        ("c", *_base_day(scratch / "csv", "csv", seed=22)),
    ]
    for _, files, _ in bases:
        for path in files:
            path.write_bytes(_with_memo(path.read_bytes(), csv=path.suffix == ".csv"))
    base_bytes = sum(path.stat().st_size for _, files, _ in bases for path in files)
    copies = math.ceil(target_bytes / base_bytes)
    folder = raw_root / "trades" / f"date={DAY.isoformat()}"
    folder.mkdir(parents=True)
    written = 0
    for tag, files, _ in bases:
        contents = [(path, path.read_bytes()) for path in files]
        for copy in range(copies):
            prefix = ID_PREFIX + f"{tag}{copy:04d}-".encode()
            for path, data in contents:
                assert data.count(ID_PREFIX) > 0, path
                target = folder / f"{path.stem}-{tag}{copy:04d}{path.suffix}"
                target.write_bytes(data.replace(ID_PREFIX, prefix))
                written += target.stat().st_size
    shutil.rmtree(scratch)
    descriptions = [described for _, _, described in bases]
    return written, Expected(
        records_read=copies * sum(d["records_written"] for d in descriptions),
        loaded=copies * sum(d["clean_trades"] for d in descriptions),
        duplicates_dropped=copies * sum(d["exact_duplicates"] for d in descriptions),
        rejected=copies
        * sum(d["conflicting_versions"] + sum(d["bad_by_kind"].values()) for d in descriptions),
    )


def _pss_bytes(pid: int) -> int:
    """Proportional set size of a process (``/proc/<pid>/smaps_rollup``), 0 once it is gone.

    PSS divides each shared page among the processes that map it, so the PSS of a tree
    is what the tree costs the machine. Summed RSS counts a page once per process:
    PySpark's Python workers are forks of one daemon and share most of their pages.
    """
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


@dataclass
class MemoryPeaks:
    """Peak memory of a driver and its child processes, sampled while it runs."""

    jvm_hwm_bytes: int = 0  # the kernel's high-water mark of the JVM (VmHWM)
    tree_pss_bytes: int = 0  # the largest sampled PSS summed over the JVM and its children
    tree_rss_bytes: int = 0  # the same with RSS (counts shared pages once per process)
    samples: int = 0
    unexec_forks: int = 0  # samples of a JVM child before its exec (left out, see sample)
    # Per process (pid): its command and its own peak PSS, to say what a peak was made of.
    process_peaks: dict[int, tuple[str, int]] = field(default_factory=dict)

    def sample(self, jvm: psutil.Process) -> None:
        try:
            with open(f"/proc/{jvm.pid}/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        hwm = int(line.split()[1]) * 1024
                        self.jvm_hwm_bytes = max(self.jvm_hwm_bytes, hwm)
            jvm_command = jvm.cmdline()
            processes = [jvm, *jvm.children(recursive=True)]
        except (psutil.NoSuchProcess, FileNotFoundError, ProcessLookupError):
            return
        tree_pss = tree_rss = 0
        for process in processes:
            try:
                full_command = process.cmdline()
                if process is not jvm and full_command == jvm_command:
                    # A child the JVM forked to run a command (Hadoop's shell calls), caught
                    # before its exec: it still maps the JVM's own pages, counted already.
                    self.unexec_forks += 1
                    continue
                rss = process.memory_info().rss
                command = " ".join(full_command[:3])[:120]
            except psutil.NoSuchProcess:
                continue
            pss = _pss_bytes(process.pid)
            tree_rss += rss
            tree_pss += pss
            _, peak = self.process_peaks.get(process.pid, (command, 0))
            self.process_peaks[process.pid] = (command, max(peak, pss))
        self.tree_pss_bytes = max(self.tree_pss_bytes, tree_pss)
        self.tree_rss_bytes = max(self.tree_rss_bytes, tree_rss)
        self.samples += 1

    def largest_processes(self, count: int = 6) -> list[tuple[str, int]]:
        """The ``count`` processes with the largest peak PSS: (command, bytes)."""
        return sorted(self.process_peaks.values(), key=lambda entry: -entry[1])[:count]


@pytest.fixture
def big_lake(process_lake: ProcessLake, tmp_path: Path) -> Iterator[ProcessLake]:
    """``process_lake``, whose gigabytes (raw day, warehouse, spill) are deleted afterwards.

    pytest keeps the temporary folders of recent runs; these must not stay on disk.
    """
    yield process_lake
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_ingest_of_a_day_several_times_the_heap_stays_bounded(
    big_lake: ProcessLake,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    record_property: Any,
) -> None:
    """A day of >= 3x the 512 MiB driver heap ingests exactly, and the driver's memory is bounded.

    The bound (heap + a fixed overhead) does not depend on the input size, and the
    input is larger than the bound, so a driver that held the input in memory fails.
    """
    target = INPUT_HEAP_RATIO * HEAP_MIB * MIB * scale()
    input_bytes, expected = _write_big_day(big_lake.raw_root, tmp_path / "base", target)
    bound_bytes = (HEAP_MIB + FIXED_OVERHEAD_MIB) * MIB
    assert input_bytes >= target > bound_bytes

    started = time.monotonic()
    # Spill files of the cached batch and the sorts go under tmp_path, removed with it.
    proc = big_lake.popen(
        "ingest",
        "--date",
        DAY.isoformat(),
        SPARK_DRIVER_MEMORY=f"{HEAP_MIB}m",
        SPARK_SUBMIT_OPTS_EXTRA=f"--conf spark.local.dir={tmp_path / 'spark-local'}",
        # The JVM a deployment runs (spark-submit.sh's default profile, with its JIT
        # option; not the test jobs' tiny one, nor their class archive): memory is measured.
        TRADELAKE_JVM_PROFILE="production",
        TRADELAKE_JVM_ARCHIVE="",
    )
    peaks = MemoryPeaks()
    # spark-submit execs the driver JVM, so proc.pid is the JVM; Python is its child.
    jvm = psutil.Process(proc.pid)
    while proc.poll() is None:
        peaks.sample(jvm)
        time.sleep(SAMPLE_SECONDS)
    stdout, stderr = proc.communicate()
    seconds = time.monotonic() - started

    figures = {
        "input_bytes": input_bytes,
        "input_files": sum(1 for _ in (big_lake.raw_root / "trades").rglob("part-*")),
        "heap_mib": HEAP_MIB,
        "bound_bytes": bound_bytes,
        "jvm_peak_rss_bytes": peaks.jvm_hwm_bytes,
        "driver_tree_peak_pss_bytes": peaks.tree_pss_bytes,
        "driver_tree_peak_rss_bytes": peaks.tree_rss_bytes,
        "processes": len(peaks.process_peaks),
        "largest_process_peaks": peaks.largest_processes(),
        "samples": peaks.samples,
        "unexec_fork_samples": peaks.unexec_forks,
        "seconds": round(seconds, 1),
        "exit_code": proc.returncode,
        "expected_loaded": expected.loaded,
    }
    # Outside tmp_path (deleted with the input): the lead quotes these figures.
    report = tmp_path_factory.getbasetemp() / "resource_bounds.json"
    report.write_text(json.dumps(figures) + "\n")
    print(f"resource_bounds ({report}): {json.dumps(figures)}")
    for name, value in figures.items():
        record_property(name, value)

    printed = run_summaries(stdout)
    assert proc.returncode == 0 and printed, f"{stdout[-4000:]}\n{stderr[-4000:]}"
    summary = printed[-1]
    assert "OutOfMemoryError" not in stdout + stderr
    assert summary["conservation_ok"] is True
    assert {
        "records_read": summary["records_read"],
        "loaded": summary["loaded"],
        "duplicates_dropped": summary["duplicates_dropped"],
        "rejected": summary["rejected"],
    } == expected.__dict__
    # The trades partition holds exactly the loaded records (counted from metadata).
    trades = big_lake.catalog().load_table(f"{big_lake.database}.trades")
    snapshot = trades.current_snapshot()
    assert snapshot is not None
    assert int(snapshot.summary["total-records"]) == expected.loaded

    assert peaks.samples > 0
    assert peaks.jvm_hwm_bytes < bound_bytes, figures
    assert peaks.tree_pss_bytes < bound_bytes, figures
