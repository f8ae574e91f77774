"""The Athena query runner: the API contract over HTTP against moto, edge cases with fakes.

moto does not execute SQL: it records what was sent (read back with get_query_execution)
and returns empty or canned results. FAILED, paging and a wall-clock timeout are driven
by small fake clients; a real timeout and cancel also go over HTTP.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.lakes import REPO, FakeAws
from tradelake.athena import (
    AthenaError,
    AthenaQuery,
    AthenaQueryError,
    AthenaTimeoutError,
    QueryParam,
    athena_client,
    fetch_results,
    inline_parameters,
    list_queries,
    load_query,
    main,
    parse_query,
    placeholder_positions,
    render_literal,
    render_parameters,
    run_query,
    wait_for_query,
)
from tradelake.config import load_settings
from tradelake.errors import ConfigError

pytestmark = pytest.mark.integration

# A region of its own: moto's queue of canned results is per region, and the moto server
# is shared by the whole test session.
REGION = "eu-central-1"
ACCOUNT = "123456789012"

# Parameters for every query, and the execution parameters Athena must receive for them.
SAMPLE_PARAMS: dict[str, tuple[dict[str, str], list[str] | None]] = {
    "daily_volume_by_symbol": (
        {"symbol": "O'NEIL", "start_date": "2025-01-01", "end_date": "2025-01-31"},
        ["'O''NEIL'", "DATE '2025-01-01'", "DATE '2025-01-31'"],
    ),
    "top_symbols_by_notional": (
        {"start_date": "2025-01-15", "end_date": "2025-01-16", "limit": "5"},
        ["DATE '2025-01-15'", "DATE '2025-01-16'", "5"],
    ),
    "ohlcv_window": (
        {"symbol": "AAPL", "start_ts": "2025-01-15T14:30:00Z", "end_ts": "2025-01-15 15:00:00.5"},
        ["'AAPL'", "TIMESTAMP '2025-01-15 14:30:00'", "TIMESTAMP '2025-01-15 15:00:00.500000'"],
    ),
    "rejects_by_reason": (
        {"start_date": "2025-01-01", "end_date": "2025-01-31"},
        ["DATE '2025-01-01'", "DATE '2025-01-31'"],
    ),
    # No parameters: Athena refuses an empty list, so none is sent.
    "freshness": ({}, None),
}


@pytest.fixture
def athena_env(aws_env: FakeAws, monkeypatch: pytest.MonkeyPatch) -> FakeAws:
    """Settings pointing the runner at moto's Athena, in this module's region."""
    for name in list(os.environ):
        if name.startswith("TRADELAKE_") and name != "TRADELAKE_JARS_DIR":
            monkeypatch.delenv(name)
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(name, REGION)
    monkeypatch.setenv("TRADELAKE_CONF_DIR", str(REPO / "conf"))
    monkeypatch.setenv("TRADELAKE_ATHENA_ENDPOINT", aws_env.endpoint)
    return FakeAws(aws_env.endpoint, REGION)


def moto_api(endpoint: str, path: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{endpoint}/moto-api/{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status in (200, 201)


def queue_results(endpoint: str, columns: list[str], rows: list[list[str | None]]) -> None:
    """The next query's result as Athena gives it: the column names as the first row."""

    def datum(value: str | None) -> dict[str, str]:
        return {} if value is None else {"VarCharValue": value}

    header: list[str | None] = list(columns)
    result = {
        "rows": [{"Data": [datum(value) for value in row]} for row in [header, *rows]],
        "column_info": [
            {"Name": name, "Label": name, "Type": "varchar", "Nullable": "UNKNOWN"}
            for name in columns
        ],
    }
    moto_api(
        endpoint,
        "static/athena/query-results",
        {"account_id": ACCOUNT, "region": REGION, "results": [result]},
    )


# --- over HTTP, against moto ---------------------------------------------------------


def test_every_query_has_sample_parameters() -> None:
    assert sorted(query.name for query in list_queries()) == sorted(SAMPLE_PARAMS)


@pytest.mark.parametrize("name", sorted(SAMPLE_PARAMS))
def test_every_query_is_sent_with_its_execution_parameters(athena_env: FakeAws, name: str) -> None:
    values, expected_parameters = SAMPLE_PARAMS[name]
    settings = load_settings()
    query = load_query(name)
    result = run_query(athena_client(settings), query, render_parameters(query, values), settings)

    assert (result.columns, result.rows) == ([], [])
    sent = athena_env.client("athena").get_query_execution(QueryExecutionId=result.execution_id)
    execution = sent["QueryExecution"]
    assert execution["Query"] == (REPO / "sql" / "athena" / f"{name}.sql").read_text().strip()
    assert execution.get("ExecutionParameters") == expected_parameters
    assert execution["QueryExecutionContext"] == {
        "Database": "trading",
        "Catalog": "AwsDataCatalog",
    }
    assert execution["WorkGroup"] == "primary"
    assert execution["Status"]["State"] == "SUCCEEDED"


def test_database_workgroup_and_output_location_come_from_settings(
    athena_env: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    athena = athena_env.client("athena")
    athena.create_work_group(Name="analysts", Configuration={})
    monkeypatch.setenv("TRADELAKE_DATABASE", "trading_eu")
    monkeypatch.setenv("TRADELAKE_ATHENA__WORKGROUP", "analysts")
    monkeypatch.setenv("TRADELAKE_ATHENA__OUTPUT_LOCATION", "s3://athena-results/tradelake/")
    settings = load_settings()
    query = load_query("freshness")

    result = run_query(athena_client(settings), query, [], settings)

    execution = athena.get_query_execution(QueryExecutionId=result.execution_id)["QueryExecution"]
    assert execution["QueryExecutionContext"]["Database"] == "trading_eu"
    assert execution["WorkGroup"] == "analysts"
    # moto appends "<execution id>.csv" to the location, as Athena does.
    assert execution["ResultConfiguration"]["OutputLocation"] == (
        f"s3://athena-results/tradelake/{result.execution_id}.csv"
    )


def test_cli_prints_rows_as_json_lines_with_nulls(
    athena_env: FakeAws, capsys: pytest.CaptureFixture[str]
) -> None:
    queue_results(
        athena_env.endpoint,
        ["trade_date", "symbol", "total_volume", "vwap"],
        [
            ["2025-01-15", "AAPL", "6.00000000", "99.91666667"],
            ["2025-01-16", "AAPL", "5.00000000", None],
        ],
    )
    argv = ["run", "daily_volume_by_symbol", "--param", "symbol=AAPL"]
    argv += ["--param", "start_date=2025-01-15", "--param", "end_date=2025-01-16"]

    assert main(argv) == 0

    captured = capsys.readouterr()
    assert [json.loads(line) for line in captured.out.splitlines()] == [
        {"trade_date": "2025-01-15", "symbol": "AAPL", "total_volume": "6.00000000",
         "vwap": "99.91666667"},
        {"trade_date": "2025-01-16", "symbol": "AAPL", "total_volume": "5.00000000",
         "vwap": None},
    ]  # fmt: skip
    assert "daily_volume_by_symbol: 2 rows" in captured.err


def test_cli_prints_a_text_table(athena_env: FakeAws, capsys: pytest.CaptureFixture[str]) -> None:
    queue_results(
        athena_env.endpoint,
        ["notional_rank", "symbol", "notional"],
        [["1", "MSFT", "4501.0000000000000000"], ["2", "AAPL", None]],
    )
    argv = ["run", "top_symbols_by_notional", "--format", "table", "--param", "limit=2"]
    argv += ["--param", "start_date=2025-01-15", "--param", "end_date=2025-01-16"]

    assert main(argv) == 0

    assert capsys.readouterr().out.splitlines() == [
        "notional_rank  symbol  notional",
        "-------------  ------  ---------------------",
        "1              MSFT    4501.0000000000000000",
        "2              AAPL    NULL",
    ]


def test_a_query_running_too_long_is_stopped_over_http(
    athena_env: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADELAKE_ATHENA__TIMEOUT_SECONDS", "0.3")
    monkeypatch.setenv("TRADELAKE_ATHENA__POLL_INITIAL_SECONDS", "0.05")
    monkeypatch.setenv("TRADELAKE_ATHENA__POLL_MAX_SECONDS", "0.1")
    settings = load_settings()
    query = load_query("freshness")
    # moto's state manager keeps executions QUEUED until described 1000 times.
    transition = {"model_name": "athena::execution"}
    moto_api(
        athena_env.endpoint,
        "state-manager/set-transition",
        {**transition, "transition": {"progression": "manual", "times": 1000}},
    )
    try:
        with pytest.raises(AthenaTimeoutError, match=r"still QUEUED after 0.3 s") as raised:
            run_query(athena_client(settings), query, [], settings)
    finally:
        moto_api(athena_env.endpoint, "state-manager/unset-transition", transition)

    assert "it was stopped" in str(raised.value)
    athena = athena_env.client("athena")
    execution_id = raised.value.execution_id
    status = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]["Status"]
    assert status["State"] == "CANCELLED"


def test_the_client_uses_the_endpoint_region_and_bounded_retries(athena_env: FakeAws) -> None:
    client: Any = athena_client(load_settings())

    assert client.meta.endpoint_url == athena_env.endpoint
    assert client.meta.region_name == REGION
    # botocore counts max_attempts=5 as five retries after the first attempt.
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 6}


def test_an_unreachable_endpoint_names_the_variable(
    athena_env: FakeAws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("TRADELAKE_ATHENA_ENDPOINT", f"http://127.0.0.1:{closed_port}")

    # No retries here: the default five would back off for several seconds.
    code = main(["run", "freshness"], client_factory=lambda s: athena_client(s, max_attempts=0))

    assert code == 1
    assert "TRADELAKE_ATHENA_ENDPOINT" in capsys.readouterr().err


def test_missing_credentials_name_the_credential_chain(
    athena_env: FakeAws,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    assert main(["run", "freshness"]) == 2
    assert "credential chain" in capsys.readouterr().err


def test_a_missing_region_is_a_configuration_error(
    athena_env: FakeAws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name)

    assert main(["run", "freshness"]) == 2
    assert "AWS_REGION" in capsys.readouterr().err


def test_list_names_every_query_and_its_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0

    out = capsys.readouterr().out
    assert (
        "daily_volume_by_symbol  (parameters: symbol varchar, start_date date, end_date date)"
        in (out)
    )
    assert (
        "top_symbols_by_notional  (parameters: start_date date, end_date date, limit bigint)"
        in (out)
    )
    assert "freshness  (parameters: none)" in out
    assert out.count("(parameters:") == len(SAMPLE_PARAMS)


# --- bad input fails before any AWS call ------------------------------------------------


class NoCallsClient:
    """An Athena client that fails the test if any method is called."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"Athena {name} was called before the input was validated")


DAILY = ["run", "daily_volume_by_symbol", "--param", "symbol=AAPL"]
TOP = ["run", "top_symbols_by_notional", "--param", "start_date=2025-01-01"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (DAILY + ["--param", "start_date=2025-01-01"], "needs --param end_date=…"),
        (
            DAILY + ["--param", "start_date=2025-13-01", "--param", "end_date=2025-01-31"],
            "parameter start_date (date) got '2025-13-01'",
        ),
        (
            DAILY + ["--param", "start_date=20250101", "--param", "end_date=2025-01-31"],
            "parameter start_date (date) got '20250101'; expected YYYY-MM-DD",
        ),
        (
            TOP + ["--param", "end_date=2025-01-31", "--param", "limit=abc"],
            "parameter limit (bigint) got 'abc'",
        ),
        (
            TOP + ["--param", "end_date=2025-01-31", "--param", "limit=5", "--param", "top=3"],
            "query top_symbols_by_notional has no parameter top",
        ),
        (
            [
                "run", "ohlcv_window", "--param", "symbol=AAPL",
                "--param", "start_ts=2025-01-15T14:30:00+02:00",
                "--param", "end_ts=2025-01-15 15:00:00",
            ],
            "parameter start_ts (timestamp)",
        ),
        (DAILY + ["--param", "symbol=MSFT"], "--param symbol given twice"),
        (["run", "daily_volume_by_symbol", "--param", "AAPL"], "must look like name=value"),
        (["run", "no_such_query"], "unknown query 'no_such_query'"),
        (["run", "../freshness"], "unknown query '../freshness'"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_before_any_aws_call(
    athena_env: FakeAws, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, client_factory=lambda settings: NoCallsClient()) == 2

    assert message in capsys.readouterr().err


def test_an_unknown_query_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown query 'nope'.*'freshness'"):
        load_query("nope")


# --- pure parts: header, placeholders, literals -------------------------------------------


def test_the_header_declares_parameters_in_order() -> None:
    query = parse_query(
        "q",
        "-- Something useful.\n-- param: symbol varchar\n--param:day DATE\n\n"
        "SELECT * FROM t WHERE s = ? AND d = ?\n",
    )

    assert query.params == (QueryParam("symbol", "varchar"), QueryParam("day", "date"))
    assert query.description == "Something useful."


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-- param: symbol\nSELECT ?", "expected '-- param: <name> <type>'"),
        ("-- param: symbol text\nSELECT ?", "got '-- param: symbol text'"),
        ("-- param: Symbol varchar\nSELECT ?", "lower-case name"),
        ("-- param: a date\n-- param: a date\nSELECT ?, ?", "parameter 'a' declared twice"),
        ("-- param: a date\nSELECT 1", "declares 1 parameters but has 0 '?' placeholders"),
        ("SELECT ?", "declares 0 parameters but has 1 '?' placeholders"),
    ],
)
def test_a_bad_header_is_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("?", r"\?")):
        parse_query("q", text)


def test_placeholders_inside_strings_quoted_names_and_comments_do_not_count() -> None:
    sql = "SELECT 'a?''?', \"b?\" /* ? */ FROM t -- ?\nWHERE x = ? AND y = '?'"

    assert placeholder_positions(sql) == [sql.index("x = ?") + 4]


@pytest.mark.parametrize(
    ("kind", "value", "literal"),
    [
        ("varchar", "AAPL", "'AAPL'"),
        ("varchar", "O'Neil'; DROP TABLE trades --", "'O''Neil''; DROP TABLE trades --'"),
        ("varchar", "", "''"),
        ("date", "2025-01-15", "DATE '2025-01-15'"),
        ("bigint", "10", "10"),
        ("bigint", "-9223372036854775808", "-9223372036854775808"),
        ("decimal", "187.25", "187.25"),
        ("decimal", "-0.00000001", "-0.00000001"),
        ("timestamp", "2025-01-15 14:30:00", "TIMESTAMP '2025-01-15 14:30:00'"),
        ("timestamp", "2025-01-15T14:30:00Z", "TIMESTAMP '2025-01-15 14:30:00'"),
        ("timestamp", "2025-01-15T14:30:00.25+00:00", "TIMESTAMP '2025-01-15 14:30:00.250000'"),
    ],
)
def test_values_render_as_literals(kind: str, value: str, literal: str) -> None:
    assert render_literal(QueryParam("p", kind), value) == literal


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("date", "2025-13-01"),
        ("date", "2025-02-30"),
        ("date", "2025-01-15T00:00:00"),
        ("date", " 2025-01-15"),
        ("bigint", "abc"),
        ("bigint", "1.5"),
        ("bigint", "1_000"),
        ("bigint", "9223372036854775808"),
        ("bigint", "١٢"),
        ("decimal", "1e5"),
        ("decimal", "NaN"),
        ("decimal", "1,5"),
        ("decimal", "1" * 39),
        ("timestamp", "2025-01-15"),
        ("timestamp", "2025-01-15 25:00:00"),
        ("timestamp", "2025-01-15 14:30:00+02:00"),
        ("timestamp", "2025-01-15 14:30"),
    ],
)
def test_values_of_the_wrong_type_are_refused(kind: str, value: str) -> None:
    with pytest.raises(ConfigError, match=rf"parameter p \({kind}\) got"):
        render_literal(QueryParam("p", kind), value)


def test_an_oversized_literal_is_refused_before_athena_would() -> None:
    with pytest.raises(ConfigError, match="at most 1024"):
        render_literal(QueryParam("p", "varchar"), "x" * 1023)


def test_inline_parameters_replaces_placeholders_in_order() -> None:
    query = AthenaQuery(
        "q", "SELECT '?' FROM t WHERE a = ? AND b BETWEEN ? AND ?", (), description=""
    )
    literals = ["'x'", "DATE '2025-01-01'", "DATE '2025-01-02'"]

    assert inline_parameters(query, literals) == (
        "SELECT '?' FROM t WHERE a = 'x' AND b BETWEEN DATE '2025-01-01' AND DATE '2025-01-02'"
    )


# --- polling, paging and failures with a scripted client ---------------------------------


class ScriptedAthena:
    """A fake Athena client: states to report in turn, result pages keyed by NextToken."""

    def __init__(
        self,
        states: list[str],
        pages: dict[str | None, dict[str, Any]] | None = None,
        reason: str | None = None,
        stop_error: Exception | None = None,
    ) -> None:
        self.states = states
        self.pages = pages or {None: {"ResultSet": {"Rows": [], "ResultSetMetadata": {}}}}
        self.reason = reason
        self.stop_error = stop_error
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def start_query_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("start_query_execution", kwargs))
        return {"QueryExecutionId": "q-1"}

    def get_query_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("get_query_execution", kwargs))
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        status: dict[str, Any] = {"State": state}
        if self.reason is not None:
            status["StateChangeReason"] = self.reason
        return {"QueryExecution": {"QueryExecutionId": "q-1", "Status": status}}

    def get_query_results(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("get_query_results", kwargs))
        return self.pages[kwargs.get("NextToken")]

    def stop_query_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("stop_query_execution", kwargs))
        if self.stop_error is not None:
            raise self.stop_error
        return {}


class FakeClock:
    """A clock that only moves when the code under test sleeps (binary fractions: exact)."""

    def __init__(self) -> None:
        self.now = 1024.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def wait(client: ScriptedAthena, clock: FakeClock, timeout: float = 60.0) -> dict[str, Any]:
    return wait_for_query(
        client,
        "q-1",
        timeout_seconds=timeout,
        poll_initial_seconds=0.25,
        poll_max_seconds=1.0,
        sleep=clock.sleep,
        clock=clock,
    )


def test_polling_backs_off_doubling_up_to_the_maximum() -> None:
    client = ScriptedAthena(["QUEUED", "RUNNING", "RUNNING", "RUNNING", "RUNNING", "SUCCEEDED"])
    clock = FakeClock()

    assert wait(client, clock)["Status"]["State"] == "SUCCEEDED"
    assert clock.sleeps == [0.25, 0.5, 1.0, 1.0, 1.0]


def test_the_timeout_stops_the_query_and_says_which_setting_to_raise() -> None:
    client = ScriptedAthena(["RUNNING"])
    clock = FakeClock()

    with pytest.raises(AthenaTimeoutError) as raised:
        wait(client, clock, timeout=1.0)

    # 0.25 + 0.5, then only the 0.25 s left before the deadline, then one last look.
    assert clock.sleeps == [0.25, 0.5, 0.25]
    assert client.calls[-1] == ("stop_query_execution", {"QueryExecutionId": "q-1"})
    assert str(raised.value) == (
        "Athena query q-1 still RUNNING after 1 s (settings athena.timeout_seconds, "
        "TRADELAKE_ATHENA__TIMEOUT_SECONDS); it was stopped"
    )


def test_a_timeout_says_so_when_stopping_fails_too() -> None:
    from botocore.exceptions import ClientError

    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "StopQuery")
    client = ScriptedAthena(["RUNNING"], stop_error=denied)

    with pytest.raises(AthenaTimeoutError, match="stopping it failed too .*AccessDenied"):
        wait(client, FakeClock(), timeout=0.1)


@pytest.mark.parametrize("state", ["FAILED", "CANCELLED"])
def test_a_failed_or_cancelled_query_carries_athenas_reason(state: str) -> None:
    reason = "COLUMN_NOT_FOUND: line 3:5: Column 'vwapp' cannot be resolved"
    client = ScriptedAthena(["QUEUED", "RUNNING", state], reason=reason)

    with pytest.raises(AthenaQueryError) as raised:
        wait(client, FakeClock())

    assert (raised.value.state, raised.value.reason) == (state, reason)
    assert str(raised.value) == f"Athena query q-1 {state}: {reason}"
    assert raised.value.exit_code == 1
    assert "stop_query_execution" not in [name for name, _ in client.calls]


def test_a_failed_query_exits_1_with_the_reason(
    athena_env: FakeAws, capsys: pytest.CaptureFixture[str]
) -> None:
    client = ScriptedAthena(["FAILED"], reason="TABLE_NOT_FOUND: Table 'trading.trades' missing")

    assert main(["run", "freshness"], client_factory=lambda settings: client) == 1

    assert "FAILED: TABLE_NOT_FOUND: Table 'trading.trades' missing" in capsys.readouterr().err


def row(*values: str | None) -> dict[str, Any]:
    return {"Data": [{} if value is None else {"VarCharValue": value} for value in values]}


METADATA = {"ColumnInfo": [{"Name": "symbol"}, {"Name": "notional"}]}


def test_results_are_read_page_by_page_skipping_the_header_once() -> None:
    pages: dict[str | None, dict[str, Any]] = {
        None: {
            "ResultSet": {
                "Rows": [row("symbol", "notional"), row("MSFT", "4501"), row("AAPL", "1109.5")],
                "ResultSetMetadata": METADATA,
            },
            "NextToken": "page-2",
        },
        # A later page starts with data: a row equal to the header is data there.
        "page-2": {
            "ResultSet": {"Rows": [row("symbol", "notional")], "ResultSetMetadata": METADATA},
            "NextToken": "page-3",
        },
        "page-3": {"ResultSet": {"Rows": [row("GOOG", None)], "ResultSetMetadata": METADATA}},
    }
    client = ScriptedAthena(["SUCCEEDED"], pages=pages)

    columns, rows = fetch_results(client, "q-1")

    assert columns == ["symbol", "notional"]
    assert rows == [
        {"symbol": "MSFT", "notional": "4501"},
        {"symbol": "AAPL", "notional": "1109.5"},
        {"symbol": "symbol", "notional": "notional"},
        {"symbol": "GOOG", "notional": None},
    ]
    assert [kwargs for name, kwargs in client.calls] == [
        {"QueryExecutionId": "q-1", "MaxResults": 1000},
        {"QueryExecutionId": "q-1", "MaxResults": 1000, "NextToken": "page-2"},
        {"QueryExecutionId": "q-1", "MaxResults": 1000, "NextToken": "page-3"},
    ]


def test_a_row_that_does_not_match_the_columns_is_an_error() -> None:
    pages: dict[str | None, dict[str, Any]] = {
        None: {
            "ResultSet": {
                "Rows": [row("symbol", "notional"), row("MSFT")],
                "ResultSetMetadata": METADATA,
            }
        }
    }

    with pytest.raises(AthenaError, match="a row of 1 values for 2 columns"):
        fetch_results(ScriptedAthena(["SUCCEEDED"], pages=pages), "q-1")
