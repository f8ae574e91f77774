"""The AWS path for real: raw files on S3, Iceberg tables in Glue, over HTTP to moto.

The jobs run exactly as in production, through ./spark-submit.sh (a separate JVM with
Iceberg's GlueCatalog and S3FileIO, S3A for the raw files); only environment variables
differ from the local run. The tables are read back with pyiceberg's Glue catalog.
"""

from __future__ import annotations

import os
from datetime import date
from typing import Any

import pytest

from tests.lakes import FakeAws
from tests.submit import fake_aws_settings, spark_submit, submit_env
from tradelake.config import load_settings
from tradelake.maintenance import expire_raw_files
from tradelake.runtime import last_summary
from tradelake.sample import generate_day

pytestmark = pytest.mark.integration

DAY = "2025-01-15"
RAW_BUCKET = "tradelake-raw"
LAKE_BUCKET = "tradelake-lake"
DATABASE = "aws_e2e"


def aws_settings_env(fake: FakeAws, **overrides: str) -> dict[str, str]:
    """What distinguishes a run on AWS from a local one: environment variables only."""
    return fake_aws_settings(
        fake, raw_bucket=RAW_BUCKET, lake_bucket=LAKE_BUCKET, database=DATABASE, **overrides
    )


def submit(fake: FakeAws, job: str, *argv: str, **overrides: str) -> tuple[int, dict[str, Any]]:
    done = spark_submit(job, *argv, env=submit_env(**aws_settings_env(fake, **overrides)))
    summary = last_summary(done.stdout)
    assert summary is not None, done.stderr[-3000:]
    return done.returncode, summary


@pytest.fixture(scope="module")
def landed_day(fake_aws: FakeAws, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A generated messy day uploaded to the raw bucket; the lake bucket exists, empty."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    s3 = fake_aws.client("s3")
    for bucket in (RAW_BUCKET, LAKE_BUCKET):
        s3.create_bucket(Bucket=bucket)
    local = tmp_path_factory.mktemp("raw")
    described = generate_day(local, date.fromisoformat(DAY), trades=600, files=6, seed=5)
    for path in sorted(local.rglob("*")):
        if path.is_file():
            s3.upload_file(str(path), RAW_BUCKET, f"raw/{path.relative_to(local).as_posix()}")
    return described


def glue_catalog(fake: FakeAws) -> Any:
    from pyiceberg.catalog import load_catalog

    return load_catalog(
        "lake",
        type="glue",
        **{
            "glue.endpoint": fake.endpoint,
            "glue.region": fake.region,
            "s3.endpoint": fake.endpoint,
            "s3.region": fake.region,
        },
    )


def test_jobs_run_on_glue_and_s3_with_no_code_change(
    aws_env: FakeAws, landed_day: dict[str, Any]
) -> None:
    code, ingest = submit(aws_env, "ingest", "--date", DAY, "--JOB_NAME", "tradelake-ingest")
    assert code == 0, ingest
    assert ingest["loaded"] == landed_day["clean_trades"] == 600
    assert ingest["duplicates_dropped"] == landed_day["exact_duplicates"]
    assert ingest["records_read"] == landed_day["records_written"]
    for job, argv in (("daily_volume", ()), ("ohlcv", ("--interval", "5m"))):
        code, summary = submit(aws_env, job, "--date", DAY, *argv)
        assert code == 0, summary

    glue = aws_env.client("glue")
    for table in ("trades", "trades_rejected", "daily_volume", "ohlcv_5m", "job_runs"):
        entry = glue.get_table(DatabaseName=DATABASE, Name=table)["Table"]
        assert entry["Parameters"]["table_type"] == "ICEBERG"
        location = entry["Parameters"]["metadata_location"]
        assert location.startswith(f"s3://{LAKE_BUCKET}/warehouse/{DATABASE}.db/{table}/")

    catalog = glue_catalog(aws_env)
    trades = catalog.load_table(f"{DATABASE}.trades")
    assert trades.format_version == 2
    assert trades.scan(selected_fields=("trade_id",)).to_arrow().num_rows == 600
    volume = catalog.load_table(f"{DATABASE}.daily_volume").scan().to_arrow().to_pylist()
    assert sum(row["trade_count"] for row in volume) == 600
    bars = catalog.load_table(f"{DATABASE}.ohlcv_5m").scan().to_arrow().to_pylist()
    assert sum(row["trade_count"] for row in bars) == 600


def test_missing_raw_bucket_is_a_clear_runtime_error(
    aws_env: FakeAws, landed_day: dict[str, Any]
) -> None:
    code, summary = submit(
        aws_env, "ingest", "--date", DAY, TRADELAKE_RAW_URI="s3://no-such-bucket/raw"
    )
    assert code == 1, summary
    assert "no-such-bucket" in summary["error"]
    assert "check TRADELAKE_RAW_URI" in summary["error"]


def test_raw_retention_on_s3_deletes_only_old_days(
    aws_env: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = aws_env.client("s3")
    bucket = "tradelake-retention"
    s3.create_bucket(Bucket=bucket)
    keys = [
        "raw/trades/date=2020-01-01/a.jsonl",
        "raw/trades/date=2020-01-01/b.csv",
        "raw/trades/date=2099-01-01/a.jsonl",
        "raw/other/date=2020-01-01/keep.csv",
        "outside/trades/date=2020-01-01/keep.csv",
    ]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    for name, value in aws_settings_env(aws_env, TRADELAKE_RAW_URI=f"s3://{bucket}/raw").items():
        monkeypatch.setenv(name, value)
    # Raw retention runs only where it is configured.
    assert "skipped" in expire_raw_files(load_settings(), date(2026, 1, 1), dry_run=True)
    monkeypatch.setenv("TRADELAKE_MAINTENANCE__RAW_RETENTION_DAYS", "30")
    settings = load_settings()

    dry = expire_raw_files(settings, date(2026, 1, 1), dry_run=True)
    assert dry["would_delete_files"] == 2
    result = expire_raw_files(settings, date(2026, 1, 1), dry_run=False)
    assert (result["deleted_files"], result["days"]) == (2, ["2020-01-01"])
    left = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert left == sorted(keys[2:])
