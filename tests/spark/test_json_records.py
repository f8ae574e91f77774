"""JSON Lines to raw rows: exact number text, and a line is exactly one JSON object."""

from __future__ import annotations

from typing import Any

import pytest

from tradelake.io import json_records

pytestmark = pytest.mark.spark


def read(spark: Any, *lines: str) -> dict[str, Any]:
    """``json_records`` of the lines, by line: (malformed, price, quantity, trade_id, extra)."""
    frame = spark.createDataFrame(
        [("file:/raw/a.jsonl", line) for line in lines], "source_file string, value string"
    )
    return {
        row["record"]: (
            row["malformed"],
            row["price"],
            row["quantity"],
            row["trade_id"],
            row["extra_fields"],
        )
        for row in json_records(frame).collect()
    }


def test_numbers_keep_the_text_they_were_written_with(spark: Any) -> None:
    digits39 = "187.250000000000000000000000000000000001"
    lines = {
        '{"price": 187.25, "quantity": 10}': (False, "187.25", "10", None, []),
        '{"price": "187.25", "quantity": "1e-19"}': (False, "187.25", "1e-19", None, []),
        # A VARIANT would hold these as doubles: 187.25, Infinity, 1.0E-19, 1.0E5.
        f'{{"price": {digits39}, "quantity": 1}}': (False, digits39, "1", None, []),
        '{"price": 1.5e400, "quantity": 1e-19}': (False, "1.5e400", "1e-19", None, []),
        '{"price": 1.8725E+2, "trade_id": 1e5}': (False, "1.8725E+2", None, "1e5", []),
        # Numbers inside strings and nested values are left alone; other fields stay exact.
        '{"trade_id": "T-1e5", "venue": {"fee": 1e-3, "n": [1, -2.5e3]}, "price": -0.0e0}': (
            False,
            "-0.0e0",
            None,
            "T-1e5",
            ["venue"],
        ),
        '{"trade_id": "a\\"1e9\\\\", "price": 2e1}': (False, "2e1", None, 'a"1e9\\', []),
        # A double anywhere (here an extra member) sends the line through the quoted read:
        # every field is then its text as written, trailing zeros included.
        '{"price": 187.250, "quantity": 10, "fee": 1e-3}': (False, "187.250", "10", None, ["fee"]),
        # Without one, a decimal's text is the VARIANT's (the same value); a member named
        # like the type only costs that second read.
        '{"price": 187.250, "quantity": 1}': (False, "187.25", "1", None, []),
        '{"price": 187.250, "DOUBLE": "x"}': (False, "187.250", None, None, ["DOUBLE"]),
    }
    assert read(spark, *lines) == lines


def test_a_bare_number_in_a_text_field_keeps_its_text(spark: Any) -> None:
    """Found by the fuzzer: a VARIANT prints 1.50 as "1.5" and -0 as "0". Fields judged on
    their text (trade_id, symbol, report_seq …) must see what was written."""
    lines = [
        '{"trade_id": 1.50, "report_seq": 1.0, "symbol": 10, "price": 1.50}',
        '{"trade_id": -0, "report_seq": -0, "exchange": 0.0}',
        '{"trade_id": 7, "report_seq": 12}',
    ]
    frame = spark.createDataFrame(
        [("file:/raw/a.jsonl", line) for line in lines], "source_file string, value string"
    )
    rows = json_records(frame).collect()
    fields = ("trade_id", "report_seq", "symbol", "exchange", "price")
    assert {row["record"]: tuple(row[name] for name in fields) for row in rows} == {
        lines[0]: ("1.50", "1.0", "10", None, "1.50"),
        lines[1]: ("-0", "-0", None, "0.0", None),
        lines[2]: ("7", "12", None, None, None),
    }


def test_a_line_is_one_object_and_nothing_else(spark: Any) -> None:
    trade = '{"trade_id": "T1", "price": "187.25"}'
    lines = {
        trade: False,
        f"  {trade}\t": False,
        trade + trade: True,
        f"{trade} trailing": True,
        f"{trade}]": True,
        f"{trade}}}": True,
        f"{trade},{trade}": True,
        f"{trade}, null": True,
        '{"trade_id": "T1", "trade_id": "T2"}': True,
        "[1, 2]": True,
        "42": True,
        '"text"': True,
        "\ufeff{}": True,
        "{": True,
        # A bracket inside a string or a nested array is content, not structure.
        '{"trade_id": "T]1", "tags": ["a]", 1]}': False,
    }
    actual = {record: row[0] for record, row in read(spark, *lines).items()}
    assert actual == lines
    # A malformed line reports no schema drift: its keys are not a record's.
    assert read(spark, f"{trade}]")[f"{trade}]"][4] is None


def test_a_ten_megabyte_line_with_an_exponent_is_read(spark: Any) -> None:
    """The quoting regex runs on a huge line without exhausting the regex engine's stack."""
    padding = ", ".join(f'"k{i}": {i}.5' for i in range(200_000))
    line = '{"trade_id": "' + 'x\\"' * 1_000_000 + '", "price": 1e2, ' + padding + "}"
    assert len(line) > 5_000_000
    row = read(spark, line)[line]
    assert row[:3] == (False, "1e2", None)
    assert len(row[4]) == 200_000
