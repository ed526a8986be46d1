"""Charts as SVG, drawn on the server: horizontal bars with the numbers written beside them, a
title and a description for screen readers, and the same figures in a table next to each chart
(the text alternative). A chart compares; one value has nothing to compare with, so it is
written as a number instead of a lone full-width bar (and nothing at all is said as such)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import count

from markupsafe import Markup, escape

BAR_HEIGHT, GAP, LABEL_WIDTH, BAR_WIDTH = 22, 8, 320, 300  # labels in words need the room
WIDTH = LABEL_WIDTH + BAR_WIDTH + 80
_ids = count(1)


def bar_chart(title: str, bars: Sequence[tuple[str, float]], unit: str = "") -> Markup:
    """An accessible SVG bar chart of ``(label, value)`` pairs."""
    ident = f"chart-{next(_ids)}"
    top = max((v for _, v in bars), default=0) or 1
    height = max(1, len(bars)) * (BAR_HEIGHT + GAP) + GAP
    described = "; ".join(f"{label}: {_number(v)}{unit}" for label, v in bars) or "no data"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" '
             f'aria-labelledby="{ident}-t {ident}-d" viewBox="0 0 {WIDTH} {height}" '
             f'width="{WIDTH}" height="{height}">',
             f'<title id="{ident}-t">{escape(title)}</title>',
             f'<desc id="{ident}-d">{escape(described)}</desc>']
    for row, (label, value) in enumerate(bars):
        y = GAP + row * (BAR_HEIGHT + GAP)
        width = max(1.0, BAR_WIDTH * value / top) if value else 0
        parts.append(f'<text x="{LABEL_WIDTH - 8}" y="{y + 16}" text-anchor="end">'
                     f'{escape(label)}</text>'
                     f'<rect x="{LABEL_WIDTH}" y="{y}" width="{width:.1f}" '
                     f'height="{BAR_HEIGHT}" class="bar"/>'
                     f'<text x="{LABEL_WIDTH + width + 6:.1f}" y="{y + 16}">'
                     f'{escape(_number(value))}{escape(unit)}</text>')
    if not bars:
        parts.append(f'<text x="{LABEL_WIDTH}" y="20">no data</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def chart_or_number(title: str, bars: Sequence[tuple[str, float]], caption: str,
                    unit: str = "") -> Markup:
    """A captioned figure with the bar chart of ``bars`` where there are two or more; else the
    one number in words (or "none recorded"), with the caption."""
    if len(bars) >= 2:
        return Markup(f"<figure>{bar_chart(title, bars, unit)}"
                      f"<figcaption>{escape(caption)}</figcaption></figure>")
    if not bars:
        return Markup(f'<p class="figure-number"><strong>{escape(title)}</strong>: none '
                      f"recorded. <span class=\"note\">{escape(caption)}</span></p>")
    ((label, value),) = bars
    return Markup(f'<p class="figure-number"><strong>{escape(title)}</strong>: '
                  f'<span class="count">{escape(_number(value))}{escape(unit)}</span> '
                  f"({escape(label)}). <span class=\"note\">{escape(caption)}</span></p>")


PLOT_HEIGHT, AXIS_WIDTH, LABEL_SPACE, MAX_LABELS = 200, 56, 70, 24


def interval_chart(title: str, points: Sequence[tuple[str, int | None, int | None, int | None]],
                   unit: str = "") -> Markup:
    """An accessible SVG column chart of noisy values with their intervals drawn as error bars:
    ``(label, value, low, high)`` per column, value None for a withheld one (drawn as a
    hollow mark on the axis). Columns keep at least 6 px each; at most ``MAX_LABELS`` labels
    are written under them (every one in the description and the table beside it)."""
    ident = f"chart-{next(_ids)}"
    count = max(1, len(points))
    pitch = max(6.0, min(40.0, 640 / count))
    width = AXIS_WIDTH + count * pitch + 12
    height = 12 + PLOT_HEIGHT + LABEL_SPACE
    top = max([h for _, _, _, h in points if h is not None] or [1]) or 1
    y = lambda v: 12 + PLOT_HEIGHT * (1 - v / top)  # noqa: E731
    described = "; ".join(
        f"{label}: {value}{unit} (95% interval {low} to {high})" if value is not None
        else f"{label}: withheld" for label, value, low, high in points) or "no data"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart intervals" '
             f'aria-labelledby="{ident}-t {ident}-d" viewBox="0 0 {width:.0f} {height}" '
             f'width="{width:.0f}" height="{height}">',
             f'<title id="{ident}-t">{escape(title)}</title>',
             f'<desc id="{ident}-d">{escape(described)}</desc>']
    for tick in sorted({0, round(top / 2), top}):
        parts.append(f'<line x1="{AXIS_WIDTH}" x2="{width - 6:.0f}" y1="{y(tick):.1f}" '
                     f'y2="{y(tick):.1f}" class="grid"/>'
                     f'<text x="{AXIS_WIDTH - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">'
                     f'{tick}</text>')
    every = math.ceil(count / MAX_LABELS)
    for i, (label, value, low, high) in enumerate(points):
        left = AXIS_WIDTH + i * pitch
        middle, bar = left + pitch / 2, max(2.0, pitch * 0.7)
        if value is None:
            parts.append(f'<rect x="{middle - bar / 2:.1f}" y="{y(0) - 4:.1f}" width="{bar:.1f}"'
                         f' height="4" class="withheld"/>')
        else:
            parts.append(f'<rect x="{middle - bar / 2:.1f}" y="{y(value):.1f}" '
                         f'width="{bar:.1f}" height="{y(0) - y(value):.1f}" class="bar"/>')
            if low is not None and high is not None:
                cap = bar / 2
                parts.append(f'<path class="whisker" d="M{middle:.1f} {y(low):.1f}V{y(high):.1f}'
                             f'M{middle - cap / 2:.1f} {y(high):.1f}h{cap:.1f}'
                             f'M{middle - cap / 2:.1f} {y(low):.1f}h{cap:.1f}"/>')
        if i % every == 0:
            base = 12 + PLOT_HEIGHT + 10
            parts.append(f'<text x="{middle:.1f}" y="{base}" text-anchor="end" '
                         f'transform="rotate(-45 {middle:.1f} {base})">{escape(label)}</text>')
    if not points:
        parts.append(f'<text x="{AXIS_WIDTH}" y="40">no data</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
