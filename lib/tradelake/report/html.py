"""The operations report as one self-contained HTML file, its charts drawn by plotly.

plotly.js is inlined once in the page's head (no CDN: the file opens offline), every
figure is a plotly div, and every text that comes from the lake is HTML-escaped. Each
of the five sections says so in words where it has nothing to draw.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tradelake.report.data import (
    CHARTED_CHECKS,
    OUTCOMES,
    FunnelDay,
    QualityPoint,
    ReportData,
    RunCell,
    day_ranges,
)

OUTCOME_COLORS: dict[str, str] = {
    "ok": "#2e7d32",
    "gated": "#ef8f00",
    "no input": "#5c7fa3",
    "failed": "#c62828",
    "not run": "#c8c8c8",
}
FUNNEL_COLORS: dict[str, str] = {
    "records read": "#455a64",
    "loaded": "#2e7d32",
    "duplicates dropped": "#90a4ae",
    "rejected": "#c62828",
    "unreadable files": "#6a1b9a",
}
SECTIONS: tuple[tuple[str, str], ...] = (
    ("runs", "1. Runs"),
    ("funnel", "2. Funnel: records read, loaded, dropped, rejected"),
    ("rejects", "3. Why records were rejected"),
    ("quality", "4. Quality checks against their thresholds"),
    ("market", "5. Market view"),
)
_CONFIG = {"displaylogo": False, "responsive": True}
# Set once plotly has drawn a figure: the browser test waits for it.
_RENDERED = "document.getElementById('{plot_id}').dataset.rendered = 'true';"
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1200px; padding: 0 20px 40px; color: #1f2933; }
header { border-bottom: 1px solid #d9dee3; margin-bottom: 12px; }
h1 { font-size: 1.5em; margin: 18px 0 4px; }
h2 { font-size: 1.2em; margin: 28px 0 8px; border-bottom: 1px solid #eef0f2; }
h3 { font-size: 1em; margin: 16px 0 6px; }
.meta { color: #52606d; font-size: 0.9em; margin: 2px 0; }
.empty { background: #f5f7fa; border-left: 4px solid #9aa5b1; padding: 10px 14px; }
.alert { background: #fdecea; border-left: 4px solid #c62828; padding: 10px 14px; }
.alert pre, td pre { white-space: pre-wrap; word-break: break-all; margin: 0; }
table { border-collapse: collapse; font-size: 0.85em; margin: 6px 0 12px; }
th, td { border-bottom: 1px solid #e4e7eb; padding: 4px 10px; text-align: left;
         vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #2e7d32; } .bad { color: #c62828; font-weight: 600; }
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _figure_html(figure: Any, div_id: str, height: int) -> str:
    import plotly.io as pio

    figure.update_layout(
        height=height, template="plotly_white", margin={"l": 60, "r": 30, "t": 50, "b": 40}
    )
    return str(
        pio.to_html(
            figure,
            full_html=False,
            include_plotlyjs=False,
            div_id=div_id,
            config=_CONFIG,
            post_script=_RENDERED,
            default_height=f"{height}px",
        )
    )


def _empty(message: str) -> str:
    return f'<p class="empty">{_e(message)}</p>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: set[int]) -> str:
    """An HTML table; cells are given already escaped."""
    head = "".join(f"<th>{_e(name)}</th>" for name in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _days(data: ReportData) -> list[str]:
    return [day.isoformat() for day in data.window.days()]


def _category_axis(days: list[str]) -> dict[str, Any]:
    # Categories, not dates: every day of the window keeps its slot, run or not.
    return {
        "type": "category",
        "categoryorder": "array",
        "categoryarray": days,
        "range": [-0.5, len(days) - 0.5],
    }


def _missing_note(data: ReportData, *tables: str) -> str:
    absent = [name for name in tables if name in data.missing]
    if not absent:
        return ""
    return _empty(f"Table {', '.join(absent)} does not exist yet in this lake.")


# 1. Runs ------------------------------------------------------------------------------


def _cell_hover(cell: RunCell) -> str:
    if cell.outcome == "not run":
        return f"{cell.day} {cell.job}: not run"
    return (
        f"{cell.day} {cell.job}: {cell.outcome} ({cell.status}, exit {cell.exit_code})<br>"
        f"{cell.seconds} s, run {cell.run_id}"
        + (f"<br>{cell.runs} runs that day, the latest shown" if cell.runs > 1 else "")
    )


def runs_figure(data: ReportData) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    days = _days(data)
    figure = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.55, 0.45],
        vertical_spacing=0.12,
        subplot_titles=("Status of the latest run per day and job", "Duration (s)"),
    )
    for name in OUTCOMES:
        cells = [cell for cell in data.runs if cell.outcome == name]
        if not cells:
            continue
        figure.add_trace(
            go.Scatter(
                x=[cell.day.isoformat() for cell in cells],
                y=[cell.job for cell in cells],
                mode="markers+text",
                name=name,
                marker={"symbol": "square", "size": 24, "color": OUTCOME_COLORS[name]},
                text=["" if cell.exit_code is None else str(cell.exit_code) for cell in cells],
                textfont={"color": "white", "size": 11},
                hovertext=[_cell_hover(cell) for cell in cells],
                hoverinfo="text",
                legendgroup="outcome",
            ),
            row=1,
            col=1,
        )
    jobs = list(dict.fromkeys(cell.job for cell in data.runs))
    for job in jobs:
        timed = [c for c in data.runs if c.job == job and c.seconds is not None]
        if not timed:
            continue
        figure.add_trace(
            go.Bar(
                x=[cell.day.isoformat() for cell in timed],
                y=[cell.seconds for cell in timed],
                name=f"{job} (s)",
                marker={"color": [OUTCOME_COLORS[cell.outcome] for cell in timed]},
                hovertext=[_cell_hover(cell) for cell in timed],
                hoverinfo="text",
                showlegend=False,
                text=[job for _ in timed],
                textposition="inside",
            ),
            row=2,
            col=1,
        )
    figure.update_layout(barmode="group")
    figure.update_xaxes(**_category_axis(days))
    figure.update_yaxes(
        type="category", categoryorder="array", categoryarray=jobs[::-1], row=1, col=1
    )
    return figure


def runs_section(data: ReportData) -> str:
    parts = [_missing_note(data, "job_runs")]
    if all(cell.outcome == "not run" for cell in data.runs):
        parts.append(_empty(f"No job ran between {data.window.since} and {data.window.until}."))
        return "".join(parts)
    parts.append(_figure_html(runs_figure(data), "chart-runs", 420))
    idle = sorted({cell.day for cell in data.runs} - {c.day for c in data.runs if c.runs})
    if idle:
        spans = [
            str(first) if first == last else f"{first} to {last}"
            for first, last in day_ranges(idle)
        ]
        parts.append(_empty("Days with no run of any job: " + ", ".join(spans)))
    failure = data.failure
    if failure is None:
        parts.append(_empty("No run of the window ended with an error."))
    else:
        parts.append(
            '<div class="alert" id="latest-failure"><strong>Latest failure</strong>: '
            f"{_e(failure.job)} {_e(failure.day)}, {_e(failure.outcome)} "
            f"({_e(failure.status)}, exit {_e(failure.exit_code)}), run {_e(failure.run_id)} "
            f"started {_e(failure.started_at.isoformat())}<pre>{_e(failure.error)}</pre></div>"
        )
    attention = [cell for cell in data.runs if cell.outcome not in ("ok", "not run")]
    if attention:
        parts.append("<h3>Runs that did not end ok (latest run of the day)</h3>")
        parts.append(
            _table(
                ("day", "job", "outcome", "status", "exit", "seconds", "runs", "run id"),
                (
                    (
                        _e(c.day),
                        _e(c.job),
                        f'<span class="bad">{_e(c.outcome)}</span>',
                        _e(c.status),
                        _e(c.exit_code),
                        _e(c.seconds),
                        _e(c.runs),
                        _e(c.run_id),
                    )
                    for c in attention
                ),
                numeric={4, 5, 6},
            )
        )
    return "".join(parts)


# 2. Funnel ----------------------------------------------------------------------------


def _funnel_label(day: FunnelDay) -> str:
    if day.outcome == "not run":
        return "no ingest run"
    if day.counts is None:
        return f"{day.outcome}: no counts"
    return "✓ adds up" if day.counts.conserved else "✗ does not add up"


def funnel_figure(data: ReportData) -> Any:
    import plotly.graph_objects as go

    days = _days(data)
    counted = [day for day in data.funnel if day.counts is not None]
    x = [day.day.isoformat() for day in counted]
    counts = [day.counts for day in counted if day.counts is not None]
    figure = go.Figure()
    figure.add_trace(
        go.Bar(
            x=x,
            y=[c.records_read for c in counts],
            name="records read",
            offsetgroup="read",
            marker={"color": FUNNEL_COLORS["records read"]},
        )
    )
    base = [0 for _ in counts]
    for name, values in (
        ("loaded", [c.loaded for c in counts]),
        ("duplicates dropped", [c.duplicates_dropped for c in counts]),
        ("rejected", [c.rejected for c in counts]),
    ):
        figure.add_trace(
            go.Bar(
                x=x,
                y=values,
                base=list(base),
                name=name,
                offsetgroup="out",
                marker={"color": FUNNEL_COLORS[name]},
            )
        )
        base = [b + v for b, v in zip(base, values, strict=True)]
    if any(c.unreadable_files for c in counts):
        figure.add_trace(
            go.Scatter(
                x=x,
                y=[c.unreadable_files for c in counts],
                name="unreadable files (right axis)",
                mode="markers",
                marker={
                    "symbol": "diamond",
                    "size": 12,
                    "color": FUNNEL_COLORS["unreadable files"],
                },
                yaxis="y2",
            )
        )
    tops = {
        day.day.isoformat(): (day.counts.records_read if day.counts else 0) for day in data.funnel
    }
    for day in data.funnel:
        figure.add_annotation(
            x=day.day.isoformat(),
            y=tops[day.day.isoformat()],
            text=_funnel_label(day),
            showarrow=False,
            yshift=12,
            font={"size": 11},
        )
    figure.update_layout(
        barmode="group",
        title="Records per day (latest ingest run): read = loaded + duplicates + rejected",
        xaxis=_category_axis(days),
        yaxis={"title": "records"},
        yaxis2={
            "title": "files",
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "tickformat": "d",
            "showgrid": False,
        },
        legend={"orientation": "h", "y": -0.15},
    )
    return figure


def funnel_section(data: ReportData) -> str:
    parts = [_missing_note(data, "job_runs")]
    if not any(day.counts for day in data.funnel):
        parts.append(_empty("No ingest run with counts in this window."))
        return "".join(parts)
    parts.append(_figure_html(funnel_figure(data), "chart-funnel", 420))
    rows = []
    for day in data.funnel:
        c = day.counts
        if c is None:
            rows.append((_e(day.day), _e(day.outcome), "", "", "", "", "", _e(_funnel_label(day))))
            continue
        check = (
            f"{c.records_read} = {c.loaded} + {c.duplicates_dropped} + {c.rejected}"
            if c.conserved
            else f"{c.records_read} ≠ {c.loaded} + {c.duplicates_dropped} + {c.rejected}"
        )
        mark = "ok" if c.conserved else "bad"
        rows.append(
            (
                _e(day.day),
                _e(day.outcome),
                _e(c.records_read),
                _e(c.loaded),
                _e(c.duplicates_dropped),
                _e(c.rejected),
                _e(c.unreadable_files),
                f'<span class="{mark}">{_e(check)}</span>',
            )
        )
    parts.append(
        _table(
            (
                "day",
                "ingest",
                "records read",
                "loaded",
                "duplicates dropped",
                "rejected",
                "unreadable files",
                "conservation",
            ),
            rows,
            numeric={2, 3, 4, 5, 6},
        )
    )
    return "".join(parts)


# 3. Rejects ---------------------------------------------------------------------------


def _reason_colors(reasons: list[str]) -> dict[str, str]:
    from plotly.colors import qualitative

    palette = [*qualitative.D3, *qualitative.Dark24]
    return {reason: palette[i % len(palette)] for i, reason in enumerate(reasons)}


def rejects_figure(data: ReportData) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    reasons = sorted({item.reason for item in data.reasons})
    colors = _reason_colors(reasons)
    figure = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.64, 0.36],
        horizontal_spacing=0.18,
        subplot_titles=(
            "Dead letters by reason per day (a record counts under every rule it broke)",
            f"Top reasons on {data.reject_day}",
        ),
    )
    for reason in reasons:
        items = [item for item in data.reasons if item.reason == reason]
        figure.add_trace(
            go.Bar(
                x=[item.day.isoformat() for item in items],
                y=[item.count for item in items],
                name=reason,
                marker={"color": colors[reason]},
                legendgroup=reason,
            ),
            row=1,
            col=1,
        )
    top = data.top_reasons[::-1]
    figure.add_trace(
        go.Bar(
            x=[item.count for item in top],
            y=[item.reason for item in top],
            orientation="h",
            marker={"color": [colors[item.reason] for item in top]},
            text=[str(item.count) for item in top],
            textposition="auto",
            showlegend=False,
            name=f"top reasons {data.reject_day}",
        ),
        row=1,
        col=2,
    )
    figure.update_layout(barmode="stack", legend={"orientation": "h", "y": -0.2})
    figure.update_xaxes(**_category_axis(_days(data)), row=1, col=1)
    return figure


def rejects_section(data: ReportData) -> str:
    parts = [_missing_note(data, "trades_rejected")]
    if not data.reasons:
        parts.append(
            _empty(
                f"No dead letters between {data.window.since} and {data.window.until}: "
                "nothing was rejected."
            )
        )
        return "".join(parts)
    parts.append(_figure_html(rejects_figure(data), "chart-rejects", 440))
    per_day = _table(
        ("ingest day", "dead letters"),
        ((_e(day), _e(count)) for day, count in sorted(data.dead_letters_per_day.items())),
        numeric={1},
    )
    total = sum(data.dead_letters_per_day.values())
    parts.append(
        f"<details><summary>{total} dead letters on {len(data.dead_letters_per_day)} days "
        f"(rows of trades_rejected per ingest day)</summary>{per_day}</details>"
    )
    if data.examples:
        parts.append(
            f"<h3>Example dead letters of {_e(data.reject_day)} (personal data masked as ***)</h3>"
        )
        parts.append(
            _table(
                ("reasons", "source file", "record"),
                (
                    (
                        _e(", ".join(example.reasons)),
                        _e(example.source_file),
                        f"<pre>{_e(example.text)}"
                        + (f" … ({example.length} chars)" if example.truncated else "")
                        + "</pre>",
                    )
                    for example in data.examples
                ),
                numeric=set(),
            )
        )
    return "".join(parts)


# 4. Quality ---------------------------------------------------------------------------

_QUALITY_TITLES = {
    "reject_ratio": "reject_ratio: rejected / read, against its maximum",
    "freshness": "freshness: hours from the latest trade to the day's end, against its maximum",
    "volume_anomaly": "volume_anomaly: records loaded, against the band around the median",
}


def _num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _quality_hover(point: QualityPoint) -> str:
    verdict = "pass" if point.passed else "FAIL"
    return (
        f"{point.day} {point.check} ({point.severity}): {verdict}<br>"
        f"observed {point.observed}, expected {point.threshold}"
    )


def quality_figure(data: ReportData) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    checks = [check for check in CHARTED_CHECKS if check in data.quality]
    figure = make_subplots(
        rows=len(checks),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.12,
        subplot_titles=[_QUALITY_TITLES[check] for check in checks],
    )
    for row, check in enumerate(checks, start=1):
        points = data.quality[check]
        x = [point.day.isoformat() for point in points]
        banded = [point for point in points if point.band is not None]
        if banded:
            # One shaded bar per day from low to high: a band that a single day shows too.
            figure.add_trace(
                go.Bar(
                    x=[point.day.isoformat() for point in banded],
                    y=[_num(p.band[1] - p.band[0]) for p in banded if p.band],
                    base=[_num(p.band[0]) for p in banded if p.band],
                    marker={"color": "rgba(100, 160, 230, 0.3)"},
                    width=0.5,
                    name="anomaly band",
                    hovertext=[f"{p.day}: expected {p.threshold}" for p in banded],
                    hoverinfo="text",
                ),
                row=row,
                col=1,
            )
        limits = [_num(point.limit) for point in points]
        if any(limit is not None for limit in limits):
            # A dash per day at that day's limit (a setting may change), joined by a line.
            figure.add_trace(
                go.Scatter(
                    x=x,
                    y=limits,
                    mode="lines+markers",
                    line={"dash": "dash", "color": "#c62828", "width": 1},
                    marker={"symbol": "line-ew-open", "size": 18, "color": "#c62828"},
                    name=f"{check} limit",
                    showlegend=False,
                ),
                row=row,
                col=1,
            )
        figure.add_trace(
            go.Scatter(
                x=x,
                y=[_num(point.observed) for point in points],
                mode="lines+markers",
                name=check,
                line={"color": "#37474f"},
                marker={
                    "size": 10,
                    "color": [OUTCOME_COLORS["ok" if p.passed else "failed"] for p in points],
                },
                hovertext=[_quality_hover(point) for point in points],
                hoverinfo="text",
                showlegend=False,
            ),
            row=row,
            col=1,
        )
    figure.update_xaxes(**_category_axis(_days(data)))
    return figure


def quality_section(data: ReportData) -> str:
    parts = [_missing_note(data, "quality_results")]
    if not data.quality:
        parts.append(_empty("No ingest quality checks recorded in this window."))
    else:
        height = 200 + 190 * len(data.quality)
        parts.append(_figure_html(quality_figure(data), "chart-quality", height))
    if data.failed_checks:
        parts.append("<h3>Checks that failed (latest run of each day and job)</h3>")
        parts.append(
            _table(
                ("day", "job", "table", "check", "severity", "observed", "expected"),
                (
                    (
                        _e(p.day),
                        _e(p.job),
                        _e(p.table_name),
                        _e(p.check),
                        f'<span class="bad">{_e(p.severity)}</span>',
                        _e(p.observed),
                        _e(p.threshold),
                    )
                    for p in data.failed_checks
                ),
                numeric={5},
            )
        )
    elif data.quality:
        parts.append(_empty("Every check of the window passed."))
    return "".join(parts)


# 5. Market ----------------------------------------------------------------------------


def volume_figure(data: ReportData) -> Any:
    import plotly.graph_objects as go

    figure = go.Figure()
    for symbol in sorted({item.symbol for item in data.volumes}):
        items = [item for item in data.volumes if item.symbol == symbol]
        figure.add_trace(
            go.Bar(
                x=[item.day.isoformat() for item in items],
                y=[float(item.total_volume) for item in items],
                name=symbol,
                hovertext=[
                    f"{item.day} {symbol}: volume {item.total_volume}, {item.trade_count} trades"
                    for item in items
                ],
                hoverinfo="text",
            )
        )
    shown = len({item.symbol for item in data.volumes})
    figure.update_layout(
        barmode="group",
        title=f"Daily volume (sum of quantity) of the {shown} most traded of "
        f"{data.symbol_count} symbols",
        xaxis=_category_axis(_days(data)),
    )
    return figure


def candle_figure(data: ReportData) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    x = [candle.bar_start.isoformat() for candle in data.candles]
    figure = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28], vertical_spacing=0.04
    )
    figure.add_trace(
        go.Candlestick(
            x=x,
            open=[float(c.open) for c in data.candles],
            high=[float(c.high) for c in data.candles],
            low=[float(c.low) for c in data.candles],
            close=[float(c.close) for c in data.candles],
            name=data.symbol,
            showlegend=False,
        ),
        row=1,
        col=1,
    )
    figure.add_trace(
        go.Bar(
            x=x,
            y=[float(c.volume) for c in data.candles],
            name="volume",
            marker={"color": "#78909c"},
            showlegend=False,
        ),
        row=2,
        col=1,
    )
    figure.update_layout(
        title=f"{data.symbol} {data.interval} bars on {data.bar_day} (UTC), volume beneath",
        xaxis_rangeslider_visible=False,
    )
    figure.update_yaxes(title_text="price", row=1, col=1)
    figure.update_yaxes(title_text="volume", row=2, col=1)
    return figure


def market_section(data: ReportData) -> str:
    parts = [_missing_note(data, "daily_volume", f"ohlcv_{data.interval}")]
    if not data.volumes:
        parts.append(
            _empty(f"No daily_volume rows between {data.window.since} and {data.window.until}.")
        )
    else:
        parts.append(_figure_html(volume_figure(data), "chart-volume", 380))
    if data.symbol is None:
        return "".join(parts)
    if not data.candles:
        where = f"on {data.bar_day}" if data.bar_day else "in this window"
        parts.append(_empty(f"No ohlcv_{data.interval} bars for {data.symbol} {where}."))
    else:
        parts.append(_figure_html(candle_figure(data), "chart-candles", 520))
    return "".join(parts)


def render_html(data: ReportData, generated_at: datetime | None = None) -> str:
    """The whole report: one HTML document with plotly.js inlined."""
    from plotly.offline import get_plotlyjs

    generated = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S UTC")
    renderers = {
        "runs": runs_section,
        "funnel": funnel_section,
        "rejects": rejects_section,
        "quality": quality_section,
        "market": market_section,
    }
    sections = "".join(
        f'<section id="{key}" data-section="{key}"><h2>{_e(title)}</h2>'
        f"{renderers[key](data)}</section>"
        for key, title in SECTIONS
    )
    missing = (
        f'<p class="meta">Tables not found: {_e(", ".join(data.missing))}</p>'
        if data.missing
        else ""
    )
    title = f"tradelake operations report {data.window.since} to {data.window.until}"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_CSS}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
        f"<header><h1>{_e(title)}</h1>"
        f'<p class="meta">Read from {_e(data.source)}; generated {_e(generated)}.</p>'
        f"{missing}</header>{sections}</body></html>"
    )
