"""Settings: ``conf/<env>.toml`` < ``TRADELAKE_*`` environment variables <
``--tradelake-settings`` < CLI flags.

Validated once into a frozen model. Local and AWS runs differ only in these values.
``--tradelake-settings '<json>'`` is a job argument carrying settings as a JSON object: an
AWS Glue job gets arguments, never environment variables, so ``python -m tradelake.deploy``
ships the deploying machine's configuration that way (``settings_argument``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from tradelake.errors import ConfigError

# The contract's personal fields (contract.py reads them as optional fields): masked with a
# keyed hash on the way to trades_rejected (pii.py), masked again in the report's examples.
# Here, not in contract.py, so what imports no Spark (the report) has the same list.
PII_FIELDS: tuple[str, ...] = ("account_id", "trader_email")

# OHLCV bar intervals (jobs/ohlcv.py --interval, the ohlcv_<interval> tables, the DAG's
# TRADELAKE_AIRFLOW_OHLCV_INTERVALS, the report's --interval): <n>m, <n>h or <n>d, and a
# whole number of bars in a day.
SECONDS_PER_DAY = 86_400
_INTERVAL = re.compile(r"([1-9][0-9]*)([mhd])")
_INTERVAL_UNIT_SECONDS = {"m": 60, "h": 3_600, "d": SECONDS_PER_DAY}
SUGGESTED_INTERVALS = ("1m", "5m", "15m", "1h", "1d")


def interval_seconds(interval: str, source: str = "--interval") -> int:
    """Length of a bar interval such as ``5m``, ``1h`` or ``1d``; it must divide a day.

    ``source`` names where the value came from, for the error message.

    Raises:
        ConfigError: the interval is malformed or does not divide 24 hours.
    """
    match = _INTERVAL.fullmatch(interval)
    if not match:
        raise ConfigError(
            f"{source} {interval!r} is not an interval; use <n>m, <n>h or 1d, "
            f"e.g. {', '.join(SUGGESTED_INTERVALS)}"
        )
    seconds = int(match.group(1)) * _INTERVAL_UNIT_SECONDS[match.group(2)]
    if SECONDS_PER_DAY % seconds:
        raise ConfigError(
            f"{source} {interval} does not divide a day into whole bars; "
            f"choose one that does, e.g. {', '.join(SUGGESTED_INTERVALS)}"
        )
    return seconds


CatalogType = Literal["jdbc", "glue", "rest", "hadoop"]
Severity = Literal["error", "warn"]

_URI_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
# DECIMAL(18,8) holds at most 10 integer digits.
_DECIMAL_18_8_LIMIT = Decimal("10000000000")
# Tables a retention policy may name; "ohlcv" covers every ohlcv_<interval> table.
RETENTION_TABLES = (
    "trades",
    "trades_rejected",
    "daily_volume",
    "ohlcv",
    "job_runs",
    "quality_results",
    "trades_landed",
)
# The ingest's quality checks, by name, with their default severity (error blocks
# publishing; warn is reported). quality.severity overrides them per check.
DEFAULT_INGEST_SEVERITY: dict[str, Severity] = {
    "record_count": "error",
    "trade_id_unique": "error",
    "required_not_null": "error",
    "reject_ratio": "error",
    "freshness": "warn",
    "volume_anomaly": "warn",
    "unreadable_files": "warn",
}


class ContractSettings(BaseModel):
    """Bounds of the trade contract that deployments may tune."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_price: Decimal = Decimal("1000000")
    max_quantity: Decimal = Decimal("1000000000")
    future_tolerance_seconds: int = Field(default=300, ge=0)
    # A landing day L carries trades of days L - max_lateness_days .. L; 0 (the default)
    # accepts the landing day only. Late reports re-resolve their own day's trades.
    max_lateness_days: int = Field(default=0, ge=0, le=366)

    @model_validator(mode="after")
    def _fits_decimal_18_8(self) -> ContractSettings:
        for name in ("max_price", "max_quantity"):
            value = getattr(self, name)
            if not Decimal(0) < value < _DECIMAL_18_8_LIMIT:
                raise ValueError(f"contract.{name}={value} must be > 0 and < 1e10 (DECIMAL(18,8))")
        return self


class QualitySettings(BaseModel):
    """Thresholds and severities of the ingest quality gate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_reject_ratio: float = Field(default=0.10, ge=0.0, le=1.0)
    freshness_max_lag_hours: float = Field(default=6.0, ge=0.0)
    # volume_anomaly: the day's loaded count against the median of the last N published
    # days; it passes within ± tolerance (a share of the median) or without enough history.
    volume_anomaly_days: int = Field(default=14, ge=1)
    volume_anomaly_min_days: int = Field(default=3, ge=1)
    volume_anomaly_tolerance: float = Field(default=0.5, gt=0.0)
    # Per-check severity overrides, e.g. {"freshness": "error"}; see DEFAULT_INGEST_SEVERITY.
    severity: dict[str, Severity] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_checks(self) -> QualitySettings:
        unknown = sorted(set(self.severity) - set(DEFAULT_INGEST_SEVERITY))
        if unknown:
            raise ValueError(
                f"quality.severity names unknown checks {unknown}; known: "
                f"{list(DEFAULT_INGEST_SEVERITY)}"
            )
        return self


class MaintenanceSettings(BaseModel):
    """Defaults of the table maintenance job (jobs/compact.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Also the tables' write.target-file-size-bytes, set when a table is created.
    target_file_size_mb: int = Field(default=128, ge=1)
    # A partition with fewer small files than this is healthy and is not rewritten.
    min_input_files: int = Field(default=5, ge=2)
    # Manifests are rewritten when a table has more than this many.
    max_manifests: int = Field(default=20, ge=1)
    snapshot_max_age_hours: float = Field(default=168.0, ge=0.0)
    snapshots_to_keep: int = Field(default=5, ge=1)
    # Files younger than this are never orphan candidates: a running job may own them.
    orphan_min_age_hours: float = Field(default=72.0, gt=0.0)
    # Days of data kept per table ("ohlcv" covers every ohlcv_<interval> table). Empty by
    # default: deleting curated rows is a policy someone configures, never a default.
    retention_days: dict[str, int] = Field(default_factory=dict)
    # Days of raw landing folders kept; None (the default) keeps them all. A day whose raw
    # files are gone can no longer be re-ingested or backfilled.
    raw_retention_days: int | None = Field(default=None, ge=1)
    # A retention run that would delete more than this share of a table's rows refuses
    # (exit 2) unless --force: a wrong policy or clock must not empty a table.
    max_retention_share: float = Field(default=0.5, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _positive_retention(self) -> MaintenanceSettings:
        bad = {name: days for name, days in self.retention_days.items() if days < 1}
        if bad:
            raise ValueError(f"maintenance.retention_days must be >= 1 day, got {bad}")
        unknown = sorted(set(self.retention_days) - set(RETENTION_TABLES))
        if unknown:
            raise ValueError(
                f"maintenance.retention_days names unknown tables {unknown}; known: "
                f"{list(RETENTION_TABLES)}"
            )
        return self

    def retention_for(self, table: str) -> int | None:
        """Days of data kept in ``table``, or None when no policy applies."""
        key = "ohlcv" if table.startswith("ohlcv_") else table
        return self.retention_days.get(key)


class AthenaSettings(BaseModel):
    """Where the Athena query runner sends queries and results."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    workgroup: str = "primary"
    # s3://bucket/prefix/ for query results; None uses the workgroup's own setting.
    output_location: str | None = None
    timeout_seconds: float = Field(default=300.0, gt=0)
    poll_initial_seconds: float = Field(default=0.2, gt=0)
    poll_max_seconds: float = Field(default=5.0, gt=0)


class GlueJobSettings(BaseModel):
    """How ``python -m tradelake.deploy`` defines the AWS Glue jobs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    glue_version: str = "6.0"
    # IAM role the jobs run as (its policy: deploy/iam-policy.json).
    role_arn: str | None = None
    # s3://bucket/prefix where scripts and the wheel are uploaded.
    artifacts_uri: str | None = None
    worker_type: str = "G.1X"
    number_of_workers: int = Field(default=2, ge=2)
    timeout_minutes: int = Field(default=120, ge=1)
    max_retries: int = Field(default=1, ge=0, le=10)
    name_prefix: str = "tradelake-"
    tags: dict[str, str] = Field(default_factory=lambda: {"app": "tradelake"})
    # The Glue connection (type NETWORK or KAFKA) that puts the landing job in the
    # brokers' VPC (an MSK cluster's subnet and security group); the other jobs need none.
    kafka_connection: str | None = None
    # s3:// URIs of further jars for every job (--extra-jars), e.g. aws-msk-iam-auth for
    # MSK IAM authentication; the Kafka source's own jars are shipped by the deploy.
    extra_jars: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _s3_jars(self) -> GlueJobSettings:
        local = [uri for uri in self.extra_jars if not uri.startswith("s3://")]
        if local:
            raise ValueError(
                f"TRADELAKE_GLUE_JOBS__EXTRA_JARS: {local} are not s3:// URIs; Glue loads "
                "extra jars from S3 only"
            )
        return self


class BackfillSettings(BaseModel):
    """Bounds of ``jobs/backfill.py``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_days: int = Field(default=366, ge=1)
    max_concurrency: int = Field(default=4, ge=1)


class LineageSettings(BaseModel):
    """Where OpenLineage run events go."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # file: JSON Lines appended to file_path; http: POST to url (e.g. Marquez);
    # console: one JSON line per event on stderr; none: off.
    transport: Literal["file", "http", "console", "none"] = "file"
    file_path: str = "./lake/lineage/events.jsonl"
    url: str | None = None
    endpoint: str = "/api/v1/lineage"
    namespace: str = "tradelake"
    timeout_seconds: float = Field(default=5.0, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=10)


# Client options a Kafka landing job must not take from its options: they have settings
# of their own, or (isolation.level) are not negotiable.
KAFKA_RESERVED_OPTIONS = frozenset({"bootstrap.servers", "security.protocol", "isolation.level"})
# Client options whose value is a secret whatever it holds.
KAFKA_SECRET_OPTIONS = frozenset(
    {"ssl.keystore.password", "ssl.key.password", "ssl.truststore.password"}
)


def check_kafka_options(options: Mapping[str, str], source: str) -> None:
    """Refuse Kafka client options that clash with settings of their own.

    Raises:
        ValueError: ``options`` sets a reserved property; the message names ``source``.
    """
    clashing = sorted(set(options) & KAFKA_RESERVED_OPTIONS)
    if clashing:
        raise ValueError(
            f"{source} sets {clashing}: use TRADELAKE_KAFKA__BOOTSTRAP_SERVERS "
            "and TRADELAKE_KAFKA__SECURITY_PROTOCOL (isolation.level is always read_committed)"
        )


class KafkaSettings(BaseModel):
    """Where ``jobs/land_kafka.py`` reads trades from, and how it connects.

    Every ``options`` entry is passed to the Kafka consumer as ``kafka.<name>`` (Spark's
    source) and as a consumer property (the offset look-ups), e.g. ``sasl.jaas.config``
    for SCRAM or MSK IAM. Secrets belong in environment variables
    (``TRADELAKE_KAFKA__OPTIONS='{"sasl.jaas.config": "..."}'`` from a secret store) or in
    an AWS Secrets Manager secret (``options_secret_id``, the way for Glue jobs), never in
    ``conf/*.toml``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # host:port[,host:port...]; required by the landing job only.
    bootstrap_servers: str | None = None
    topic: str = "trades"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: str | None = None
    ssl_truststore_location: str | None = None
    ssl_truststore_type: str | None = None
    options: dict[str, str] = Field(default_factory=dict)
    # AWS Secrets Manager secret whose string is a JSON object of further client options
    # (e.g. the sasl.jaas.config holding a SCRAM password), read by the landing job at run
    # time: the way to give a Glue job a secret (Glue passes no environment variables).
    options_secret_id: str | None = None
    # Cap per partition and run (None: everything up to the end offsets of the run's start).
    max_offsets_per_partition: int | None = Field(default=None, ge=1)
    # How long the offset look-ups wait for the brokers.
    request_timeout_ms: int = Field(default=30000, ge=1000)
    # Landing attempts when another writer (another landing run, compaction) commits to
    # trades_landed between a run's offset read and its commit.
    commit_attempts: int = Field(default=5, ge=1, le=20)

    @model_validator(mode="after")
    def _valid_topic(self) -> KafkaSettings:
        if not _TOPIC_NAME.match(self.topic):
            raise ValueError(
                f"TRADELAKE_KAFKA__TOPIC={self.topic!r} is not a Kafka topic name "
                "(letters, digits, '.', '_', '-', at most 249)"
            )
        check_kafka_options(self.options, "TRADELAKE_KAFKA__OPTIONS")
        return self

    def secret_options(self) -> dict[str, str]:
        """The configured options that carry a secret (a password), by name."""
        return {
            key: value
            for key, value in self.options.items()
            if key in KAFKA_SECRET_OPTIONS or "password" in value.lower()
        }

    def client_properties(self) -> dict[str, str]:
        """Kafka client properties (bootstrap, security, options) without the ``kafka.`` prefix.

        Raises:
            ValueError: no bootstrap servers are configured.
        """
        if not self.bootstrap_servers:
            raise ValueError(
                "TRADELAKE_KAFKA__BOOTSTRAP_SERVERS is required to read from Kafka; set it "
                "to the brokers' host:port list"
            )
        properties = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            properties["sasl.mechanism"] = self.sasl_mechanism
        if self.ssl_truststore_location:
            properties["ssl.truststore.location"] = self.ssl_truststore_location
        if self.ssl_truststore_type:
            properties["ssl.truststore.type"] = self.ssl_truststore_type
        return {**properties, **self.options}


def conf_dir() -> Path:
    """Folder of the ``<env>.toml`` profiles: ``TRADELAKE_CONF_DIR``, ``./conf`` or the repo's."""
    explicit = os.environ.get("TRADELAKE_CONF_DIR")
    if explicit:
        return Path(explicit)
    local = Path("conf")
    if local.is_dir():
        return local
    return Path(__file__).resolve().parents[2] / "conf"


def _is_local_path(uri: str) -> bool:
    return not _URI_SCHEME.match(uri) and not uri.startswith("file:")


def _absolute(uri: str) -> str:
    """Resolve a local path against the working directory; leave URIs untouched."""
    return str(Path(uri).expanduser().resolve()) if _is_local_path(uri) else uri


class Settings(BaseSettings):
    """Everything a tradelake job needs to know about where things live."""

    model_config = SettingsConfigDict(
        env_prefix="TRADELAKE_",
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
    )

    env: str = "local"
    raw_uri: str = "./lake/raw"
    warehouse: str = "./lake/warehouse"
    catalog_type: CatalogType = "jdbc"
    catalog_uri: str | None = None
    database: str = "trading"
    s3_endpoint: str | None = None
    glue_endpoint: str | None = None
    athena_endpoint: str | None = None
    secrets_endpoint: str | None = None
    # AWS Secrets Manager secret holding the PII masking key (TRADELAKE_PII_KEY wins).
    pii_key_secret_id: str | None = None
    # How Spark reads s3:// raw files: "s3a" maps s3:// to Hadoop's S3A (local, Kubernetes);
    # "platform" leaves it to the platform's own filesystem (AWS Glue, EMR: EMRFS).
    s3_filesystem: Literal["s3a", "platform"] = "s3a"
    aws_region: str | None = Field(
        default=None,
        validation_alias=AliasChoices("aws_region", "AWS_REGION", "AWS_DEFAULT_REGION"),
    )
    # How long an S3 or Glue call may wait on a silent connection (to connect, or between
    # bytes of its answer) before it counts as failed and is retried; with the retry
    # budgets this bounds how long a job hangs on an endpoint that stops answering
    # (docs/aws.md, retries and timeouts).
    aws_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # Sign REST catalog requests with SigV4 for this service (e.g. "glue", "s3tables").
    rest_signing_name: str | None = None
    contract: ContractSettings = Field(default_factory=ContractSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    maintenance: MaintenanceSettings = Field(default_factory=MaintenanceSettings)
    athena: AthenaSettings = Field(default_factory=AthenaSettings)
    glue_jobs: GlueJobSettings = Field(default_factory=GlueJobSettings)
    lineage: LineageSettings = Field(default_factory=LineageSettings)
    backfill: BackfillSettings = Field(default_factory=BackfillSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls, profile_path())

    @model_validator(mode="after")
    def _check_catalog(self) -> Settings:
        if not _DATABASE_NAME.match(self.database):
            raise ValueError(
                f"TRADELAKE_DATABASE={self.database!r} must be lower-case letters, digits and _"
            )
        if self.catalog_type in ("jdbc", "rest") and not self.catalog_uri:
            raise ValueError(
                "TRADELAKE_CATALOG_URI is required when "
                f"TRADELAKE_CATALOG_TYPE={self.catalog_type}; set it or use TRADELAKE_ENV=local"
            )
        uses_aws = self.catalog_type == "glue" or any(
            uri.startswith("s3://") for uri in (self.raw_uri, self.warehouse)
        )
        if uses_aws and not self.aws_region:
            raise ValueError(
                "AWS_REGION is required for the Glue catalog and s3:// locations; set it "
                "(or AWS_DEFAULT_REGION) to the region of the buckets and the catalog"
            )
        if self.catalog_type == "glue" and not self.warehouse.startswith("s3://"):
            raise ValueError(
                f"TRADELAKE_WAREHOUSE={self.warehouse!r} must be an s3:// URI when "
                "TRADELAKE_CATALOG_TYPE=glue"
            )
        return self

    @property
    def raw_root(self) -> str:
        """The raw landing root, absolute when local."""
        return _absolute(self.raw_uri).rstrip("/")

    @property
    def warehouse_root(self) -> str:
        """The Iceberg warehouse root, absolute when local."""
        return _absolute(self.warehouse).rstrip("/")

    @property
    def catalog_uri_resolved(self) -> str | None:
        """The catalog URI with a relative SQLite path made absolute."""
        uri = self.catalog_uri
        if uri and uri.startswith("jdbc:sqlite:") and not uri.startswith("jdbc:sqlite:/"):
            return "jdbc:sqlite:" + _absolute(uri.removeprefix("jdbc:sqlite:"))
        return uri

    def table(self, name: str) -> str:
        """Fully qualified Spark name of a tradelake table."""
        return f"lake.{self.database}.{name}"


def profile_path() -> Path:
    """The TOML profile selected by ``TRADELAKE_ENV`` (default ``local``)."""
    return conf_dir() / f"{os.environ.get('TRADELAKE_ENV', 'local')}.toml"


SETTINGS_ARGUMENT = "--tradelake-settings"
# Never shipped in the argument: the profile name would make a job look for conf/<env>.toml
# (its values are folded into the argument already), and the Glue job definition is of no
# use to a running job.
NOT_SHIPPED = frozenset({"env", "glue_jobs"})


def settings_argument(settings: Settings) -> str:
    """The ``--tradelake-settings`` value of ``settings``: what differs from the defaults."""
    values = settings.model_dump(mode="json", exclude_defaults=True, exclude=set(NOT_SHIPPED))
    return json.dumps(values, sort_keys=True, separators=(",", ":"))


def parse_settings_argument(text: str | None) -> dict[str, Any]:
    """The settings a ``--tradelake-settings`` value carries (empty without one).

    Raises:
        ConfigError: the value is not a JSON object of known settings.
    """
    if text is None:
        return {}
    try:
        values = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{SETTINGS_ARGUMENT} is not valid JSON: {err}") from err
    if not isinstance(values, dict):
        raise ConfigError(f"{SETTINGS_ARGUMENT} must be a JSON object, got {text[:80]!r}")
    unknown = sorted(set(values) - (set(Settings.model_fields) - NOT_SHIPPED))
    if unknown:
        raise ConfigError(f"{SETTINGS_ARGUMENT} names unknown settings {unknown}")
    return {name: value for name, value in values.items() if value is not None}


def _merged(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``top`` laid over it, nested settings merged key by key."""
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(shipped: str | None = None, **overrides: Any) -> Settings:
    """Load settings: profile < environment < ``shipped`` (a ``--tradelake-settings``
    value) < ``overrides`` (CLI flags; None means "not given").

    Raises:
        ConfigError: the profile is missing or a value is invalid; the message names it.
    """
    profile = profile_path()
    env_name = os.environ.get("TRADELAKE_ENV", "local")
    if env_name != "local" and not profile.is_file():
        raise ConfigError(
            f"TRADELAKE_ENV={env_name} but {profile} does not exist; "
            "create it or set TRADELAKE_CONF_DIR"
        )
    flags = {key: value for key, value in overrides.items() if value is not None}
    try:
        # Init values win over the environment and the profile, nested ones key by key.
        return Settings(**_merged(parse_settings_argument(shipped), flags))
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'settings'}: {error['msg']}"
            for error in err.errors()
        )
        raise ConfigError(f"invalid configuration ({profile}): {problems}") from err
