"""A score trend as an inline SVG, drawn on the server: no JavaScript, works offline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

WIDTH, HEIGHT, PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 560, 220, 44, 16, 16, 36
# Distinct in hue and in dash pattern, both readable on white (contrast ≥ 4.5:1).
STYLES = {"phq9": ("#1d4ed8", ""), "pcl5": ("#b45309", "6 4")}
LABELS = {"phq9": "PHQ-9", "pcl5": "PCL-5"}
MAXIMUM = {"phq9": 27, "pcl5": 80}


@dataclass(frozen=True)
class Point:
    at: datetime
    total: int


TRENDED = ("pcl5", "phq9")


def score_trend(assessments) -> str:
    """The PCL-5 / PHQ-9 totals of a workflow's assessments as the trend SVG (what both patient pages draw)."""
    return trend_svg({name: [Point(a.at, a.total) for a in assessments if a.instrument == name and a.total is not None]
                      for name in TRENDED})


def trend_svg(series: dict[str, list[Point]]) -> str:
    """One line per instrument (total score over time), with a text alternative; empty string without scores."""
    series = {name: sorted(points, key=lambda p: p.at) for name, points in series.items() if points}
    if not series:
        return ""
    times = [p.at.timestamp() for points in series.values() for p in points]
    first, last = min(times), max(times)
    span = (last - first) or 1.0
    top = max(MAXIMUM.get(name, max(p.total for p in points)) for name, points in series.items())
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM

    def x(at: datetime) -> float:
        return PAD_LEFT + (plot_w / 2 if last == first else (at.timestamp() - first) / span * plot_w)

    def y(total: int) -> float:
        return PAD_TOP + plot_h - total / top * plot_h

    description = "; ".join(
        f"{LABELS.get(name, name)}: " + ", ".join(f"{p.total} on {p.at:%Y-%m-%d}" for p in points)
        for name, points in series.items())
    parts = [f'<svg class="trend" role="img" aria-labelledby="trend-title trend-desc" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
             '<title id="trend-title">PCL-5 and PHQ-9 scores over time</title>',
             f'<desc id="trend-desc">{escape(description)}</desc>',
             f'<rect x="{PAD_LEFT}" y="{PAD_TOP}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#6b7280"/>']
    for tick in range(0, top + 1, 10 if top > 30 else 5):
        parts.append(f'<line x1="{PAD_LEFT}" x2="{PAD_LEFT + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                     'stroke="#e5e7eb"/>')
        parts.append(f'<text x="{PAD_LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="#374151">{tick}</text>')
    parts.append(f'<text x="{PAD_LEFT}" y="{HEIGHT - 8}" font-size="11" fill="#374151">'
                 f'{escape(datetime.fromtimestamp(first).strftime("%Y-%m-%d"))}</text>')
    if last != first:
        parts.append(f'<text x="{PAD_LEFT + plot_w}" y="{HEIGHT - 8}" text-anchor="end" font-size="11" fill="#374151">'
                     f'{escape(datetime.fromtimestamp(last).strftime("%Y-%m-%d"))}</text>')
    legend_x = PAD_LEFT + 8
    for name, points in series.items():
        colour, dash = STYLES.get(name, ("#111827", ""))
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        coords = " ".join(f"{x(p.at):.1f},{y(p.total):.1f}" for p in points)
        parts.append(f'<polyline class="series-{escape(name)}" fill="none" stroke="{colour}" stroke-width="2.5"'
                     f'{dashed} points="{coords}"/>')
        for p in points:
            parts.append(f'<circle cx="{x(p.at):.1f}" cy="{y(p.total):.1f}" r="4" fill="{colour}">'
                         f'<title>{LABELS.get(name, name)} {p.total} on {p.at:%Y-%m-%d %H:%M} UTC</title></circle>')
        parts.append(f'<line x1="{legend_x}" x2="{legend_x + 22}" y1="{PAD_TOP + 12}" y2="{PAD_TOP + 12}" '
                     f'stroke="{colour}" stroke-width="2.5"{dashed}/>')
        parts.append(f'<text x="{legend_x + 28}" y="{PAD_TOP + 16}" font-size="12" fill="#111827">'
                     f'{LABELS.get(name, name)}</text>')
        legend_x += 90
    parts.append("</svg>")
    return "".join(parts)
