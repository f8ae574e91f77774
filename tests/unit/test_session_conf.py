"""Catalog wiring from configuration alone (no Spark)."""

from __future__ import annotations

from tradelake.config import Settings
from tradelake.session import catalog_conf, s3a_conf

P = "spark.sql.catalog.lake"


def test_jdbc_catalog() -> None:
    settings = Settings(
        catalog_type="jdbc", catalog_uri="jdbc:sqlite:/x/catalog.db", warehouse="/x/warehouse"
    )
    assert catalog_conf(settings) == {
        P: "org.apache.iceberg.spark.SparkCatalog",
        f"{P}.type": "jdbc",
        f"{P}.uri": "jdbc:sqlite:/x/catalog.db",
        f"{P}.warehouse": "/x/warehouse",
        f"{P}.jdbc.schema-version": "V1",
    }


def test_hadoop_catalog() -> None:
    settings = Settings(catalog_type="hadoop", warehouse="/x/warehouse")
    assert catalog_conf(settings) == {
        P: "org.apache.iceberg.spark.SparkCatalog",
        f"{P}.type": "hadoop",
        f"{P}.warehouse": "/x/warehouse",
    }


def test_glue_catalog_with_local_endpoints() -> None:
    settings = Settings(
        catalog_type="glue",
        warehouse="s3://lake/warehouse",
        glue_endpoint="http://127.0.0.1:5000",
        s3_endpoint="http://127.0.0.1:5000",
        aws_region="eu-west-1",
    )
    assert catalog_conf(settings) == {
        P: "org.apache.iceberg.spark.SparkCatalog",
        f"{P}.type": "glue",
        f"{P}.warehouse": "s3://lake/warehouse",
        f"{P}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
        f"{P}.glue.endpoint": "http://127.0.0.1:5000",
        f"{P}.s3.retry.num-retries": "5",
        f"{P}.s3.retry.min-wait-ms": "250",
        f"{P}.s3.retry.max-wait-ms": "5000",
        f"{P}.http-client.apache.socket-timeout-ms": "30000",
        f"{P}.http-client.apache.connection-timeout-ms": "30000",
        f"{P}.s3.endpoint": "http://127.0.0.1:5000",
        f"{P}.s3.path-style-access": "true",
        f"{P}.client.region": "eu-west-1",
    }


def test_glue_catalog_on_aws_sets_no_endpoint_overrides() -> None:
    settings = Settings(catalog_type="glue", warehouse="s3://lake/warehouse", aws_region="x-1")
    conf = catalog_conf(settings)
    assert not any(key.endswith(("endpoint", "path-style-access")) for key in conf)


def test_rest_catalog_signed_for_glue() -> None:
    settings = Settings(
        catalog_type="rest",
        catalog_uri="https://glue.eu-west-1.amazonaws.com/iceberg",
        warehouse="s3://lake/warehouse",
        rest_signing_name="glue",
        aws_region="eu-west-1",
    )
    assert catalog_conf(settings) == {
        P: "org.apache.iceberg.spark.SparkCatalog",
        f"{P}.type": "rest",
        f"{P}.uri": "https://glue.eu-west-1.amazonaws.com/iceberg",
        f"{P}.warehouse": "s3://lake/warehouse",
        f"{P}.rest.sigv4-enabled": "true",
        f"{P}.rest.signing-name": "glue",
        f"{P}.rest.signing-region": "eu-west-1",
        f"{P}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
        f"{P}.s3.retry.num-retries": "5",
        f"{P}.s3.retry.min-wait-ms": "250",
        f"{P}.s3.retry.max-wait-ms": "5000",
        f"{P}.http-client.apache.socket-timeout-ms": "30000",
        f"{P}.http-client.apache.connection-timeout-ms": "30000",
        f"{P}.client.region": "eu-west-1",
    }


def test_s3a_reads_raw_s3_uris_through_a_local_endpoint() -> None:
    settings = Settings(
        catalog_type="hadoop",
        warehouse="/x",
        s3_endpoint="http://127.0.0.1:5000",
        aws_region="us-east-1",
    )
    assert s3a_conf(settings) == {
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.attempts.maximum": "2",
        "spark.hadoop.fs.s3a.retry.limit": "5",
        "spark.hadoop.fs.s3a.retry.interval": "250ms",
        "spark.hadoop.fs.s3a.retry.throttle.limit": "5",
        "spark.hadoop.fs.s3a.retry.throttle.interval": "250ms",
        "spark.hadoop.fs.s3a.connection.establish.timeout": "30000ms",
        "spark.hadoop.fs.s3a.connection.timeout": "30000ms",
        "spark.hadoop.fs.s3a.endpoint": "http://127.0.0.1:5000",
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.endpoint.region": "us-east-1",
    }


def test_platform_filesystem_leaves_s3_to_glue() -> None:
    settings = Settings(
        catalog_type="glue", warehouse="s3://w/h", s3_filesystem="platform", aws_region="x-1"
    )
    assert s3a_conf(settings) == {}
