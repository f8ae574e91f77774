"""Every run emits OpenLineage events that validate against the spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.lineage_schema import assert_valid_run_event
from tests.spark.rawfiles import CSV_HEADER, day_folder, write_lines

pytestmark = pytest.mark.spark

DAY = "2025-01-15"


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_ingest_and_gold_runs_emit_valid_start_and_complete_events(
    lake_env: Any, run_job: Any, tmp_path: Path
) -> None:
    rows = [f"T{i},AAPL,buy,1.5,2,{DAY}T20:00:00Z,XNAS" for i in range(12)]
    write_lines(day_folder(lake_env.raw_root, DAY) / "a.csv", [CSV_HEADER, *rows, "T99,AAPL"])
    ingest = run_job("ingest", "--date", DAY)
    volume = run_job("daily_volume", "--date", DAY)
    assert (ingest.exit_code, volume.exit_code) == (0, 0)

    emitted = events(tmp_path / "lineage.jsonl")
    for event in emitted:
        assert_valid_run_event(event)
    assert [(e["eventType"], e["job"]["name"]) for e in emitted] == [
        ("START", "ingest"),
        ("COMPLETE", "ingest"),
        ("START", "daily_volume"),
        ("COMPLETE", "daily_volume"),
    ]
    start, complete = emitted[0], emitted[1]
    assert start["run"]["runId"] == complete["run"]["runId"] == ingest.summary["lineage_run_id"]
    assert complete["inputs"][0]["name"].endswith(f"trades/date={DAY}")
    outputs = {o["name"]: o for o in complete["outputs"]}
    trades = outputs[f"{lake_env.database}.trades"]
    assert trades["outputFacets"]["outputStatistics"]["rowCount"] == 12
    assert trades["outputFacets"]["outputStatistics"]["size"] > 0
    assert {f["name"] for f in trades["facets"]["schema"]["fields"]} >= {"trade_id", "price"}
    rejected = outputs[f"{lake_env.database}.trades_rejected"]
    assert rejected["outputFacets"]["outputStatistics"]["rowCount"] == 1
    checks = complete["run"]["facets"]["tradelake_quality"]["checks"]
    assert {c["check"] for c in checks} >= {"record_count", "reject_ratio"}
    gold_inputs = emitted[3]["inputs"]
    assert [i["name"] for i in gold_inputs] == [f"{lake_env.database}.trades"]


def test_a_gated_run_emits_fail_with_the_error(lake_env: Any, run_job: Any, tmp_path: Path) -> None:
    rows = [f"B{i},AAPL,buy,-1,1,{DAY}T20:00:00Z,XNAS" for i in range(5)]
    write_lines(day_folder(lake_env.raw_root, DAY) / "a.csv", [CSV_HEADER, *rows])
    assert run_job("ingest", "--date", DAY).exit_code == 3
    fail = events(tmp_path / "lineage.jsonl")[-1]
    assert_valid_run_event(fail)
    assert fail["eventType"] == "FAIL"
    assert "quality gate failed" in fail["run"]["facets"]["errorMessage"]["message"]


def test_an_unreachable_lineage_endpoint_never_fails_the_job(
    lake_env: Any, run_job: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADELAKE_LINEAGE__TRANSPORT", "http")
    monkeypatch.setenv("TRADELAKE_LINEAGE__URL", "http://127.0.0.1:9")  # discard port
    monkeypatch.setenv("TRADELAKE_LINEAGE__MAX_ATTEMPTS", "1")
    rows = [f"T{i},AAPL,buy,1.5,2,{DAY}T20:00:00Z,XNAS" for i in range(3)]
    write_lines(day_folder(lake_env.raw_root, DAY) / "a.csv", [CSV_HEADER, *rows])
    run = run_job("ingest", "--date", DAY)
    assert run.exit_code == 0, run.summary
    assert run.summary["lineage"]["delivered"] is False
