"""What the operations report reads from the lake, with pyiceberg (no Spark).

Each scan selects only the columns a chart draws and pushes the window down as a row
filter: on the partition column of the tables partitioned by date (``trades_rejected``,
``daily_volume``, ``ohlcv_<interval>``), on ``run_date`` / ``check_date`` for the
bookkeeping tables (partitioned by job: their files are pruned by column statistics).
``trades`` is never read; whole dead letters are read for one day, a few rows only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tradelake.catalog import catalog_source, lake_catalog, storage_errors
from tradelake.config import Settings, interval_seconds
from tradelake.errors import ConfigError, StorageError
from tradelake.report.data import (
    LakeTables,
    ReportData,
    Window,
    build_report,
    latest_day,
    latest_day_of,
    symbol_ranking,
)

# Two weeks by default: "is this week different from last week?"
DEFAULT_DAYS = 14
# Dead letters scanned for examples (the report shows a few, one per set of reasons).
EXAMPLE_SCAN_ROWS = 200

RUN_COLUMNS = (
    "run_id",
    "job",
    "run_date",
    "status",
    "exit_code",
    "published",
    "started_at",
    "seconds",
    "summary",
)
QUALITY_COLUMNS = (
    "run_id",
    "job",
    "table_name",
    "check_date",
    "check",
    "severity",
    "passed",
    "observed",
    "threshold",
    "recorded_at",
)
VOLUME_COLUMNS = ("trade_date", "symbol", "trade_count", "total_volume")
BAR_COLUMNS = ("bar_start", "open", "high", "low", "close", "volume", "trade_count")
DEAD_LETTER_COLUMNS = ("ingest_date", "source_file", "record", "reasons")


@dataclass
class LakeReader:
    """Scans of one namespace; remembers the tables it found missing."""

    catalog: Any | None
    database: str
    missing: list[str] = field(default_factory=list)

    def scan(
        self, name: str, row_filter: Any, columns: tuple[str, ...], limit: int | None = None
    ) -> Any | None:
        """The selected columns of the rows matching ``row_filter``; None if no table."""
        from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

        if self.catalog is None:
            self._missing(name)
            return None
        try:
            table = self.catalog.load_table(f"{self.database}.{name}")
        except (NoSuchTableError, NoSuchNamespaceError):
            self._missing(name)
            return None
        return table.scan(row_filter=row_filter, selected_fields=columns, limit=limit).to_arrow()

    def _missing(self, name: str) -> None:
        if name not in self.missing:
            self.missing.append(name)


def _predicate(name: str, column: str, value: str) -> Any:
    """A pyiceberg predicate such as ``EqualTo(column, value)``, looked up by name.

    pyiceberg's predicates take (term, literal) positionally; pydantic's mypy plugin
    reads their model fields as the constructor instead, so they are called untyped.
    """
    from pyiceberg import expressions

    predicate: Any = getattr(expressions, name)
    return predicate(column, value)


def _between(column: str, window: Window) -> Any:
    from pyiceberg.expressions import And

    return And(
        _predicate("GreaterThanOrEqual", column, window.since.isoformat()),
        _predicate("LessThanOrEqual", column, window.until.isoformat()),
    )


def _latest_date(reader: LakeReader, table: str, column: str) -> date | None:
    from pyiceberg.expressions import AlwaysTrue

    return latest_day(reader.scan(table, AlwaysTrue(), (column,)), column)


def report_window(
    reader: LakeReader, since: date | None, until: date | None, today: date
) -> Window:
    """The window asked for; ``--until`` defaults to the latest day any job ran
    (else the latest ``daily_volume`` day, else today), ``--since`` to two weeks before it.

    Raises:
        ConfigError: ``since`` is after ``until``.
    """
    if until is None:
        until = (
            _latest_date(reader, "job_runs", "run_date")
            or _latest_date(reader, "daily_volume", "trade_date")
            or today
        )
        if since is not None and since > until:
            until = since
    if since is None:
        since = until - timedelta(days=DEFAULT_DAYS - 1)
    try:
        return Window(since, until)
    except ValueError as err:
        raise ConfigError(f"{err}; pick --since on or before --until") from err


def read_report(
    settings: Settings,
    *,
    since: date | None = None,
    until: date | None = None,
    symbol: str | None = None,
    interval: str = "1m",
    today: date | None = None,
) -> ReportData:
    """Read the window's rows of every table the report draws, and build its data.

    Raises:
        ConfigError: a bad window or interval, or a catalog the report cannot read.
        StorageError: the catalog or the storage could not be reached.
    """
    interval_seconds(interval)
    from pyiceberg.expressions import And

    try:
        reader = LakeReader(lake_catalog(settings), settings.database)
        window = report_window(reader, since, until, today or datetime.now(UTC).date())
        rejects = reader.scan(
            "trades_rejected", _between("ingest_date", window), ("ingest_date", "reasons")
        )
        reject_day = latest_day(rejects, "ingest_date")
        daily_volume = reader.scan("daily_volume", _between("trade_date", window), VOLUME_COLUMNS)
        ranking = symbol_ranking(daily_volume)
        chosen = symbol or (ranking[0][0] if ranking else None)
        bar_day = None if chosen is None else latest_day_of(daily_volume, chosen)
        tables = LakeTables(
            job_runs=reader.scan("job_runs", _between("run_date", window), RUN_COLUMNS),
            quality_results=reader.scan(
                "quality_results", _between("check_date", window), QUALITY_COLUMNS
            ),
            rejects=rejects,
            dead_letters=None
            if reject_day is None
            else reader.scan(
                "trades_rejected",
                _predicate("EqualTo", "ingest_date", reject_day.isoformat()),
                DEAD_LETTER_COLUMNS,
                limit=EXAMPLE_SCAN_ROWS,
            ),
            daily_volume=daily_volume,
            bars=None
            if chosen is None or bar_day is None
            else reader.scan(
                f"ohlcv_{interval}",
                And(
                    _predicate("EqualTo", "trade_date", bar_day.isoformat()),
                    _predicate("EqualTo", "symbol", chosen),
                ),
                BAR_COLUMNS,
            ),
            missing=tuple(sorted(reader.missing)),
        )
    except storage_errors() as err:
        raise StorageError(
            f"cannot read the lake ({catalog_source(settings)}): {err}; check "
            "TRADELAKE_CATALOG_TYPE, TRADELAKE_CATALOG_URI, TRADELAKE_WAREHOUSE, AWS_REGION "
            "and the endpoint overrides"
        ) from err
    return build_report(
        tables,
        window,
        source=catalog_source(settings),
        symbol=chosen,
        interval=interval,
        bar_day=bar_day,
    )
