"""Charts rendered on the server as inline SVG: no script, nothing fetched by the browser."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 14, 28
DOTS = 40  # up to this many points, each is drawn as a dot on the line too


@dataclass(frozen=True)
class Point:
    """One value at one time; ``bad`` marks it (a failed fit run)."""

    at: datetime
    value: float
    bad: bool = False


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is at least ``value``."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def seconds_label(value: float) -> str:
    """A duration for an axis: ``350 ms``, ``1.5 s``, ``2 min``."""
    if value == 0:
        return "0"
    if value < 1:
        return f"{value * 1000:.3g} ms"
    return f"{value:.3g} s" if value < 120 else f"{value / 60:.3g} min"


def count_label(value: float) -> str:
    """A count for an axis."""
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.2g}"


def _time(at: datetime, span: float) -> str:
    return f"{at:%H:%M:%S}" if span < 86400 else f"{at:%m-%d %H:%M}"


def time_chart(points: Sequence[Point], *, title: str, unit: str = "seconds",
               area: bool = False, empty: str = "no data yet") -> Markup:  # fmt: skip
    """A chart of values over time: a line (or dots) with a y axis from zero and time labels.

    ``unit`` is ``"seconds"`` or ``"count"``; ``area`` fills under the line; bad points are drawn
    as red dots, and every point as a dot while there are few.
    """
    label = seconds_label if unit == "seconds" else count_label
    w, h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<rect x="{LEFT}" y="{TOP}" width="{w}" height="{h}" class="plot"/>',
    ]
    if not points:
        parts.append(
            f'<text x="{LEFT + w / 2}" y="{TOP + h / 2}" class="empty">{escape(empty)}</text>'
        )
        return Markup("".join(parts) + "</svg>")
    t0, t1 = points[0].at, points[-1].at
    span = max((t1 - t0).total_seconds(), 1e-9)
    top = 4 * nice_ceiling(max(p.value for p in points) / 4)  # four gridlines at round values
    if unit != "seconds":
        top = max(top, 4.0)  # counts: whole numbers on the axis

    def xy(p: Point) -> tuple[float, float]:
        x = LEFT + (w / 2 if len(points) == 1 else (p.at - t0).total_seconds() / span * w)
        return round(x, 1), round(TOP + h - p.value / top * h, 1)

    for i in range(5):  # gridlines and y labels at 0, 1/4 … top
        value = top * i / 4
        y = TOP + h - h * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + w}" y1="{y}" y2="{y}" class="grid"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4}" class="ylabel">{escape(label(value))}</text>'
        )
    parts.append(f'<text x="{LEFT}" y="{HEIGHT - 8}" class="xlabel">{_time(t0, span)}</text>')
    parts.append(
        f'<text x="{LEFT + w}" y="{HEIGHT - 8}" class="xlabel end">{_time(t1, span)}</text>'
    )
    coords = [xy(p) for p in points]
    if len(points) > 1:
        path = " ".join(f"{x},{y}" for x, y in coords)
        if area:
            base = TOP + h
            fill = f"{coords[0][0]},{base} {path} {coords[-1][0]},{base}"
            parts.append(f'<polygon points="{fill}" class="area"/>')
        parts.append(f'<polyline points="{path}" class="series"/>')
    for p, (x, y) in zip(points, coords, strict=True):
        if p.bad or len(points) <= DOTS:
            css = "dot bad" if p.bad else "dot"
            tip = f"{_time(p.at, 0)}: {label(p.value)}{' (failed)' if p.bad else ''}"
            parts.append(
                f'<circle cx="{x}" cy="{y}" r="3" class="{css}"><title>{escape(tip)}</title></circle>'
            )
    return Markup("".join(parts) + "</svg>")


def sparkline(values: Sequence[float], bad: Sequence[bool] = (), *, title: str) -> Markup:
    """A small line of recent values (no axes), its scale from zero to the largest."""
    width, height = 120, 24
    if not values:
        return Markup('<span class="muted">-</span>')
    top = max(values) or 1.0
    step = width / max(len(values) - 1, 1)
    coords = [(round(i * step, 1), round(height - 2 - v / top * (height - 4), 1))
              for i, v in enumerate(values)]  # fmt: skip
    parts = [
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<polyline points="{" ".join(f"{x},{y}" for x, y in coords)}" class="series"/>',
    ]
    for (x, y), failed in zip(coords, bad, strict=False):
        if failed:
            parts.append(f'<circle cx="{x}" cy="{y}" r="2" class="dot bad"/>')
    return Markup("".join(parts) + "</svg>")


@dataclass(frozen=True)
class Bar:
    """One labelled bar: ``value`` on the chart's scale, ``text`` written after it."""

    label: str
    value: float
    text: str
    bad: bool = False


def bar_chart(bars: Sequence[Bar], *, title: str, mark: float | None = None,
              mark_label: str = "", top: float | None = None) -> Markup:  # fmt: skip
    """Horizontal bars from zero, one per row, with an optional vertical line at ``mark`` (e.g. a
    threshold); values beyond ``top`` are drawn to the edge. Bad bars are red."""
    label_w, text_w, row_h = 110, 240, 22
    w = WIDTH - label_w - text_w
    height = TOP + row_h * max(len(bars), 1) + 16
    highest = max([b.value for b in bars] + [mark or 0.0, 1e-9])
    scale = top if top is not None else nice_ceiling(highest)
    parts = [
        f'<svg class="chart bars" role="img" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i, b in enumerate(bars):
        y = TOP + i * row_h
        length = max(min(b.value / scale, 1.0), 0.0) * w
        css = "bar bad" if b.bad else "bar"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 15}" class="ylabel">{escape(b.label)}</text>'
        )
        parts.append(
            f'<rect x="{label_w}" y="{y + 4}" width="{round(length, 1)}" height="{row_h - 8}" '
            f'class="{css}"><title>{escape(b.label)}: {escape(b.text)}</title></rect>'
        )
        parts.append(f'<text x="{label_w + w + 8}" y="{y + 15}">{escape(b.text)}</text>')
    if mark is not None:
        x = label_w + min(mark / scale, 1.0) * w
        bottom = TOP + row_h * max(len(bars), 1)
        parts.append(f'<line x1="{x}" x2="{x}" y1="{TOP - 4}" y2="{bottom}" class="mark"/>')
        parts.append(
            f'<text x="{x}" y="{bottom + 13}" class="marklabel">{escape(mark_label)}</text>'
        )
    if not bars:
        parts.append(f'<text x="{WIDTH / 2}" y="{TOP + 12}" class="empty">no figures yet</text>')
    return Markup("".join(parts) + "</svg>")
