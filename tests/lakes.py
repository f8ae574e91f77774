"""The tests' lakes: where a lake lives, how a job is pointed at it, how it is read back.

Every tier that runs jobs on its own machine uses one kind of lake, the embedded default:
a local warehouse and a SQLite JDBC catalog under a folder (``Lake``). A ``Lake`` gives its
paths, the ``TRADELAKE_*`` environment that points a job (a process, or this one) at it,
and pyiceberg's ``SqlCatalog`` over it, the one construction of the test tree: tables are
read back with pyiceberg, independently of the Spark that wrote them.

One equality policy for what pyiceberg reads (``multiset``): the rows of a table or a
partition compared as a multiset, without the columns that describe a run, values as
pyiceberg returns them (DECIMAL columns as exact ``Decimal``, never floats). A lost,
duplicated or altered row is a difference; row order is not.

What lands in a lake: ``VALID_TRADE``, the valid raw trade every trade builder of the
tests overrides, and ``trade_json`` (one as a JSON Lines record or a Kafka message).

Also here: ``REPO``, a free local port and the handle of the moto server (``FakeAws``, the
lake of the AWS tiers). Plain helpers, no fixtures (those stay in the ``conftest.py`` files),
and no pyspark: the Airflow tier's virtualenv has pyiceberg but no Spark.
"""

from __future__ import annotations

import json
import os
import socket
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest

REPO = Path(__file__).resolve().parents[1]

# A table's rows as a multiset: each row its (column, value) pairs in column order.
Rows = Counter[tuple[tuple[str, Any], ...]]

# A valid raw trade: the contract's fields as the raw files carry them (text).
VALID_TRADE = {
    "trade_id": "T1",
    "symbol": "AAPL",
    "side": "buy",
    "price": "187.25",
    "quantity": "10",
    "timestamp": "2025-01-15T14:30:00Z",
    "exchange": "XNAS",
}


def trade_json(trade_id: str, **overrides: Any) -> str:
    """``VALID_TRADE`` with ``trade_id`` and ``overrides``: a JSON Lines record, a message."""
    return json.dumps({**VALID_TRADE, "trade_id": trade_id, **overrides})


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class FakeAws:
    """A moto server on 127.0.0.1 speaking S3, Glue, Athena, IAM … over real HTTP."""

    endpoint: str
    region: str = "us-east-1"

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name=self.region)


def hashable(value: Any) -> Any:
    """``value`` with its lists (arrays) and dicts (structs, maps) made tuples, recursively."""
    if isinstance(value, list | tuple):
        return tuple(hashable(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((key, hashable(item)) for key, item in value.items()))
    return value


def multiset(rows: Iterable[Mapping[str, Any]], without: Iterable[str] = ()) -> Rows:
    """Rows as a multiset, without the ``without`` columns (those that describe a run).

    Each row becomes its (column, value) pairs sorted by column, so two rows are equal
    when every remaining column is; ``Counter`` equality then compares the two sets of
    rows with their multiplicities: a duplicated row is a difference.
    """
    dropped = frozenset(without)
    return Counter(
        tuple(sorted((name, hashable(value)) for name, value in row.items() if name not in dropped))
        for row in rows
    )


def difference(expected: Rows, actual: Rows) -> tuple[int, int]:
    """(rows of ``expected`` missing from ``actual``, rows extra or duplicated in ``actual``)."""
    return sum((expected - actual).values()), sum((actual - expected).values())


def scan_rows(
    loaded: Any, row_filter: str = "true", snapshot_id: int | None = None
) -> list[dict[str, Any]]:
    """Rows of a loaded pyiceberg table: its current snapshot, or ``snapshot_id``.

    A table with no snapshot yet has no rows.
    """
    if snapshot_id is None and loaded.current_snapshot() is None:
        return []
    scan = loaded.scan(row_filter=row_filter, snapshot_id=snapshot_id)
    rows: list[dict[str, Any]] = scan.to_arrow().to_pylist()
    return rows


@dataclass(frozen=True)
class Lake:
    """An embedded lake: ``catalog.db`` (SQLite, the JDBC catalog) and ``warehouse/`` in ``root``.

    ``database`` is the namespace its jobs write. Raw files and lineage events go under
    ``files`` (default: ``root``): tests that share one catalog and warehouse (the session's
    lake) each keep their own there.
    """

    root: Path
    database: str = "trading"
    files: Path | None = None

    @property
    def catalog_db(self) -> Path:
        return self.root / "catalog.db"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse"

    @property
    def raw_root(self) -> Path:
        return (self.files or self.root) / "raw"

    @property
    def lineage_file(self) -> Path:
        return (self.files or self.root) / "lineage.jsonl"

    @property
    def catalog_uri(self) -> str:
        """The catalog as the jobs' JDBC catalog names it."""
        return f"jdbc:sqlite:{self.catalog_db}"

    def settings_env(self) -> dict[str, str]:
        """The ``TRADELAKE_*`` variables that point a job at this lake (lineage to a file)."""
        return {
            "TRADELAKE_CONF_DIR": str(REPO / "conf"),
            "TRADELAKE_RAW_URI": str(self.raw_root),
            "TRADELAKE_WAREHOUSE": str(self.warehouse),
            "TRADELAKE_CATALOG_URI": self.catalog_uri,
            "TRADELAKE_DATABASE": self.database,
            "TRADELAKE_LINEAGE__FILE_PATH": str(self.lineage_file),
        }

    def use(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point this process's configuration at the lake, and only at it.

        Every ``TRADELAKE_*`` variable is removed first (but the jars cache's), so nothing of
        the developer's shell reaches a job run in-process.
        """
        for name in list(os.environ):
            if name.startswith("TRADELAKE_") and name != "TRADELAKE_JARS_DIR":
                monkeypatch.delenv(name)
        for name, value in self.settings_env().items():
            monkeypatch.setenv(name, value)

    def catalog(self) -> Any:
        """pyiceberg's SqlCatalog over this lake's catalog: what a reader sees."""
        from pyiceberg.catalog.sql import SqlCatalog

        return SqlCatalog(
            "lake", uri=f"sqlite:///{self.catalog_db}", warehouse=f"file://{self.warehouse}"
        )

    def table(self, name: str) -> Any | None:
        """``<database>.<name>`` loaded with pyiceberg; None when the catalog has no such table."""
        catalog = self.catalog()
        identifier = f"{self.database}.{name}"
        if not catalog.table_exists(identifier):
            return None
        return catalog.load_table(identifier)

    def rows(
        self, table: str, row_filter: str = "true", *, snapshot_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Every row of ``<database>.<table>`` (current snapshot, or ``snapshot_id``) as dicts.

        Raises:
            pyiceberg.exceptions.NoSuchTableError: the table does not exist.
        """
        loaded = self.catalog().load_table(f"{self.database}.{table}")
        return scan_rows(loaded, row_filter, snapshot_id)

    def content(
        self,
        table: str,
        without: Iterable[str] = (),
        *,
        row_filter: str = "true",
        snapshot_id: int | None = None,
    ) -> Rows:
        """The table's (or a partition's: ``row_filter``) rows as a multiset, see ``multiset``."""
        return multiset(self.rows(table, row_filter, snapshot_id=snapshot_id), without)
