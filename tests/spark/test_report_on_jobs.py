"""The operations report of a lake the real jobs wrote (Spark), read back with pyiceberg.

The unit tests build their lakes with pyiceberg from the table specs; this one checks
that what Spark writes (timestamptz columns, the quoted ``check`` column, summaries) reads
the same way: a gated day, then an ok day with its gold tables.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from tests.spark.rawfiles import CSV_HEADER, day_folder, write_lines
from tradelake.report.html import render_html
from tradelake.report.lake import read_report

pytestmark = pytest.mark.spark

GOOD = [
    "A1,AAPL,buy,100.00000000,2,2025-01-15T20:30:00Z,XNAS",
    "A2,AAPL,sell,101.5,1,2025-01-15T20:30:30Z,XNAS",
    "M1,MSFT,buy,410.1,10,2025-01-15T21:00:00Z,XNAS",
    "M1,MSFT,buy,410.1,10,2025-01-15T21:00:00Z,XNAS",
]
BAD = ["B1,AAPL,buy,-1,1,2025-01-15T20:00:00Z,XNAS"]
BAD_14 = ["B1,AAPL,buy,-1,1,2025-01-14T20:00:00Z,XNAS"]


def test_report_of_a_gated_day_and_a_published_one(lake_env: Any, run_job: Any) -> None:
    write_lines(day_folder(lake_env.raw_root, "2025-01-14") / "t.csv", [CSV_HEADER, *BAD_14])
    gated = run_job("ingest", "--date", "2025-01-14")
    assert gated.exit_code == 3, gated.summary
    write_lines(day_folder(lake_env.raw_root, "2025-01-15") / "t.csv", [CSV_HEADER, *GOOD, *BAD])
    ingest = run_job("ingest", "--date", "2025-01-15", "--max-reject-ratio", "0.5")
    assert ingest.exit_code == 0, ingest.summary
    for job in ("daily_volume", "ohlcv"):
        assert run_job(job, "--date", "2025-01-15").exit_code == 0

    data = read_report(lake_env)
    assert (data.window.since, data.window.until) == (date(2025, 1, 2), date(2025, 1, 15))
    cells = {(c.day.isoformat(), c.job): (c.outcome, c.exit_code) for c in data.runs}
    assert cells[("2025-01-14", "ingest")] == ("gated", 3)
    assert cells[("2025-01-14", "daily_volume")] == ("not run", None)
    assert cells[("2025-01-15", "ingest")] == ("ok", 0)
    assert cells[("2025-01-15", "ohlcv")] == ("ok", 0)
    funnel = {f.day.isoformat(): f.counts for f in data.funnel if f.counts}
    assert {day: tuple(vars(c).values()) for day, c in funnel.items()} == {
        "2025-01-14": (1, 0, 0, 1, 0),
        "2025-01-15": (5, 3, 1, 1, 0),
    }
    assert [(r.day.isoformat(), r.reason, r.count) for r in data.reasons] == [
        ("2025-01-14", "price_out_of_range", 1),
        ("2025-01-15", "price_out_of_range", 1),
    ]
    # The trade id is masked: a CSV line has no column names to tell it from an account id.
    assert [e.text for e in data.examples] == ["***,AAPL,buy,-1,1,2025-01-15T20:00:00Z,XNAS"]
    ratio = [(p.day.isoformat(), p.observed, p.passed) for p in data.quality["reject_ratio"]]
    assert ratio == [("2025-01-14", Decimal(1), False), ("2025-01-15", Decimal("0.2"), True)]
    assert [(v.symbol, v.trade_count, v.total_volume) for v in data.volumes] == [
        ("AAPL", 2, Decimal("3.00000000")),
        ("MSFT", 1, Decimal("10.00000000")),
    ]
    # AAPL has the most trades; both fall in its 20:30 bar.
    assert data.symbol == "AAPL"
    assert [(c.bar_start.isoformat(), c.open, c.close, c.trade_count) for c in data.candles] == [
        ("2025-01-15T20:30:00+00:00", Decimal("100.00000000"), Decimal("101.50000000"), 2)
    ]
    assert "plotly-graph-div" in render_html(data)
