"""Table specs: schema, partitioning and properties declared once, created idempotently."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import SparkSession

from tradelake.config import Settings

# Athena reads Iceberg format v2 only: never upgrade to v3.
COMMON_PROPERTIES: dict[str, str] = {
    "format-version": "2",
    "write.format.default": "parquet",
    "write.parquet.compression-codec": "zstd",
    "write.distribution-mode": "hash",
    # Reruns replace whole partitions; a metadata file per commit is kept lean.
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "50",
}


@dataclass(frozen=True)
class TableSpec:
    """One tradelake table: columns as Spark SQL DDL, partition column, properties."""

    name: str
    columns: str
    partition_column: str
    comment: str

    def create_statement(self, settings: Settings) -> str:
        """``CREATE TABLE IF NOT EXISTS`` with everything the table needs, in one statement."""
        properties = ", ".join(f"'{key}'='{value}'" for key, value in COMMON_PROPERTIES.items())
        return (
            f"CREATE TABLE IF NOT EXISTS {settings.table(self.name)} ({self.columns}) "
            f"USING iceberg PARTITIONED BY ({self.partition_column}) "
            f"COMMENT '{self.comment}' TBLPROPERTIES ({properties})"
        )


TRADES = TableSpec(
    name="trades",
    columns=(
        "trade_id STRING NOT NULL, symbol STRING NOT NULL, side STRING NOT NULL, "
        "price DECIMAL(18,8) NOT NULL, quantity DECIMAL(18,8) NOT NULL, "
        "traded_at TIMESTAMP NOT NULL, exchange STRING NOT NULL, trade_date DATE NOT NULL, "
        "source_file STRING NOT NULL, run_id STRING NOT NULL, ingested_at TIMESTAMP NOT NULL"
    ),
    partition_column="trade_date",
    comment="Validated, deduplicated trades: one row per trade_id per trade_date",
)

TRADES_REJECTED = TableSpec(
    name="trades_rejected",
    columns=(
        "ingest_date DATE NOT NULL, run_id STRING NOT NULL, source_file STRING NOT NULL, "
        "record STRING, reasons ARRAY<STRING> NOT NULL, rejected_at TIMESTAMP NOT NULL"
    ),
    partition_column="ingest_date",
    comment="Dead letters of the ingest job: raw record and every rule it broke",
)


def ensure_tables(spark: SparkSession, settings: Settings, *specs: TableSpec) -> None:
    """Create the namespace and any missing table; existing tables are left as they are."""
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS lake.{settings.database}")
    for spec in specs:
        spark.sql(spec.create_statement(settings))
