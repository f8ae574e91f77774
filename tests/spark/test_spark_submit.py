"""The documented way to run a job: ./spark-submit.sh, a separate JVM, the zip of lib."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest

from tests.lakes import Lake
from tests.spark.rawfiles import CSV_HEADER, day_folder, write_lines
from tests.submit import spark_submit, submit_env
from tradelake.runtime import last_summary

pytestmark = pytest.mark.spark


def _trade(trade_id: str, **fields: str) -> str:
    """A JSON Lines trade; ``fields`` are raw JSON value text (quote strings yourself)."""
    values = {
        "trade_id": f'"{trade_id}"',
        "symbol": '"AAPL"',
        "side": '"buy"',
        "price": '"187.25"',
        "quantity": "10",
        "timestamp": '"2025-01-15T12:00:00Z"',
        "exchange": '"XNAS"',
        **fields,
    }
    return "{" + ", ".join(f'"{name}": {value}' for name, value in values.items()) + "}"


# Issue 14's table: tricky but ordinary input, and what the product must do with it.
TRICKY_LINES = [
    _trade("E1", price='"1.0000000000000000001"'),  # price_too_precise, never 1.00000000
    _trade("E3", quantity='"1e-19"'),  # quantity_too_precise: it is > 0
    _trade("E4", price="187.250000000000000000000000000000000001"),  # price_too_precise
    _trade("E5", price="1.5e400"),  # price_out_of_range: a valid JSON number, too large
    _trade("E6", timestamp='"2025-01-15T10:00Z"'),  # loaded at 10:00:00 UTC
    _trade("E7") + _trade("E8"),  # one malformed_record holding the whole line
    _trade("E9") + " resent",  # malformed_record
    _trade("K1", price='"187.2500000000"'),  # trailing zeros: exact, 187.25
    _trade("K2", price="1.8725e2"),  # 187.25
    _trade("K3", price='"+187.25"'),  # 187.25
]


def test_spark_submit_runs_ingest_and_tolerates_glue_arguments(tmp_path: Path) -> None:
    """The documented command, Glue's extra arguments, and issue 14's tricky input end to end."""
    lake = Lake(tmp_path)
    raw = lake.raw_root
    rows = [f"T{i},AAPL,buy,1.5,1,2025-01-15T20:00:00Z,XNAS" for i in range(3)]
    rows.append("E2,AAPL,buy,1.0000000000000000001,1,2025-01-15T20:00:00Z,XNAS")
    write_lines(day_folder(str(raw), "2025-01-15") / "a.csv", [CSV_HEADER, *rows])
    write_lines(day_folder(str(raw), "2025-01-15") / "tricky.jsonl", TRICKY_LINES)
    env = submit_env(**lake.settings_env(), SPARK_MASTER="local[1]")
    done = spark_submit(
        "ingest",
        "--date",
        "2025-01-15",
        "--max-reject-ratio",
        "1",
        "--JOB_NAME",
        "tradelake-ingest",
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = last_summary(done.stdout) or {}
    assert (summary["status"], summary["records_read"]) == ("ok", 14)
    assert (summary["loaded"], summary["duplicates_dropped"], summary["rejected"]) == (7, 0, 7)
    assert summary["rejected_by_reason"] == {
        "price_too_precise": 3,
        "quantity_too_precise": 1,
        "price_out_of_range": 1,
        "malformed_record": 2,
    }

    trades = lake.rows("trades")
    loaded = {row["trade_id"]: (row["price"], row["traded_at"].isoformat()) for row in trades}
    assert loaded == {
        **{f"T{i}": (Decimal("1.5"), "2025-01-15T20:00:00+00:00") for i in range(3)},
        "E6": (Decimal("187.25"), "2025-01-15T10:00:00+00:00"),
        **{f"K{i}": (Decimal("187.25"), "2025-01-15T12:00:00+00:00") for i in (1, 2, 3)},
    }
    rejects = lake.rows("trades_rejected")
    by_line = {row["record"]: row["reasons"] for row in rejects}
    assert by_line[TRICKY_LINES[5]] == ["malformed_record"]  # the whole line, both trades
    assert by_line[TRICKY_LINES[6]] == ["malformed_record"]
    assert by_line[rows[3]] == ["price_too_precise"]
    assert len(rejects) == 7


def test_spark_submit_reports_bad_configuration(tmp_path: Path) -> None:
    done = spark_submit("ingest", env={**os.environ, "TRADELAKE_CATALOG_TYPE": "hive"}, timeout=120)
    assert done.returncode == 2
    assert "catalog_type" in done.stderr
