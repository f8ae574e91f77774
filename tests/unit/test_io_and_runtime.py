"""File classification, read-error mapping and job plumbing (no Spark)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tradelake.errors import NoInputError, QualityGateError
from tradelake.io import failed_file, file_kind
from tradelake.runtime import (
    Run,
    aws_call,
    describe_error,
    job_parser,
    last_summary,
    parse_job_args,
    run_job,
)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.jsonl", "json"),
        ("a.ndjson", "json"),
        ("a.json", "json"),
        ("a.JSONL.GZ", "json"),
        ("a.csv", "csv"),
        ("a.csv.gz", "csv"),
        ("a.parquet", "parquet"),
        ("a.parquet.gz", "unsupported"),
        ("a.xlsx", "unsupported"),
        ("README", "unsupported"),
    ],
)
def test_file_kind(name: str, kind: str) -> None:
    assert file_kind(name) == kind


def test_failed_file_maps_spark_error_to_listed_path() -> None:
    message = (
        "An error occurred while calling o60.count.\n: org.apache.spark.SparkException: "
        "[FAILED_READ_FILE.NO_HINT] Encountered error while reading file "
        "file:///tmp/raw/date=2025-01-15/b.jsonl.gz.  SQLSTATE: KD001\n"
        "Caused by: java.io.EOFException: Unexpected end of input stream\n"
    )
    candidates = [
        "file:/tmp/raw/date=2025-01-15/a.jsonl",
        "file:/tmp/raw/date=2025-01-15/b.jsonl.gz",
    ]
    assert failed_file(RuntimeError(message), candidates) == (
        "file:/tmp/raw/date=2025-01-15/b.jsonl.gz",
        "java.io.EOFException: Unexpected end of input stream",
    )


def test_failed_file_ignores_errors_about_other_files() -> None:
    message = "Encountered error while reading file s3://x/other.csv.  SQLSTATE: KD001"
    assert failed_file(RuntimeError(message), ["s3://x/mine.csv"]) is None
    assert failed_file(RuntimeError("java.lang.OutOfMemoryError"), ["s3://x/mine.csv"]) is None


def test_date_defaults_to_yesterday_utc_and_unknown_flags_are_tolerated() -> None:
    args = parse_job_args(job_parser("ingest", ""), ["--JOB_NAME", "tradelake-ingest", "--x=1"])
    assert args.date == datetime.now(UTC).date() - timedelta(days=1)


def test_bad_date_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_job_args(job_parser("ingest", ""), ["--date", "2025-13-01"])
    assert exited.value.code == 2
    assert "not a date; use YYYY-MM-DD" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("error", "exit_code", "status"),
    [
        (None, 0, "ok"),
        (NoInputError("no input folder"), 4, "NoInputError"),
        (QualityGateError("gate"), 3, "QualityGateError"),
        (ValueError("boom\nstack"), 1, "failed"),
    ],
)
def test_run_job_prints_summary_last_and_maps_exit_codes(
    capsys: pytest.CaptureFixture[str], error: Exception | None, exit_code: int, status: str
) -> None:
    finished: list[dict[str, object]] = []

    def body(run: Run) -> None:
        run.on_finish(finished.append)
        run.summary["loaded"] = 7
        if error is not None:
            raise error

    day = datetime(2025, 1, 15, tzinfo=UTC).date()
    assert run_job("ingest", day, body) == exit_code
    summary = last_summary(capsys.readouterr().out)
    assert summary is not None
    assert summary["status"] == status
    assert summary["exit_code"] == exit_code
    assert summary["loaded"] == 7
    assert summary["date"] == "2025-01-15"
    assert summary["job"] == "ingest"
    assert finished == [summary]


class FakeFrame:
    def __init__(self, where: str) -> None:
        self.class_name, self.method = where.rsplit(".", 1)

    def getClassName(self) -> str:  # noqa: N802 - the JVM's method names
        return self.class_name

    def getMethodName(self) -> str:  # noqa: N802
        return self.method


class FakeThrowable:
    """What py4j hands Python for a JVM exception, as far as describe_error asks."""

    def __init__(self, text: str, frames: list[str], cause: FakeThrowable | None = None) -> None:
        self.text, self.frames, self.cause = text, frames, cause

    def toString(self) -> str:  # noqa: N802
        return self.text

    def getCause(self) -> FakeThrowable | None:  # noqa: N802
        return self.cause

    def getStackTrace(self) -> list[FakeFrame]:  # noqa: N802
        return [FakeFrame(frame) for frame in self.frames]


class JvmError(Exception):
    def __init__(self, java_exception: FakeThrowable) -> None:
        super().__init__("An error occurred while calling o42.save")
        self.java_exception = java_exception


def test_a_jvm_error_names_the_aws_call_it_failed_in(monkeypatch: pytest.MonkeyPatch) -> None:
    root = FakeThrowable(
        "software.amazon.awssdk.core.exception.SdkClientException: Unable to execute HTTP request",
        [
            "software.amazon.awssdk.core.internal.http.pipeline.stages.RetryableStage.execute",
            "software.amazon.awssdk.services.glue.DefaultGlueClient.getTable",
            "org.apache.iceberg.aws.glue.GlueTableOperations.getGlueTable",
        ],
    )
    top = FakeThrowable(
        "org.apache.iceberg.exceptions.RuntimeIOException: failed to refresh",
        ["org.apache.iceberg.BaseMetastoreTableOperations.refresh"],
        cause=root,
    )
    monkeypatch.delenv("TRADELAKE_GLUE_ENDPOINT", raising=False)
    assert describe_error(JvmError(top)) == (
        "org.apache.iceberg.exceptions.RuntimeIOException: failed to refresh "
        "(during Glue GetTable at AWS's endpoint)"
    )
    monkeypatch.setenv("TRADELAKE_GLUE_ENDPOINT", "http://127.0.0.1:5000")
    assert aws_call(top) == "Glue GetTable at http://127.0.0.1:5000"
    s3a = FakeThrowable(
        "org.apache.hadoop.fs.s3a.AWSServiceThrottledException: getFileStatus on s3a://raw/x",
        ["software.amazon.awssdk.services.s3.DefaultS3Client.headObject"],
    )
    monkeypatch.setenv("TRADELAKE_S3_ENDPOINT", "http://127.0.0.1:5001")
    assert aws_call(s3a) == "S3 HeadObject at http://127.0.0.1:5001"
    plain = FakeThrowable("java.lang.IllegalStateException: no", ["org.apache.spark.Foo.bar"])
    assert describe_error(JvmError(plain)) == "java.lang.IllegalStateException: no"
    assert describe_error(ValueError("bad\nmore")) == "ValueError: bad"
