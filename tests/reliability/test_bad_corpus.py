"""The bad-input corpus (tests/data/bad): every broken raw file loads correctly or is
rejected with a specific reason, nothing is lost, and every ingest run completes.

The corpus is built into a temporary raw root by ``tests/data/bad/build_corpus.py``; its
days are ingested in-process on the shared session (one run per day, not per case: cases
that cannot disturb one another share a day, and every row they produce is attributed
to its case by file name). Each case is then checked exactly: what the listing saw, the
rows of ``trades`` with their values, the dead letters with their reasons, the
unreadable files with their errors; each day's summary must add up to its cases.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote

import pytest

from tests.lakes import REPO, Lake
from tests.submit import load_job
from tradelake.runtime import last_summary

BUILDER = REPO / "tests" / "data" / "bad" / "build_corpus.py"
DATABASE = "bad_corpus"
# Every case's day must publish: the gate's reject ratio is not what this file tests.
JOB_FLAGS = ("--max-reject-ratio", "1")
# A guard against a hang (a blocking read of a pipe, a symlink loop), not a timing check.
HANG_GUARD_SECONDS = 900


def _load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_corpus", BUILDER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses resolve string annotations through sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


corpus = _load_builder()
CASES = {case.name: case for case in corpus.CASES}
DAYS = corpus.plan_days(corpus.DEFAULT_START)


def _cases_of(day: str) -> list[Any]:
    return [case for case in corpus.CASES if DAYS[case.name].isoformat() == day]


@dataclass(frozen=True)
class DayRun:
    """One ingest run of one corpus day, and what it left behind."""

    exit_code: int | None  # None: main hung (past the guard) or raised; summary["error"] says
    summary: dict[str, Any]
    listing: dict[str, list[str]]  # read / empty / ignored: file names
    trades: list[tuple[Any, ...]]
    rejects: list[tuple[Any, ...]]


def _file_name(uri: str, names: set[str]) -> str:
    """The corpus file a source_file names (Spark's paths are URL-encoded, listings not)."""
    base = uri.rsplit("/", 1)[-1]
    return base if base in names else unquote(base)


def _run_ingest(day: str) -> tuple[int | None, dict[str, Any]]:
    """jobs/ingest.py main for one day, in-process, bounded by the hang guard."""
    output = io.StringIO()
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["exit_code"] = load_job("ingest").main(["--date", day, *JOB_FLAGS])
        except BaseException as err:  # noqa: BLE001 - main must not raise; report it if it does
            result["raised"] = repr(err)

    with contextlib.redirect_stdout(output):
        # A daemon thread: a hung run must not keep the test process alive.
        worker = threading.Thread(target=target, name=f"ingest-{day}", daemon=True)
        worker.start()
        worker.join(HANG_GUARD_SECONDS)
    if worker.is_alive():
        return None, {"error": f"no end within {HANG_GUARD_SECONDS} s"}
    if "raised" in result:
        return None, {"error": f"main raised {result['raised']}"}
    return result["exit_code"], last_summary(output.getvalue()) or {}


@pytest.fixture(scope="module")
def corpus_run(
    spark: Any, lake: Lake, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, DayRun]]:
    """Build the corpus, ingest every day once, read back the listing and both tables."""
    from pyspark.sql import functions as F

    from tradelake import io as raw_io
    from tradelake.config import load_settings
    from tradelake.io import day_uri

    root = tmp_path_factory.mktemp("bad_corpus")
    manifest = corpus.build(root / "raw")
    assert set(manifest) == set(CASES)
    with pytest.MonkeyPatch.context() as patch:
        # The same isolation as the lake_env fixture, for a module-wide database.
        Lake(lake.root, DATABASE, files=root).use(patch)
        settings = load_settings()
        days = sorted({day.isoformat() for day in DAYS.values()})
        runs = {day: _run_ingest(day) for day in days}

        trades = spark.table(settings.table("trades")).select(
            F.col("trade_date").cast("string"),
            "trade_id",
            "symbol",
            "side",
            "price",
            "quantity",
            F.date_format("traded_at", "yyyy-MM-dd HH:mm:ss.SSSSSS"),
            "exchange",
            "source_file",
        )
        rejects = spark.table(settings.table("trades_rejected")).select(
            F.col("ingest_date").cast("string"), "source_file", "record", "reasons"
        )
        trade_rows = [tuple(row) for row in trades.collect()]
        reject_rows = [tuple(row) for row in rejects.collect()]
        result = {}
        for day in days:
            listed = raw_io.list_day(spark, day_uri(settings, date.fromisoformat(day)))
            names = {name for case in _cases_of(day) for name in case.files} | {"anchor.jsonl"}
            exit_code, summary = runs[day]
            result[day] = DayRun(
                exit_code=exit_code,
                summary=summary,
                listing={
                    # Entries the file system could not describe (broken links) are
                    # read and found unreadable, like files of an unknown format.
                    "read": sorted(
                        _file_name(path, names)
                        for path in [f.path for f in listed.files]
                        + [entry.path for entry in listed.unlisted]
                    ),
                    "empty": sorted(_file_name(path, names) for path in listed.empty),
                    "ignored": sorted(_file_name(path, names) for path in listed.ignored),
                },
                trades=[
                    (*row[1:8], _file_name(row[8], names)) for row in trade_rows if row[0] == day
                ],
                rejects=[
                    (_file_name(row[1], names), row[2], tuple(row[3]))
                    for row in reject_rows
                    if row[0] == day
                ],
            )
    yield result


def _matched(error: str, fragment: str | None) -> str:
    """The expected fragment when the error carries it, else the whole error (for the diff)."""
    return fragment if fragment is not None and fragment in error else error


def _observed(case: Any, run: DayRun) -> dict[str, Any]:
    files = set(case.files)
    errors = {
        _file_name(entry["path"], files): entry["error"]
        for entry in run.summary.get("unreadable_files", [])
    }
    fragments = dict(case.unreadable)
    return {
        "exit_code": run.exit_code,
        "read": [name for name in run.listing["read"] if name in files],
        "empty": [name for name in run.listing["empty"] if name in files],
        "ignored": [name for name in run.listing["ignored"] if name in files],
        "loaded": sorted(row for row in run.trades if row[-1] in files),
        "rejected": Counter((name, reasons) for name, _, reasons in run.rejects if name in files),
        "unreadable": {
            name: _matched(error, fragments.get(name))
            for name, error in errors.items()
            if name in files
        },
        "unreadable_records": {
            name: record == errors.get(name)
            for name, record, reasons in run.rejects
            if name in files and reasons == ("unreadable_file",)
        },
    }


def _expected(case: Any, day: str) -> dict[str, Any]:
    return {
        "exit_code": 0,
        "read": sorted(case.read),
        "empty": sorted(case.empty),
        "ignored": sorted(case.ignored),
        "loaded": sorted(
            (
                row.trade_id,
                row.symbol,
                row.side,
                Decimal(row.price),
                Decimal(row.quantity),
                f"{day} {row.time}.000000",
                row.exchange,
                row.file,
            )
            for row in case.loaded
        ),
        "rejected": Counter(
            {(row.file, tuple(row.reasons)): row.count for row in case.dead_letters}
        ),
        "unreadable": dict(case.unreadable),
        # The dead letter of an unreadable file holds the error, as in the summary.
        "unreadable_records": {name: True for name, _ in case.unreadable},
    }


@pytest.mark.parametrize("name", list(CASES))
def test_case_loads_correctly_or_is_rejected_with_its_reason(
    corpus_run: dict[str, DayRun], name: str
) -> None:
    """One case: the listing, every loaded row and value, every dead letter and reason."""
    case = CASES[name]
    day = DAYS[name].isoformat()
    assert _observed(case, corpus_run[day]) == _expected(case, day)


@pytest.mark.parametrize("day", sorted({d.isoformat() for d in DAYS.values()}))
def test_day_run_completes_and_adds_up(corpus_run: dict[str, DayRun], day: str) -> None:
    """A day's run ends (exit 0, published) and its summary is the sum of its cases.

    The anchor trade adds one read file and one loaded record; records_read equals
    loaded + duplicates_dropped + rejected, and both tables hold exactly those rows.
    """
    run = corpus_run[day]
    cases = _cases_of(day)
    # Records only: an unreadable file is counted under files and is one dead letter.
    record_rejects = [row for case in cases for row in case.rejected]
    by_reason: Counter[str] = Counter()
    for row in record_rejects:
        for reason in row.reasons:
            by_reason[reason] += row.count
    loaded = 1 + sum(len(case.loaded) for case in cases)
    rejected = sum(row.count for row in record_rejects)
    unreadable = sum(len(case.unreadable) for case in cases)
    expected = {
        "exit_code": 0,
        "status": "ok",
        "published": True,
        "conservation_ok": True,
        "files": {
            "read": 1 + sum(len(case.read) for case in cases),
            "empty": sum(len(case.empty) for case in cases),
            "ignored": sum(len(case.ignored) for case in cases),
            "unreadable": unreadable,
        },
        "records_read": loaded + rejected,
        "loaded": loaded,
        "duplicates_dropped": 0,
        "rejected": rejected,
        "dead_letters": rejected + unreadable,
        "rejected_by_reason": dict(by_reason),
        "schema_drift": {
            "records": sum(case.drift_records for case in cases),
            "fields": sorted({field for case in cases for field in case.drift}),
        },
        "rows_in_trades": loaded,
        "rows_in_trades_rejected": rejected + unreadable,
    }
    summary = run.summary
    observed = {key: summary.get(key) for key in expected}
    observed["exit_code"] = run.exit_code
    observed["rows_in_trades"] = len(run.trades)
    observed["rows_in_trades_rejected"] = len(run.rejects)
    assert observed == expected, summary.get("error")
    anchor = (
        "A1",
        "ANCHOR",
        "buy",
        Decimal("187.25"),
        Decimal("10"),
        f"{day} 12:00:00.000000",
        "XANC",
        "anchor.jsonl",
    )
    assert [row for row in run.trades if row[0] == "A1"] == [anchor]


def test_corpus_covers_the_kinds_the_issue_names() -> None:
    """At least 25 kinds, including every kind issue 9 names, each with an outcome."""
    named = {
        "bom_jsonl",
        "crlf_jsonl",
        "latin1_jsonl",
        "nul_bytes_jsonl",
        "long_line_10mb",
        "deep_nesting_jsonl",
        "json_array_one_line",
        "csv_duplicate_headers",
        "csv_quoted_newline",
        "parquet_other_schema",
        "gzip_zero_bytes",
        "directory_named_like_file",
        "symlink_loop",
    }
    assert len(CASES) >= 25
    assert named <= set(CASES)


def test_builder_cli_writes_the_days_and_prints_the_manifest(tmp_path: Path) -> None:
    """``build_corpus.py --out DIR`` writes the cases' days and prints their manifest."""
    out = tmp_path / "raw"
    command = [sys.executable, str(BUILDER), "--out", str(out)]
    only = ["--only", "symlink_loop", "--only", "gzip_multi_member"]
    done = subprocess.run(
        [*command, *only], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)
    assert set(manifest) == {"symlink_loop", "gzip_multi_member"}
    for entry in manifest.values():
        folder = out / "trades" / f"date={entry['date']}"
        names = sorted(path.name for path in folder.iterdir())
        assert sorted([*entry["files"], "anchor.jsonl"]) == names
    assert (out / "trades" / f"date={manifest['symlink_loop']['date']}" / "self.jsonl").is_symlink()
    # Building over an existing corpus is refused rather than mixed into it.
    again = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    assert again.returncode == 2 and "exists" in again.stderr


def test_readme_lists_every_case_with_its_expected_outcome() -> None:
    """tests/data/bad/README.md carries the builder's case table, line for line."""
    readme = (BUILDER.parent / "README.md").read_text(encoding="utf-8")
    assert corpus.readme_table() in readme
