"""SparkSession and the ``lake`` Iceberg catalog, wired from settings alone.

``catalog_conf`` is a pure function (tested without Spark); ``spark-submit.sh`` passes
the same values as ``--conf`` so a submitted job and a test session agree.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, StructType

from tradelake.config import Settings, load_settings
from tradelake.errors import ConfigError

CATALOG = "lake"
_PREFIX = f"spark.sql.catalog.{CATALOG}"

# S3FileIO's retries (docs/aws.md, retries and timeouts): 5, waiting from 250 ms, doubling,
# with equal jitter, at most 5 s. Iceberg's default first wait is 2 s: under S3's usual
# 503 SlowDown rates a run spent most of its extra time waiting (the fault tier measured
# the ingest at 2.8x its fault-free time with it; tests/faults).
S3_FILE_IO_RETRIES: Mapping[str, str] = {
    "s3.retry.num-retries": "5",
    "s3.retry.min-wait-ms": "250",
    "s3.retry.max-wait-ms": "5000",
}

# Session settings every tradelake process runs with, whatever the catalog.
BASE_CONF: Mapping[str, str] = {
    "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
    # Trade timestamps are UTC end to end; never let the machine's zone leak in.
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "true",
    # PySpark 4 records the Python call site of every Column function for error messages:
    # four to six extra round trips to the JVM per call. Building the contract's
    # expressions made 5,048 of them (0.9 s of a 1.3 s build, every run); without the
    # call sites, an error still names the expression and the query.
    "spark.python.sql.dataFrameDebugging.enabled": "false",
}


def catalog_conf(settings: Settings) -> dict[str, str]:
    """Spark properties that define the ``lake`` catalog for the configured backend."""
    conf = {_PREFIX: "org.apache.iceberg.spark.SparkCatalog"}
    kind = settings.catalog_type
    if kind == "jdbc":
        conf |= {
            f"{_PREFIX}.type": "jdbc",
            f"{_PREFIX}.uri": settings.catalog_uri_resolved or "",
            f"{_PREFIX}.warehouse": settings.warehouse_root,
            # V1 of the JDBC schema also records views; pyiceberg's SqlCatalog reads both.
            f"{_PREFIX}.jdbc.schema-version": "V1",
        }
    elif kind == "hadoop":
        conf |= {f"{_PREFIX}.type": "hadoop", f"{_PREFIX}.warehouse": settings.warehouse_root}
    elif kind == "glue":
        conf |= {
            f"{_PREFIX}.type": "glue",
            f"{_PREFIX}.warehouse": settings.warehouse_root,
            f"{_PREFIX}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
        }
        if settings.glue_endpoint:
            conf[f"{_PREFIX}.glue.endpoint"] = settings.glue_endpoint
    elif kind == "rest":
        conf |= {
            f"{_PREFIX}.type": "rest",
            f"{_PREFIX}.uri": settings.catalog_uri_resolved or "",
            f"{_PREFIX}.warehouse": settings.warehouse_root,
        }
        if settings.rest_signing_name:
            conf |= {
                f"{_PREFIX}.rest.sigv4-enabled": "true",
                f"{_PREFIX}.rest.signing-name": settings.rest_signing_name,
            }
            if settings.aws_region:
                conf[f"{_PREFIX}.rest.signing-region"] = settings.aws_region
        if settings.warehouse_root.startswith("s3://"):
            conf[f"{_PREFIX}.io-impl"] = "org.apache.iceberg.aws.s3.S3FileIO"
    if kind in ("glue", "rest"):
        conf |= {f"{_PREFIX}.{key}": value for key, value in S3_FILE_IO_RETRIES.items()}
        # The HTTP client of every AWS client Iceberg builds (S3FileIO's, Glue's).
        timeout_ms = str(round(settings.aws_timeout_seconds * 1000))
        conf[f"{_PREFIX}.http-client.apache.socket-timeout-ms"] = timeout_ms
        conf[f"{_PREFIX}.http-client.apache.connection-timeout-ms"] = timeout_ms
        if settings.s3_endpoint:
            # Local S3 stand-ins (moto, MinIO) serve buckets by path, not by virtual host.
            conf[f"{_PREFIX}.s3.endpoint"] = settings.s3_endpoint
            conf[f"{_PREFIX}.s3.path-style-access"] = "true"
        if settings.aws_region:
            conf[f"{_PREFIX}.client.region"] = settings.aws_region
    return conf


def s3a_conf(settings: Settings) -> dict[str, str]:
    """Hadoop properties so Spark reads ``s3://`` raw files through S3A (unless on Glue/EMR)."""
    if settings.s3_filesystem != "s3a":
        return {}
    timeout = f"{round(settings.aws_timeout_seconds * 1000)}ms"
    conf = {
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        **{f"spark.hadoop.{key}": value for key, value in S3A_RETRIES.items()},
        # Waiting for a connection and for the bytes of an answer (TRADELAKE_AWS_TIMEOUT_SECONDS).
        "spark.hadoop.fs.s3a.connection.establish.timeout": timeout,
        "spark.hadoop.fs.s3a.connection.timeout": timeout,
    }
    if settings.s3_endpoint:
        conf |= {
            "spark.hadoop.fs.s3a.endpoint": settings.s3_endpoint,
            "spark.hadoop.fs.s3a.path.style.access": "true",
        }
    if settings.aws_region:
        conf["spark.hadoop.fs.s3a.endpoint.region"] = settings.aws_region
    return conf


def spark_conf(settings: Settings) -> dict[str, str]:
    """Every Spark property tradelake sets: session basics, the catalog, S3 access."""
    return {**BASE_CONF, **catalog_conf(settings), **s3a_conf(settings)}


def build_session(settings: Settings, app_name: str) -> SparkSession:
    """Return the active SparkSession (or a new one) configured for ``settings``.

    Static settings (jars, driver memory) come from spark-submit or the caller's
    builder; runtime ones are applied here so a job never depends on how it was launched.
    """
    builder = SparkSession.builder.appName(app_name)
    for key, value in spark_conf(settings).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    _size_shuffles_for_local_mode(spark)
    if settings.catalog_type in ("glue", "rest"):
        _set_aws_sdk_attempts(spark)
    if settings.catalog_type == "jdbc":
        _open_jdbc_catalog(spark)
    return spark


# Shuffle partitions per core in local mode. Spark's default of 200 makes every map
# task of a shuffle (the dedupe, the checks, each sorted write) write 200 pieces; on
# 2 cores that cost more than the work (measured at 1M trades: a distinct count 16.2 s
# with 200, 1.7 s with 16). Set spark.sql.shuffle.partitions to choose yourself.
LOCAL_SHUFFLE_PARTITIONS_PER_CORE = 8


def local_frame(spark: SparkSession, rows: Sequence[Sequence[Any]], schema: str) -> DataFrame:
    """A small DataFrame of Python values built from literals, in the JVM alone.

    ``spark.createDataFrame`` of local rows runs a Python worker to re-pickle them when
    the frame is computed: starting PySpark's worker daemon costs a job about 1.5 s and a
    core-second and a half, for a row of job_runs. Literals cast to ``schema`` (a DDL
    string of flat columns) cost nothing of the kind. Nulls are allowed in every column.
    """
    struct = DataType.fromDDL(schema)
    assert isinstance(struct, StructType), schema
    fields = struct.fields
    if not rows:
        return spark.range(0).select(
            *[F.lit(None).cast(field.dataType).alias(field.name) for field in fields]
        )
    structs = [
        F.struct(
            *[
                F.lit(value).cast(field.dataType).alias(field.name)
                for field, value in zip(fields, row, strict=True)
            ]
        )
        for row in rows
    ]
    return spark.range(1).select(F.inline(F.array(*structs)))


def _size_shuffles_for_local_mode(spark: SparkSession) -> None:
    context = spark.sparkContext
    if not (context.master or "").startswith("local"):
        return
    if context.getConf().contains("spark.sql.shuffle.partitions"):
        return
    partitions = max(4, LOCAL_SHUFFLE_PARTITIONS_PER_CORE * context.defaultParallelism)
    spark.conf.set("spark.sql.shuffle.partitions", str(partitions))


# S3A's retries (docs/aws.md, retries and timeouts). S3A retries around the SDK's own
# attempts, so the two multiply: with Hadoop's throttling defaults (20 retries from
# 100 ms, exponential) and 5 SDK attempts each, an ingest whose every S3 call was
# throttled was still retrying one HEAD after 5 minutes (the fault tier). Here: 2 SDK
# attempts (a blip is retried at once), then at most 5 S3A retries from 250 ms, for
# throttling and for other transient errors alike.
S3A_RETRIES: Mapping[str, str] = {
    "fs.s3a.attempts.maximum": "2",
    "fs.s3a.retry.limit": "5",
    "fs.s3a.retry.interval": "250ms",
    "fs.s3a.retry.throttle.limit": "5",
    "fs.s3a.retry.throttle.interval": "250ms",
}

# Attempts of every AWS SDK call the driver makes without a retry setting of its own:
# Iceberg's Glue client (its S3FileIO takes s3.retry.num-retries). The SDK's default, 3,
# gave up on a catalog read after three throttled or reset calls in a row (the fault tier,
# tests/faults); 6 matches S3FileIO's 1 + 5 retries. AWS_MAX_ATTEMPTS or a JVM option
# -Daws.maxAttempts set by the user win.
AWS_SDK_MAX_ATTEMPTS = 6


def _set_aws_sdk_attempts(spark: SparkSession) -> None:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    system = jvm.java.lang.System
    if system.getProperty("aws.maxAttempts") is None and "AWS_MAX_ATTEMPTS" not in os.environ:
        system.setProperty("aws.maxAttempts", str(AWS_SDK_MAX_ATTEMPTS))


# Iceberg's JDBC catalog creates or upgrades its own tables when it opens; two jobs
# opening a new catalog at once race in that DDL ("duplicate column name"). The loser
# can simply open it again: the winner has done the work.
_CATALOG_OPEN_ATTEMPTS = 5


def _open_jdbc_catalog(spark: SparkSession) -> None:
    for attempt in range(1, _CATALOG_OPEN_ATTEMPTS + 1):
        try:
            spark.sql(f"SHOW NAMESPACES IN {CATALOG}").collect()
            return
        except Exception as err:
            if "SQL schema" not in str(err) or attempt == _CATALOG_OPEN_ATTEMPTS:
                raise
            time.sleep(0.5 * attempt)


def main(argv: list[str] | None = None) -> int:
    """Print the configured Spark properties as ``--conf key=value`` lines for spark-submit."""
    parser = argparse.ArgumentParser(prog="python -m tradelake.session")
    parser.add_argument("command", choices=["spark-conf"])
    parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as err:
        print(f"tradelake: {err}", file=sys.stderr)
        return err.exit_code
    for key, value in spark_conf(settings).items():
        print(f"--conf\n{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
