"""Dead-letter replay end to end: real ingests, a replay landing, the ledger.

Landing L (2025-01-14) is ingested under the default contract (a window of its own day,
prices below 1,000,000). Its dead letters:

- T2 (2025-01-13), T3 (2025-01-12), T8 (CSV, 2025-01-13), T9 (Parquet, 2025-01-13):
  ``timestamp_outside_partition``;
- T4 at price 2,000,000: ``price_out_of_range``;
- T5 with side "hold": ``side_invalid``, which no setting changes;
- one truncated JSON line: ``malformed_record``, never exported.

The contract then widens (four days of lateness, prices below 3,000,000) and the dead
letters are replayed into landing R (2025-01-16, window 2025-01-12 to 2025-01-16): five
reach their own days, T5 is rejected again. Three ingests in all: L, R, R again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.spark.rawfiles import day_folder, json_line, utc, write_lines, write_parquet
from tradelake.replay.cli import main as replay

pytestmark = pytest.mark.spark

L, R = "2025-01-14", "2025-01-16"
D12, D13, D14 = date(2025, 1, 12), date(2025, 1, 13), date(2025, 1, 14)
LOOSE_GATE = ("--max-reject-ratio", "0.9")
STEM = f"replay-{L}-{L}-all"
CSV_HEADER = "trade_id,Symbol,side,price,quantity,timestamp,exchange,desk"


def trade(trade_id: str, at: str, **overrides: Any) -> str:
    fields: dict[str, Any] = {
        "trade_id": trade_id, "symbol": "AAPL", "side": "buy", "price": Decimal("100.5"),
        "quantity": 2, "timestamp": at, "exchange": "XNAS", **overrides,
    }  # fmt: skip
    return json_line(**fields)


JSON_LINES = [
    trade("T1", "2025-01-14T10:00:00Z"),
    trade("T2", "2025-01-13T09:00:00Z", price=Decimal("99.25")),
    trade("T3", "2025-01-12T23:00:00Z", symbol="MSFT", price=Decimal("410")),
    trade("T4", "2025-01-14T11:00:00Z", price=Decimal("2000000")),
    trade("T5", "2025-01-14T12:00:00Z", side="hold"),
    '{"trade_id": "T6", "symbol": "AAPL", "pri',
]
CSV_ROWS = [
    "T7,aapl,sell,101,3,2025-01-14T13:00:00Z,XNAS,desk-1",
    'T8,"msft",buy,411.5,1,2025-01-13T14:00:00Z,XNAS,"desk-2"',
]
PARQUET_ROW = {
    "trade_id": "T9", "symbol": "AAPL", "side": "sell", "price": Decimal("98.75"),
    "quantity": 4, "timestamp": utc("2025-01-13T08:00:00.123456+00:00"), "exchange": "XNAS",
    "venue_fee": 0.5,
}  # fmt: skip

# trades after the replay: (trade_id, trade_date, symbol, side, price, quantity, landing_date)
BEFORE = {
    ("T1", D14, "AAPL", "buy", Decimal("100.5"), Decimal(2), D14),
    ("T7", D14, "AAPL", "sell", Decimal(101), Decimal(3), D14),
}
REPLAYED = {
    ("T2", D13, "AAPL", "buy", Decimal("99.25"), Decimal(2), date(2025, 1, 16)),
    ("T3", D12, "MSFT", "buy", Decimal(410), Decimal(2), date(2025, 1, 16)),
    ("T4", D14, "AAPL", "buy", Decimal(2000000), Decimal(2), date(2025, 1, 16)),
    ("T8", D13, "MSFT", "buy", Decimal("411.5"), Decimal(1), date(2025, 1, 16)),
    ("T9", D13, "AAPL", "sell", Decimal("98.75"), Decimal(4), date(2025, 1, 16)),
}


def current_trades(spark: Any, settings: Any) -> set[tuple[Any, ...]]:
    rows = spark.table(settings.table("trades")).select(
        "trade_id", "trade_date", "symbol", "side", "price", "quantity", "landing_date"
    ).collect()  # fmt: skip
    return {tuple(row) for row in rows}


def trades_content(spark: Any, settings: Any) -> list[Any]:
    frame = spark.table(settings.table("trades")).drop("run_id", "ingested_at")
    return sorted(frame.collect())


Tool = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def replay_tool(capsys: pytest.CaptureFixture[str]) -> Tool:
    """``python -m tradelake.replay ARGS --json`` in-process: (exit code, its JSON result)."""

    def run(*argv: str) -> tuple[int, dict[str, Any]]:
        capsys.readouterr()
        exit_code = replay([*argv, "--json"])
        out = capsys.readouterr().out.strip()
        return exit_code, json.loads(out) if out else {}

    return run


def states(ledger: dict[str, Any]) -> dict[str, int]:
    return {state: n for state, n in ledger["totals"].items() if n}


def test_dead_letters_replayed_through_a_landing_reach_their_days(
    spark: Any,
    lake_env: Any,
    run_job: Any,
    replay_tool: Tool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    landing = day_folder(lake_env.raw_root, L)
    write_lines(landing / "a.jsonl", JSON_LINES)
    write_lines(landing / "b.csv", [CSV_HEADER, *CSV_ROWS])
    write_parquet(landing / "c.parquet", [PARQUET_ROW])
    first = run_job("ingest", "--date", L, *LOOSE_GATE)
    assert first.exit_code == 0, first.summary
    assert first.summary["rejected_by_reason"] == {
        "malformed_record": 1,
        "price_out_of_range": 1,
        "side_invalid": 1,
        "timestamp_outside_partition": 4,
    }
    assert current_trades(spark, lake_env) == BEFORE

    # (5) A dry run counts exactly what an export would write, and writes nothing.
    target = Path(lake_env.raw_root) / "trades" / f"date={R}"
    code, planned = replay_tool("export", "--ingest-date", L, "--landing", R, "--dry-run")
    assert code == 0
    assert (planned["selected"], planned["exported"]) == (7, 6)
    assert planned["skipped"] == {"malformed_record": 1}
    assert planned["by_ingest_date"] == {
        L: {
            "selected": 7,
            "exported": 6,
            "by_reason": {
                "price_out_of_range": 1,
                "side_invalid": 1,
                "timestamp_outside_partition": 4,
            },
            "skipped": {"malformed_record": 1},
        }
    }
    assert planned["target"] == f"{target}/{STEM}.jsonl"
    assert (planned["written"], planned["refused"]) == (False, None)
    assert not target.exists()
    assert states(replay_tool("ledger", "--ingest-date", L)[1]) == {
        "dead_letters": 7, "not_replayable": 1, "open": 6,
    }  # fmt: skip

    code, exported = replay_tool("export", "--ingest-date", L, "--landing", R)
    assert (code, exported["written"], exported["replaces"]) == (0, True, False)
    assert sorted(path.name for path in target.iterdir()) == [f"_{STEM}.json", f"{STEM}.jsonl"]
    written = (target / f"{STEM}.jsonl").read_bytes()
    lines = [json.loads(line) for line in written.decode().splitlines()]
    manifest = json.loads((target / f"_{STEM}.json").read_text())
    # Each line starts with the id of the dead letter it replays: the manifest's, in order.
    assert [line["tradelake_replay_of"] for line in lines] == manifest["dead_letters"][L]
    assert all(marker.startswith(f"{L}:") for marker in manifest["dead_letters"][L])
    contents = {line["trade_id"]: line for line in lines}
    for line in lines:
        del line["tradelake_replay_of"]
    # (4) The CSV dead letter is rebuilt with its file's header (names lower-cased).
    assert contents["T8"] == {
        "trade_id": "T8", "symbol": "msft", "side": "buy", "price": "411.5", "quantity": "1",
        "timestamp": "2025-01-13T14:00:00Z", "exchange": "XNAS", "desk": "desk-2",
    }  # fmt: skip
    # JSON dead letters are their line with the marker in front; Parquet its JSON rendering.
    assert json.loads(JSON_LINES[1]) == contents["T2"]
    assert contents["T9"] == {
        "trade_id": "T9", "symbol": "AAPL", "side": "sell", "price": 98.75, "quantity": 4,
        "timestamp": "2025-01-13T08:00:00.123456Z", "exchange": "XNAS", "venue_fee": 0.5,
    }  # fmt: skip
    assert sorted(contents) == ["T2", "T3", "T4", "T5", "T8", "T9"]
    assert states(replay_tool("ledger", "--ingest-date", L)[1]) == {
        "dead_letters": 7, "not_replayable": 1, "exported": 6,
    }  # fmt: skip

    # (1), (2) The contract widens; the replay landing's ingest routes each record to its day.
    monkeypatch.setenv("TRADELAKE_CONTRACT__MAX_LATENESS_DAYS", "4")
    monkeypatch.setenv("TRADELAKE_CONTRACT__MAX_PRICE", "3000000")
    second = run_job("ingest", "--date", R, *LOOSE_GATE)
    assert second.exit_code == 0, second.summary
    assert (second.summary["records_read"], second.summary["loaded"]) == (6, 5)
    assert second.summary["rejected_by_reason"] == {"side_invalid": 1}
    assert second.summary["loaded_by_date"] == {"2025-01-12": 1, "2025-01-13": 3, L: 1}
    assert second.summary["schema_drift"] == {
        "records": 6,
        "fields": ["desk", "tradelake_replay_of", "venue_fee"],
    }
    assert current_trades(spark, lake_env) == BEFORE | REPLAYED
    replayed_from = spark.sql(
        f"SELECT DISTINCT source_file FROM {lake_env.table('trades')} WHERE landing_date = '{R}'"
    ).collect()
    assert [row.source_file for row in replayed_from] == [f"file:{target}/{STEM}.jsonl"]
    # The Parquet trade comes back to the microsecond (epoch micros: collect() would render
    # the TIMESTAMP in the local time zone).
    [parquet_trade] = spark.sql(
        f"SELECT unix_micros(traded_at) AS micros FROM {lake_env.table('trades')} "
        "WHERE trade_id = 'T9'"
    ).collect()
    assert parquet_trade.micros == int(PARQUET_ROW["timestamp"].timestamp()) * 10**6 + 123456

    # (6) The ledger: five replayed, T5 rejected again (its new dead letter, of ingest date
    # R, is open), the malformed line never replayable.
    code, after = replay_tool("ledger", "--ingest-date", f"{L}:{R}")
    assert code == 0
    assert after["by_ingest_date"] == {
        L: {"dead_letters": 7, "not_replayable": 1, "open": 0, "exported": 0,
            "rejected_again": 1, "replayed": 5},
        R: {"dead_letters": 1, "not_replayable": 0, "open": 1, "exported": 0,
            "rejected_again": 0, "replayed": 0},
    }  # fmt: skip
    assert [(e["landing_date"], e["records"], e["ingested_since"]) for e in after["exports"]] == [
        (R, 6, True)
    ]

    # (3) The same selection again gives the same file, replacing it (the landing holds
    # only the replay's own files, so no flag is needed) ...
    trades_before = trades_content(spark, lake_env)
    code, again = replay_tool("export", "--ingest-date", L, "--landing", R)
    assert (code, again["written"], again["replaces"]) == (0, True, True)
    assert (target / f"{STEM}.jsonl").read_bytes() == written
    assert sorted(path.name for path in target.iterdir()) == [f"_{STEM}.json", f"{STEM}.jsonl"]
    # ... which is pending until R is ingested again; that rerun changes nothing in trades.
    assert states(replay_tool("ledger", "--ingest-date", L)[1]) == {
        "dead_letters": 7, "not_replayable": 1, "exported": 6,
    }  # fmt: skip
    third = run_job("ingest", "--date", R, *LOOSE_GATE)
    assert third.exit_code == 0, third.summary
    assert trades_content(spark, lake_env) == trades_before
    assert states(replay_tool("ledger", "--ingest-date", L)[1]) == {
        "dead_letters": 7, "not_replayable": 1, "rejected_again": 1, "replayed": 5,
    }  # fmt: skip
