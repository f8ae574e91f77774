"""Print a job's JSON summary for people, and what landed in the tables.

    python -m tradelake.report lake/last-run.json

The table counts are read with pyiceberg straight from the catalog (JDBC/SQLite
catalog only), independently of Spark: what a reader of the lake would see.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tradelake.config import Settings, load_settings
from tradelake.errors import ConfigError


def format_summary(summary: dict[str, Any]) -> list[str]:
    """Human-readable lines for an ingest run summary."""
    lines = [
        f"{summary.get('job')} {summary.get('date')}  run {summary.get('run_id')}  "
        f"status {summary.get('status')} (exit {summary.get('exit_code')}) "
        f"in {summary.get('seconds')} s"
    ]
    if "error" in summary:
        lines.append(f"  error: {summary['error']}")
    files = summary.get("files")
    if files:
        lines.append(
            f"files: {files['read']} read, {files['empty']} empty, {files['ignored']} ignored, "
            f"{files['unreadable']} unreadable"
        )
    if "records_read" in summary:
        lines += [
            f"  records read        {summary['records_read']:>9}",
            f"  loaded              {summary['loaded']:>9}",
            f"  duplicates dropped  {summary['duplicates_dropped']:>9}",
            f"  rejected            {summary['rejected']:>9}",
            f"  adds up: {summary.get('conservation_ok')}",
        ]
        reasons = summary.get("rejected_by_reason") or {}
        if reasons:
            lines.append("rejected by reason (a record may break several rules):")
            lines += [f"  {code:<30}{count:>9}" for code, count in sorted(reasons.items())]
        drift = summary.get("schema_drift") or {}
        if drift.get("records"):
            lines.append(f"schema drift: {drift['records']} records with {drift['fields']}")
    for check in summary.get("quality", []):
        mark = "pass" if check["passed"] else "FAIL"
        lines.append(
            f"  [{mark}] {check['check']:<18} {check['severity']:<5} observed {check['observed']}"
            f" (expected {check['threshold']})"
        )
    return lines


def partition_rows(settings: Settings, day: str) -> list[str]:
    """Rows per table for the day, read with pyiceberg (JDBC/SQLite catalogs only)."""
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.exceptions import NoSuchTableError

    uri = settings.catalog_uri_resolved or ""
    if settings.catalog_type != "jdbc" or not uri.startswith("jdbc:sqlite:"):
        return []
    database_file = Path(uri.removeprefix("jdbc:sqlite:"))
    if not database_file.is_file():
        return [f"tables: no catalog at {database_file} yet"]
    catalog = SqlCatalog(
        "lake",
        uri=f"sqlite:///{database_file}",
        warehouse=f"file://{settings.warehouse_root}",
    )
    lines = ["tables (read back with pyiceberg):"]
    for table_name, column in (("trades", "trade_date"), ("trades_rejected", "ingest_date")):
        try:
            table = catalog.load_table(f"{settings.database}.{table_name}")
        except NoSuchTableError:
            lines.append(f"  {settings.table(table_name):<32} (not created yet)")
            continue
        scan = table.scan(row_filter=f"{column} = '{day}'", selected_fields=(column,))
        lines.append(
            f"  {settings.table(table_name):<32} {column}={day}: {scan.to_arrow().num_rows} rows"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tradelake.report", description=__doc__)
    parser.add_argument("summary", type=Path, help="file whose last line is a job's JSON summary")
    args = parser.parse_args(argv)
    text = args.summary.read_text().strip() if args.summary.exists() else ""
    if not text:
        print(f"tradelake: no summary in {args.summary}; see the job's log", file=sys.stderr)
        return 1
    summary = json.loads(text.splitlines()[-1])
    print("\n".join(format_summary(summary)))
    try:
        print("\n".join(partition_rows(load_settings(), summary["date"])))
    except ConfigError as err:
        print(f"tradelake: {err}", file=sys.stderr)
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
