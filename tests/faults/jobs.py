"""The fault tier's lake: moto behind the two proxies, the jobs run against it, and what
they left in the tables, read directly from moto.

``FaultyAws.run`` submits a job with ``./spark-submit.sh`` exactly as the integration tier
does, only with the S3 and Glue endpoints set to the Toxiproxy proxy; ``FaultyAws.tables``
reads the tables back (without the columns that name the run) for a cell-for-cell
comparison with a fault-free run's. ``TALLY`` counts what the tier did, printed at the
end of the session (conftest.py).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from tests.faults import toxiproxy
from tests.faults.http_faults import FaultProxy
from tests.lakes import FakeAws, Rows, multiset
from tests.submit import fake_aws_settings, spark_submit, submit_env
from tradelake.runtime import last_summary
from tradelake.sample import generate_day

DAY = "2025-01-15"
RAW_BUCKET = "tradelake-faults-raw"
LAKE_BUCKET = "tradelake-faults-lake"
# The tables a day's jobs publish, and the columns that describe the run that wrote a row.
PUBLISHED = {
    "trades": ("run_id", "ingested_at"),
    "trade_reports": ("run_id", "ingested_at"),
    "trades_rejected": ("run_id", "rejected_at"),
    "daily_volume": ("run_id",),
    "ohlcv_1m": ("run_id",),
}
# What the tier did, for the summary at the end: runs, faults per kind, tables compared.
TALLY: Counter[str] = Counter()


@dataclass(frozen=True)
class JobRun:
    """One finished job: its exit code, JSON summary, wall time and output."""

    job: str
    returncode: int
    summary: dict[str, Any]
    seconds: float
    output: str = field(repr=False)

    def tail(self, chars: int = 4000) -> str:
        return (
            f"{self.job} exited {self.returncode} in {self.seconds:.1f} s\n{self.output[-chars:]}"
        )


@dataclass
class FaultyAws:
    """moto (``fake``) behind ``http`` (HTTP faults) behind ``tcp``, a Toxiproxy proxy."""

    fake: FakeAws
    http: FaultProxy
    toxi: toxiproxy.Toxiproxy
    tcp: toxiproxy.Proxy
    landed: dict[str, Any] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        """What the jobs get as their S3 and Glue endpoint."""
        return self.tcp.endpoint

    def land_messy_day(self, local: Path) -> None:
        """The generated messy day of the integration tier, uploaded straight to moto."""
        s3 = self.fake.client("s3")
        for bucket in (RAW_BUCKET, LAKE_BUCKET):
            s3.create_bucket(Bucket=bucket)
        self.landed = generate_day(local, date.fromisoformat(DAY), trades=600, files=6, seed=5)
        for path in sorted(local.rglob("*")):
            if path.is_file():
                s3.upload_file(str(path), RAW_BUCKET, f"raw/{path.relative_to(local).as_posix()}")

    def clear(self) -> None:
        """No fault on either proxy; the faults injected so far are added to ``TALLY``."""
        for fault, count in self.http.injected_by_kind().items():
            TALLY[f"http {fault.value}"] += count
        for toxic in self.toxi.toxics(self.tcp.name):
            TALLY[f"tcp {toxic['type']}"] += 1
        self.http.clear_rules()
        self.http.reset_counts()
        self.toxi.clear_toxics(self.tcp.name)

    def run(self, job: str, *argv: str, database: str, **overrides: str) -> JobRun:
        """``./spark-submit.sh jobs/<job>.py --date DAY ARGV`` through the proxies."""
        proxied = FakeAws(endpoint=self.endpoint, region=self.fake.region)
        env = submit_env(
            **fake_aws_settings(
                proxied,
                raw_bucket=RAW_BUCKET,
                lake_bucket=LAKE_BUCKET,
                database=database,
                **overrides,
            )
        )
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            env.pop(name, None)
        started = time.monotonic()
        done = spark_submit(job, "--date", DAY, *argv, env=env)
        seconds = time.monotonic() - started
        TALLY["runs"] += 1
        return JobRun(
            job,
            done.returncode,
            last_summary(done.stdout) or {},
            seconds,
            done.stdout + done.stderr,
        )

    def catalog(self) -> Any:
        from pyiceberg.catalog import load_catalog

        return load_catalog(
            "faults",
            type="glue",
            **{
                "glue.endpoint": self.fake.endpoint,
                "glue.region": self.fake.region,
                "s3.endpoint": self.fake.endpoint,
                "s3.region": self.fake.region,
            },
        )

    def tables(self, database: str) -> dict[str, Rows]:
        """The published tables of ``database`` without their run columns (none: no rows)."""
        from pyiceberg.exceptions import NoSuchTableError

        catalog = self.catalog()
        found: dict[str, Rows] = {}
        for table, run_columns in PUBLISHED.items():
            try:
                rows = catalog.load_table(f"{database}.{table}").scan().to_arrow().to_pylist()
            except NoSuchTableError:
                rows = []
            found[table] = multiset(rows, run_columns)
        TALLY["tables compared"] += len(found)
        return found

    def job_runs(self, database: str) -> list[dict[str, Any]]:
        """The rows of ``job_runs`` (one per run of any job), oldest first."""
        rows = self.catalog().load_table(f"{database}.job_runs").scan().to_arrow().to_pylist()
        return sorted(rows, key=lambda row: row["started_at"])
