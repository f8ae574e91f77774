"""Print a job's JSON summary for people, and what landed in the tables.

    python -m tradelake.report summary lake/last-run.json
    python -m tradelake.report table daily_volume --date 2025-01-15 [--limit 20]
    python -m tradelake.report html [--since D] [--until D] [--symbol S] --out FILE

Tables are read with pyiceberg straight from the catalog, independently of Spark: what a
reader of the lake would see (``summary`` and ``table``: the JDBC/SQLite catalog only;
``html``, the operations report of docs/report.md: SQLite, Glue or REST).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from tradelake.config import Settings, load_settings
from tradelake.errors import ConfigError, ExitCode, TradelakeError
from tradelake.runtime import INGEST, iso_date, last_summary


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
    if "rows_written" in summary or "trades_read" in summary:
        lines.append(
            f"  trades read {summary.get('trades_read')} from "
            f"{summary.get('trades_partition_files')} files, rows written "
            f"{summary.get('rows_written')}"
        )
    lines += [f"  warning: {warning}" for warning in summary.get("warnings", [])]
    for check in summary.get("quality", []):
        mark = "pass" if check["passed"] else "FAIL"
        lines.append(
            f"  [{mark}] {check['check']:<18} {check['severity']:<5} observed {check['observed']}"
            f" (expected {check['threshold']})"
        )
    return lines


def partition_rows(settings: Settings, day: str) -> list[str]:
    """Rows per ingest table for the day, read with pyiceberg."""
    from pyiceberg.exceptions import NoSuchTableError

    from tradelake.catalog import sql_catalog

    catalog = sql_catalog(settings)
    if catalog is None:
        return ["tables: only the embedded jdbc:sqlite catalog can be read here"]
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


def format_rows(columns: list[str], rows: list[dict[str, Any]]) -> list[str]:
    """A plain text table, right-aligned, values as their exact text."""
    cells = [[str(row[name]) for name in columns] for row in rows]
    widths = [max([len(name), *(len(r[i]) for r in cells)]) for i, name in enumerate(columns)]
    lines = ["  ".join(name.rjust(w) for name, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return lines


def table_rows(settings: Settings, name: str, day: str, limit: int) -> list[str]:
    """The first ``limit`` rows of a gold table's partition, ordered by its keys."""
    from tradelake.catalog import sql_catalog

    catalog = sql_catalog(settings)
    if catalog is None:
        return ["only the embedded jdbc:sqlite catalog can be read here"]
    table = catalog.load_table(f"{settings.database}.{name}")
    rows = table.scan(row_filter=f"trade_date = '{day}'").to_arrow().to_pylist()
    keys = [k for k in ("symbol", "bar_start") if rows and k in rows[0]]
    rows.sort(key=lambda row: tuple(str(row[k]) for k in keys))
    columns = [field.name for field in table.schema().fields if field.name != "run_id"]
    shown = format_rows(columns, rows[:limit])
    return [f"{settings.table(name)} {day}: {len(rows)} rows", *shown]


def write_html_report(args: argparse.Namespace) -> int:
    """``html``: read the lake, render the report, write it; print where it went."""
    from tradelake.report.html import render_html
    from tradelake.report.lake import read_report

    started = time.monotonic()
    settings = load_settings(database=args.database)
    try:
        data = read_report(
            settings,
            since=args.since,
            until=args.until,
            symbol=args.symbol,
            interval=args.interval,
        )
        document = render_html(data)
        out = args.out.resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(document, encoding="utf-8")
    except TradelakeError as err:
        print(f"tradelake: {err}", file=sys.stderr)
        return err.exit_code
    except OSError as err:
        print(f"tradelake: cannot write {args.out}: {err}; check --out", file=sys.stderr)
        return 1
    print(
        f"report {data.window.since} to {data.window.until} ({len(document) // 1024} KiB) "
        f"built in {time.monotonic() - started:.2f} s: {out}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tradelake.report", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    summary_command = commands.add_parser("summary", help="print a job's JSON summary")
    summary_command.add_argument("file", type=Path, help="a file whose last line is a summary")
    table_command = commands.add_parser("table", help="print a gold table's partition")
    table_command.add_argument("name", help="e.g. daily_volume, ohlcv_1m")
    table_command.add_argument("--date", required=True, help="trade_date, YYYY-MM-DD")
    table_command.add_argument("--limit", type=int, default=20)
    html_command = commands.add_parser(
        "html", help="write the operations report (runs, funnel, rejects, quality, market)"
    )
    html_command.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    html_command.add_argument(
        "--since", type=iso_date, help="first day, YYYY-MM-DD (default: 13 days before --until)"
    )
    html_command.add_argument(
        "--until", type=iso_date, help="last day, YYYY-MM-DD (default: the latest day run)"
    )
    html_command.add_argument(
        "--symbol", help="symbol of the candlestick chart (default: the most traded)"
    )
    html_command.add_argument(
        "--interval", default="1m", help="bars of ohlcv_<interval> to draw (default 1m)"
    )
    html_command.add_argument("--database", help="namespace (TRADELAKE_DATABASE)")
    args = parser.parse_args(argv)
    try:
        if args.command == "html":
            return write_html_report(args)
        settings = load_settings()
        if args.command == "table":
            print("\n".join(table_rows(settings, args.name, args.date, args.limit)))
            return 0
        summary = last_summary(args.file.read_text()) if args.file.exists() else None
        if summary is None:
            print(f"tradelake: no summary in {args.file}; see the job's log", file=sys.stderr)
            return ExitCode.FAILURE
        print("\n".join(format_summary(summary)))
        if summary.get("job") == INGEST:
            print("\n".join(partition_rows(settings, summary["date"])))
    except ConfigError as err:
        print(f"tradelake: {err}", file=sys.stderr)
        return err.exit_code
    return 0
