"""The human rendering of a run summary (no Spark)."""

from __future__ import annotations

from tradelake.report.cli import format_summary


def test_format_summary_shows_counts_reasons_and_checks() -> None:
    summary = {
        "job": "ingest",
        "date": "2025-01-15",
        "run_id": "r1",
        "status": "ok",
        "exit_code": 0,
        "seconds": 1.5,
        "files": {"read": 2, "empty": 1, "ignored": 0, "unreadable": 1},
        "records_read": 10,
        "loaded": 7,
        "duplicates_dropped": 1,
        "rejected": 2,
        "conservation_ok": True,
        "rejected_by_reason": {"unreadable_file": 1, "price_not_numeric": 1},
        "quality": [
            {
                "check": "reject_ratio",
                "severity": "error",
                "passed": False,
                "observed": 0.2,
                "threshold": "<= 0.1",
            }
        ],
    }
    text = "\n".join(format_summary(summary))
    assert "files: 2 read, 1 empty, 0 ignored, 1 unreadable" in text
    assert "  loaded                      7" in text
    assert text.index("price_not_numeric") < text.index("unreadable_file")
    assert "[FAIL] reject_ratio" in text


def test_format_rows_keeps_exact_decimal_text() -> None:
    from decimal import Decimal

    from tradelake.report.cli import format_rows

    lines = format_rows(
        ["symbol", "vwap"],
        [{"symbol": "AAPL", "vwap": Decimal("189.33123211")}, {"symbol": "KO", "vwap": 1}],
    )
    assert lines == [
        "symbol          vwap",
        "  AAPL  189.33123211",
        "    KO             1",
    ]
