"""Gold jobs end to end: refusal before ingest, exact output, idempotency, pruning, gates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from tests.spark.rawfiles import CSV_HEADER, day_folder, write_lines
from tradelake.gold.checks import DAILY_VOLUME_COLUMNS
from tradelake.gold.job import run_gold
from tradelake.gold.transform import daily_volume
from tradelake.runtime import Run
from tradelake.runtime import run_job as run_library_job
from tradelake.tables import DAILY_VOLUME

pytestmark = pytest.mark.spark

DAY = "2025-01-15"


def land(raw_root: str, day: str, rows: list[str]) -> None:
    write_lines(day_folder(raw_root, day) / "trades.csv", [CSV_HEADER, *rows])


DAY_ROWS = [
    "A1,AAPL,buy,100.00000000,2,2025-01-15T14:30:00Z,XNAS",
    "A2,AAPL,sell,101.00000000,1,2025-01-15T14:30:30Z,XNAS",
    "A3,AAPL,buy,99.5,3,2025-01-15T14:32:10Z,XNAS",
    "M1,MSFT,buy,410.1,10,2025-01-15T09:00:00Z,XNAS",
]


def test_gold_jobs_refuse_a_day_not_yet_ingested(lake_env: Any, run_job: Any) -> None:
    for job, extra in (("daily_volume", ()), ("ohlcv", ("--interval", "5m"))):
        run = run_job(job, "--date", DAY, *extra)
        assert run.exit_code == 4, run.summary
        assert "jobs/ingest.py --date 2025-01-15" in run.summary["error"]


def test_daily_volume_job_writes_exact_rows_and_reruns_idempotently(
    spark: Any, lake_env: Any, run_job: Any
) -> None:
    land(lake_env.raw_root, DAY, DAY_ROWS)
    assert run_job("ingest", "--date", DAY).exit_code == 0
    first = run_job("daily_volume", "--date", DAY)
    assert first.exit_code == 0, first.summary
    table = lake_env.table("daily_volume")
    rows = {r.symbol: r for r in spark.table(table).collect()}
    aapl = rows["AAPL"]
    # volume 2 + 1 + 3 = 6; notional 200 + 101 + 298.5 = 599.5; vwap 599.5 / 6 = 99.91666666|67
    assert (aapl.trade_count, aapl.total_volume) == (3, Decimal("6"))
    assert aapl.vwap == Decimal("99.91666667")
    # mean (100 + 101 + 99.5) / 3 = 100.16666666|67
    assert aapl.avg_price == Decimal("100.16666667")
    assert (aapl.open_price, aapl.close_price) == (Decimal("100"), Decimal("99.5"))
    assert (aapl.low_price, aapl.high_price) == (Decimal("99.5"), Decimal("101"))
    assert rows["MSFT"].vwap == Decimal("410.1")
    assert first.summary["rows_written"] == 2
    assert {c["check"] for c in first.summary["quality"] if c["passed"]} == {
        "reconcile_trade_count",
        "reconcile_volume",
        "ohlc_ordered",
        "no_null_keys",
        "no_null_aggregates",
    }

    second = run_job("daily_volume", "--date", DAY)
    assert second.exit_code == 0
    columns = [c for c in spark.table(table).columns if c != "run_id"]
    assert sorted(spark.table(table).select(columns).collect()) == sorted(
        r for r in spark.createDataFrame(list(rows.values())).select(columns).collect()
    )

    # The day shrinks upstream: MSFT disappears from trades, then from daily_volume.
    land(lake_env.raw_root, DAY, DAY_ROWS[:3])
    assert run_job("ingest", "--date", DAY).exit_code == 0
    assert run_job("daily_volume", "--date", DAY).exit_code == 0
    assert [r.symbol for r in spark.table(table).collect()] == ["AAPL"]


def test_ohlcv_job_names_its_table_by_interval_and_fills_forward(
    spark: Any, lake_env: Any, run_job: Any
) -> None:
    land(lake_env.raw_root, DAY, DAY_ROWS)
    assert run_job("ingest", "--date", DAY).exit_code == 0
    plain = run_job("ohlcv", "--date", DAY)
    assert plain.exit_code == 0, plain.summary
    bars = spark.table(lake_env.table("ohlcv_1m")).where(F.col("symbol") == "AAPL")
    assert [
        (r.t, r.open, r.close, r.volume, r.trade_count)
        for r in bars.select(
            F.date_format("bar_start", "HH:mm").alias("t"),
            "open",
            "close",
            "volume",
            "trade_count",
        )
        .orderBy("t")
        .collect()
    ] == [
        ("14:30", Decimal("100"), Decimal("101"), Decimal("3"), 2),
        ("14:32", Decimal("99.5"), Decimal("99.5"), Decimal("3"), 1),
    ]
    filled = run_job("ohlcv", "--date", DAY, "--fill", "forward")
    assert filled.exit_code == 0
    bars = spark.table(lake_env.table("ohlcv_1m")).where(F.col("symbol") == "AAPL")
    empty = bars.where(F.col("trade_count") == 0).collect()
    assert [(r.open, r.high, r.low, r.close, r.vwap, r.volume) for r in empty] == [
        (Decimal("101"),) * 5 + (Decimal("0"),)
    ]
    five = run_job("ohlcv", "--date", DAY, "--interval", "5m")
    assert five.exit_code == 0
    assert five.summary["interval"] == "5m"
    assert spark.table(lake_env.table("ohlcv_5m")).count() == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--interval", "7m"), "does not divide a day"),
        (("--interval", "1w"), "e.g. 1m, 5m, 15m, 1h, 1d"),
    ],
)
def test_bad_interval_exits_2(
    lake_env: Any, run_job: Any, argv: tuple[str, ...], message: str
) -> None:
    run = run_job("ohlcv", "--date", DAY, *argv)
    assert run.exit_code == 2
    assert message in run.summary["error"]


def test_malformed_date_exits_2(lake_env: Any, run_job: Any) -> None:
    with pytest.raises(SystemExit) as exited:
        run_job("daily_volume", "--date", "15/01/2025")
    assert exited.value.code == 2


def delete_other_days_files(spark: Any, table: str, keep: str) -> int:
    paths = [
        r.file_path
        for r in spark.sql(f"SELECT file_path, partition FROM {table}.files").collect()
        if str(r.partition.trade_date) != keep
    ]
    for path in paths:
        Path(path.removeprefix("file:")).unlink()
    return len(paths)


def test_gold_jobs_read_only_their_partition(spark: Any, lake_env: Any, run_job: Any) -> None:
    days = [f"2025-01-{day:02d}" for day in range(10, 16)]
    for day in days:
        land(lake_env.raw_root, day, [r.replace("2025-01-15", day) for r in DAY_ROWS])
        assert run_job("ingest", "--date", day).exit_code == 0
    trades = lake_env.table("trades")
    files_for_day = (
        spark.sql(
            f"SELECT count(*) AS n FROM {trades}.files WHERE partition.trade_date = DATE'{DAY}'"
        )
        .first()
        .n
    )
    # Proof by destruction: every other day's data files are gone from disk, so a job
    # that touched any other partition would fail with FileNotFound.
    assert delete_other_days_files(spark, trades, keep=DAY) >= 5

    volume = run_job("daily_volume", "--date", DAY)
    bars = run_job("ohlcv", "--date", DAY)
    assert (volume.exit_code, bars.exit_code) == (0, 0), (volume.summary, bars.summary)
    assert volume.summary["trades_partition_files"] == files_for_day
    assert volume.summary["trades_read"] == 4
    assert spark.table(lake_env.table("daily_volume")).count() == 2


def test_empty_published_day_gives_an_empty_partition_and_a_warning(
    spark: Any, lake_env: Any, run_job: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "TRADELAKE_QUALITY__SEVERITY", '{"record_count": "warn", "freshness": "warn"}'
    )
    land(lake_env.raw_root, DAY, DAY_ROWS)
    assert run_job("ingest", "--date", DAY).exit_code == 0
    assert run_job("daily_volume", "--date", DAY).exit_code == 0
    land(lake_env.raw_root, DAY, [])
    ingest = run_job("ingest", "--date", DAY)
    assert (ingest.exit_code, ingest.summary["loaded"]) == (0, 0)

    run = run_job("daily_volume", "--date", DAY)
    assert run.exit_code == 0, run.summary
    assert run.summary["rows_written"] == 0
    assert "no rows" in run.summary["warnings"][0]
    assert spark.table(lake_env.table("daily_volume")).count() == 0


def test_reconciliation_failure_blocks_publishing(
    spark: Any, lake_env: Any, run_job: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    land(lake_env.raw_root, DAY, DAY_ROWS)
    assert run_job("ingest", "--date", DAY).exit_code == 0

    def losing_a_symbol(trades_day: DataFrame) -> DataFrame:
        return daily_volume(trades_day).where(F.col("symbol") != "MSFT")

    def body(run: Run) -> None:
        run_gold(spark, lake_env, run, DAILY_VOLUME, DAILY_VOLUME_COLUMNS, losing_a_symbol)

    assert run_library_job("daily_volume", date(2025, 1, 15), body) == 3
    assert "reconcile_trade_count" in capsys.readouterr().out
    assert not spark.catalog.tableExists(lake_env.table("daily_volume")) or (
        spark.table(lake_env.table("daily_volume")).count() == 0
    )
