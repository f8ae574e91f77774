"""The ingest job end to end: messy files in every format, exact tables, exit codes."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from tests.lakes import Lake
from tests.spark.helpers import assert_frames_equal
from tests.spark.rawfiles import (
    CSV_HEADER,
    day_folder,
    json_line,
    utc,
    write_lines,
    write_parquet,
    write_truncated_gzip,
)
from tradelake.history import current_snapshot_id

pytestmark = pytest.mark.spark

DAY = "2025-01-15"
# The messy day is mostly bad on purpose; its runs loosen the reject-ratio gate.
LOOSE_GATE = ("--max-reject-ratio", "0.9")


def write_messy_day(folder: Path) -> None:
    """Every format and every kind of bad input the contract names, in one day."""
    write_lines(
        folder / "a.jsonl",
        [
            json_line(
                trade_id="T1",
                symbol=" aapl ",
                side="BUY",
                price=Decimal("187.25"),
                quantity=10,
                timestamp="2025-01-15T14:30:00Z",
                exchange="XNAS",
                venue_fee=0.01,
            ),
            json_line(
                trade_id="T2",
                symbol="MSFT",
                side="sell",
                price=Decimal("410.10"),
                quantity=5,
                timestamp="2025-01-15T10:00:00Z",
                exchange="XNAS",
            ),
            json_line(
                trade_id="T2",
                symbol="MSFT",
                side="sell",
                price=Decimal("410.20"),
                quantity=5,
                timestamp="2025-01-15T10:00:05Z",
                exchange="XNAS",
            ),
            '{"trade_id": "T90", "symbol": "AAPL", "pri',
            "",
            "[1, 2]",
            json_line(
                trade_id="T91",
                symbol="AAPL",
                side="buy",
                price=Decimal("1.123456789"),
                quantity=1,
                timestamp="2025-01-15T09:00:00Z",
                exchange="XNAS",
            ),
        ],
    )
    write_lines(
        folder / "b.jsonl.gz",
        [
            # T1 again, cosmetically different: same normalized content.
            json_line(
                trade_id="T1",
                symbol="AAPL",
                side="buy",
                price="187.250",
                quantity="10.0",
                timestamp="2025-01-15T15:30:00+01:00",
                exchange="XNAS",
            ),
            json_line(
                trade_id="T3",
                symbol="BTC-USD",
                side="buy",
                price=Decimal("123456.12345678"),
                quantity=Decimal("0.00000001"),
                timestamp="2025-01-15T23:59:59.999999Z",
                exchange="CBSE",
            ),
        ],
    )
    write_lines(
        folder / "c.csv",
        [
            "exchange,timestamp,trade_id,symbol,side,price,quantity,venue_fee",
            "XNYS,2025-01-15 09:30:00,T4,IBM,buy,221.5,100,0.5",
            "XNYS,2025-01-15 09:31:00,T92",
            'XNYS,2025-01-15 09:32:00,T93,IBM,hold,"221.5",1,0',
        ],
    )
    write_lines(
        folder / "d.csv.gz", [CSV_HEADER, "T6,ES_F,sell,5900.25,2,2025-01-15T13:00:00Z,XCME"]
    )
    write_parquet(
        folder / "e.parquet",
        [
            {
                "trade_id": "T7",
                "symbol": "NVDA",
                "side": "buy",
                "price": Decimal("140.5"),
                "quantity": 3,
                "timestamp": utc("2025-01-15T16:00:00+00:00"),
                "exchange": "XNAS",
                "venue_fee": 0.2,
            },
            {
                "trade_id": "T94",
                "symbol": "NVDA",
                "side": "buy",
                "price": Decimal("140.5"),
                "quantity": 3,
                "timestamp": utc("2025-01-14T16:00:00+00:00"),
                "exchange": "XNAS",
                "venue_fee": None,
            },
        ],
    )
    (folder / "f.parquet").write_bytes(b"PAR1 this is not parquet")
    write_truncated_gzip(folder / "g.jsonl.gz")
    (folder / "notes.txt").write_text("not a trade file\n")
    (folder / "empty.jsonl").write_bytes(b"")
    (folder / "_SUCCESS").write_bytes(b"")
    (folder / ".upload-in-progress.jsonl").write_bytes(b"{}")


def trades_view(frame: DataFrame) -> DataFrame:
    return frame.select(
        "trade_id",
        "symbol",
        "side",
        "price",
        "quantity",
        F.date_format("traded_at", "yyyy-MM-dd HH:mm:ss.SSSSSS").alias("traded_at"),
        "exchange",
        F.col("trade_date").cast("string").alias("trade_date"),
        F.regexp_extract("source_file", r"[^/]+$", 0).alias("file"),
    )


def rejects_view(frame: DataFrame) -> DataFrame:
    return frame.select(
        F.col("ingest_date").cast("string").alias("ingest_date"),
        F.regexp_extract("source_file", r"[^/]+$", 0).alias("file"),
        "reasons",
    )


EXPECTED_TRADES = [
    ("T1", "AAPL", "buy", Decimal("187.25"), Decimal("10"), "2025-01-15 14:30:00.000000", "XNAS"),
    ("T2", "MSFT", "sell", Decimal("410.2"), Decimal("5"), "2025-01-15 10:00:05.000000", "XNAS"),
    (
        "T3",
        "BTC-USD",
        "buy",
        Decimal("123456.12345678"),
        Decimal("0.00000001"),
        "2025-01-15 23:59:59.999999",
        "CBSE",
    ),
    ("T4", "IBM", "buy", Decimal("221.5"), Decimal("100"), "2025-01-15 09:30:00.000000", "XNYS"),
    ("T6", "ES_F", "sell", Decimal("5900.25"), Decimal("2"), "2025-01-15 13:00:00.000000", "XCME"),
    ("T7", "NVDA", "buy", Decimal("140.5"), Decimal("3"), "2025-01-15 16:00:00.000000", "XNAS"),
]
EXPECTED_FILES = {
    "T1": "a.jsonl",
    "T2": "a.jsonl",
    "T3": "b.jsonl.gz",
    "T4": "c.csv",
    "T6": "d.csv.gz",
    "T7": "e.parquet",
}
EXPECTED_REJECTS = [
    ("a.jsonl", ["duplicate_conflict"]),
    ("a.jsonl", ["malformed_record"]),
    ("a.jsonl", ["malformed_record"]),
    ("a.jsonl", ["price_too_precise"]),
    ("c.csv", ["malformed_record"]),
    ("c.csv", ["side_invalid"]),
    ("e.parquet", ["timestamp_outside_partition"]),
    ("f.parquet", ["unreadable_file"]),
    ("g.jsonl.gz", ["unreadable_file"]),
    ("notes.txt", ["unreadable_file"]),
]


def expected_trades(spark: Any) -> DataFrame:
    rows = [(*row, DAY, EXPECTED_FILES[row[0]]) for row in EXPECTED_TRADES]
    return spark.createDataFrame(
        rows,
        "trade_id string, symbol string, side string, price decimal(18,8), "
        "quantity decimal(18,8), traded_at string, exchange string, trade_date string, "
        "file string",
    )


def expected_rejects(spark: Any) -> DataFrame:
    return spark.createDataFrame(
        [(DAY, file, reasons) for file, reasons in EXPECTED_REJECTS],
        "ingest_date string, file string, reasons array<string>",
    )


def test_messy_day_lands_exactly(spark: Any, lake_env: Any, run_job: Any) -> None:
    write_messy_day(day_folder(lake_env.raw_root, DAY))
    run = run_job("ingest", "--date", DAY, *LOOSE_GATE)

    assert run.exit_code == 0, run.summary
    assert_frames_equal(trades_view(spark.table(lake_env.table("trades"))), expected_trades(spark))
    assert_frames_equal(
        rejects_view(spark.table(lake_env.table("trades_rejected"))), expected_rejects(spark)
    )
    summary = run.summary
    assert summary["files"] == {"read": 8, "empty": 1, "ignored": 2, "unreadable": 3}
    # Records only: an unreadable file is counted under files, and is one dead letter.
    assert summary["records_read"] == 14
    assert summary["loaded"] == 6
    assert summary["duplicates_dropped"] == 1
    assert summary["rejected"] == 7
    assert summary["records_read"] == (
        summary["loaded"] + summary["duplicates_dropped"] + summary["rejected"]
    )
    assert summary["dead_letters"] == 10 == len(EXPECTED_REJECTS)
    assert summary["rejected_by_reason"] == {
        "malformed_record": 3,
        "side_invalid": 1,
        "price_too_precise": 1,
        "timestamp_outside_partition": 1,
        "duplicate_conflict": 1,
    }
    # T1 in a.jsonl, the three rows of c.csv, both rows of e.parquet.
    assert summary["schema_drift"] == {"records": 6, "fields": ["venue_fee"]}
    assert {u["path"].rsplit("/", 1)[-1] for u in summary["unreadable_files"]} == {
        "f.parquet",
        "g.jsonl.gz",
        "notes.txt",
    }
    assert set(summary["snapshots"]) == {"trade_reports", "trades", "trades_rejected"}
    assert summary["status"] == "ok"
    unreadable = next(check for check in summary["quality"] if check["check"] == "unreadable_files")
    assert unreadable == {
        "check": "unreadable_files",
        "severity": "warn",
        "passed": False,
        "observed": 3,
        "threshold": "0 files that could not be read (each is a dead letter)",
    }


def test_dead_letters_keep_the_raw_record_for_replay(
    spark: Any, lake_env: Any, run_job: Any
) -> None:
    folder = day_folder(lake_env.raw_root, DAY)
    bad_json = json_line(
        trade_id="T5",
        symbol="AAPL",
        side="hold",
        price=Decimal("1.5"),
        quantity=1,
        timestamp="2025-01-15T10:00:00Z",
        exchange="XNAS",
    )
    write_lines(
        folder / "a.jsonl",
        [
            bad_json,
            *[
                json_line(
                    trade_id=f"G{i}",
                    symbol="AAPL",
                    side="buy",
                    price=Decimal("1.5"),
                    quantity=1,
                    timestamp="2025-01-15T20:00:00Z",
                    exchange="XNAS",
                )
                for i in range(20)
            ],
        ],
    )
    write_lines(folder / "b.csv", [CSV_HEADER, "T6,AAPL,buy,abc,1,2025-01-15T10:00:00Z,XNAS"])
    assert run_job("ingest", "--date", DAY).exit_code == 0
    records = {
        row.record: row.reasons for row in spark.table(lake_env.table("trades_rejected")).collect()
    }
    assert records == {
        bad_json: ["side_invalid"],
        "T6,AAPL,buy,abc,1,2025-01-15T10:00:00Z,XNAS": ["price_not_numeric"],
    }


def table_content(spark: Any, name: str) -> list[Any]:
    run_columns = {"run_id", "ingested_at", "rejected_at"}
    frame = spark.table(name)
    return sorted(frame.select([c for c in frame.columns if c not in run_columns]).collect())


def test_rerun_is_idempotent(spark: Any, lake_env: Any, run_job: Any) -> None:
    write_messy_day(day_folder(lake_env.raw_root, DAY))
    first = run_job("ingest", "--date", DAY, *LOOSE_GATE)
    trades = table_content(spark, lake_env.table("trades"))
    rejects = table_content(spark, lake_env.table("trades_rejected"))
    second = run_job("ingest", "--date", DAY, *LOOSE_GATE)

    assert (first.exit_code, second.exit_code) == (0, 0)
    assert table_content(spark, lake_env.table("trades")) == trades
    assert table_content(spark, lake_env.table("trades_rejected")) == rejects
    assert len(trades) == 6 and len(rejects) == 10
    assert second.summary["snapshots"] != first.summary["snapshots"]
    run_ids = {row.run_id for row in spark.table(lake_env.table("trades")).collect()}
    assert run_ids == {second.summary["run_id"]}


def test_rerun_with_fewer_rows_replaces_the_day(spark: Any, lake_env: Any, run_job: Any) -> None:
    folder = day_folder(lake_env.raw_root, DAY)
    other_day = day_folder(lake_env.raw_root, "2025-01-16")
    rows = [f"T{i},AAPL,buy,1.5,1,2025-01-15T20:00:00Z,XNAS" for i in range(12)]
    write_lines(folder / "a.csv", [CSV_HEADER, *rows])
    write_lines(other_day / "a.csv", [CSV_HEADER, "N1,AAPL,buy,1.5,1,2025-01-16T20:00:00Z,XNAS"])
    assert run_job("ingest", "--date", DAY).exit_code == 0
    assert run_job("ingest", "--date", "2025-01-16").exit_code == 0

    write_lines(folder / "a.csv", [CSV_HEADER, *rows[:11]])  # T11 removed upstream
    assert run_job("ingest", "--date", DAY).exit_code == 0

    trades = spark.table(lake_env.table("trades"))
    day_ids = {r.trade_id for r in trades.where(F.col("trade_date") == DAY).collect()}
    assert day_ids == {f"T{i}" for i in range(11)}
    assert [r.trade_id for r in trades.where(F.col("trade_date") == "2025-01-16").collect()] == [
        "N1"
    ]


def test_quality_gate_failure_keeps_previous_trades_and_writes_rejects(
    spark: Any, lake_env: Any, run_job: Any
) -> None:
    folder = day_folder(lake_env.raw_root, DAY)
    good = [f"T{i},AAPL,buy,1.5,1,2025-01-15T20:00:00Z,XNAS" for i in range(10)]
    write_lines(folder / "a.csv", [CSV_HEADER, *good])
    first = run_job("ingest", "--date", DAY)
    before = table_content(spark, lake_env.table("trades"))

    bad = [f"B{i},AAPL,buy,-1,1,2025-01-15T20:00:00Z,XNAS" for i in range(5)]
    write_lines(folder / "a.csv", [CSV_HEADER, *good[:5], *bad])
    gated = run_job("ingest", "--date", DAY)

    assert gated.exit_code == 3
    assert gated.summary["status"] == "QualityGateError"
    assert "reject_ratio" in gated.summary["error"]
    ratio = next(c for c in gated.summary["quality"] if c["check"] == "reject_ratio")
    assert ratio == {
        "check": "reject_ratio",
        "severity": "error",
        "passed": False,
        "observed": 0.5,
        "threshold": "<= 0.1",
    }
    assert table_content(spark, lake_env.table("trades")) == before
    assert "trades" not in gated.summary["snapshots"]
    current = current_snapshot_id(spark, lake_env.table("trades"))
    assert current == first.summary["snapshots"]["trades"]
    rejects = spark.table(lake_env.table("trades_rejected")).collect()
    assert sorted(r.record.split(",")[0] for r in rejects) == [f"B{i}" for i in range(5)]
    assert {tuple(r.reasons) for r in rejects} == {("price_out_of_range",)}

    # A flag loosens the gate for one run; the day then publishes.
    loosened = run_job("ingest", "--date", DAY, "--max-reject-ratio", "0.5")
    assert loosened.exit_code == 0
    assert len(spark.table(lake_env.table("trades")).collect()) == 5


def test_missing_folder_exits_4_and_empty_day_exits_3(lake_env: Any, run_job: Any) -> None:
    missing = run_job("ingest", "--date", DAY)
    assert missing.exit_code == 4
    assert missing.summary["status"] == "NoInputError"
    assert "date=2025-01-15" in missing.summary["error"]

    folder = day_folder(lake_env.raw_root, DAY)
    (folder / "_SUCCESS").write_bytes(b"")
    (folder / "empty.csv").write_bytes(b"")
    empty = run_job("ingest", "--date", DAY)
    assert empty.exit_code == 3
    assert empty.summary["records_read"] == 0
    failed = {c["check"] for c in empty.summary["quality"] if not c["passed"]}
    assert failed == {"record_count", "freshness"}


def test_bad_configuration_exits_2(
    lake_env: Any, run_job: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADELAKE_CATALOG_TYPE", "hive")
    run = run_job("ingest", "--date", DAY)
    assert run.exit_code == 2
    assert "catalog_type" in run.summary["error"]


def test_pyiceberg_reads_what_spark_wrote(lake: Lake, lake_env: Any, run_job: Any) -> None:
    write_messy_day(day_folder(lake_env.raw_root, DAY))
    assert run_job("ingest", "--date", DAY, *LOOSE_GATE).exit_code == 0

    table = lake.catalog().load_table(f"{lake_env.database}.trades")
    assert table.format_version == 2
    rows = table.scan(selected_fields=("trade_id", "price", "trade_date")).to_arrow().to_pylist()
    assert sorted((r["trade_id"], r["price"]) for r in rows) == sorted(
        (row[0], row[3]) for row in EXPECTED_TRADES
    )
    assert {str(r["trade_date"]) for r in rows} == {DAY}
    assert table.spec().fields[0].name == "trade_date"


def test_glue_style_settings_argument_configures_the_job(
    spark: Any, lake_env: Any, run_job: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    folder = day_folder(lake_env.raw_root, DAY)
    good = [f"T{i},AAPL,buy,1.5,1,2025-01-15T20:00:00Z,XNAS" for i in range(3)]
    write_lines(folder / "a.csv", [CSV_HEADER, *good, "B1,AAPL,buy,-1,1,2025-01-15T20:00:00Z,X"])
    # Register both variables with monkeypatch so what the job exports is undone after.
    monkeypatch.setenv("TRADELAKE_DATABASE", lake_env.database)
    monkeypatch.setenv("TRADELAKE_QUALITY", "{}")
    settings = {"database": "glue_style", "quality": {"max_reject_ratio": 0.5}}

    run = run_job(
        "ingest", "--date", DAY, "--JOB_NAME", "x", "--tradelake-settings", json.dumps(settings)
    )

    assert run.exit_code == 0, run.summary
    assert (run.summary["loaded"], run.summary["rejected"]) == (3, 1)
    assert spark.table("lake.glue_style.trades").count() == 3
