"""The operations report opened in a real browser: headless Chromium, network disabled.

Debian's chromium (``scripts/chromium.sh install``, run by ``make test-report``) opens the
generated file from disk. Every request that is not the file itself is aborted and
recorded; the test waits until plotly has drawn every figure, then counts the marks each
section drew (bars, points, lines, candle boxes) against the small lake's exact rows.
A full-page screenshot goes to ``build/report-screenshot.png``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lakes import REPO
from tests.report_fixtures import D13, D17, build_small_lake, sqlite_catalog
from tradelake.config import Settings
from tradelake.report.html import render_html
from tradelake.report.lake import read_report

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# What this machine's Chromium needs headless as root, with no network to call home to.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = REPO / "build" / "report-screenshot.png"
# Drawn marks per section, as plotly lays them out in the SVG.
COUNT_MARKS = """() => Object.fromEntries([...document.querySelectorAll('section')].map(s => [
  s.id, {
    bars: s.querySelectorAll('.trace.bars .point path').length,
    points: s.querySelectorAll('.trace.scatter .points path.point').length,
    lines: [...s.querySelectorAll('.trace.scatter path.js-line')]
      .filter(p => (p.getAttribute('d') || '').length > 0).length,
    candles: s.querySelectorAll('.trace.boxes path.box').length,
    legend: [...s.querySelectorAll('.legend .legendtext')].map(t => t.textContent),
  }]))"""
ALL_DRAWN = """() => {
  const figures = [...document.querySelectorAll('.plotly-graph-div')];
  return figures.length > 0 && figures.every(f => f.dataset.rendered === 'true');
}"""


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser-lake")
    build_small_lake(sqlite_catalog(root), "trading")
    settings = Settings(
        catalog_type="jdbc",
        catalog_uri=f"jdbc:sqlite:{root / 'catalog.db'}",
        warehouse=str(root / "warehouse"),
    )
    out = root / "report.html"
    out.write_text(render_html(read_report(settings, since=D13, until=D17)), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: run scripts/chromium.sh install"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def opened(browser: Any, report_file: Path) -> Iterator[dict[str, Any]]:
    """The report loaded offline, its figures drawn; what it requested and logged."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
    requested: list[str] = []
    problems: list[str] = []

    def route(request_route: Any) -> None:
        url = request_route.request.url
        requested.append(url)
        if url == report_file.as_uri():
            request_route.continue_()
        else:
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda message: problems.append(f"console {message.type}: {message.text}"))
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
    page.goto(report_file.as_uri())
    page.wait_for_function(ALL_DRAWN, timeout=60_000)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    yield {"page": page, "requested": requested, "problems": problems}
    context.close()


def test_the_report_opens_offline_with_no_request_and_no_console_message(
    opened: dict[str, Any], report_file: Path
) -> None:
    assert opened["requested"] == [report_file.as_uri()]
    assert opened["problems"] == []


def test_each_section_draws_its_marks(opened: dict[str, Any]) -> None:
    marks = opened["page"].evaluate(COUNT_MARKS)
    counts = {
        name: {kind: value for kind, value in found.items() if kind != "legend"}
        for name, found in marks.items()
    }
    assert counts == {
        # 15 status squares (5 days x 3 jobs); 10 duration bars (the runs with a duration).
        "runs": {"bars": 10, "points": 15, "lines": 0, "candles": 0},
        # 4 days with counts x (read + loaded + duplicates + rejected); 4 unreadable markers.
        "funnel": {"bars": 16, "points": 4, "lines": 0, "candles": 0},
        # 9 (day, reason) bars and the 2 top reasons of 01-17.
        "rejects": {"bars": 11, "points": 0, "lines": 0, "candles": 0},
        # 3 checks x 4 days observed, 2 limits x 4 days; 2 limit lines + 3 observed lines;
        # 1 band (01-17).
        "quality": {"bars": 1, "points": 20, "lines": 5, "candles": 0},
        # 3 symbols x 2 days of volume + 3 volume bars beneath the 3 MSFT candles.
        "market": {"bars": 9, "points": 0, "lines": 0, "candles": 3},
    }
    assert marks["runs"]["legend"] == ["ok", "gated", "no input", "failed", "not run"]


def test_the_gated_day_and_the_failed_run_read_as_such(opened: dict[str, Any]) -> None:
    page = opened["page"]
    failure = page.inner_text("#latest-failure")
    assert "daily_volume 2025-01-17, failed (failed, exit 1)" in failure
    assert "<b>boom</b>" in failure  # shown as text, not markup
    attention = page.inner_text("#runs table")
    assert "2025-01-14\tingest\tgated\tQualityGateError\t3" in attention
    assert "2025-01-17\tdaily_volume\tfailed\tfailed\t1" in attention
    assert page.eval_on_selector_all("#rejects pre", "els => els.length") == 5
    assert page.eval_on_selector_all("#rejects pre script", "els => els.length") == 0
    assert "<script>alert(1)</script>" in page.inner_text("#rejects")


def test_a_screenshot_is_written(opened: dict[str, Any]) -> None:
    assert SCREENSHOT.stat().st_size > 50_000
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
