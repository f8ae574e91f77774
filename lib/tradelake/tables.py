"""Table specs: schema, partitioning and properties declared once, created idempotently."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

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
    # Maintenance and ingest may commit to one table at the same time: retry, bounded.
    "commit.retry.num-retries": "10",
    "commit.retry.min-wait-ms": "200",
}


@dataclass(frozen=True)
class TableSpec:
    """One tradelake table: columns as Spark SQL DDL, partition column, properties."""

    name: str
    columns: str
    partition_column: str
    comment: str
    # Rows are sorted within each written file (hash-distributed by partition first).
    sort_order: tuple[str, ...] = ()
    # The date column retention compares with its cutoff.
    retention_column: str = ""
    # Further identity partition columns after ``partition_column`` (trade_reports).
    extra_partition_columns: tuple[str, ...] = ()

    @property
    def partition_columns(self) -> tuple[str, ...]:
        return (self.partition_column, *self.extra_partition_columns)

    @property
    def date_column(self) -> str:
        return self.retention_column or self.partition_column

    def column_names(self) -> list[str]:
        """Column names in table order, parsed from the DDL."""
        return [part.strip().split(" ", 1)[0] for part in self.column_definitions()]

    def column_definitions(self) -> list[str]:
        """One DDL fragment per column (``name TYPE [NOT NULL] [COMMENT '…']``)."""
        return [part.strip() for part in _split_columns(self.columns)]

    def create_statement(self, settings: Settings) -> str:
        """``CREATE TABLE IF NOT EXISTS`` with everything the table needs, in one statement."""
        target = settings.maintenance.target_file_size_mb * 1024 * 1024
        all_properties = {**COMMON_PROPERTIES, "write.target-file-size-bytes": str(target)}
        properties = ", ".join(f"'{key}'='{value}'" for key, value in all_properties.items())
        return (
            f"CREATE TABLE IF NOT EXISTS {settings.table(self.name)} ({self.columns}) "
            f"USING iceberg PARTITIONED BY ({', '.join(self.partition_columns)}) "
            f"COMMENT '{self.comment}' TBLPROPERTIES ({properties})"
        )


def _split_columns(ddl: str) -> list[str]:
    """Split column DDL on top-level commas (not those inside ``DECIMAL(18,8)``)."""
    parts, depth, current = [], 0, ""
    quoted = False
    for char in ddl:
        quoted = quoted != (char == "'")
        depth += {"(": 1, "<": 1, ")": -1, ">": -1}.get(char, 0) if not quoted else 0
        if char == "," and depth == 0 and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


TRADES = TableSpec(
    name="trades",
    columns=(
        "trade_id STRING NOT NULL COMMENT 'classification: internal', "
        "symbol STRING NOT NULL COMMENT 'classification: public', "
        "side STRING NOT NULL COMMENT 'classification: public; buy or sell', "
        "price DECIMAL(18,8) NOT NULL COMMENT 'classification: public', "
        "quantity DECIMAL(18,8) NOT NULL COMMENT 'classification: public', "
        "traded_at TIMESTAMP NOT NULL COMMENT 'classification: public; UTC', "
        "exchange STRING NOT NULL COMMENT 'classification: public', "
        "trade_date DATE NOT NULL COMMENT 'classification: public; partition', "
        "source_file STRING NOT NULL COMMENT 'classification: internal; raw file read', "
        "run_id STRING NOT NULL COMMENT 'classification: internal; ingest run', "
        "ingested_at TIMESTAMP NOT NULL COMMENT 'classification: internal', "
        "account_id STRING COMMENT 'classification: pii; masked: HMAC-SHA256 hex', "
        "trader_email STRING COMMENT 'classification: pii; masked: HMAC-SHA256 hex of the "
        "lower-cased address', "
        # Added by the versions change: nullable, so older tables evolve in place; every
        # row this version writes has them.
        "report_type STRING COMMENT 'classification: public; the current report: new or "
        "correct', "
        "report_seq INT COMMENT 'classification: public; sequence number of the current "
        "report', "
        "landing_date DATE COMMENT 'classification: public; the landing that carried the "
        "current report'"
    ),
    partition_column="trade_date",
    comment="Current state of every trade: one row per trade_id per trade_date, the winning "
    "report of trade_reports, cancelled trades absent",
    sort_order=("symbol", "traded_at"),
)

# Every accepted report of every landing, never resolved: what trades is computed from.
# Partitioned by (trade_date, landing_date), so a landing's ingest replaces exactly its own
# rows, whatever days they belong to, in one metadata-only commit.
TRADE_REPORTS = TableSpec(
    name="trade_reports",
    columns=(
        "trade_id STRING NOT NULL COMMENT 'classification: internal', "
        "report_type STRING NOT NULL COMMENT 'classification: public; new, correct or cancel', "
        "report_seq INT NOT NULL COMMENT 'classification: public; higher wins, 0 when absent', "
        "symbol STRING COMMENT 'classification: public; null only on a cancel', "
        "side STRING COMMENT 'classification: public; null only on a cancel', "
        "price DECIMAL(18,8) COMMENT 'classification: public; null only on a cancel', "
        "quantity DECIMAL(18,8) COMMENT 'classification: public; null only on a cancel', "
        "traded_at TIMESTAMP NOT NULL COMMENT 'classification: public; UTC', "
        "exchange STRING COMMENT 'classification: public; null only on a cancel', "
        "trade_date DATE NOT NULL COMMENT 'classification: public; partition: UTC date of "
        "traded_at', "
        "landing_date DATE NOT NULL COMMENT 'classification: public; partition: the landing "
        "(ingest --date) that carried the report', "
        "source_file STRING NOT NULL COMMENT 'classification: internal; raw file read', "
        "run_id STRING NOT NULL COMMENT 'classification: internal; ingest run', "
        "ingested_at TIMESTAMP NOT NULL COMMENT 'classification: internal', "
        "account_id STRING COMMENT 'classification: pii; masked: HMAC-SHA256 hex', "
        "trader_email STRING COMMENT 'classification: pii; masked: HMAC-SHA256 hex of the "
        "lower-cased address'"
    ),
    partition_column="trade_date",
    extra_partition_columns=("landing_date",),
    comment="Every accepted trade report of every landing: the version log trades is resolved from",
    sort_order=("symbol", "traded_at"),
)

TRADES_REJECTED = TableSpec(
    name="trades_rejected",
    columns=(
        "ingest_date DATE NOT NULL COMMENT 'classification: public; partition', "
        "run_id STRING NOT NULL COMMENT 'classification: internal', "
        "source_file STRING NOT NULL COMMENT 'classification: internal', "
        "record STRING COMMENT 'classification: pii; the raw record verbatim, may hold "
        "personal data in clear: kept only for the table retention', "
        "reasons ARRAY<STRING> NOT NULL COMMENT 'classification: public; reason codes', "
        "rejected_at TIMESTAMP NOT NULL COMMENT 'classification: internal'"
    ),
    partition_column="ingest_date",
    comment="Dead letters of the ingest job: raw record and every rule it broke",
)


def _create_racing(spark: SparkSession, statement: str, exists: Callable[[], Any]) -> bool:
    """Run a CREATE … IF NOT EXISTS that a concurrent run may win; True if this one created.

    "IF NOT EXISTS" checks then creates, so two runs starting at once (a backfill, two
    schedules) can both try; the loser sees a catalog error while the object now exists.
    """
    try:
        spark.sql(statement)
    except Exception:
        if exists():
            return False
        raise
    return True


def ensure_tables(spark: SparkSession, settings: Settings, *specs: TableSpec) -> None:
    """Create the namespace and any missing table; existing tables gain new columns only."""
    namespace = f"lake.{settings.database}"
    _create_racing(
        spark,
        f"CREATE NAMESPACE IF NOT EXISTS {namespace}",
        lambda: bool(spark.catalog.databaseExists(namespace)),
    )
    for spec in specs:
        table = settings.table(spec.name)
        if spark.catalog.tableExists(table):
            _add_missing_columns(spark, table, spec)
            continue
        created = _create_racing(
            spark, spec.create_statement(settings), partial(spark.catalog.tableExists, table)
        )
        if created and spec.sort_order:
            # LOCALLY keeps the hash distribution by partition: one sorted file per
            # partition and task, instead of a range shuffle across partitions.
            spark.sql(f"ALTER TABLE {table} WRITE LOCALLY ORDERED BY {', '.join(spec.sort_order)}")


JOB_RUNS = TableSpec(
    name="job_runs",
    columns=(
        "run_id STRING NOT NULL, job STRING NOT NULL, run_date DATE NOT NULL, "
        "status STRING NOT NULL, exit_code INT NOT NULL, published BOOLEAN NOT NULL, "
        "started_at TIMESTAMP NOT NULL, seconds DOUBLE, summary STRING NOT NULL"
    ),
    partition_column="job",
    comment="One row per tradelake job run: status, whether it published, its JSON summary",
    retention_column="run_date",
)

QUALITY_RESULTS = TableSpec(
    name="quality_results",
    columns=(
        "run_id STRING NOT NULL, job STRING NOT NULL, table_name STRING NOT NULL, "
        "check_date DATE NOT NULL, `check` STRING NOT NULL, severity STRING NOT NULL, "
        "passed BOOLEAN NOT NULL, observed STRING, threshold STRING, "
        "recorded_at TIMESTAMP NOT NULL"
    ),
    partition_column="job",
    comment="Every quality check of every run: observed value against its threshold",
    retention_column="check_date",
)

DAILY_VOLUME = TableSpec(
    name="daily_volume",
    columns=(
        "trade_date DATE NOT NULL, symbol STRING NOT NULL, trade_count BIGINT NOT NULL, "
        "total_volume DECIMAL(28,8) NOT NULL, avg_price DECIMAL(18,8) NOT NULL, "
        "vwap DECIMAL(18,8) NOT NULL, low_price DECIMAL(18,8) NOT NULL, "
        "high_price DECIMAL(18,8) NOT NULL, open_price DECIMAL(18,8) NOT NULL, "
        "close_price DECIMAL(18,8) NOT NULL, run_id STRING NOT NULL"
    ),
    partition_column="trade_date",
    comment="Per symbol and day: trade count, volume, average price, VWAP, OHLC",
    sort_order=("symbol",),
)


def ohlcv_spec(interval: str) -> TableSpec:
    """The bar table of one interval, e.g. ``ohlcv_1m``."""
    return TableSpec(
        name=f"ohlcv_{interval}",
        columns=(
            "trade_date DATE NOT NULL, symbol STRING NOT NULL, bar_start TIMESTAMP NOT NULL, "
            "open DECIMAL(18,8) NOT NULL, high DECIMAL(18,8) NOT NULL, "
            "low DECIMAL(18,8) NOT NULL, close DECIMAL(18,8) NOT NULL, "
            "volume DECIMAL(28,8) NOT NULL, trade_count BIGINT NOT NULL, "
            "vwap DECIMAL(18,8) NOT NULL, run_id STRING NOT NULL"
        ),
        partition_column="trade_date",
        comment=f"{interval} OHLCV bars per symbol, UTC-aligned, labelled by their start",
        sort_order=("symbol", "bar_start"),
    )


def _add_missing_columns(spark: SparkSession, table: str, spec: TableSpec) -> None:
    """Schema evolution: add (nullable) columns a newer spec declares to an older table."""
    existing = {field.name for field in spark.table(table).schema.fields}
    missing = [
        definition
        for name, definition in zip(spec.column_names(), spec.column_definitions(), strict=True)
        if name.strip("`") not in existing
    ]
    if missing:
        spark.sql(f"ALTER TABLE {table} ADD COLUMNS ({', '.join(missing)})")


def tradelake_table_spec(name: str) -> TableSpec | None:
    """The spec of a tradelake table by name (``ohlcv_<interval>`` included), else None."""
    if name.startswith("ohlcv_"):
        return ohlcv_spec(name.removeprefix("ohlcv_"))
    specs = (
        TRADES,
        TRADE_REPORTS,
        TRADES_REJECTED,
        JOB_RUNS,
        QUALITY_RESULTS,
        DAILY_VOLUME,
        TRADES_LANDED,
    )
    return {spec.name: spec for spec in specs}.get(name)


# The Kafka landing table (jobs/land_kafka.py). Each landing commit carries the topic's
# next offsets in its snapshot summary (tradelake.kafka.*): see tradelake.kafka_landing.
TRADES_LANDED = TableSpec(
    name="trades_landed",
    columns=(
        "topic STRING NOT NULL COMMENT 'classification: internal', "
        "kafka_partition INT NOT NULL COMMENT 'classification: internal', "
        "kafka_offset BIGINT NOT NULL COMMENT 'classification: internal', "
        "kafka_timestamp TIMESTAMP NOT NULL COMMENT 'classification: internal; UTC', "
        "key STRING COMMENT 'classification: internal; the message key as UTF-8 text', "
        "value STRING COMMENT 'classification: pii; the message value as UTF-8 text, "
        "may hold personal data in clear', "
        "landing_date DATE NOT NULL COMMENT 'classification: public; partition: UTC date "
        "of kafka_timestamp', "
        "run_id STRING NOT NULL COMMENT 'classification: internal; landing run', "
        "landed_at TIMESTAMP NOT NULL COMMENT 'classification: internal'"
    ),
    partition_column="landing_date",
    comment="Kafka messages as landed: one row per (topic, kafka_partition, kafka_offset)",
    sort_order=("topic", "kafka_partition", "kafka_offset"),
)
