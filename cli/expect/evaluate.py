"""Judging one expectation against a report (the final one, or the snapshot taken at its `at:`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from cli.expect.grammar import Expectation
from cli.expect.kinds import KINDS, Clock, Item, Kind
from cli.scenario import Scenario

SHOWN = 3  # items quoted in one failure: enough to see the pattern, short enough to read


@dataclass(frozen=True)
class Verdict:
    expectation: Expectation
    passed: bool
    expected: str
    happened: str


def clock_of(scenario: Scenario) -> Clock:
    """Report times (UTC) as the scenario's author wrote them: clinic-local, to the minute."""
    def clock(moment: str | None, patient: str | None) -> str:
        if moment is None:
            return "-"
        return datetime.fromisoformat(moment).astimezone(ZoneInfo(scenario.zone_of(patient))).strftime("%Y-%m-%d %H:%M")
    return clock


def judge(expectation: Expectation, report: dict, scenario: Scenario) -> Verdict:
    clock = clock_of(scenario)
    if expectation.stage is not None:
        return _stage(expectation, report)
    body = expectation.body
    return _counted(expectation, KINDS[type(body)], report, clock)


def _stage(expectation: Expectation, report: dict) -> Verdict:
    stages = {workflow["patient"]: workflow["stage"] for workflow in report["workflows"]}
    wanted = expectation.stage or {}
    expected = ", ".join(f"{patient} in stage {stage}" for patient, stage in wanted.items())
    happened = ", ".join(f"{patient} is in {stages[patient]}" if patient in stages else f"{patient} has no workflow"
                         for patient in wanted)
    return Verdict(expectation, all(stages.get(p) == s for p, s in wanted.items()), expected, happened)


def _counted(expectation: Expectation, kind: Kind, report: dict, clock: Clock) -> Verdict:
    body = expectation.body
    window = body.window()
    near = [item for item in kind.items(report) if kind.subject(body, item)]
    found = [item for item in near if kind.details(body, item) and _inside(item.get(kind.when), window)]
    expected = f"{_how_many(body)} {kind.expected(body)}{_window_text(window, body.patient, clock)}"
    if found:
        happened = f"found {len(found)}: " + _listed(found, kind, clock)
    elif near:
        happened = "found none; nearest: " + _listed(_nearest(near, kind.when, window), kind, clock)
    else:
        happened = "found none, and nothing of that kind at all"
    return Verdict(expectation, body.counts(len(found)), expected, happened)


def _inside(moment: str | None, window: tuple[datetime, datetime] | None) -> bool:
    if window is None:
        return True
    return moment is not None and window[0] <= datetime.fromisoformat(moment) <= window[1]


def _nearest(items: list[Item], when: str, window: tuple[datetime, datetime] | None) -> list[Item]:
    if window is None:
        return items
    def distance(item: Item) -> float:
        if item.get(when) is None:
            return float("inf")
        return abs((datetime.fromisoformat(item[when]) - window[0]).total_seconds())
    return sorted(items, key=distance)


def _listed(items: list[Item], kind: Kind, clock: Clock) -> str:
    more = f"; and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return "; ".join(kind.happened(item, clock) for item in items[:SHOWN]) + more


def _how_many(body) -> str:
    if body.none:
        return "no"
    return "at least one" if body.count is None else f"exactly {body.count}"


def _window_text(window, patient: str | None, clock: Clock) -> str:
    if window is None:
        return ""
    start, end = (clock(moment.isoformat(), patient) for moment in window)
    return f" between {start} and {end}"
