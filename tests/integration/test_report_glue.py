"""The operations report read from AWS Glue + S3 (a moto server over HTTP).

The small lake of ``tests/report_fixtures.py`` is written to S3 and registered in Glue
with pyiceberg's own Glue catalog; the report then runs with only environment variables
changed from the local run, as the jobs do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.lakes import FakeAws
from tests.report_fixtures import D13, D16, D17, build_small_lake
from tests.submit import fake_aws_settings
from tradelake.catalog import catalog_properties
from tradelake.config import load_settings
from tradelake.report.cli import main
from tradelake.report.lake import read_report

pytestmark = pytest.mark.integration

BUCKET = "tradelake-report"
DATABASE = "report_glue"


@pytest.fixture(scope="module")
def written(fake_aws: FakeAws) -> FakeAws:
    """The small lake in Glue + S3, written once per module by pyiceberg's Glue catalog."""
    import boto3
    from pyiceberg.catalog import load_catalog

    boto3.client(
        "s3",
        endpoint_url=fake_aws.endpoint,
        region_name=fake_aws.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=BUCKET)
    credentials = {
        f"{service}.{key}": "testing"
        for service in ("glue", "s3")
        for key in ("access-key-id", "secret-access-key")
    }
    writer = load_catalog(
        "writer",
        type="glue",
        warehouse=f"s3://{BUCKET}/warehouse",
        **{
            "glue.endpoint": fake_aws.endpoint,
            "glue.region": fake_aws.region,
            "s3.endpoint": fake_aws.endpoint,
            "s3.region": fake_aws.region,
            **credentials,
        },
    )
    build_small_lake(writer, DATABASE)
    return fake_aws


@pytest.fixture
def glue_lake(written: FakeAws, aws_env: FakeAws, monkeypatch: pytest.MonkeyPatch) -> FakeAws:
    """The environment of a run on AWS, pointed at the moto server: variables only."""
    env = fake_aws_settings(written, raw_bucket=BUCKET, lake_bucket=BUCKET, database=DATABASE)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return written


def test_catalog_properties_of_the_glue_settings(glue_lake: FakeAws) -> None:
    assert catalog_properties(load_settings()) == {
        "type": "glue",
        "warehouse": f"s3://{BUCKET}/warehouse",
        "glue.region": "us-east-1",
        "glue.endpoint": glue_lake.endpoint,
        "s3.region": "us-east-1",
        "s3.endpoint": glue_lake.endpoint,
    }


def test_report_reads_glue_and_s3_with_no_code_change(
    glue_lake: FakeAws, tmp_path: Path, capsys: Any
) -> None:
    glue = glue_lake.client("glue")
    entry = glue.get_table(DatabaseName=DATABASE, Name="job_runs")["Table"]
    assert entry["Parameters"]["metadata_location"].startswith(f"s3://{BUCKET}/warehouse/")

    data = read_report(load_settings(), since=D13, until=D17)
    assert data.source == (
        f"glue catalog AWS Glue (us-east-1) + s3://{BUCKET}/warehouse, database {DATABASE}"
    )
    assert [(f.day, f.outcome) for f in data.funnel if f.counts] == [
        (D13, "ok"),
        (D13.replace(day=14), "gated"),
        (D16, "ok"),
        (D17, "ok"),
    ]
    assert data.failure is not None and data.failure.run_id == "v17"
    assert (data.symbol, data.bar_day, len(data.candles)) == ("MSFT", D16, 3)
    assert data.dead_letters_per_day == {D13: 6, D13.replace(day=14): 20, D16: 16, D17: 5}

    out = tmp_path / "report.html"
    assert main(["html", "--since", "2025-01-13", "--until", "2025-01-17", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip().endswith(f": {out}")
    page = out.read_text(encoding="utf-8")
    assert page.count('class="plotly-graph-div"') == 6
    assert "jane.doe@example.com" not in page


def test_unreachable_s3_is_a_storage_error(
    glue_lake: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("TRADELAKE_S3_ENDPOINT", "http://127.0.0.1:9")
    assert main(["html", "--out", str(tmp_path / "r.html")]) == 1
    error = capsys.readouterr().err
    assert "cannot read the lake (glue catalog" in error
    assert "check TRADELAKE_CATALOG_TYPE" in error
