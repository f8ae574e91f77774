"""Run the analysts' saved queries (``sql/athena/*.sql``) on Amazon Athena.

    python -m tradelake.athena list
    python -m tradelake.athena run daily_volume_by_symbol --param symbol=AAPL \\
        --param start_date=2025-01-01 --param end_date=2025-01-31 [--format table]

Each query file starts with a comment header declaring its parameters in the order
their ``?`` placeholders appear (``-- param: start_date date``). Values are validated
and rendered as SQL literals here, then sent as Athena execution parameters: they are
never formatted into the query text. Tables are unqualified; the database is
``settings.database`` (``TRADELAKE_DATABASE``), sent as the query execution context.

Exit codes: 0 ok; 1 the query failed, was cancelled or timed out, or Athena could not be
reached; 2 bad arguments or configuration (unknown query or parameter, a value of the
wrong type, no region, no credentials), found before any call to AWS where possible.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)

from tradelake import aws
from tradelake.config import Settings, load_settings
from tradelake.errors import ConfigError, TradelakeError

PARAM_TYPES = ("varchar", "date", "bigint", "decimal", "timestamp")
CATALOG = "AwsDataCatalog"
# Athena's own limits: a page of results holds at most 1000 rows, a parameter 1024 chars.
PAGE_SIZE = 1000
MAX_PARAMETER_CHARS = 1024
MAX_ATTEMPTS = 5

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_PARAM_LINE = re.compile(r"^--\s*param\s*:(?P<rest>.*)$", re.IGNORECASE)
_DATE_TEXT = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_BIGINT_TEXT = re.compile(r"^[+-]?[0-9]+$")
_DECIMAL_TEXT = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")
_TIMESTAMP_TEXT = re.compile(
    r"^(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[T ]"
    r"(?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?)(?P<utc>Z|[+-]00:?00)?$"
)
_BIGINT_MIN, _BIGINT_MAX = -(2**63), 2**63 - 1
# Trino's DECIMAL holds at most 38 digits.
_DECIMAL_MAX_DIGITS = 38

_PARAM_EXAMPLES = {
    "varchar": "any text, e.g. AAPL",
    "date": "YYYY-MM-DD, e.g. 2025-01-15",
    "bigint": "a whole number, e.g. 10",
    "decimal": "a plain decimal number, e.g. 187.25",
    "timestamp": "UTC YYYY-MM-DD HH:MM:SS[.ffffff], e.g. 2025-01-15 14:30:00",
}


class AthenaError(TradelakeError):
    """A call to Athena failed, or the query did not succeed."""

    exit_code = 1


class AthenaQueryError(AthenaError):
    """The query ended FAILED or CANCELLED; ``reason`` is Athena's StateChangeReason."""

    def __init__(self, message: str, *, execution_id: str, state: str, reason: str) -> None:
        super().__init__(message)
        self.execution_id = execution_id
        self.state = state
        self.reason = reason


class AthenaTimeoutError(AthenaError):
    """The query did not finish within ``settings.athena.timeout_seconds``."""

    def __init__(self, message: str, *, execution_id: str) -> None:
        super().__init__(message)
        self.execution_id = execution_id


class AthenaClient(Protocol):
    """The part of boto3's Athena client the runner uses."""

    def start_query_execution(self, **kwargs: Any) -> dict[str, Any]: ...

    def get_query_execution(self, **kwargs: Any) -> dict[str, Any]: ...

    def get_query_results(self, **kwargs: Any) -> dict[str, Any]: ...

    def stop_query_execution(self, **kwargs: Any) -> dict[str, Any]: ...


@dataclass(frozen=True)
class QueryParam:
    """One declared parameter: its name and Athena type."""

    name: str
    type: str


@dataclass(frozen=True)
class AthenaQuery:
    """A saved query: its name (the file stem), SQL text, parameters and description."""

    name: str
    sql: str
    params: tuple[QueryParam, ...]
    description: str


@dataclass(frozen=True)
class QueryResult:
    """What a query returned: its execution id, column names and rows (text or None)."""

    execution_id: str
    columns: list[str]
    rows: list[dict[str, str | None]]
    data_scanned_bytes: int | None = None


def default_sql_dir() -> Path:
    """The repository's ``sql/athena`` folder."""
    return Path(__file__).resolve().parents[2] / "sql" / "athena"


def placeholder_positions(sql: str) -> list[int]:
    """Offsets of the ``?`` placeholders, skipping string literals, quoted names, comments."""
    positions: list[int] = []
    index, length = 0, len(sql)
    while index < length:
        char = sql[index]
        if char in "'\"":
            # A doubled quote inside a quoted run is an escaped quote, not its end.
            index += 1
            while index < length:
                if sql[index] == char:
                    if index + 1 < length and sql[index + 1] == char:
                        index += 2
                        continue
                    break
                index += 1
        elif sql.startswith("--", index):
            newline = sql.find("\n", index)
            index = length if newline < 0 else newline
        elif sql.startswith("/*", index):
            end = sql.find("*/", index + 2)
            index = length if end < 0 else end + 1
        elif char == "?":
            positions.append(index)
        index += 1
    return positions


def parse_query(name: str, text: str, origin: str = "") -> AthenaQuery:
    """Read a query file's header: the description and the ``-- param: name type`` lines.

    The header is the comment lines before the first line of SQL. Parameters are declared
    in the order their ``?`` placeholders appear; the description is the comment text
    before the first parameter.

    Raises:
        ConfigError: a malformed or duplicate declaration, an unknown type, or a number of
            declarations different from the number of placeholders.
    """
    where = origin or name
    params: list[QueryParam] = []
    description: list[str] = []
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line:
            continue
        if not line.startswith("--"):
            break
        match = _PARAM_LINE.match(line)
        if match is None:
            if not params:
                description.append(line.removeprefix("--").strip())
            continue
        parts = match.group("rest").split()
        if len(parts) != 2 or not _NAME.match(parts[0]) or parts[1].lower() not in PARAM_TYPES:
            raise ConfigError(
                f"{where} line {number}: expected '-- param: <name> <type>' with a lower-case "
                f"name and a type in {list(PARAM_TYPES)}, got {line!r}"
            )
        param = QueryParam(parts[0], parts[1].lower())
        if any(existing.name == param.name for existing in params):
            raise ConfigError(f"{where} line {number}: parameter {param.name!r} declared twice")
        params.append(param)
    placeholders = len(placeholder_positions(text))
    if placeholders != len(params):
        raise ConfigError(
            f"{where} declares {len(params)} parameters but has {placeholders} '?' "
            "placeholders; declare one '-- param:' line per placeholder, in order"
        )
    return AthenaQuery(name, text.strip(), tuple(params), " ".join(description))


def list_queries(sql_dir: Path | None = None) -> list[AthenaQuery]:
    """Every query in ``sql_dir`` (default: the repository's ``sql/athena``), by name."""
    folder = sql_dir or default_sql_dir()
    if not folder.is_dir():
        raise ConfigError(f"query folder {folder} does not exist; pass --sql-dir")
    return [
        parse_query(path.stem, path.read_text(encoding="utf-8"), str(path))
        for path in sorted(folder.glob("*.sql"))
    ]


def load_query(name: str, sql_dir: Path | None = None) -> AthenaQuery:
    """The query named ``name`` (a file stem in ``sql_dir``).

    Raises:
        ConfigError: no such query; the message lists the known ones.
    """
    folder = sql_dir or default_sql_dir()
    path = folder / f"{name}.sql"
    if not _NAME.match(name) or not path.is_file():
        known = [query.name for query in list_queries(folder)]
        raise ConfigError(f"unknown query {name!r}; known queries in {folder}: {known}")
    return parse_query(name, path.read_text(encoding="utf-8"), str(path))


def render_literal(param: QueryParam, value: str) -> str:
    """Validate ``value`` for the parameter's type and render it as an Athena SQL literal.

    varchar -> ``'text'`` (quotes doubled), date -> ``DATE 'YYYY-MM-DD'``, bigint -> the
    integer, decimal -> plain decimal text, timestamp -> ``TIMESTAMP 'YYYY-MM-DD
    HH:MM:SS[.ffffff]'`` (UTC). The same literals are valid Spark SQL and Trino.

    Raises:
        ConfigError: the value does not fit the type; the message names the parameter.
    """
    problem = f"parameter {param.name} ({param.type}) got {value!r}; expected "
    problem += _PARAM_EXAMPLES[param.type]
    if param.type == "varchar":
        literal = "'" + value.replace("'", "''") + "'"
    elif param.type == "date":
        try:
            day = date.fromisoformat(value) if _DATE_TEXT.match(value) else None
        except ValueError as err:
            raise ConfigError(f"{problem} ({err})") from err
        if day is None:
            raise ConfigError(problem)
        literal = f"DATE '{day.isoformat()}'"
    elif param.type == "bigint":
        number = int(value) if _BIGINT_TEXT.match(value) else None
        if number is None or not _BIGINT_MIN <= number <= _BIGINT_MAX:
            raise ConfigError(f"{problem} between -2^63 and 2^63-1")
        literal = str(number)
    elif param.type == "decimal":
        amount = _decimal(value)
        if amount is None:
            raise ConfigError(f"{problem} with at most {_DECIMAL_MAX_DIGITS} digits")
        literal = format(amount, "f")
    else:
        literal = _timestamp_literal(value, problem)
    if len(literal) > MAX_PARAMETER_CHARS:
        raise ConfigError(
            f"parameter {param.name} is {len(literal)} characters as a literal; "
            f"Athena accepts at most {MAX_PARAMETER_CHARS}"
        )
    return literal


def _decimal(value: str) -> Decimal | None:
    if not _DECIMAL_TEXT.match(value):
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        return None
    return amount if len(amount.as_tuple().digits) <= _DECIMAL_MAX_DIGITS else None


def _timestamp_literal(value: str, problem: str) -> str:
    match = _TIMESTAMP_TEXT.match(value)
    if match is None:
        raise ConfigError(f"{problem} (a UTC offset other than Z or +00:00 is refused)")
    try:
        moment = datetime.fromisoformat(f"{match.group('date')}T{match.group('time')}")
    except ValueError as err:
        raise ConfigError(f"{problem} ({err})") from err
    text = moment.isoformat(sep=" ", timespec="microseconds" if moment.microsecond else "seconds")
    return f"TIMESTAMP '{text}'"


def parse_param_args(pairs: Sequence[str]) -> dict[str, str]:
    """``["name=value", …]`` from the command line to a mapping.

    Raises:
        ConfigError: a pair without ``=`` or a name given twice.
    """
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ConfigError(f"--param {pair!r} must look like name=value")
        if name in values:
            raise ConfigError(f"--param {name} given twice")
        values[name] = value
    return values


def render_parameters(query: AthenaQuery, values: Mapping[str, str]) -> list[str]:
    """The query's execution parameters: each declared parameter's literal, in order.

    Raises:
        ConfigError: a declared parameter is missing, an undeclared one is given, or a value
            does not fit its type. Nothing is sent to AWS before this passes.
    """
    declared = [param.name for param in query.params]
    signature = ", ".join(f"{param.name} {param.type}" for param in query.params) or "none"
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise ConfigError(
            f"query {query.name} has no parameter {', '.join(unknown)}; its parameters: {signature}"
        )
    missing = [name for name in declared if name not in values]
    if missing:
        raise ConfigError(
            f"query {query.name} needs --param {', '.join(f'{m}=…' for m in missing)}; its "
            f"parameters: {signature}"
        )
    return [render_literal(param, values[param.name]) for param in query.params]


def inline_parameters(query: AthenaQuery, literals: Sequence[str]) -> str:
    """The query text with each ``?`` replaced by its rendered literal.

    Only for engines without execution parameters (Spark SQL in the tests, a Trino CLI):
    the literals come from ``render_parameters``, so they are validated and quoted.
    """
    positions = placeholder_positions(query.sql)
    if len(positions) != len(literals):
        raise ConfigError(
            f"query {query.name} has {len(positions)} placeholders, got {len(literals)} values"
        )
    text, previous = [], 0
    for position, literal in zip(positions, literals, strict=True):
        text += [query.sql[previous:position], literal]
        previous = position + 1
    return "".join([*text, query.sql[previous:]])


def athena_client(settings: Settings, *, max_attempts: int = MAX_ATTEMPTS) -> AthenaClient:
    """A boto3 Athena client for the configured endpoint and region, with bounded retries.

    Raises:
        ConfigError: no region is configured.
    """
    athena: AthenaClient = aws.client("athena", settings, max_attempts=max_attempts)
    return athena


def start_query(
    client: AthenaClient, query: AthenaQuery, literals: Sequence[str], settings: Settings
) -> str:
    """Submit the query with its execution parameters; return the execution id."""
    request: dict[str, Any] = {
        "QueryString": query.sql,
        "QueryExecutionContext": {"Database": settings.database, "Catalog": CATALOG},
        "WorkGroup": settings.athena.workgroup,
    }
    if settings.athena.output_location:
        request["ResultConfiguration"] = {"OutputLocation": settings.athena.output_location}
    if literals:
        # Athena refuses an empty list: a query without parameters sends none.
        request["ExecutionParameters"] = list(literals)
    return str(client.start_query_execution(**request)["QueryExecutionId"])


def wait_for_query(
    client: AthenaClient,
    execution_id: str,
    *,
    timeout_seconds: float,
    poll_initial_seconds: float,
    poll_max_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll until the query ends, waiting ``initial``, then twice as long, up to ``max``.

    Returns:
        The ``QueryExecution`` of the succeeded query.

    Raises:
        AthenaQueryError: the query ended FAILED or CANCELLED (with Athena's reason).
        AthenaTimeoutError: still running after ``timeout_seconds``; the query is stopped.
    """
    deadline = clock() + timeout_seconds
    delay = poll_initial_seconds
    while True:
        execution: dict[str, Any] = client.get_query_execution(QueryExecutionId=execution_id)[
            "QueryExecution"
        ]
        status = execution["Status"]
        state = status["State"]
        if state == "SUCCEEDED":
            return execution
        if state in ("FAILED", "CANCELLED"):
            reason = status.get("StateChangeReason") or "Athena gave no reason"
            raise AthenaQueryError(
                f"Athena query {execution_id} {state}: {reason}",
                execution_id=execution_id,
                state=state,
                reason=reason,
            )
        remaining = deadline - clock()
        if remaining <= 0:
            raise AthenaTimeoutError(
                f"Athena query {execution_id} still {state} after {timeout_seconds:g} s "
                f"(settings athena.timeout_seconds, TRADELAKE_ATHENA__TIMEOUT_SECONDS); "
                f"{_stop(client, execution_id)}",
                execution_id=execution_id,
            )
        sleep(min(delay, remaining))
        delay = min(delay * 2, poll_max_seconds)


def _stop(client: AthenaClient, execution_id: str) -> str:
    """Cancel a query that ran too long; say whether that worked."""
    try:
        client.stop_query_execution(QueryExecutionId=execution_id)
    except (ClientError, BotoCoreError) as err:
        return f"stopping it failed too ({err}): stop it in the Athena console"
    return "it was stopped"


def fetch_results(
    client: AthenaClient, execution_id: str, *, page_size: int = PAGE_SIZE
) -> tuple[list[str], list[dict[str, str | None]]]:
    """Page through the results with NextToken; return column names and rows.

    Athena repeats the column names as the first row of the first page: it is skipped.
    Every value is Athena's text rendering (exact for DECIMAL); NULL is None.
    """
    columns: list[str] | None = None
    rows: list[dict[str, str | None]] = []
    token: str | None = None
    first_page = True
    while True:
        request: dict[str, Any] = {"QueryExecutionId": execution_id, "MaxResults": page_size}
        if token:
            request["NextToken"] = token
        response = client.get_query_results(**request)
        result_set = response["ResultSet"]
        if columns is None:
            info = result_set.get("ResultSetMetadata", {}).get("ColumnInfo", [])
            columns = [column["Name"] for column in info]
        page = result_set.get("Rows", [])
        if first_page:
            page = page[1:]
            first_page = False
        for row in page:
            data = row.get("Data", [])
            if len(data) != len(columns):
                raise AthenaError(
                    f"Athena query {execution_id} returned a row of {len(data)} values for "
                    f"{len(columns)} columns {columns}"
                )
            values = [datum.get("VarCharValue") for datum in data]
            rows.append(dict(zip(columns, values, strict=True)))
        token = response.get("NextToken")
        if not token:
            return columns, rows


def run_query(
    client: AthenaClient,
    query: AthenaQuery,
    literals: Sequence[str],
    settings: Settings,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> QueryResult:
    """Start the query, wait for it, and read every page of its results.

    Raises:
        AthenaQueryError: the query ended FAILED or CANCELLED.
        AthenaTimeoutError: it ran longer than ``settings.athena.timeout_seconds``.
        AthenaError: Athena could not be reached or refused a call.
        ConfigError: no AWS credentials were found.
    """
    endpoint = settings.athena_endpoint or f"Athena's endpoint in {settings.aws_region}"
    try:
        execution_id = start_query(client, query, literals, settings)
        execution = wait_for_query(
            client,
            execution_id,
            timeout_seconds=settings.athena.timeout_seconds,
            poll_initial_seconds=settings.athena.poll_initial_seconds,
            poll_max_seconds=settings.athena.poll_max_seconds,
            sleep=sleep,
            clock=clock,
        )
        columns, rows = fetch_results(client, execution_id)
    except NoCredentialsError as err:
        raise ConfigError(
            "no AWS credentials found in the standard credential chain: set "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with an "
            "instance/IRSA role"
        ) from err
    except EndpointConnectionError as err:
        raise AthenaError(
            f"cannot connect to {endpoint} ({err}); check TRADELAKE_ATHENA_ENDPOINT "
            "(unset it for AWS itself), AWS_REGION and the network"
        ) from err
    except ClientError as err:
        error = err.response.get("Error", {})
        raise AthenaError(
            f"Athena refused {err.operation_name} for query {query.name}: "
            f"{error.get('Code', 'error')}: {error.get('Message', err)}"
        ) from err
    except BotoCoreError as err:
        raise AthenaError(f"calling Athena at {endpoint} failed: {err}") from err
    scanned = execution.get("Statistics", {}).get("DataScannedInBytes")
    return QueryResult(execution_id, columns, rows, None if scanned is None else int(scanned))


def format_table(columns: Sequence[str], rows: Sequence[Mapping[str, str | None]]) -> list[str]:
    """Rows as a plain text table: a header, a rule, one line per row; NULL for None."""
    cells = [
        [("NULL" if row[name] is None else str(row[name])) for name in columns] for row in rows
    ]
    widths = [max([len(name), *(len(line[i]) for line in cells)]) for i, name in enumerate(columns)]
    lines = ["  ".join(name.ljust(width) for name, width in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * width for width in widths))
    lines += [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in cells
    ]
    return [line.rstrip() for line in lines]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tradelake.athena",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--sql-dir", type=Path, default=None, help="folder of the queries (default: sql/athena)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the queries and their parameters")
    run = commands.add_parser("run", help="run a query and print its rows")
    run.add_argument("query", help="file stem in sql/athena, e.g. daily_volume_by_symbol")
    run.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a declared parameter, once per parameter",
    )
    run.add_argument(
        "--format",
        choices=("json", "table"),
        default="json",
        help="json: one JSON object per row (default); table: aligned text",
    )
    run.add_argument("--database", help="database (namespace), overrides TRADELAKE_DATABASE")
    return parser


def main(
    argv: list[str] | None = None,
    *,
    client_factory: Callable[[Settings], AthenaClient] = athena_client,
) -> int:
    """``list`` the queries, or ``run`` one and print its rows to stdout.

    ``client_factory`` builds the Athena client from the settings (tests pass a fake).
    Returns the exit code: 0, 1 when the query or Athena failed, 2 for bad arguments.
    """
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            for query in list_queries(args.sql_dir):
                signature = ", ".join(f"{p.name} {p.type}" for p in query.params) or "none"
                print(f"{query.name}  (parameters: {signature})")
                print(f"    {query.description}")
            return 0
        query = load_query(args.query, args.sql_dir)
        literals = render_parameters(query, parse_param_args(args.param))
        settings = load_settings(database=args.database)
        result = run_query(client_factory(settings), query, literals, settings)
    except TradelakeError as err:
        print(f"tradelake: {err}", file=sys.stderr)
        return err.exit_code
    if args.format == "table":
        print("\n".join(format_table(result.columns, result.rows)))
    else:
        for row in result.rows:
            print(json.dumps(row))
    scanned = (
        "" if result.data_scanned_bytes is None else f", {result.data_scanned_bytes} bytes scanned"
    )
    print(
        f"tradelake: {query.name}: {len(result.rows)} rows, query {result.execution_id}{scanned}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
