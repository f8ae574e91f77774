"""The lake's catalog as pyiceberg opens it, for the readers that run without Spark.

The operations report (``tradelake.report``) and the Airflow DAG's ``gold_dates`` task
(``tradelake.orchestration``, which reads the ingest's row of ``job_runs`` on the runners
that have no summary line) open the catalog the jobs write through, from the same
settings: the embedded SQLite JDBC catalog, AWS Glue or REST. Spark is never imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tradelake.config import Settings
from tradelake.errors import ConfigError


def sql_catalog(settings: Settings) -> Any | None:
    """pyiceberg's SqlCatalog over the embedded SQLite catalog, or None if there is none."""
    from pyiceberg.catalog.sql import SqlCatalog

    uri = settings.catalog_uri_resolved or ""
    if settings.catalog_type != "jdbc" or not uri.startswith("jdbc:sqlite:"):
        return None
    database_file = Path(uri.removeprefix("jdbc:sqlite:"))
    if not database_file.is_file():
        return None
    return SqlCatalog(
        "lake", uri=f"sqlite:///{database_file}", warehouse=f"file://{settings.warehouse_root}"
    )


def catalog_properties(settings: Settings) -> dict[str, str]:
    """pyiceberg ``load_catalog`` properties of a Glue or REST catalog, from settings."""
    properties: dict[str, str] = {"type": settings.catalog_type}
    if settings.catalog_type == "rest":
        properties.update(uri=settings.catalog_uri or "", warehouse=settings.warehouse)
        if settings.rest_signing_name:
            properties["rest.sigv4-enabled"] = "true"
            properties["rest.signing-name"] = settings.rest_signing_name
            if settings.aws_region:
                properties["rest.signing-region"] = settings.aws_region
    if settings.catalog_type == "glue":
        properties["warehouse"] = settings.warehouse
        if settings.aws_region:
            properties["glue.region"] = settings.aws_region
        if settings.glue_endpoint:
            properties["glue.endpoint"] = settings.glue_endpoint
    if settings.aws_region:
        properties["s3.region"] = settings.aws_region
    if settings.s3_endpoint:
        # pyarrow's S3 file system addresses buckets by path when an endpoint is set.
        properties["s3.endpoint"] = settings.s3_endpoint
    return properties


def lake_catalog(settings: Settings) -> Any | None:
    """The pyiceberg catalog of the settings; None for an embedded catalog not created yet.

    Raises:
        ConfigError: the catalog type is one pyiceberg cannot read here.
    """
    if settings.catalog_type == "jdbc":
        uri = settings.catalog_uri_resolved or ""
        if not uri.startswith("jdbc:sqlite:"):
            raise ConfigError(
                f"TRADELAKE_CATALOG_URI={uri!r}: readers without Spark (the report, the DAG's "
                "gold_dates task, the replay tool) read jdbc:sqlite catalogs, Glue and REST; "
                "point it at the SQLite catalog or use TRADELAKE_CATALOG_TYPE=glue"
            )
        return sql_catalog(settings)
    if settings.catalog_type == "hadoop":
        raise ConfigError(
            "TRADELAKE_CATALOG_TYPE=hadoop cannot be read by pyiceberg; use the jdbc, glue "
            "or rest catalog for a lake the report, the DAG's gold_dates task or the replay "
            "tool should read"
        )
    from pyiceberg.catalog import load_catalog

    return load_catalog("lake", **catalog_properties(settings))


def catalog_source(settings: Settings) -> str:
    """Where a reader reads from: the catalog and the database (the report's header)."""
    where = {
        "jdbc": settings.catalog_uri_resolved,
        "glue": f"AWS Glue ({settings.aws_region}) + {settings.warehouse}",
        "rest": settings.catalog_uri,
        "hadoop": settings.warehouse,
    }[settings.catalog_type]
    return f"{settings.catalog_type} catalog {where}, database {settings.database}"


def storage_errors() -> tuple[type[BaseException], ...]:
    """What a pyiceberg read raises when the catalog or the storage cannot be reached."""
    from botocore.exceptions import BotoCoreError, ClientError
    from pyiceberg.exceptions import RESTError

    return (OSError, BotoCoreError, ClientError, RESTError)
