"""The sample-data generator: deterministic, and the requested ratios hold."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from tradelake.sample import generate_day, main

DAY = date(2025, 3, 4)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _jsonl_records(root: Path) -> list[str]:
    return [
        line
        for path in sorted(root.rglob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]


def test_same_arguments_give_byte_identical_files(tmp_path: Path) -> None:
    first = generate_day(tmp_path / "a", DAY, trades=700, files=4, seed=5)
    second = generate_day(tmp_path / "b", DAY, trades=700, files=4, seed=5)
    other_seed = generate_day(tmp_path / "c", DAY, trades=700, files=4, seed=6)

    assert first == second
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert _files(tmp_path / "a") != _files(tmp_path / "c")
    assert other_seed["clean_trades"] == first["clean_trades"] == 700


@pytest.mark.parametrize(
    ("trades", "bad_ratio", "dupe_ratio"), [(2000, 0.03, 0.02), (1000, 0.2, 0.1), (500, 0.0, 0.0)]
)
def test_requested_ratios_of_bad_and_duplicate_records_hold(
    tmp_path: Path, trades: int, bad_ratio: float, dupe_ratio: float
) -> None:
    described = generate_day(
        tmp_path,
        DAY,
        trades=trades,
        files=4,
        seed=1,
        bad_ratio=bad_ratio,
        dupe_ratio=dupe_ratio,
        file_format="jsonl",
    )

    bad = sum(described["bad_by_kind"].values())
    dupes = described["exact_duplicates"] + described["conflicting_versions"]
    assert bad == round(trades * bad_ratio)
    assert dupes == round(trades * dupe_ratio)
    assert described["clean_trades"] == trades
    assert described["records_written"] == trades + bad + dupes
    lines = _jsonl_records(tmp_path)
    assert len(lines) == described["records_written"]
    assert sum(f["records"] for f in described["files"]) == described["records_written"]
    # JSON Lines cannot carry a short CSV row; every other kind is spread round-robin.
    assert described["bad_by_kind"]["short_csv_row"] == 0
    counts = [n for kind, n in described["bad_by_kind"].items() if kind != "short_csv_row"]
    assert max(counts) - min(counts) <= 1


def test_sharded_day_adds_up_and_keeps_trade_ids_distinct(tmp_path: Path) -> None:
    described = generate_day(
        tmp_path, DAY, trades=1001, files=6, seed=9, shards=3, workers=2, file_format="jsonl"
    )

    assert described["clean_trades"] == 1001
    assert sum(described["bad_by_kind"].values()) == 10 + 10 + 10  # round(334 * 0.03) each
    data_files = [f for f in described["files"] if f["format"] == "jsonl"]
    assert len(data_files) == 6
    assert {f["path"].split("/")[-1][:9] for f in data_files} == {
        "part-000-",
        "part-001-",
        "part-002-",
    }
    ids = {
        record["trade_id"]
        for line in _jsonl_records(tmp_path)
        if line.endswith("}") and "trade_id" in (record := json.loads(line))
    }
    # Clean trades of different shards never share an id; duplicates reuse their own.
    assert {i.split("-")[1] for i in ids} == {"000", "001", "002"}
    assert len(ids) >= described["clean_trades"]
    again = generate_day(
        tmp_path / "again", DAY, trades=1001, files=6, seed=9, shards=3, file_format="jsonl"
    )
    assert _files(tmp_path / "again") == {
        k: v for k, v in _files(tmp_path).items() if not k.startswith("again/")
    }
    assert again == described


def test_refuses_bad_arguments_and_a_folder_holding_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--date", "2025-03-04", "--out", str(tmp_path), "--trades", "0"]) == 1
    assert main(["--date", "2025-03-04", "--out", str(tmp_path), "--bad-ratio", "1.5"]) == 1
    assert main(["--date", "2025-03-04", "--out", str(tmp_path), "--shards", "9"]) == 1
    assert main(["--date", "2025-03-04", "--out", str(tmp_path), "--trades", "50"]) == 0
    assert main(["--date", "2025-03-04", "--out", str(tmp_path), "--trades", "50"]) == 1
    assert "--overwrite" in capsys.readouterr().err
