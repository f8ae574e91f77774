"""The replay's arguments, names and landing lines (no lake, no Spark).

Every expected line is written out: what the ingest will read is the contract of a replay.
"""

from __future__ import annotations

from datetime import date

import pytest

from tradelake.replay.cli import main
from tradelake.replay.records import (
    Selection,
    csv_line,
    dead_letter_id,
    json_line,
    parquet_line,
    parse_ingest_dates,
)

MARKER = "2025-01-14:0123456789abcdef"
MARKED = '{"tradelake_replay_of":"2025-01-14:0123456789abcdef"'


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export", "--ingest-date", "2025-01-15:2025-01-14", "--landing", "2025-01-16"],
         "'2025-01-15:2025-01-14' ends before it starts; use A:B with A on or before B"),
        (["export", "--ingest-date", "2025-02-30", "--landing", "2025-01-16"],
         "'2025-02-30' is not a date or a range A:B of dates (YYYY-MM-DD)"),
        (["export", "--ingest-date", "2025-01-14", "--landing", "16.01.2025"],
         "'16.01.2025' is not a date; use YYYY-MM-DD"),
        (["export", "--ingest-date", "2025-01-14"],
         "the following arguments are required: --landing"),
        (["ledger", "--ingest-date", "2025-01-14", "--reason", "price_negative"],
         "argument --reason: invalid choice: 'price_negative'"),
        (["ledger"], "the following arguments are required: --ingest-date"),
    ],
)  # fmt: skip
def test_bad_arguments_exit_2_before_anything_is_read(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("code", ["unreadable_file", "malformed_record", "duplicate_conflict"])
def test_an_export_of_a_reason_never_replayed_is_refused(
    code: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["export", "--ingest-date", "2025-01-14", "--landing", "2025-01-16"]
    assert main([*argv, "--reason", "side_invalid", code]) == 2
    assert f"tradelake: --reason {code}: never exported, " in capsys.readouterr().err


def test_ingest_dates_are_one_day_or_a_range() -> None:
    assert parse_ingest_dates("2025-01-14") == (date(2025, 1, 14), date(2025, 1, 14))
    assert parse_ingest_dates("2025-01-14:2025-01-16") == (date(2025, 1, 14), date(2025, 1, 16))


def test_a_selection_has_one_name_whatever_order_its_reasons_come_in() -> None:
    one = Selection(date(2025, 1, 14), date(2025, 1, 15), ("side_invalid", "price_missing"))
    same = Selection(date(2025, 1, 14), date(2025, 1, 15), ("price_missing", "side_invalid"))
    assert one.reasons == ("price_missing", "side_invalid")
    assert one.file_name == same.file_name == "replay-2025-01-14-2025-01-15-r3f5ab68c.jsonl"
    assert one.manifest_name == "_replay-2025-01-14-2025-01-15-r3f5ab68c.json"
    every = Selection(date(2025, 1, 14), date(2025, 1, 14))
    assert every.file_name == "replay-2025-01-14-2025-01-14-all.jsonl"
    assert (one.takes(["side_invalid", "symbol_missing"]), one.takes(["symbol_missing"])) == (
        True,
        False,
    )
    assert every.takes(["symbol_missing"])


def test_a_dead_letters_id_is_its_day_and_a_hash_of_its_file_and_record() -> None:
    # Pinned: manifests already written name dead letters by these ids.
    letter = dead_letter_id(
        date(2025, 1, 14), "file:/raw/trades/date=2025-01-14/a.jsonl", '{"trade_id": "J1"}'
    )
    assert letter == "2025-01-14:17f9f2df982af653"
    assert (
        dead_letter_id(date(2025, 1, 14), "file:/raw/other.jsonl", '{"trade_id": "J1"}') != letter
    )


@pytest.mark.parametrize(
    ("record", "line"),
    [
        ('{"trade_id": "T1", "price": 187.250}', MARKED + ',"trade_id": "T1", "price": 187.250}'),
        ('  {  "trade_id": "T1"}', MARKED + ',  "trade_id": "T1"}'),
        ("{ }", MARKED + " }"),
        # A Kafka message may be pretty-printed: a landing line holds no line break.
        ('{\n  "trade_id": "K1"\r\n}', MARKED + ',   "trade_id": "K1"  }'),
        # A dead letter that is a replay rejected again: its marker is replaced, not repeated.
        ('{"tradelake_replay_of":"2025-01-10:ffffffffffffffff","trade_id": "T1"}',
         MARKED + ',"trade_id": "T1"}'),
        ('{"tradelake_replay_of":"2025-01-10:ffffffffffffffff"}', MARKED + "}"),
        ("[1, 2]", None),
    ],
)  # fmt: skip
def test_a_json_dead_letter_is_its_line_with_the_marker_in_front(
    record: str, line: str | None
) -> None:
    assert json_line(record, MARKER) == line


def test_a_csv_dead_letter_becomes_an_object_of_its_headers_names() -> None:
    header = '\ufefftrade_id, Symbol ,"side",price,quantity,timestamp,exchange,price'
    record = 'C1,"AA,PL",buy,,1,2025-01-13T10:00:00Z," XNAS ",9'
    # Names as the ingest reads them: lower-cased, trimmed, unquoted; the first "price"
    # wins. Values as text: an empty field is "", missing to the contract as it was.
    assert csv_line(header, record, MARKER) == (
        MARKED + ',"trade_id":"C1","symbol":"AA,PL","side":"buy","price":"","quantity":"1",'
        '"timestamp":"2025-01-13T10:00:00Z","exchange":" XNAS "}'
    )


@pytest.mark.parametrize(
    "record",
    [
        'C1,"AA""PL",buy',  # a doubled quote: Spark keeps it as written, Python's csv does not
        'C1,"AA\\"PL",buy',  # a backslash: Spark's escape character
        "C1,AA\\PL,buy",
        'C1,A"A,buy',  # a quote inside a plain field
        "C1,AAPL",  # fewer fields than the header has now
        "C1,AAPL,buy,extra",
    ],
)
def test_a_csv_row_that_cannot_be_rebuilt_exactly_is_not(record: str) -> None:
    assert csv_line("trade_id,symbol,side", record, MARKER) is None


def test_a_parquet_dead_letter_keeps_every_value_as_rendered_with_names_lower_cased() -> None:
    record = (
        '{"Trade_ID":"P1","PRICE":0.00000000123456789012345678901,"quantity":1E+3,'
        '"timestamp":"2025-01-13T08:00:00.000Z","tags":{"Desk":[1,2.50]},"flag":true,'
        '"note":"caf\\u00e9"}'
    )
    assert parquet_line(record, MARKER) == (
        MARKED + ',"trade_id":"P1","price":0.00000000123456789012345678901,"quantity":1E+3,'
        '"timestamp":"2025-01-13T08:00:00.000Z","tags":{"Desk":[1,2.50]},"flag":true,'
        '"note":"café"}'
    )
    assert parquet_line("not json", MARKER) is None
