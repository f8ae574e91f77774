"""Table maintenance: compaction, dry run, expiry, orphans, retention, refusals."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from tests.spark.rawfiles import CSV_HEADER, day_folder, write_lines
from tradelake.history import current_snapshot_id
from tradelake.tables import JOB_RUNS, TRADES, ensure_tables

pytestmark = pytest.mark.spark

TODAY = datetime.now(UTC).date()
RECENT = (TODAY - timedelta(days=3)).isoformat()
OLD = (TODAY - timedelta(days=400)).isoformat()


def trades_rows(spark: Any, day: str, count: int, start: int = 0) -> DataFrame:
    rows = [
        (
            f"T{day}-{i:04d}",
            "AAPL" if i % 2 else "MSFT",
            "buy",
            Decimal(f"{100 + i}.12345678"),
            Decimal(i + 1),
            f"{day} 10:{i % 60:02d}:00",
            "XNAS",
            day,
            "file:/raw/x.csv",
            "r0",
        )
        for i in range(start, start + count)
    ]
    frame = spark.createDataFrame(
        rows,
        "trade_id string, symbol string, side string, price decimal(18,8), "
        "quantity decimal(18,8), traded_at string, exchange string, trade_date string, "
        "source_file string, run_id string",
    )
    return frame.select(
        "trade_id",
        "symbol",
        "side",
        "price",
        "quantity",
        F.to_timestamp("traded_at").alias("traded_at"),
        "exchange",
        F.to_date("trade_date").alias("trade_date"),
        "source_file",
        "run_id",
        F.to_timestamp(F.lit("2025-01-01 00:00:00")).alias("ingested_at"),
    )


def write_small_files(spark: Any, settings: Any, day: str, files: int, rows_per_file: int) -> None:
    """One commit of ``files`` tiny files in partition ``day`` (distribution turned off)."""
    ensure_tables(spark, settings, TRADES)
    (
        trades_rows(spark, day, files * rows_per_file)
        .repartition(files)
        .writeTo(settings.table("trades"))
        .option("distribution-mode", "none")
        .append()
    )


def data_files(spark: Any, table: str, day: str) -> int:
    return (
        spark.sql(
            f"SELECT count(*) AS n FROM {table}.files WHERE partition.trade_date = DATE'{day}'"
        )
        .first()
        .n
    )


def test_compaction_merges_small_files_and_keeps_the_data(
    spark: Any, lake_env: Any, run_job: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = lake_env.table("trades")
    write_small_files(spark, lake_env, RECENT, files=50, rows_per_file=4)
    before_rows = spark.table(table).orderBy("trade_id").collect()
    before_snapshot = current_snapshot_id(spark, table)
    assert data_files(spark, table, RECENT) == 50

    dry = run_job("compact", "--table", "trades", "--only", "rewrite", "--dry-run")
    assert dry.exit_code == 0, dry.summary
    assert dry.summary["tables"]["trades"]["rewrite"] == {
        "would_rewrite_files": 50,
        "partitions": 1,
    }
    assert current_snapshot_id(spark, table) == before_snapshot

    run = run_job("compact", "--table", "trades", "--only", "rewrite", "--date", RECENT)
    assert run.exit_code == 0, run.summary
    report = run.summary["tables"]["trades"]
    assert report["before"]["data_files"] == 50
    # 200 tiny rows against a 128 MiB target: one file.
    assert report["after"]["data_files"] == 1 == data_files(spark, table, RECENT)
    assert report["rewrite"]["rewritten_files"] == 50
    assert report["rewrite"]["failed_files"] == 0
    # The rewrite's manifests were checked: the partition kept its 200 rows.
    assert report["rewrite"]["verified_partitions"] == 1
    assert spark.table(table).orderBy("trade_id").collect() == before_rows
    previous = spark.sql(f"SELECT * FROM {table} VERSION AS OF {before_snapshot}")
    assert previous.orderBy("trade_id").collect() == before_rows

    # Expire everything but the current snapshot: time travel to the old one ends.
    monkeypatch.setenv("TRADELAKE_MAINTENANCE__SNAPSHOT_MAX_AGE_HOURS", "0")
    monkeypatch.setenv("TRADELAKE_MAINTENANCE__SNAPSHOTS_TO_KEEP", "1")
    expired = run_job("compact", "--table", "trades", "--only", "expire")
    assert expired.exit_code == 0, expired.summary
    assert expired.summary["tables"]["trades"]["expire"]["deleted_data_files"] == 50
    assert expired.summary["tables"]["trades"]["after"]["snapshots"] == 1
    with pytest.raises(Exception, match="snapshot"):
        spark.sql(f"SELECT * FROM {table} VERSION AS OF {before_snapshot}").collect()
    assert spark.table(table).orderBy("trade_id").collect() == before_rows


def test_a_date_scope_works_on_the_run_history_tables(
    spark: Any, lake_env: Any, run_job: Any
) -> None:
    """job_runs and quality_results are partitioned by job: --since and --date filter their
    run_date / check_date (a filter on the partition column would not even convert)."""
    write_small_files(spark, lake_env, RECENT, files=6, rows_per_file=2)
    runs = [run_job("compact", "--table", "trades", "--only", "manifests") for _ in range(6)]
    assert all(run.exit_code == 0 for run in runs)  # six small job_runs appends

    dry = run_job("compact", "--since", RECENT, "--only", "rewrite", "--dry-run")
    assert dry.exit_code == 0, dry.summary
    assert dry.summary["tables"]["job_runs"]["rewrite"] == {
        "would_rewrite_files": 6,
        "partitions": 1,
    }
    assert dry.summary["tables"]["trades"]["rewrite"] == {"would_rewrite_files": 6, "partitions": 1}
    before = spark.table(lake_env.table("job_runs")).count()
    run = run_job("compact", "--since", RECENT, "--only", "rewrite")
    assert run.exit_code == 0, run.summary
    assert run.summary["tables"]["job_runs"]["rewrite"]["rewritten_files"] == 6
    # The same rows, plus the compaction run's own record.
    assert spark.table(lake_env.table("job_runs")).count() == before + 1
    today = run_job("compact", "--date", RECENT, "--only", "rewrite", "--dry-run")
    assert today.exit_code == 0, today.summary
    future = run_job("compact", "--since", "2999-01-01", "--only", "rewrite", "--dry-run")
    assert future.summary["tables"]["job_runs"]["rewrite"]["would_rewrite_files"] == 0


def test_healthy_partitions_are_skipped(spark: Any, lake_env: Any, run_job: Any) -> None:
    write_small_files(spark, lake_env, RECENT, files=3, rows_per_file=2)
    snapshot = current_snapshot_id(spark, lake_env.table("trades"))
    run = run_job("compact", "--table", "trades", "--only", "rewrite")
    assert run.exit_code == 0
    assert run.summary["tables"]["trades"]["rewrite"]["rewritten_files"] == 0
    assert current_snapshot_id(spark, lake_env.table("trades")) == snapshot


def table_data_dir(spark: Any, table: str) -> Path:
    location = (
        spark.sql(f"DESCRIBE TABLE EXTENDED {table}")
        .where(F.col("col_name") == "Location")
        .first()
        .data_type
    )
    return Path(location.removeprefix("file:")) / "data"


def test_orphans_older_than_the_age_are_removed(spark: Any, lake_env: Any, run_job: Any) -> None:
    table = lake_env.table("trades")
    write_small_files(spark, lake_env, RECENT, files=2, rows_per_file=2)
    folder = table_data_dir(spark, table)
    old_orphan = folder / "orphan-old.parquet"
    new_orphan = folder / "orphan-new.parquet"
    old_orphan.write_bytes(b"left by a killed job")
    new_orphan.write_bytes(b"maybe a running job's")
    four_days_ago = time.time() - 4 * 24 * 3600
    os.utime(old_orphan, (four_days_ago, four_days_ago))

    dry = run_job("compact", "--table", "trades", "--only", "orphans", "--dry-run")
    assert dry.exit_code == 0, dry.summary
    assert dry.summary["tables"]["trades"]["orphans"]["would_remove_orphans"] == 1
    assert old_orphan.exists()

    run = run_job("compact", "--table", "trades", "--only", "orphans")
    assert run.exit_code == 0
    orphans = run.summary["tables"]["trades"]["orphans"]
    assert orphans["removed_orphans"] == 1
    assert orphans["orphans"][0].endswith("orphan-old.parquet")
    assert not old_orphan.exists() and new_orphan.exists()
    assert spark.table(table).count() == 4


def _old_and_recent_trades(spark: Any, lake_env: Any, old: int, recent: int) -> str:
    table = lake_env.table("trades")
    ensure_tables(spark, lake_env, TRADES)
    trades_rows(spark, OLD, old).writeTo(table).append()
    trades_rows(spark, RECENT, recent, start=old).writeTo(table).append()
    raw = Path(lake_env.raw_root)
    for day in (OLD, RECENT):
        write_lines(day_folder(str(raw), day) / "a.csv", ["trade_id", "T1"])
    return table


def test_a_maintenance_run_with_defaults_deletes_nothing(
    spark: Any, lake_env: Any, run_job: Any
) -> None:
    """Every step at its defaults on a day long past: rows and raw files all stay."""
    table = _old_and_recent_trades(spark, lake_env, old=3, recent=2)
    before = spark.table(table).orderBy("trade_id").collect()

    run = run_job("compact")
    assert run.exit_code == 0, run.summary
    assert run.summary["tables"]["trades"]["retention"] == {
        "skipped": "no retention policy (maintenance.retention_days)"
    }
    assert "skipped" in run.summary["raw"]
    assert spark.table(table).orderBy("trade_id").collect() == before
    assert (Path(lake_env.raw_root) / "trades" / f"date={OLD}" / "a.csv").exists()


def test_retention_deletes_exactly_the_old_rows_and_raw_days(
    spark: Any, lake_env: Any, run_job: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADELAKE_MAINTENANCE__RETENTION_DAYS", '{"trades": 90}')
    monkeypatch.setenv("TRADELAKE_MAINTENANCE__RAW_RETENTION_DAYS", "30")
    table = _old_and_recent_trades(spark, lake_env, old=3, recent=4)
    raw = Path(lake_env.raw_root)
    outside = raw / "other" / f"date={OLD}" / "keep.csv"
    outside.parent.mkdir(parents=True)
    outside.write_text("not under trades/\n")
    odd = raw / "trades" / "date=not-a-date" / "keep.csv"
    odd.parent.mkdir(parents=True)
    odd.write_text("x\n")

    dry = run_job("compact", "--only", "retention", "--only", "raw", "--dry-run")
    assert dry.exit_code == 0, dry.summary
    retention = dry.summary["tables"]["trades"]["retention"]
    assert retention["would_delete_rows"] == 3
    # The dry run lists each date it would delete, with its rows, and the share.
    assert retention["dates"] == [{"date": OLD, "rows": 3}]
    assert (retention["table_rows"], retention["share"]) == (7, round(3 / 7, 6))
    assert dry.summary["raw"]["would_delete_files"] == 1
    assert spark.table(table).count() == 7

    run = run_job("compact", "--only", "retention", "--only", "raw")
    assert run.exit_code == 0, run.summary
    assert run.summary["tables"]["trades"]["retention"]["deleted_rows"] == 3
    assert {str(r.trade_date) for r in spark.table(table).collect()} == {RECENT}
    assert run.summary["raw"]["days"] == [OLD]
    assert not (raw / "trades" / f"date={OLD}").exists()
    assert (raw / "trades" / f"date={RECENT}" / "a.csv").exists()
    assert outside.exists() and odd.exists()


def test_retention_of_more_than_the_share_refuses_unless_forced(
    spark: Any, lake_env: Any, run_job: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADELAKE_MAINTENANCE__RETENTION_DAYS", '{"trades": 90}')
    table = _old_and_recent_trades(spark, lake_env, old=3, recent=2)
    snapshot = current_snapshot_id(spark, table)

    refused = run_job("compact")
    assert refused.exit_code == 2, refused.summary
    assert "more than 50% of a table (trades: 3 of 5 rows (60%" in refused.summary["error"]
    # Refused before any step: not even a compaction committed.
    assert current_snapshot_id(spark, table) == snapshot

    dry = run_job("compact", "--only", "retention", "--dry-run")
    assert dry.exit_code == 0, dry.summary
    assert "trades: 3 of 5 rows" in dry.summary["retention_refused"]
    assert dry.summary["tables"]["trades"]["retention"]["would_delete_rows"] == 3

    forced = run_job("compact", "--only", "retention", "--force")
    assert forced.exit_code == 0, forced.summary
    assert forced.summary["tables"]["trades"]["retention"]["deleted_rows"] == 3
    assert spark.table(table).count() == 2


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (("--table", "nope"), {}, "no tradelake table"),
        (("--orphan-age-hours", "0.5", "--only", "orphans"), {}, "below the safe minimum"),
        ((), {"TRADELAKE_MAINTENANCE__RETENTION_DAYS": '{"trades": 0}'}, "retention_days"),
        ((), {"TRADELAKE_MAINTENANCE__RAW_RETENTION_DAYS": "0"}, "raw_retention_days"),
        ((), {"TRADELAKE_MAINTENANCE__RETENTION_DAYS": '{"trade": 30}'}, "unknown tables"),
    ],
)
def test_unsafe_or_bad_requests_exit_2(
    spark: Any,
    lake_env: Any,
    run_job: Any,
    monkeypatch: pytest.MonkeyPatch,
    argv: tuple[str, ...],
    env: dict[str, str],
    message: str,
) -> None:
    ensure_tables(spark, lake_env, TRADES)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    run = run_job("compact", *argv)
    assert run.exit_code == 2, run.summary
    assert message in run.summary["error"]


def test_orphan_age_below_the_longest_run_needs_force(
    spark: Any, lake_env: Any, run_job: Any
) -> None:
    ensure_tables(spark, lake_env, TRADES, JOB_RUNS)
    long_run = spark.createDataFrame(
        [("r1", "ingest", RECENT, "ok", 0, True, 40 * 3600.0, "{}")],
        "run_id string, job string, run_date string, status string, exit_code int, "
        "published boolean, seconds double, summary string",
    ).select(
        "run_id",
        "job",
        F.to_date("run_date").alias("run_date"),
        "status",
        "exit_code",
        "published",
        F.current_timestamp().alias("started_at"),
        "seconds",
        "summary",
    )
    long_run.writeTo(lake_env.table("job_runs")).append()

    refused = run_job("compact", "--only", "orphans", "--orphan-age-hours", "30")
    assert refused.exit_code == 2
    assert "40.00 h (the longest recorded job run)" in refused.summary["error"]
    forced = run_job("compact", "--only", "orphans", "--orphan-age-hours", "30", "--force")
    assert forced.exit_code == 0, forced.summary


def test_compaction_and_ingest_committing_at_once_lose_nothing(
    spark: Any, lake_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from tests.submit import load_job

    table = lake_env.table("trades")
    write_small_files(spark, lake_env, OLD, files=30, rows_per_file=2)
    compacted_day_rows = spark.table(table).orderBy("trade_id").collect()
    rows = [f"N{i},AAPL,buy,1.5,1,{RECENT}T20:00:00Z,XNAS" for i in range(40)]
    write_lines(day_folder(lake_env.raw_root, RECENT) / "a.csv", [CSV_HEADER, *rows])
    compact, ingest = load_job("compact"), load_job("ingest")

    # Two Spark jobs from two threads of one driver commit to the same table.
    with ThreadPoolExecutor(max_workers=2) as pool:
        compacted = pool.submit(compact.main, ["--table", "trades", "--only", "rewrite"])
        ingested = pool.submit(ingest.main, ["--date", RECENT])
        assert (compacted.result(), ingested.result()) == (0, 0), capsys.readouterr().out

    old = spark.table(table).where(F.col("trade_date") == OLD).orderBy("trade_id").collect()
    assert old == compacted_day_rows
    recent = spark.table(table).where(F.col("trade_date") == RECENT)
    assert sorted(r.trade_id for r in recent.collect()) == sorted(f"N{i}" for i in range(40))
    assert data_files(spark, table, OLD) == 1
