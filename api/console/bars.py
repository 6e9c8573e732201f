"""Horizontal bar charts as inline SVG, drawn on the server: no JavaScript, no library, works offline.

Each bar carries its own scale (a PCL-5 mean out of 80 beside a PHQ-9 mean out of 27), and its value in words at the
bar's end, so the chart reads without colour; the page's table gives the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

WIDTH, LABEL_W, VALUE_W, BAR_H, GAP, PAD = 640, 220, 130, 18, 10, 8
COLOUR = "#1d4ed8"  # 4.5:1 and more on white
TRACK = "#e5e7eb"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # None: nothing to show (no patients in the denominator)
    maximum: float
    words: str  # the value as the page says it: "40 %", "52.0 of 80"


def bar_chart(chart_id: str, title: str, bars: list[Bar]) -> str:
    """A chart of `bars`, with a title and a text alternative; empty string without bars."""
    if not bars:
        return ""
    height = PAD * 2 + len(bars) * (BAR_H + GAP) - GAP
    track_w = WIDTH - LABEL_W - VALUE_W
    description = "; ".join(f"{bar.label}: {bar.words}" for bar in bars)
    parts = [f'<svg class="bars" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" '
             f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="{chart_id}-title">{escape(title)}</title>',
             f'<desc id="{chart_id}-desc">{escape(description)}</desc>']
    for index, bar in enumerate(bars):
        top = PAD + index * (BAR_H + GAP)
        middle = top + BAR_H / 2 + 4
        share = 0.0 if bar.value is None or bar.maximum <= 0 else max(0.0, min(1.0, bar.value / bar.maximum))
        parts.append(f'<text x="{LABEL_W - 8}" y="{middle:.1f}" text-anchor="end" font-size="12" '
                     f'fill="#111827">{escape(bar.label)}</text>')
        parts.append(f'<rect x="{LABEL_W}" y="{top}" width="{track_w}" height="{BAR_H}" fill="{TRACK}"/>')
        if share:
            parts.append(f'<rect class="bar" x="{LABEL_W}" y="{top}" width="{share * track_w:.1f}" height="{BAR_H}" '
                         f'fill="{COLOUR}"/>')
        parts.append(f'<text x="{LABEL_W + track_w + 8}" y="{middle:.1f}" font-size="12" '
                     f'fill="#111827">{escape(bar.words)}</text>')
    parts.append("</svg>")
    return "".join(parts)
