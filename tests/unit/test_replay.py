"""Export and ledger on a lake written with pyiceberg (no Spark), local and on S3 (moto).

The dead letters, by hand (ingest date, what they are, what a replay does with them):

- 01-14 J1 ``timestamp_outside_partition``, J2 ``price_out_of_range`` + ``symbol_missing``:
  JSON lines, exported;
- 01-14 C1 (CSV, its file still there): exported, rebuilt with the file's header;
  C2 (its CSV file gone): skipped, ``csv_header_unavailable``; C3 (a doubled quote):
  skipped, ``not_rebuildable``;
- 01-14 P1 (Parquet rendering, ``price_too_precise``): exported;
- 01-14 M1 ``malformed_record``, U1 ``unreadable_file``: never exported;
- 01-15 K1 (a Kafka message, ``symbol_missing``): exported; X1 ``duplicate_conflict``:
  never exported.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.lakes import Lake
from tradelake.config import load_settings
from tradelake.replay.cli import export, ledger, main
from tradelake.replay.records import Selection, dead_letter_id
from tradelake.spec_schema import append_rows, create_table
from tradelake.tables import JOB_RUNS, TRADES_REJECTED

D14, D15, R = date(2025, 1, 14), date(2025, 1, 15), date(2025, 1, 16)
EXPORTED_AT = datetime(2025, 1, 16, 6, 0, tzinfo=UTC)
CSV_HEADER = "trade_id,symbol,side,price,quantity,timestamp,exchange"
J1 = '{"trade_id": "J1", "timestamp": "2025-01-13T10:00:00Z"}'
J2 = '{"trade_id": "J2", "price": "2000000"}'
C1 = "C1,AAPL,buy,1,1,2025-01-13T10:00:00Z,XNAS"
P1 = '{"trade_id":"P1","Price":1E-9}'
K1 = '{\n "trade_id": "K1"\n}'
EVERY_DAY = Selection(D14, D15)


def dead_letter(day: date, source: str, record: str, *reasons: str) -> dict[str, Any]:
    return {
        "ingest_date": day,
        "run_id": f"run-{day.day}",
        "source_file": source,
        "record": record,
        "reasons": list(reasons),
        "rejected_at": datetime(day.year, day.month, day.day, 2, tzinfo=UTC),
    }


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lake]:
    """An embedded lake with the dead letters above, and the raw files they came from."""
    lake = Lake(tmp_path / "lake", files=tmp_path)
    lake.warehouse.mkdir(parents=True)
    lake.use(monkeypatch)
    landing = lake.raw_root / "trades" / "date=2025-01-14"
    landing.mkdir(parents=True)
    (landing / "b.csv").write_text(f"{CSV_HEADER}\n{C1}\n")
    source = f"file:{landing}"
    rows = [
        dead_letter(D14, f"{source}/a.jsonl", J1, "timestamp_outside_partition"),
        dead_letter(D14, f"{source}/a.jsonl", J2, "price_out_of_range", "symbol_missing"),
        dead_letter(D14, f"{source}/a.jsonl", '{"trade_id": "M1"', "malformed_record"),
        dead_letter(D14, f"{source}/b.csv", C1, "timestamp_outside_partition"),
        dead_letter(D14, f"{source}/gone.csv", "C2,AAPL", "timestamp_outside_partition"),
        dead_letter(D14, f"{source}/b.csv", 'C3,"AA""PL",buy,1,1,x,XNAS', "symbol_invalid"),
        dead_letter(D14, f"{source}/c.parquet", P1, "price_too_precise"),
        dead_letter(D14, f"{source}/bad.gz", "java.io.EOFException", "unreadable_file"),
        dead_letter(D15, "kafka://trades/0/42", K1, "symbol_missing"),
        dead_letter(D15, f"{source}/a.jsonl", '{"trade_id": "X1"}', "duplicate_conflict"),
    ]
    append_rows(create_table(lake.catalog(), lake.database, TRADES_REJECTED), rows)
    yield lake


def landing_folder(lake: Lake, day: date) -> Path:
    return lake.raw_root / "trades" / f"date={day.isoformat()}"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    """``python -m tradelake.replay ARGV --json``: exit code, result (if any), stderr."""
    capsys.readouterr()
    exit_code = main([*argv, "--json"])
    captured = capsys.readouterr()
    return exit_code, json.loads(captured.out) if captured.out else {}, captured.err


EXPECTED_BY_DATE = {
    "2025-01-14": {
        "selected": 8,
        "exported": 4,
        "by_reason": {
            "price_out_of_range": 1,
            "price_too_precise": 1,
            "symbol_missing": 1,
            "timestamp_outside_partition": 2,
        },
        "skipped": {
            "csv_header_unavailable": 1,
            "malformed_record": 1,
            "not_rebuildable": 1,
            "unreadable_file": 1,
        },
    },
    "2025-01-15": {
        "selected": 2,
        "exported": 1,
        "by_reason": {"symbol_missing": 1},
        "skipped": {"duplicate_conflict": 1},
    },
}


def test_a_dry_run_counts_per_day_and_reason_and_writes_nothing(
    lake: Lake, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ("export", "--ingest-date", "2025-01-14:2025-01-15", "--landing", "2025-01-16")
    code, result, _ = run(capsys, *argv, "--dry-run")
    assert code == 0
    assert result["by_ingest_date"] == EXPECTED_BY_DATE
    assert (result["selected"], result["exported"]) == (10, 5)
    assert result["skipped"] == {
        "csv_header_unavailable": 1,
        "duplicate_conflict": 1,
        "malformed_record": 1,
        "not_rebuildable": 1,
        "unreadable_file": 1,
    }
    folder = landing_folder(lake, R)
    assert result["target"] == f"{folder}/replay-2025-01-14-2025-01-15-all.jsonl"
    assert (result["written"], result["refused"]) == (False, None)
    assert not folder.exists()
    # For people: one row per ingest date, and what would be written.
    assert main([*argv, "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[-4:] == [
        "  2025-01-14          8        4  price_out_of_range 1, price_too_precise 1, "
        "symbol_missing 1, timestamp_outside_partition 2 / skipped: csv_header_unavailable 1, "
        "malformed_record 1, not_rebuildable 1, unreadable_file 1",
        "  2025-01-15          2        1  symbol_missing 1 / skipped: duplicate_conflict 1",
        "  total              10        5",
        f"dry run: would write {result['target']}; nothing was written",
    ]


def test_an_export_writes_one_landing_file_and_its_manifest(lake: Lake) -> None:
    settings = load_settings()
    result = export(settings, EVERY_DAY, R, now=EXPORTED_AT)
    assert (result["written"], result["exported"]) == (True, 5)
    folder = landing_folder(lake, R)
    stem = "replay-2025-01-14-2025-01-15-all"
    assert sorted(path.name for path in folder.iterdir()) == [f"_{stem}.json", f"{stem}.jsonl"]
    source = f"file:{landing_folder(lake, D14)}"
    ids = [
        dead_letter_id(D14, f"{source}/a.jsonl", J1),
        dead_letter_id(D14, f"{source}/a.jsonl", J2),
        dead_letter_id(D14, f"{source}/b.csv", C1),
        dead_letter_id(D14, f"{source}/c.parquet", P1),
        dead_letter_id(D15, "kafka://trades/0/42", K1),
    ]
    # In the order of (ingest date, source file, record), whatever order the table gives.
    assert (folder / f"{stem}.jsonl").read_text().splitlines() == [
        f'{{"tradelake_replay_of":"{ids[0]}","trade_id": "J1", '
        '"timestamp": "2025-01-13T10:00:00Z"}',
        f'{{"tradelake_replay_of":"{ids[1]}","trade_id": "J2", "price": "2000000"}}',
        f'{{"tradelake_replay_of":"{ids[2]}","trade_id":"C1","symbol":"AAPL","side":"buy",'
        '"price":"1","quantity":"1","timestamp":"2025-01-13T10:00:00Z","exchange":"XNAS"}',
        f'{{"tradelake_replay_of":"{ids[3]}","trade_id":"P1","price":1E-9}}',
        f'{{"tradelake_replay_of":"{ids[4]}",  "trade_id": "K1" }}',
    ]
    manifest = json.loads((folder / f"_{stem}.json").read_text())
    assert manifest == {
        "tradelake_replay_manifest": 1,
        "landing_date": "2025-01-16",
        "file": f"{stem}.jsonl",
        "exported_at": "2025-01-16T06:00:00+00:00",
        "selection": {"ingest_dates": ["2025-01-14", "2025-01-15"], "reasons": []},
        "records": 5,
        "skipped": {
            "csv_header_unavailable": 1,
            "duplicate_conflict": 1,
            "malformed_record": 1,
            "not_rebuildable": 1,
            "unreadable_file": 1,
        },
        "dead_letters": {"2025-01-14": ids[:4], "2025-01-15": ids[4:]},
    }
    # The same selection again: the same file, replaced.
    first = (folder / f"{stem}.jsonl").read_bytes()
    again = export(settings, EVERY_DAY, R, now=EXPORTED_AT + timedelta(hours=1))
    assert (again["written"], again["replaces"]) == (True, True)
    assert (folder / f"{stem}.jsonl").read_bytes() == first
    assert len(list(folder.iterdir())) == 2


def test_a_landing_with_other_files_is_refused_unless_asked(
    lake: Lake, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = landing_folder(lake, R)
    folder.mkdir(parents=True)
    (folder / "feed.jsonl").write_text('{"trade_id": "F1"}\n')
    (folder / "_SUCCESS").write_text("")
    argv = ("export", "--ingest-date", "2025-01-14", "--reason", "timestamp_outside_partition")
    code, result, err = run(capsys, *argv, "--landing", "2025-01-16")
    assert code == 2
    assert (result["exported"], result["other_landing_files"], result["written"]) == (2, 1, False)
    assert err == (
        f"tradelake: the landing folder {folder} already holds 1 other file(s) (feed.jsonl): "
        "a replay written there is ingested together with them. Pick another --landing, or "
        "pass --add-to-existing if that is meant; nothing was written\n"
    )
    assert sorted(path.name for path in folder.iterdir()) == ["_SUCCESS", "feed.jsonl"]
    # A dry run says the same, with the same exit code.
    assert run(capsys, *argv, "--landing", "2025-01-16", "--dry-run")[0] == 2
    code, result, _ = run(capsys, *argv, "--landing", "2025-01-16", "--add-to-existing")
    assert (code, result["written"]) == (0, True)
    stem = "replay-2025-01-14-2025-01-14-r4cfe90b2"
    assert sorted(path.name for path in folder.iterdir()) == [
        "_SUCCESS", f"_{stem}.json", "feed.jsonl", f"{stem}.jsonl",
    ]  # fmt: skip


def test_nothing_to_export_exits_4_and_writes_nothing(
    lake: Lake, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ("export", "--ingest-date", "2025-01-14", "--reason", "symbol_invalid")
    code, result, err = run(capsys, *argv, "--landing", "2025-01-16")
    assert (code, result["selected"], result["skipped"]) == (4, 1, {"not_rebuildable": 1})
    assert err == (
        "tradelake: none of the 1 selected dead letters can be exported (skipped: "
        "{'not_rebuildable': 1}); nothing was written\n"
    )
    assert not landing_folder(lake, R).exists()
    code, _, err = run(capsys, "export", "--ingest-date", "2025-01-14", "--landing", "2025-01-16",
                       "--database", "elsewhere")  # fmt: skip
    assert code == 4
    assert "no table lake.elsewhere.trades_rejected" in err


def ledger_states(settings: Any, selection: Selection = EVERY_DAY) -> dict[str, dict[str, int]]:
    result = ledger(settings, selection)
    return {
        day: {state: n for state, n in counts.items() if n}
        for day, counts in result["by_ingest_date"].items()
    }


def test_the_ledger_follows_a_replay_from_open_to_replayed(lake: Lake) -> None:
    settings = load_settings()
    before = {"dead_letters": 8, "not_replayable": 2, "open": 6}
    assert ledger_states(settings) == {
        "2025-01-14": before,
        "2025-01-15": {"dead_letters": 2, "not_replayable": 1, "open": 1},
    }
    result = export(settings, EVERY_DAY, R, now=EXPORTED_AT)
    assert ledger_states(settings) == {
        "2025-01-14": {"dead_letters": 8, "not_replayable": 2, "open": 2, "exported": 4},
        "2025-01-15": {"dead_letters": 2, "not_replayable": 1, "exported": 1},
    }
    # R's ingest is gated: J2's replay is rejected again, nothing published.
    j2_line = Path(result["target"]).read_text().splitlines()[1]
    runs = create_table(lake.catalog(), lake.database, JOB_RUNS)
    ingest_started = EXPORTED_AT + timedelta(minutes=5)

    def ingest_run(run_id: str, started: datetime, published: bool) -> dict[str, Any]:
        return {
            "run_id": run_id, "job": "ingest", "run_date": R, "status": "ok", "exit_code": 0,
            "published": published, "started_at": started, "seconds": 9.0, "summary": "{}",
        }  # fmt: skip

    # An ingest of R before the export does not count.
    append_rows(runs, [ingest_run("early", EXPORTED_AT - timedelta(hours=1), True)])
    rejects = lake.table(TRADES_REJECTED.name)
    append_rows(rejects, [{**dead_letter(R, result["target"], j2_line, "symbol_missing"),
                           "rejected_at": ingest_started}])  # fmt: skip
    append_rows(runs, [ingest_run("gated", ingest_started, False)])
    assert ledger_states(settings)["2025-01-14"] == {
        "dead_letters": 8, "not_replayable": 2, "open": 2, "exported": 3, "rejected_again": 1,
    }  # fmt: skip
    # Rerun with the gate loosened: published.
    append_rows(runs, [ingest_run("ok", ingest_started + timedelta(minutes=1), True)])
    assert ledger_states(settings) == {
        "2025-01-14": {"dead_letters": 8, "not_replayable": 2, "open": 2, "replayed": 3,
                       "rejected_again": 1},
        "2025-01-15": {"dead_letters": 2, "not_replayable": 1, "replayed": 1},
    }  # fmt: skip
    # The rejected-again dead letter is one of R's own, open, its marker the dead letter's.
    assert ledger_states(settings, Selection(R, R)) == {
        "2025-01-16": {"dead_letters": 1, "open": 1}
    }
    (exported,) = ledger(settings, EVERY_DAY)["exports"]
    assert exported == {
        "landing_date": "2025-01-16",
        "file": result["target"],
        "file_present": True,
        "exported_at": "2025-01-16T06:00:00+00:00",
        "selection": {"ingest_dates": ["2025-01-14", "2025-01-15"], "reasons": []},
        "records": 5,
        "ingested_since": True,
        "exported": 0,
        "rejected_again": 1,
        "replayed": 4,
        "open": 0,
    }
    # A landing file removed by hand takes its export back: the dead letters are open.
    Path(result["target"]).unlink()
    assert ledger_states(settings)["2025-01-14"] == {
        "dead_letters": 8, "not_replayable": 2, "open": 6,
    }  # fmt: skip


def test_a_replay_to_s3_reads_headers_and_writes_the_landing_there(
    lake: Lake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "TRADELAKE_RAW_URI": "s3://raw-bucket/raw",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="raw-bucket")
        landing = "raw/trades/date=2025-01-14"
        header = "\ufeffTrade_ID,symbol,side,price,quantity,timestamp,exchange\r\n"
        s3.put_object(Bucket="raw-bucket", Key=f"{landing}/b c.csv.gz",
                      Body=gzip.compress(f"{header}{C1}\n".encode()))  # fmt: skip
        # Spark names files as percent-encoded URIs.
        source = "s3://raw-bucket/raw/trades/date=2025-01-14/b%20c.csv.gz"
        append_rows(lake.table(TRADES_REJECTED.name),
                    [dead_letter(D14, source, C1, "timestamp_outside_partition")])  # fmt: skip
        argv = ("export", "--ingest-date", "2025-01-14", "--reason", "timestamp_outside_partition")
        code, result, _ = run(capsys, *argv, "--landing", "2025-01-16")
        stem = "replay-2025-01-14-2025-01-14-r4cfe90b2"
        assert (code, result["exported"], result["skipped"]) == (
            0,
            3,
            {"csv_header_unavailable": 1},
        )
        listed = s3.list_objects_v2(Bucket="raw-bucket", Prefix="raw/trades/date=2025-01-16/")
        assert [item["Key"] for item in listed["Contents"]] == [
            f"raw/trades/date=2025-01-16/_{stem}.json",
            f"raw/trades/date=2025-01-16/{stem}.jsonl",
        ]
        body = s3.get_object(Bucket="raw-bucket", Key=f"raw/trades/date=2025-01-16/{stem}.jsonl")
        lines = body["Body"].read().decode().splitlines()
        marker = dead_letter_id(D14, source, C1)
        assert lines[-1] == (
            f'{{"tradelake_replay_of":"{marker}","trade_id":"C1","symbol":"AAPL","side":"buy",'
            '"price":"1","quantity":"1","timestamp":"2025-01-13T10:00:00Z","exchange":"XNAS"}'
        )
        code, ledger_result, _ = run(capsys, "ledger", "--ingest-date", "2025-01-14")
        # J2, C2, C3 and P1 open; J1, C1 and the S3 C1 exported; M1 and U1 not replayable.
        assert {state: n for state, n in ledger_result["totals"].items() if n} == {
            "dead_letters": 9, "not_replayable": 2, "open": 4, "exported": 3,
        }  # fmt: skip
