"""The metric chart: an inline SVG drawn on the server (no script, no external library).

The line is the metric history by as-of date; dashed lines mark the baseline and the target.
The SVG carries a ``<title>`` and a ``<desc>`` that say in words what it shows, and every
point has its own ``<title>`` (date and value) for pointer and screen-reader users.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 86, 16, 36


@dataclass(frozen=True, slots=True)
class Reference:
    label: str
    value: float | None
    css_class: str


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"


def metric_chart(
    points: Sequence[tuple[dt.date, float]],
    *,
    baseline: float | None,
    target: float | None,
    title: str,
    chart_id: str = "metric-chart",
) -> Markup:
    """The chart as SVG markup, ready to put into a page."""
    references = [
        Reference("Baseline", baseline, "baseline"),
        Reference("Target", target, "target"),
    ]
    values = [v for _, v in points] + [r.value for r in references if r.value is not None]
    if not points:
        description = "No metric values have been recorded yet."
    else:
        first, last = points[0], points[-1]
        description = (
            f"{len(points)} value{'s' if len(points) != 1 else ''} from "
            f"{first[0].isoformat()} ({_fmt(first[1])}) to {last[0].isoformat()} "
            f"({_fmt(last[1])})"
        )
        for reference in references:
            if reference.value is not None:
                description += f"; {reference.label.lower()} {_fmt(reference.value)}"
        description += "."
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if low == high:
        low, high = low - 1, high + 1
    pad = (high - low) * 0.08
    low, high = low - pad, high + pad
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def y(value: float) -> float:
        return TOP + plot_h - (value - low) / (high - low) * plot_h

    if points:
        start, end = points[0][0], points[-1][0]
        span = (end - start).days or 1

        def x(day: dt.date) -> float:
            if start == end:
                return LEFT + plot_w / 2
            return LEFT + (day - start).days / span * plot_w

    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>',
        f'<rect class="plot" x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}"/>',
    ]
    for tick in (low + pad, (low + high) / 2, high - pad):
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(tick):.1f}" '
            f'y2="{y(tick):.1f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">'
            f"{escape(_fmt(tick))}</text>"
        )
    for reference in references:
        if reference.value is None:
            continue
        ry = y(reference.value)
        parts.append(
            f'<line class="ref {reference.css_class}" x1="{LEFT}" x2="{LEFT + plot_w}" '
            f'y1="{ry:.1f}" y2="{ry:.1f}"/>'
            f'<text class="ref-label {reference.css_class}" x="{LEFT + plot_w + 6}" '
            f'y="{ry + 4:.1f}">{reference.label} {escape(_fmt(reference.value))}</text>'
        )
    if points:
        coordinates = " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in points)
        parts.append(f'<polyline class="series" points="{coordinates}"/>')
        for day, value in points:
            parts.append(
                f'<circle class="point" cx="{x(day):.1f}" cy="{y(value):.1f}" r="4">'
                f"<title>{day.isoformat()}: {escape(_fmt(value))}</title></circle>"
            )
        base_y = TOP + plot_h + 20
        parts.append(
            f'<text class="axis" x="{LEFT}" y="{base_y}" text-anchor="start">'
            f"{points[0][0].isoformat()}</text>"
        )
        if points[-1][0] != points[0][0]:
            parts.append(
                f'<text class="axis" x="{LEFT + plot_w}" y="{base_y}" text-anchor="end">'
                f"{points[-1][0].isoformat()}</text>"
            )
        parts.append(
            f'<text class="axis-title" x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 2}" '
            'text-anchor="middle">As of date</text>'
        )
    else:
        parts.append(
            f'<text class="empty" x="{LEFT + plot_w / 2:.0f}" y="{TOP + plot_h / 2:.0f}" '
            f'text-anchor="middle">{escape(description)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above


def progress_bar(fraction: float | None, label: str) -> Markup:
    """A small baseline → target bar with the current position, as SVG (no inline styles)."""
    if fraction is None:
        return Markup("")
    filled = round(fraction * 100, 1)
    return Markup(  # noqa: S704 - the label is escaped, the numbers are ours
        f'<svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none" role="img" '
        f'aria-label="{escape(label)}"><title>{escape(label)}</title>'
        f'<rect class="bar-track" width="100" height="10"/>'
        f'<rect class="bar-fill" width="{filled}" height="10"/></svg>'
    )
