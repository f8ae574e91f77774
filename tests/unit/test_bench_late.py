"""The late-reports scenario's pieces: the reports it writes, and what it reads back."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from bench.late_reports import late_report
from bench.run import landing_run, snapshot_summary

TRADE = {
    "trade_id": "T20250115-000042",
    "symbol": "DOGE-USD",
    "side": "buy",
    "price": Decimal("0.00001000"),
    "quantity": Decimal("100.00000000"),
    "traded_at": datetime(2025, 1, 15, 14, 30, 0, 250000, tzinfo=UTC),
    "exchange": "GDAX",
    "report_seq": 0,
}


def test_even_reports_correct_the_trade_on_its_day() -> None:
    assert late_report(TRADE, 4, 2) == {
        "trade_id": "T20250115-000042",
        "symbol": "DOGE-USD",
        "side": "buy",
        "price": "0.00001000",
        "quantity": "101.00000000",
        "timestamp": "2025-01-13T14:30:00.250000+00:00",
        "exchange": "GDAX",
        "report_type": "correct",
        "report_seq": 1,
    }


def test_odd_reports_are_new_trades_of_their_day() -> None:
    naive = {**TRADE, "traded_at": datetime(2025, 1, 15, 23, 59, 59), "report_seq": None}
    assert late_report(naive, 7, 6) == {
        "trade_id": "L20250109-000007",
        "symbol": "DOGE-USD",
        "side": "buy",
        "price": "0.00001000",
        "quantity": "100.00000000",
        "timestamp": "2025-01-09T23:59:59+00:00",
        "exchange": "GDAX",
        "report_type": "new",
        "report_seq": 0,
    }


def test_a_landing_run_is_summarised_from_its_summary_and_commit() -> None:
    scenario = {
        "records_read": 1060,
        "seconds": 30.5,
        "wall_seconds": 41.0,
        "loaded_by_date": {"2025-01-14": 3, "2025-01-15": 7, "2025-01-16": 1000},
        "touched_dates": ["2025-01-14", "2025-01-15", "2025-01-16"],
        "resolved": {
            "2025-01-14": {"reports": 1003, "current": 1001, "cancelled": 0, "superseded": 2},
            "2025-01-15": {"reports": 1007, "current": 1004, "cancelled": 0, "superseded": 3},
            "2025-01-16": {"reports": 1000, "current": 1000, "cancelled": 0, "superseded": 0},
        },
        "timings": {"classify_seconds": 15.0, "write_trades_seconds": 9.5},
        "trades_commit": {
            "added-records": "3005",
            "deleted-records": "2000",
            "added-data-files": "3",
            "deleted-data-files": "2",
            "added-files-size": str(3 * 1024 * 1024 // 2),
        },
    }
    assert landing_run(scenario) == {
        "records_read": 1060,
        "late_reports": 10,
        "touched_dates": ["2025-01-14", "2025-01-15", "2025-01-16"],
        "days_rewritten": 3,
        "rows_rewritten": 3005,
        "reports_resolved": 3010,
        "rows_deleted": 2000,
        "data_files_added": 3,
        "data_files_removed": 2,
        "mib_written": 1.5,
        "seconds": 30.5,
        "wall_seconds": 41.0,
        "classify_seconds": 15.0,
        "write_seconds": 9.5,
    }


def test_snapshot_summary_is_read_from_the_tables_current_metadata(tmp_path: Path) -> None:
    metadata = tmp_path / "warehouse" / "bench" / "trades" / "metadata" / "00002-a.metadata.json"
    metadata.parent.mkdir(parents=True)
    metadata.write_text(
        json.dumps(
            {
                "snapshots": [
                    {"snapshot-id": 11, "summary": {"operation": "append"}},
                    {
                        "snapshot-id": 12,
                        "summary": {"operation": "overwrite", "added-records": "8"},
                    },
                ]
            }
        )
    )
    with closing(sqlite3.connect(tmp_path / "catalog.db")) as catalog, catalog:
        catalog.execute(
            "CREATE TABLE iceberg_tables (catalog_name, table_namespace, table_name, "
            "metadata_location, previous_metadata_location, iceberg_type)"
        )
        catalog.execute(
            "INSERT INTO iceberg_tables VALUES ('lake', 'bench', 'trades', ?, NULL, 'TABLE')",
            (f"file:{metadata}",),
        )
    assert snapshot_summary(tmp_path, "trades", 12) == {
        "operation": "overwrite",
        "added-records": "8",
    }
    with pytest.raises(RuntimeError, match="no snapshot 13"):
        snapshot_summary(tmp_path, "trades", 13)
    with pytest.raises(RuntimeError, match="no table bench.trades_rejected"):
        snapshot_summary(tmp_path, "trades_rejected", 12)
