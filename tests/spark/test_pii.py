"""Personal data: masked with a keyed HMAC before `trades`, refused without a key."""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal
from typing import Any

import pytest
from chispa import assert_column_equality
from pyspark.sql import functions as F

from tests.spark.rawfiles import day_folder, json_line, write_lines
from tradelake.pii import hmac_sha256_hex

pytestmark = pytest.mark.spark

DAY = "2025-01-15"
KEY = "s3cret-masking-key"


def mask(text: str) -> str:
    return hmac.new(KEY.encode(), text.encode(), hashlib.sha256).hexdigest()


def test_hmac_matches_rfc_2104(spark: Any) -> None:
    long_key = b"k" * 100  # longer than a SHA-256 block: hashed first
    values = ["ACC-1", "alice@example.com", "漢字 é", ""]
    frame = spark.createDataFrame(
        [(v, hmac.new(long_key, v.encode(), hashlib.sha256).hexdigest()) for v in values]
        + [(None, None)],
        "value string, expected string",
    ).withColumn("actual", hmac_sha256_hex(F.col("value"), long_key))
    assert_column_equality(frame, "actual", "expected")


def land_pii_day(raw_root: str) -> tuple[str, str]:
    good = json_line(
        trade_id="T1",
        symbol="AAPL",
        side="buy",
        price=Decimal("187.25"),
        quantity=10,
        timestamp="2025-01-15T14:30:00Z",
        exchange="XNAS",
        account_id=" ACC-1 ",
        trader_email=" Alice@Example.COM ",
    )
    bad = json_line(
        trade_id="T2",
        symbol="AAPL",
        side="hold",
        price=Decimal("1"),
        quantity=1,
        timestamp="2025-01-15T14:30:00Z",
        exchange="XNAS",
        account_id="ACC-2",
        trader_email="bob@example.com",
    )
    plain = [
        json_line(
            trade_id=f"P{i}",
            symbol="MSFT",
            side="sell",
            price=Decimal("1"),
            quantity=1,
            timestamp="2025-01-15T20:00:00Z",
            exchange="XNAS",
        )
        for i in range(10)
    ]
    write_lines(day_folder(raw_root, DAY) / "a.jsonl", [good, bad, *plain])
    return good, bad


def test_pii_is_masked_in_trades_and_kept_raw_only_in_the_dead_letters(
    spark: Any, lake_env: Any, run_job: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADELAKE_PII_KEY", KEY)
    _, bad = land_pii_day(lake_env.raw_root)
    run = run_job("ingest", "--date", DAY)
    assert run.exit_code == 0, run.summary
    assert run.summary["pii_records"] == 1
    assert run.summary["schema_drift"]["records"] == 0

    trades = spark.table(lake_env.table("trades"))
    t1 = trades.where(F.col("trade_id") == "T1").first()
    assert (t1.account_id, t1.trader_email) == (mask("ACC-1"), mask("alice@example.com"))
    assert trades.where(F.col("account_id").isNotNull()).count() == 1
    text = " ".join(str(value) for row in trades.collect() for value in row)
    assert "ACC-1" not in text and "alice" not in text.lower()

    rejects = [r.record for r in spark.table(lake_env.table("trades_rejected")).collect()]
    assert rejects == [bad]

    docs = {
        row.col_name: row.comment
        for row in spark.sql(f"DESCRIBE TABLE {lake_env.table('trades')}").collect()
    }
    assert docs["account_id"].startswith("classification: pii")
    assert docs["price"] == "classification: public"
    dead_letters = {
        row.col_name: row.comment
        for row in spark.sql(f"DESCRIBE TABLE {lake_env.table('trades_rejected')}").collect()
    }
    assert dead_letters["record"].startswith("classification: pii")


def test_pii_without_a_key_is_refused_before_anything_is_written(
    spark: Any, lake_env: Any, run_job: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRADELAKE_PII_KEY", raising=False)
    land_pii_day(lake_env.raw_root)
    run = run_job("ingest", "--date", DAY)
    assert run.exit_code == 2
    assert "TRADELAKE_PII_KEY" in run.summary["error"]
    assert spark.table(lake_env.table("trades")).count() == 0
    assert spark.table(lake_env.table("trades_rejected")).count() == 0


def test_older_trades_tables_gain_the_pii_columns(spark: Any, lake_env: Any, run_job: Any) -> None:
    table = lake_env.table("trades")
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS lake.{lake_env.database}")
    spark.sql(
        f"CREATE TABLE {table} (trade_id STRING NOT NULL, symbol STRING NOT NULL, "
        "side STRING NOT NULL, price DECIMAL(18,8) NOT NULL, quantity DECIMAL(18,8) NOT NULL, "
        "traded_at TIMESTAMP NOT NULL, exchange STRING NOT NULL, trade_date DATE NOT NULL, "
        "source_file STRING NOT NULL, run_id STRING NOT NULL, ingested_at TIMESTAMP NOT NULL) "
        "USING iceberg PARTITIONED BY (trade_date) TBLPROPERTIES ('format-version'='2')"
    )
    rows = [f"P{i},MSFT,sell,1,1,2025-01-15T20:00:00Z,XNAS" for i in range(3)]
    write_lines(
        day_folder(lake_env.raw_root, DAY) / "a.csv",
        ["trade_id,symbol,side,price,quantity,timestamp,exchange", *rows],
    )
    assert run_job("ingest", "--date", DAY).exit_code == 0
    # Added in the spec's order: the PII columns, then the version columns.
    assert spark.table(table).columns[-5:] == [
        "account_id",
        "trader_email",
        "report_type",
        "report_seq",
        "landing_date",
    ]
    assert spark.table(table).count() == 3
