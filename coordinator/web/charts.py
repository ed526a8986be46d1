"""Charts as SVG, drawn on the server: horizontal bars with the numbers written beside them, a
title and a description for screen readers, and the same figures in a table next to each chart
(the text alternative). A chart compares; one value has nothing to compare with, so it is
written as a number instead of a lone full-width bar (and nothing at all is said as such)."""

from __future__ import annotations

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
