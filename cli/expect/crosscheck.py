"""Checks of `expect:` against the rest of its scenario: the patients, roles, times and lines it names must exist."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from cli.expect.grammar import STAFF_ROLES

if TYPE_CHECKING:
    from cli.scenario import Scenario

Fail = Callable[[str, tuple], Exception]  # (message, pydantic-style location) → the error to raise


def check_expectations(scenario: Scenario, fail: Fail) -> None:
    """Raise the first expectation that names something the scenario does not have."""
    patients = [patient.key for patient in scenario.patients]
    lines = sorted(item.line for item in scenario.timeline)
    for i, expectation in enumerate(scenario.expect):
        where = ("expect", i, expectation.kind)
        for key in expectation.patients():
            if key not in patients:
                loc = (*where, key) if expectation.stage is not None else (*where, "patient")
                raise fail(f"unknown patient {key!r} (patients: {', '.join(patients) or 'none declared'})", loc)
        if expectation.at is not None and not scenario.start <= expectation.at <= scenario.until:
            raise fail(f"{expectation.at.isoformat()} is outside the scenario "
                       f"({scenario.start.isoformat()} to {scenario.until.isoformat()})", ("expect", i, "at"))
        if expectation.message is not None and expectation.message.to is not None:
            to = expectation.message.to
            if to not in patients and to not in STAFF_ROLES:
                raise fail(f"unknown recipient {to!r}: a patient key ({', '.join(patients)}) or a staff role "
                           f"({', '.join(STAFF_ROLES)})", (*where, "to"))
        if expectation.refusal is not None and expectation.refusal.line is not None:
            if expectation.refusal.line not in lines:
                raise fail(f"line {expectation.refusal.line} is not a timeline line (timeline lines: "
                           f"{', '.join(map(str, lines)) or 'none'})", (*where, "line"))
