"""Replay dead letters through the normal ingest, and keep a ledger of them.

    python -m tradelake.replay export --ingest-date A[:B] [--reason CODE ...] --landing R
                                      [--dry-run] [--add-to-existing] [--json]
    python -m tradelake.replay ledger --ingest-date A[:B] [--reason CODE ...] [--json]

``export`` writes the selected rows of ``trades_rejected`` (ingest dates A to B, optionally
only those carrying one of the reason codes) as one JSON Lines file in the landing folder
of day R, with a manifest beside it; ``jobs/ingest.py --date R`` then applies the contract
to them like to any landing and routes each accepted record to its own day. A replay is a
landing: it never writes a table. ``ledger`` says which dead letters are open and which
were replayed. docs/replay.md has the details and a worked example.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime
from typing import Any

from tradelake.catalog import storage_errors
from tradelake.config import Settings, load_settings
from tradelake.contract import REASON_CODES
from tradelake.errors import ConfigError, ExitCode, NoInputError, StorageError, TradelakeError
from tradelake.replay import store
from tradelake.replay.ledger import (
    STATES,
    FoundExport,
    LandingHistory,
    Manifest,
    build_ledger,
)
from tradelake.replay.records import (
    NOT_REPLAYABLE,
    ExportPlan,
    Selection,
    parse_ingest_dates,
    plan_export,
)
from tradelake.runtime import iso_date


def _ingest_dates(text: str) -> tuple[date, date]:
    """argparse type of ``--ingest-date``: ``A`` or ``A:B``."""
    try:
        return parse_ingest_dates(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tradelake.replay", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    commands = parser.add_subparsers(dest="command", required=True)
    export_command = commands.add_parser(
        "export", help="write selected dead letters as one landing file of day R"
    )
    ledger_command = commands.add_parser(
        "ledger", help="which dead letters are open, exported, replayed or rejected again"
    )
    for command in (export_command, ledger_command):
        command.add_argument(
            "--ingest-date",
            type=_ingest_dates,
            required=True,
            metavar="A[:B]",
            help="the dead letters of ingest date A, or of A to B (YYYY-MM-DD, inclusive)",
        )
        command.add_argument(
            "--reason",
            nargs="+",
            action="extend",
            choices=REASON_CODES,
            metavar="CODE",
            help="only dead letters carrying one of these reason codes (default: every code)",
        )
        command.add_argument("--database", help="namespace of the tables (TRADELAKE_DATABASE)")
        command.add_argument("--raw-uri", help="raw landing root (TRADELAKE_RAW_URI)")
        command.add_argument("--json", action="store_true", help="print one JSON object")
    export_command.add_argument(
        "--landing",
        type=iso_date,
        required=True,
        metavar="R",
        help="the landing day to write to, YYYY-MM-DD; then run jobs/ingest.py --date R",
    )
    export_command.add_argument(
        "--dry-run",
        action="store_true",
        help="count and check what would be exported; write nothing",
    )
    export_command.add_argument(
        "--add-to-existing",
        action="store_true",
        help="write into a landing folder that already holds other files (refused by default)",
    )
    return parser


def export(
    settings: Settings,
    selection: Selection,
    landing: date,
    *,
    dry_run: bool = False,
    add_to_existing: bool = False,
    raw: store.RawRoot | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Plan the replay landing file of ``selection`` and, unless refused or a dry run, write it.

    Returns the result: counts per ingest date, the target, whether it was written, and
    ``refused`` (why nothing may be written) or None. Nothing is written when the landing
    folder holds other files and ``add_to_existing`` is not set, when ``dry_run`` is set,
    or when no selected dead letter can be exported.

    Raises:
        NoInputError: ``trades_rejected`` does not exist.
        StorageError: the lake or the landing folder cannot be read or written.
    """
    raw = raw or store.RawRoot(settings)
    rows = store.dead_letters(settings, selection.since, selection.until)
    headers: dict[str, str | None] = {}

    def header_of(source_file: str) -> str | None:
        if source_file not in headers:
            headers[source_file] = raw.first_line(source_file)
        return headers[source_file]

    plan = plan_export(rows, selection, header_of)
    folder = raw.landing(landing)
    try:
        present = folder.names()
    except storage_errors() as err:
        raise _landing_error(folder.uri, "list", err) from err
    own = {selection.file_name, selection.manifest_name}
    others = [name for name in present if not name.startswith(("_", ".")) and name not in own]
    refused = None
    if others and not add_to_existing:
        refused = (
            f"the landing folder {folder.uri} already holds {len(others)} other file(s) "
            f"({', '.join(others[:5])}): a replay written there is ingested together with "
            "them. Pick another --landing, or pass --add-to-existing if that is meant; "
            "nothing was written"
        )
    result = _export_result(plan, landing, folder.uri, present, others, dry_run, refused)
    if refused or dry_run or not plan.exported:
        return result
    manifest = Manifest.of_plan(plan, landing, now or datetime.now(UTC))
    try:
        # The manifest last: a landing file without one is an export that did not finish
        # (its lines still carry their markers); rerunning the export completes it.
        folder.write(selection.file_name, plan.content())
        folder.write(selection.manifest_name, manifest.to_json())
    except storage_errors() as err:
        raise _landing_error(folder.uri, "write", err) from err
    result["written"] = True
    return result


def _landing_error(uri: str, action: str, err: BaseException) -> StorageError:
    return StorageError(
        f"cannot {action} the landing folder {uri}: {err}; check TRADELAKE_RAW_URI (--raw-uri), "
        "its permissions and, on S3, TRADELAKE_S3_ENDPOINT and the AWS credentials"
    )


def _export_result(
    plan: ExportPlan,
    landing: date,
    folder_uri: str,
    present: list[str],
    others: list[str],
    dry_run: bool,
    refused: str | None,
) -> dict[str, Any]:
    selection = plan.selection
    return {
        "command": "export",
        "dry_run": dry_run,
        "selection": selection.as_dict(),
        "landing_date": landing.isoformat(),
        "target": f"{folder_uri}/{selection.file_name}",
        "manifest": f"{folder_uri}/{selection.manifest_name}",
        "replaces": selection.file_name in present,
        "other_landing_files": len(others),
        "selected": plan.selected,
        "exported": plan.exported,
        "skipped": plan.skipped(),
        "by_ingest_date": {day: counts.as_dict() for day, counts in plan.by_date.items()},
        "refused": refused,
        "written": False,
        "next": f"./spark-submit.sh jobs/ingest.py --date {landing.isoformat()}",
    }


def ledger(
    settings: Settings, selection: Selection, raw: store.RawRoot | None = None
) -> dict[str, Any]:
    """The state of every selected dead letter (``replay.ledger``), per ingest date.

    Raises:
        NoInputError: ``trades_rejected`` does not exist.
        StorageError: the lake or the raw root cannot be read.
    """
    raw = raw or store.RawRoot(settings)
    rows = store.dead_letters(settings, selection.since, selection.until)
    exports: list[FoundExport] = []
    unreadable: list[str] = []
    try:
        for day, folder in raw.replay_landings().items():
            names = folder.names()
            for name in names:
                if not store.MANIFEST_NAME.match(name):
                    continue
                try:
                    manifest = Manifest.from_json(folder.read(name))
                except ValueError as err:
                    unreadable.append(f"{folder.uri}/{name}: {err}")
                    continue
                if manifest.landing_date != day or not _overlaps(manifest, selection):
                    continue
                exports.append(
                    FoundExport(manifest, f"{folder.uri}/{manifest.file}", manifest.file in names)
                )
    except storage_errors() as err:
        raise StorageError(
            f"cannot read the replay manifests under {settings.raw_root}: {err}; check "
            "TRADELAKE_RAW_URI (--raw-uri) and its permissions"
        ) from err
    days = sorted({found.manifest.landing_date for found in exports})
    runs = store.ingest_runs(settings, days)
    letters = store.marked_dead_letters(settings, days)
    histories = {
        day: LandingHistory.of_rows(
            [run for run in runs if run["run_date"] == day],
            [letter for letter in letters if letter["ingest_date"] == day],
        )
        for day in days
    }
    result = {"command": "ledger", **build_ledger(rows, selection, exports, histories)}
    result["unreadable_manifests"] = unreadable
    return result


def _overlaps(manifest: Manifest, selection: Selection) -> bool:
    days = [date.fromisoformat(day) for day in manifest.dead_letters]
    return any(selection.since <= day <= selection.until for day in days)


def format_export(result: dict[str, Any]) -> list[str]:
    """The export's result for people."""
    dates = result["selection"]["ingest_dates"]
    reasons = ", ".join(result["selection"]["reasons"]) or "every reason"
    lines = [
        f"dead letters of ingest dates {dates[0]} to {dates[1]} ({reasons}) -> landing "
        f"{result['landing_date']}",
        f"  {'ingest_date':<12}{'selected':>9}{'exported':>9}  by reason / skipped",
    ]
    for day, counts in result["by_ingest_date"].items():
        detail = ", ".join(f"{code} {n}" for code, n in counts["by_reason"].items())
        skipped = ", ".join(f"{cause} {n}" for cause, n in counts["skipped"].items())
        lines.append(
            f"  {day:<12}{counts['selected']:>9}{counts['exported']:>9}  {detail or '-'}"
            + (f" / skipped: {skipped}" if skipped else "")
        )
    lines.append(f"  {'total':<12}{result['selected']:>9}{result['exported']:>9}")
    if result["written"]:
        replaced = " (replaced the earlier export of this selection)" if result["replaces"] else ""
        lines += [f"wrote {result['target']}{replaced}", f"next: {result['next']}"]
    elif result["dry_run"]:
        lines.append(f"dry run: would write {result['target']}; nothing was written")
    return lines


def format_ledger(result: dict[str, Any]) -> list[str]:
    """The ledger for people: one row per ingest date, then each export."""
    lines = [
        "  ".join([f"{'ingest_date':<12}", f"{'dead_letters':>12}", *(f"{s:>14}" for s in STATES)])
    ]
    rows = [*result["by_ingest_date"].items(), ("total", result["totals"])]
    for day, counts in rows:
        cells = [
            f"{day:<12}",
            f"{counts['dead_letters']:>12}",
            *(f"{counts[s]:>14}" for s in STATES),
        ]
        lines.append("  ".join(cells))
    for found in result["exports"]:
        ingested = "ingested since" if found["ingested_since"] else "not ingested since"
        present = "" if found["file_present"] else " (landing file gone)"
        lines.append(
            f"export {found['exported_at']} -> {found['file']}{present}: {found['records']} "
            f"records, {ingested}"
        )
    lines += [f"unreadable manifest: {entry}" for entry in result["unreadable_manifests"]]
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run ``export`` or ``ledger``; returns the exit code (errors.ExitCode)."""
    args = _parser().parse_args(argv)
    since, until = args.ingest_date
    try:
        selection = Selection(since, until, tuple(args.reason or ()))
        if args.command == "export":
            refused = sorted(set(selection.reasons) & set(NOT_REPLAYABLE))
            if refused:
                raise ConfigError(
                    "; ".join(
                        f"--reason {code}: never exported, {NOT_REPLAYABLE[code]}"
                        for code in refused
                    )
                )
        settings = load_settings(database=args.database, raw_uri=args.raw_uri)
        if args.command == "ledger":
            result = ledger(settings, selection)
            _print(result, format_ledger, args.json)
            return ExitCode.OK
        result = export(
            settings,
            selection,
            args.landing,
            dry_run=args.dry_run,
            add_to_existing=args.add_to_existing,
        )
        _print(result, format_export, args.json)
        if result["refused"]:
            raise ConfigError(result["refused"])
        if not args.dry_run and not result["written"]:
            raise NoInputError(
                f"none of the {result['selected']} selected dead letters can be exported "
                f"(skipped: {result['skipped'] or 'none selected'}); nothing was written"
            )
    except TradelakeError as err:
        print(f"tradelake: {err}", file=sys.stderr)
        return err.exit_code
    return ExitCode.OK


def _print(result: dict[str, Any], formatter: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, sort_keys=True))
    else:
        print("\n".join(formatter(result)))
