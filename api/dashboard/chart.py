"""A score trend as an inline SVG, drawn on the server: no JavaScript, works offline.

With the protocol's rules and the patient's baselines, each instrument's response and remission levels are marked as
thin lines in its colour: response is at or below the baseline less the protocol's fraction, remission below the
protocol's threshold (`workflows.instruments.outcome_rules`, the definition the response review uses)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from html import escape
from math import floor

from workflows.instruments import Instrument, InstrumentRules, outcome_rules
from workflows.protocol import ProtocolBook
from workflows.state import WorkflowState

# Wide enough to read on the patient's page (the threshold labels sit right of the plot).
WIDTH, HEIGHT, PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 860, 340, 44, 220, 16, 36
# Distinct in hue and in dash pattern, both readable on white (contrast ≥ 4.5:1).
STYLES = {"phq9": ("#1d4ed8", ""), "pcl5": ("#b45309", "6 4")}
LABELS = {"phq9": "PHQ-9", "pcl5": "PCL-5"}
MAXIMUM = {"phq9": 27, "pcl5": 80}


@dataclass(frozen=True)
class Point:
    at: datetime
    total: int


@dataclass(frozen=True)
class Mark:
    """A level drawn across the plot: `words` says what reaching it means."""

    instrument: str
    kind: str  # response: a total at or below `level`; remission: a total below it
    level: int
    words: str


TRENDED = ("pcl5", "phq9")


def score_trend(assessments, baseline: dict[str, int] | None = None, rules: InstrumentRules | None = None) -> str:
    """The PCL-5 / PHQ-9 totals of a workflow's assessments as the trend SVG (what both patient pages draw), with the
    response and remission levels when the protocol's `rules` are given."""
    series = {name: [Point(a.at, a.total) for a in assessments if a.instrument == name and a.total is not None]
              for name in TRENDED}
    marks = outcome_marks(baseline or {}, rules) if rules is not None else []
    return trend_svg(series, [mark for mark in marks if series.get(mark.instrument)])


def patient_trend(protocols: ProtocolBook, protocol_version: str, state: WorkflowState) -> str:
    """A patient's trend with the levels of the protocol their course follows (the one it started on)."""
    return score_trend(state.assessments, state.baseline, protocols.get(protocol_version).instruments)


def outcome_marks(baseline: dict[str, int], rules: InstrumentRules) -> list[Mark]:
    """Each trended instrument's remission level, and its response level when it has a baseline."""
    marks = []
    for name in TRENDED:
        reduction, remission_below = outcome_rules(Instrument(name), rules)
        label = LABELS[name]
        if name in baseline:
            # The highest whole total that is a response, in exact fractions as `compare` judges it.
            level = floor(baseline[name] * (1 - Fraction(str(reduction))))
            marks.append(Mark(name, "response", level, f"{label} response: {level} or less ({reduction * 100:.0f} % "
                                                       f"below the baseline {baseline[name]})"))
        marks.append(Mark(name, "remission", remission_below, f"{label} remission: below {remission_below}"))
    return marks


def trend_svg(series: dict[str, list[Point]], marks: list[Mark] = ()) -> str:
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
        [f"{LABELS.get(name, name)}: " + ", ".join(f"{p.total} on {p.at:%Y-%m-%d}" for p in points)
         for name, points in series.items()] + [mark.words for mark in marks])
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
    parts += mark_lines(marks, y, plot_w)
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


def mark_lines(marks: list[Mark], y, plot_w: float) -> list[str]:
    """The levels as thin dotted lines in their instrument's colour, each labelled right of the plot (labels nudged
    apart so two close levels stay readable)."""
    parts, last_label_y = [], None
    for mark in sorted(marks, key=lambda m: -m.level):
        colour = STYLES.get(mark.instrument, ("#111827", ""))[0]
        at = y(mark.level)
        label_y = at + 4 if last_label_y is None else max(at + 4, last_label_y + 14)
        last_label_y = label_y
        parts.append(f'<line class="mark-{escape(mark.instrument)}" x1="{PAD_LEFT}" x2="{PAD_LEFT + plot_w}" '
                     f'y1="{at:.1f}" y2="{at:.1f}" stroke="{colour}" stroke-width="1.5" stroke-dasharray="2 3"/>')
        parts.append(f'<text x="{PAD_LEFT + plot_w + 6}" y="{label_y:.1f}" font-size="11" fill="{colour}">'
                     f'{escape(short_words(mark))}</text>')
    return parts


def short_words(mark: Mark) -> str:
    """A mark's label beside the plot: what and where ("PHQ-9 remission < 5"); the description has the full words."""
    label = LABELS.get(mark.instrument, mark.instrument)
    return f"{label} {mark.kind} {'≤' if mark.kind == 'response' else '<'} {mark.level}"
