"""The operations report's data layer: pure functions, hand-computed expectations."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from tradelake.report.data import (
    MAX_RECORD_CHARS,
    FunnelCounts,
    QualityPoint,
    Window,
    day_ranges,
    dead_letter_examples,
    dead_letters_per_day,
    funnel_counts,
    mask_record,
    outcome,
    parse_summary,
    reason_counts,
    symbol_ranking,
    top_reasons,
    volume_by_symbol,
)

D1, D2 = date(2025, 1, 1), date(2025, 1, 2)


@pytest.mark.parametrize(
    ("status", "exit_code", "expected"),
    [
        ("ok", 0, "ok"),
        ("QualityGateError", 3, "gated"),
        ("NoInputError", 4, "no input"),
        ("failed", 1, "failed"),
        ("ConfigError", 2, "failed"),
        ("ConservationError", 1, "failed"),
        # A status that says ok with a non-zero exit is not ok.
        ("ok", 1, "failed"),
    ],
)
def test_outcome_of_a_run(status: str, exit_code: int, expected: str) -> None:
    assert outcome(status, exit_code) == expected


def test_window_days_and_bounds() -> None:
    window = Window(date(2025, 1, 30), date(2025, 2, 2))
    assert window.days() == [
        date(2025, 1, 30),
        date(2025, 1, 31),
        date(2025, 2, 1),
        date(2025, 2, 2),
    ]
    assert date(2025, 1, 31) in window
    assert date(2025, 2, 3) not in window
    with pytest.raises(ValueError, match="--since 2025-01-02 is after --until 2025-01-01"):
        Window(D2, D1)


def test_day_ranges_join_consecutive_days() -> None:
    days = [date(2025, 1, n) for n in (7, 2, 3, 4, 9, 10)]
    assert day_ranges(days) == [
        (date(2025, 1, 2), date(2025, 1, 4)),
        (date(2025, 1, 7), date(2025, 1, 7)),
        (date(2025, 1, 9), date(2025, 1, 10)),
    ]
    assert day_ranges([]) == []


def _summary(**counts: object) -> dict[str, object]:
    return parse_summary(json.dumps(counts))


def test_funnel_counts_take_unreadable_files_out_of_an_older_summary() -> None:
    # Written when an unreadable file counted as one record read and one rejected.
    older = _summary(
        files={"read": 4, "empty": 0, "ignored": 0, "unreadable": 2},
        records_read=102,
        loaded=90,
        duplicates_dropped=3,
        rejected=9,
        rejected_by_reason={"price_not_positive": 7, "unreadable_file": 2},
    )
    # The records-only counting: files apart, not a reason code of records.
    newer = _summary(
        files={"read": 4, "empty": 0, "ignored": 0, "unreadable": 2},
        unreadable_files=[{"path": "a.gz", "error": "EOF"}, {"path": "b.gz", "error": "EOF"}],
        records_read=100,
        loaded=90,
        duplicates_dropped=3,
        rejected=7,
        rejected_by_reason={"price_not_positive": 7},
    )
    expected = FunnelCounts(100, 90, 3, 7, 2)
    assert funnel_counts(older) == expected
    assert funnel_counts(newer) == expected
    assert expected.conserved


def test_funnel_counts_without_unreadable_files_are_taken_as_written() -> None:
    summary = _summary(
        files={"read": 1, "empty": 0, "ignored": 0, "unreadable": 0},
        records_read=10,
        loaded=6,
        duplicates_dropped=1,
        rejected=2,
    )
    counts = funnel_counts(summary)
    assert counts == FunnelCounts(10, 6, 1, 2, 0)
    assert counts is not None and not counts.conserved  # 10 != 6 + 1 + 2: shown as such


def test_funnel_counts_of_the_unreadable_file_list_alone() -> None:
    summary = _summary(
        unreadable_files=[{"path": "a.gz", "error": "EOF"}],
        records_read=5,
        loaded=5,
        duplicates_dropped=0,
        rejected=0,
    )
    assert funnel_counts(summary) == FunnelCounts(5, 5, 0, 0, 1)


def test_funnel_counts_of_a_run_that_ended_before_counting_are_none() -> None:
    assert funnel_counts(_summary(status="failed", error="boom")) is None
    assert funnel_counts(parse_summary("not json")) is None
    assert parse_summary(None) == {}


def _rejects(rows: list[tuple[date, list[str]]]) -> pa.Table:
    return pa.table(
        {
            "ingest_date": [day for day, _ in rows],
            "reasons": [reasons for _, reasons in rows],
        },
        schema=pa.schema([("ingest_date", pa.date32()), ("reasons", pa.list_(pa.string()))]),
    )


def test_reason_counts_count_each_rule_a_record_broke() -> None:
    table = _rejects(
        [
            (D1, ["price_not_positive", "symbol_missing"]),
            (D1, ["price_not_positive"]),
            (D2, ["side_invalid"]),
            (D2, ["unreadable_file"]),
            (D2, ["side_invalid", "price_not_positive"]),
        ]
    )
    counts = [(c.day, c.reason, c.count) for c in reason_counts(table)]
    assert counts == [
        (D1, "price_not_positive", 2),
        (D1, "symbol_missing", 1),
        (D2, "price_not_positive", 1),
        (D2, "side_invalid", 2),
        (D2, "unreadable_file", 1),
    ]
    assert dead_letters_per_day(table) == {D1: 2, D2: 3}
    top = [(c.reason, c.count) for c in top_reasons(reason_counts(table), D2, limit=2)]
    # side_invalid 2 first; price_not_positive and unreadable_file tie at 1: code order.
    assert top == [("side_invalid", 2), ("price_not_positive", 1)]
    assert reason_counts(_rejects([])) == []
    assert reason_counts(None) == []


def test_json_record_loses_its_pii_fields_and_email_addresses() -> None:
    record = (
        '{"trade_id": "T1", "Account_ID": "A-9", "nested": {"trader_email": "a@b.co"}, '
        '"note": "<script>x</script> call c.d+e@mail.example.com", "price": 1.50}'
    )
    assert mask_record(record, "a.jsonl") == (
        '{"trade_id": "T1", "Account_ID": "***", "nested": {"trader_email": "***"}, '
        '"note": "<script>x</script> call ***", "price": 1.50}'
    )
    assert mask_record('{"q": 1e5, "ok": true, "n": null, "l": [1, "a@b.cc"]}', "x") == (
        '{"q": 1E+5, "ok": true, "n": null, "l": [1, "***"]}'
    )


def test_csv_line_keeps_only_fields_shaped_like_public_values() -> None:
    line = 'T9,AAPL,buy,187.25,-1,2025-01-15T10:00:00Z,XNAS,ACC-1,"x@y.com",12345678,1000'
    assert mask_record(line, "day.csv.gz") == (
        "***,AAPL,buy,187.25,-1,2025-01-15T10:00:00Z,XNAS,***,***,***,1000"
    )


def test_other_text_loses_pii_pairs_and_email_addresses() -> None:
    broken = '{"trade_id": "T3", "account_id": "ACC-5", "trader_email": "z@q.io", "side": "x"'
    assert mask_record(broken, "b.jsonl") == (
        '{"trade_id": "T3", "account_id": ***, "trader_email": ***, "side": "x"'
    )
    assert mask_record("account_id=77 owner a@b.org", "x.jsonl") == "account_id=*** owner ***"
    assert mask_record(None, "x") == ""


def test_dead_letter_examples_one_per_reason_set_first_then_in_order() -> None:
    long_record = '{"trade_id": "' + "x" * 1000 + '"}'
    table = pa.table(
        {
            "ingest_date": [D1] * 4,
            "source_file": ["a.jsonl", "a.jsonl", "b.gz", "a.jsonl"],
            "record": [long_record, '{"a": 1}', "EOF", '{"b": 2}'],
            "reasons": [["side_invalid"], ["side_invalid"], ["unreadable_file"], ["x"]],
        }
    )
    examples = dead_letter_examples(table, limit=3)
    assert [(e.source_file, e.reasons) for e in examples] == [
        ("a.jsonl", ("side_invalid",)),
        ("b.gz", ("unreadable_file",)),
        ("a.jsonl", ("x",)),
    ]
    first = examples[0]
    assert (len(first.text), first.length, first.truncated) == (MAX_RECORD_CHARS, 1016, True)
    fill = dead_letter_examples(table, limit=4)
    assert [e.text for e in fill][-1] == '{"a": 1}'


def _point(threshold: str, observed: str = "1") -> QualityPoint:
    return QualityPoint(
        D1, "c", "ingest", "trades", "error", True, Decimal(observed), threshold, "r"
    )


def test_thresholds_read_as_limits_and_bands() -> None:
    assert _point("<= 0.1").limit == Decimal("0.1")
    assert _point("<= 6.0 h between the latest trade and the day's end").limit == Decimal("6.0")
    band = _point("within [1.5e+06, 4.5e+06] (median 3e+06 of the last 14 days)").band
    assert band == (Decimal("1500000"), Decimal("4500000"))
    assert _point("needs 3 published days, found 1").band is None
    assert _point("needs 3 published days, found 1").limit is None


def _volumes(rows: list[tuple[date, str, int, str]]) -> pa.Table:
    return pa.table(
        {
            "trade_date": [r[0] for r in rows],
            "symbol": [r[1] for r in rows],
            "trade_count": [r[2] for r in rows],
            "total_volume": [Decimal(r[3]) for r in rows],
        },
        schema=pa.schema(
            [
                ("trade_date", pa.date32()),
                ("symbol", pa.string()),
                ("trade_count", pa.int64()),
                ("total_volume", pa.decimal128(28, 8)),
            ]
        ),
    )


def test_symbols_ranked_by_trades_and_the_top_ones_kept() -> None:
    table = _volumes(
        [
            (D1, "KO", 5, "1.00000001"),
            (D1, "AAPL", 3, "2.5"),
            (D2, "AAPL", 4, "3.25"),
            (D2, "MSFT", 7, "100"),
            (D2, "KO", 2, "0.1"),
        ]
    )
    # KO 7, AAPL 7, MSFT 7: a three-way tie, broken by symbol.
    assert symbol_ranking(table) == [("AAPL", 7), ("KO", 7), ("MSFT", 7)]
    kept = volume_by_symbol(table, top=2)
    assert [(v.day, v.symbol, v.trade_count, v.total_volume) for v in kept] == [
        (D1, "AAPL", 3, Decimal("2.50000000")),
        (D1, "KO", 5, Decimal("1.00000001")),
        (D2, "AAPL", 4, Decimal("3.25000000")),
        (D2, "KO", 2, Decimal("0.10000000")),
    ]
    assert symbol_ranking(None) == [] and volume_by_symbol(None) == []


def test_the_report_imports_no_spark() -> None:
    code = (
        "import sys, tradelake.report, tradelake.report.lake, tradelake.report.html; "
        "print('pyspark' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_started_at_orders_runs_of_the_same_day() -> None:
    from tradelake.report.data import latest_runs, run_rows

    def row(run_id: str, hour: int, status: str, code: int) -> dict[str, object]:
        return {
            "run_id": run_id,
            "job": "ingest",
            "run_date": D1,
            "status": status,
            "exit_code": code,
            "published": code == 0,
            "started_at": datetime(2025, 1, 2, hour, tzinfo=UTC),
            "seconds": 1.0,
            "summary": "{}",
        }

    runs = run_rows(pa.Table.from_pylist([row("b", 5, "ok", 0), row("a", 3, "failed", 1)]))
    latest, count = latest_runs(runs)[(D1, "ingest")]
    assert (latest.run_id, latest.outcome, count) == ("b", "ok", 2)
