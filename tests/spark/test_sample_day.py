"""The demo's generated day: the job's counts match what the generator says it injected."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.spark.rawfiles import REASON_OF_KIND, expected_reasons
from tradelake.sample import generate_day

pytestmark = pytest.mark.spark


def test_generated_day_is_accounted_for_record_by_record(
    spark: Any, lake_env: Any, run_job: Any
) -> None:
    described = generate_day(
        Path(lake_env.raw_root), date(2025, 1, 15), trades=3000, files=8, seed=11
    )
    assert set(described["bad_by_kind"]) == set(REASON_OF_KIND)
    assert described["conflicting_versions"] > 0

    run = run_job("ingest", "--date", "2025-01-15")

    assert run.exit_code == 0, run.summary
    summary = run.summary
    assert summary["records_read"] == described["records_written"]
    assert summary["loaded"] == described["clean_trades"] == 3000
    assert summary["duplicates_dropped"] == described["exact_duplicates"]
    assert summary["rejected_by_reason"] == expected_reasons(described)
    assert summary["rejected"] == described["conflicting_versions"] + sum(
        described["bad_by_kind"].values()
    )
    trades = spark.table(lake_env.table("trades"))
    assert trades.count() == 3000
    assert trades.select("trade_id").distinct().count() == 3000
    # 8 input files of mixed formats land as one sorted file per table partition.
    for table in ("trades", "trades_rejected"):
        files = spark.sql(f"SELECT count(*) AS n FROM {lake_env.table(table)}.files").first().n
        assert files == 1, table
    # The file is written in the table's sort order (one file, one split: file order).
    in_file_order = [
        (r.symbol, r.traded_at) for r in trades.select("symbol", "traded_at").collect()
    ]
    assert in_file_order == sorted(in_file_order)


@pytest.mark.parametrize("file_format", ["parquet", "csv", "jsonl.gz"])
def test_single_format_days_are_accounted_for(
    lake_env: Any, run_job: Any, file_format: str
) -> None:
    described = generate_day(
        Path(lake_env.raw_root),
        date(2025, 1, 15),
        trades=400,
        files=3,
        seed=3,
        file_format=file_format,
    )
    assert {f["format"] for f in described["files"]} == {file_format, "empty", "marker"}
    assert described["conflicting_versions"] > 0

    run = run_job("ingest", "--date", "2025-01-15")

    assert run.exit_code == 0, run.summary
    assert run.summary["records_read"] == described["records_written"]
    assert run.summary["loaded"] == described["clean_trades"] == 400
    assert run.summary["duplicates_dropped"] == described["exact_duplicates"]
    assert run.summary["rejected_by_reason"] == expected_reasons(described)
