"""The operations report read from a small pyiceberg lake (no Spark), and its HTML.

The lake is ``tests/report_fixtures.py``: five days with a gated day, failed runs, a day
with no run, unreadable files counted both ways, and dead letters holding personal data.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.report_fixtures import (
    D13,
    D14,
    D15,
    D16,
    D17,
    GATE_ERROR,
    GOLD_ERROR,
    build_empty_lake,
    build_small_lake,
    sqlite_catalog,
)
from tradelake.config import Settings
from tradelake.errors import ConfigError
from tradelake.report.cli import main
from tradelake.report.data import ReportData
from tradelake.report.html import render_html
from tradelake.report.lake import lake_catalog, read_report

DATABASE = "trading"


def settings_for(root: Path, **overrides: Any) -> Settings:
    return Settings(
        catalog_type="jdbc",
        catalog_uri=f"jdbc:sqlite:{root / 'catalog.db'}",
        warehouse=str(root / "warehouse"),
        database=DATABASE,
        **overrides,
    )


@pytest.fixture(scope="module")
def small_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report-lake")
    build_small_lake(sqlite_catalog(root), DATABASE)
    return root


@pytest.fixture(scope="module")
def report(small_lake: Path) -> ReportData:
    return read_report(settings_for(small_lake), since=D13, until=D17)


@pytest.fixture(scope="module")
def page(report: ReportData) -> str:
    return render_html(report)


def test_runs_grid_shows_each_day_and_job_latest_run(report: ReportData) -> None:
    grid = {(cell.day, cell.job): cell for cell in report.runs}
    assert len(report.runs) == 15  # 5 days x 3 daily jobs; the 01-10 run is outside
    assert [(c.outcome, c.exit_code, c.seconds, c.runs) for c in report.runs] == [
        ("ok", 0, 12.5, 2),  # 01-13 ingest: gated, then rerun ok
        ("ok", 0, 4.25, 1),
        ("ok", 0, 5.5, 1),
        ("gated", 3, 10.0, 1),  # 01-14
        ("no input", 4, 1.0, 1),
        ("not run", None, None, 0),
        ("not run", None, None, 0),  # 01-15: nothing ran
        ("not run", None, None, 0),
        ("not run", None, None, 0),
        ("ok", 0, 14.0, 2),  # 01-16: failed, then rerun ok
        ("ok", 0, 4.75, 1),
        ("ok", 0, 6.0, 1),
        ("ok", 0, 8.0, 1),  # 01-17
        ("failed", 1, 2.5, 1),
        ("not run", None, None, 0),
    ]
    assert grid[(D14, "ingest")].error == GATE_ERROR
    assert report.failure is not None
    assert (report.failure.day, report.failure.job, report.failure.run_id) == (
        D17,
        "daily_volume",
        "v17",
    )
    assert report.failure.error == GOLD_ERROR


def test_funnel_per_day_with_unreadable_files_apart(report: ReportData) -> None:
    rows = [
        (
            f.day,
            f.outcome,
            f.run_id,
            None if f.counts is None else tuple(vars(f.counts).values()),
        )
        for f in report.funnel
    ]
    assert rows == [
        (D13, "ok", "r13b", (100, 90, 4, 6, 0)),
        (D14, "gated", "r14", (50, 30, 0, 20, 0)),
        (D15, "not run", None, None),
        # Counted the older way (201 = 180 + 5 + 16 with the file): 200 records, 1 file.
        (D16, "ok", "r16b", (200, 180, 5, 15, 1)),
        (D17, "ok", "r17", (80, 75, 2, 3, 2)),
    ]
    assert all(f.counts.conserved for f in report.funnel if f.counts)


def test_rejects_by_reason_top_reasons_and_examples(report: ReportData) -> None:
    assert [(r.day, r.reason, r.count) for r in report.reasons] == [
        (D13, "price_not_positive", 6),
        (D13, "symbol_missing", 2),
        (D14, "malformed_record", 5),
        (D14, "side_invalid", 15),
        (D16, "price_not_positive", 10),
        (D16, "symbol_missing", 5),
        (D16, "unreadable_file", 1),
        (D17, "side_invalid", 3),
        (D17, "unreadable_file", 2),
    ]
    assert report.dead_letters_per_day == {D13: 6, D14: 20, D16: 16, D17: 5}
    assert report.reject_day == D17
    assert [(r.reason, r.count) for r in report.top_reasons] == [
        ("side_invalid", 3),
        ("unreadable_file", 2),
    ]
    assert [(e.source_file, e.text) for e in report.examples] == [
        (
            "b.jsonl",
            '{"trade_id": "T1", "symbol": "AAPL", "side": "hold", "price": "1.5", '
            '"account_id": "***", "trader_email": "***", '
            '"note": "<script>alert(1)</script> mail ***"}',
        ),
        ("bad-0.gz", "java.io.EOFException: Unexpected end of ZLIB input stream"),
        ("day.csv", "***,MSFT,***,10.25,3,2025-01-17T10:00:00Z,XNAS,***,***"),
        ("b.jsonl", '{"trade_id": "T3", "account_id": ***, "side": "hold"'),
        ("bad-1.gz", "java.io.EOFException: Unexpected end of ZLIB input stream"),
    ]


def test_quality_series_from_the_latest_run_of_each_day(report: ReportData) -> None:
    series = {
        check: [(p.day, p.observed, p.passed, p.limit, p.band) for p in points]
        for check, points in report.quality.items()
    }
    assert series == {
        # 01-13 is the rerun's 0.06, not the gated first run's 0.5.
        "reject_ratio": [
            (D13, Decimal("0.06"), True, Decimal("0.1"), None),
            (D14, Decimal("0.4"), False, Decimal("0.1"), None),
            (D16, Decimal("0.079602"), True, Decimal("0.1"), None),
            (D17, Decimal("0.0375"), True, Decimal("0.1"), None),
        ],
        "freshness": [
            (D13, Decimal("1.5"), True, Decimal("6.0"), None),
            (D14, Decimal("2.25"), True, Decimal("6.0"), None),
            (D16, Decimal("7.5"), False, Decimal("6.0"), None),
            (D17, Decimal("0.5"), True, Decimal("6.0"), None),
        ],
        "volume_anomaly": [
            (D13, Decimal(90), True, None, None),
            (D14, Decimal(30), True, None, None),
            (D16, Decimal(180), True, None, None),
            (D17, Decimal(75), True, None, (Decimal("67.5"), Decimal("202.5"))),
        ],
    }
    assert [(p.day, p.check, p.severity) for p in report.failed_checks] == [
        (D16, "freshness", "warn"),
        (D14, "reject_ratio", "error"),
    ]


def test_market_view_from_daily_volume_and_the_most_traded_symbols_bars(
    report: ReportData,
) -> None:
    assert [(v.day, v.symbol, v.trade_count, v.total_volume) for v in report.volumes] == [
        (D13, "AAPL", 50, Decimal("1234.50000000")),
        (D13, "KO", 10, Decimal("99.00000001")),
        (D13, "MSFT", 30, Decimal("300.25000000")),
        (D16, "AAPL", 60, Decimal("1500.12500000")),
        (D16, "KO", 20, Decimal("10.00000000")),
        (D16, "MSFT", 100, Decimal("2000.50000000")),
    ]
    # MSFT 130 trades, AAPL 110, KO 30: MSFT's bars of its last day, in time order.
    assert (report.symbol, report.bar_day, report.symbol_count) == ("MSFT", D16, 3)
    assert [
        (c.bar_start.strftime("%H:%M"), c.open, c.high, c.low, c.close, c.volume, c.trade_count)
        for c in report.candles
    ] == [
        (
            "10:00",
            Decimal("10.5"),
            Decimal("11"),
            Decimal("10.25"),
            Decimal("10.75"),
            Decimal("40"),
            30,
        ),
        (
            "10:01",
            Decimal("10.75"),
            Decimal("10.8"),
            Decimal("10.6"),
            Decimal("10.7"),
            Decimal("5.5"),
            3,
        ),
        (
            "10:03",
            Decimal("10.9"),
            Decimal("11.2"),
            Decimal("10.8"),
            Decimal("11.1"),
            Decimal("7"),
            2,
        ),
    ]
    assert report.missing == ()


def test_symbol_flag_picks_another_symbols_bars(small_lake: Path) -> None:
    data = read_report(settings_for(small_lake), since=D13, until=D17, symbol="AAPL")
    assert (data.symbol, data.bar_day) == ("AAPL", D16)
    assert [(c.open, c.close) for c in data.candles] == [(Decimal("190"), Decimal("190.5"))]
    unknown = read_report(settings_for(small_lake), since=D13, until=D17, symbol="NOPE")
    assert (unknown.symbol, unknown.bar_day, unknown.candles) == ("NOPE", None, [])


def test_default_window_ends_at_the_latest_run_and_spans_two_weeks(small_lake: Path) -> None:
    data = read_report(settings_for(small_lake))
    idle = "Days with no run of any job: 2025-01-04 to 2025-01-09, 2025-01-11 to 2025-01-12, "
    assert idle + "2025-01-15</p>" in render_html(data)
    assert (data.window.since, data.window.until) == (date(2025, 1, 4), D17)
    # The run of 01-10 is now inside the window.
    assert [(c.day, c.outcome) for c in data.runs if c.job == "ingest" and c.runs] == [
        (date(2025, 1, 10), "ok"),
        (D13, "ok"),
        (D14, "gated"),
        (D16, "ok"),
        (D17, "ok"),
    ]


def test_html_shows_the_gated_day_and_the_failed_run(page: str) -> None:
    runs = section(page, "runs")
    assert 'id="chart-runs"' in runs
    assert '"name":"gated"' in runs and '"name":"failed"' in runs
    assert '"name":"no input"' in runs and '"name":"not run"' in runs
    latest_failure = re.search(r'<div class="alert" id="latest-failure">(.*?)</div>', runs)
    assert latest_failure is not None
    assert "daily_volume 2025-01-17, failed (failed, exit 1), run v17" in latest_failure.group(1)
    assert "&lt;b&gt;boom&lt;/b&gt;" in latest_failure.group(1)
    assert "Days with no run of any job: 2025-01-15" in runs
    assert '<td>2025-01-14</td><td>ingest</td><td><span class="bad">gated</span>' in runs


def test_html_funnel_states_the_conservation_check(page: str) -> None:
    funnel = section(page, "funnel")
    for equation in (
        "100 = 90 + 4 + 6",
        "50 = 30 + 0 + 20",
        "200 = 180 + 5 + 15",
        "80 = 75 + 2 + 3",
    ):
        assert f'<span class="ok">{equation}</span>' in funnel
    assert "<td>2025-01-15</td><td>not run</td>" in funnel


def test_html_dead_letters_are_escaped_and_masked(page: str) -> None:
    rejects = section(page, "rejects")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rejects
    assert "<script>alert(1)" not in page
    for secret in ("jane.doe@example.com", "bob@example.org", "ACC-991", "ACC-77", "ACC-5"):
        assert secret not in page
    assert "&quot;account_id&quot;: &quot;***&quot;" in rejects
    assert "<summary>47 dead letters on 4 days" in rejects


def test_html_is_self_contained(page: str) -> None:
    assert re.findall(r"<script[^>]*\bsrc=", page) == []
    assert re.findall(r"<link[^>]*\bhref=", page) == []
    assert page.count("<section ") == 5
    assert page.count('class="plotly-graph-div"') == 6  # runs, funnel, rejects, quality, 2 market


def section(page: str, name: str) -> str:
    match = re.search(rf'<section id="{name}".*?</section>', page, re.DOTALL)
    assert match is not None, name
    return match.group(0)


def test_empty_tables_render_messages_instead_of_charts(tmp_path: Path) -> None:
    build_empty_lake(sqlite_catalog(tmp_path), DATABASE)
    data = read_report(settings_for(tmp_path), today=date(2025, 3, 1))
    assert (data.window.since, data.window.until) == (date(2025, 2, 16), date(2025, 3, 1))
    assert data.missing == ()
    html = render_html(data)
    assert "plotly-graph-div" not in html
    assert "No job ran between 2025-02-16 and 2025-03-01." in section(html, "runs")
    assert "No ingest run with counts in this window." in section(html, "funnel")
    assert "nothing was rejected" in section(html, "rejects")
    assert "No ingest quality checks recorded in this window." in section(html, "quality")
    assert "No daily_volume rows between 2025-02-16 and 2025-03-01." in section(html, "market")


def test_a_lake_with_no_catalog_yet_names_the_missing_tables(tmp_path: Path) -> None:
    data = read_report(settings_for(tmp_path / "nothing"), today=date(2025, 3, 1))
    assert data.missing == ("daily_volume", "job_runs", "quality_results", "trades_rejected")
    html = render_html(data)
    assert "Table job_runs does not exist yet in this lake." in section(html, "runs")
    assert "Table daily_volume does not exist yet in this lake." in section(html, "market")


def test_cli_writes_the_report_and_prints_its_path(
    small_lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("TRADELAKE_CATALOG_URI", f"jdbc:sqlite:{small_lake / 'catalog.db'}")
    monkeypatch.setenv("TRADELAKE_WAREHOUSE", str(small_lake / "warehouse"))
    out = tmp_path / "out" / "report.html"
    code = main(["html", "--since", "2025-01-13", "--until", "2025-01-17", "--out", str(out)])
    printed = capsys.readouterr().out.strip()
    assert code == 0
    assert printed.startswith("report 2025-01-13 to 2025-01-17 (")
    assert printed.endswith(f": {out}")
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--since", "2025-01-17", "--until", "2025-01-13"], "--since 2025-01-17 is after"),
        (["--interval", "1w"], "--interval '1w' is not an interval"),
    ],
)
def test_cli_refuses_bad_arguments_with_exit_2(
    small_lake: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.setenv("TRADELAKE_CATALOG_URI", f"jdbc:sqlite:{small_lake / 'catalog.db'}")
    monkeypatch.setenv("TRADELAKE_WAREHOUSE", str(small_lake / "warehouse"))
    assert main(["html", "--out", str(tmp_path / "r.html"), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_catalogs_pyiceberg_cannot_read_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TRADELAKE_CATALOG_TYPE=hadoop cannot be read"):
        lake_catalog(Settings(catalog_type="hadoop", warehouse=str(tmp_path)))
    postgres = Settings(catalog_type="jdbc", catalog_uri="jdbc:postgresql://db/lake")
    with pytest.raises(ConfigError, match="read jdbc:sqlite catalogs, Glue and REST"):
        lake_catalog(postgres)
