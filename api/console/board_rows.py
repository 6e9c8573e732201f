"""One line of the chair board: where a patient in the clinic is in their visit, the reading due next (and whether it
is overdue), the countdown to the earliest discharge and the gates still open, in the words the chair uses.

Everything is derived from the session's state with `workflows.gates`, the engine's own copy of the dosing and discharge
rules, so the board and the chair page never disagree, and the board shows open exactly what the engine would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from workflows.gates import (
    ChairGates,
    Gate,
    bp_elevated,
    earliest_discharge,
    latest_reading,
    missing_bp_phases,
    post_dose_window,
)
from workflows.protocol import RouteRules, SessionRules
from workflows.state import Session, SessionStatus

# A visit's stages on the board, in the order a patient goes through them, with what staff read.
STAGES = {"arrived": "Arrived, waiting for the dose", "dosed": "Dosed", "monitoring": "In monitoring",
          "ready": "Ready for discharge"}
# Facts the clinician confirms on the discharge form itself: open until then, they do not hold a patient back from
# being ready for discharge.
CONFIRMED_AT_DISCHARGE = frozenset({"sedation_resolved", "dissociation_resolved"})


@dataclass(frozen=True)
class Reading:
    """The blood-pressure reading a session needs next, and when (either bound may be unknown)."""

    label: str  # "Post-dose BP"
    due_from: datetime | None
    due_until: datetime | None
    overdue: bool
    before: str = ""  # what it must come before, when it has no clock time: "the dose", "discharge"


@dataclass(frozen=True)
class BoardRow:
    workflow_id: str
    session_id: str
    patient_name: str
    chair: str | None
    stage: str  # a key of STAGES
    arrived_at: datetime | None
    dosed_at: datetime | None
    reading: Reading | None
    earliest_discharge: datetime | None  # None before the dose
    seconds_left: int | None  # until the earliest discharge; None before the dose, 0 once reached
    open_gates: list[str]  # each in the words staff read: "Ride home: to confirm with the dose"
    zone: str  # the clinic's time zone: the board shows each row in its own clinic's time

    @property
    def stage_label(self) -> str:
        return STAGES[self.stage]

    @property
    def overdue(self) -> bool:
        return self.reading is not None and self.reading.overdue


def board_row(workflow_id: str, patient_name: str, session: Session, route: RouteRules, rules: SessionRules,
              gates: ChairGates, now: datetime, zone: str) -> BoardRow:
    """The board's line for one session whose patient is checked in or dosed."""
    dosed = session.dosed_at is not None
    return BoardRow(
        workflow_id=workflow_id, session_id=session.id, patient_name=patient_name,
        # Sessions gain a chair when the schedule grid books one; until then the board shows it as not known.
        chair=session.chair,
        stage=stage_of(session, route, gates, now), arrived_at=session.arrived_at, dosed_at=session.dosed_at,
        reading=next_reading(session, route, rules, now), earliest_discharge=gates.earliest_discharge,
        seconds_left=gates.seconds_left if dosed else None,
        open_gates=[gate_words(gate, zone) for gate in (gates.discharge if dosed else gates.dose) if gate.is_open],
        zone=zone)


def gate_words(gate: Gate, zone: str) -> str:
    """An open gate as the board says it. The time left to the minimum monitoring is the countdown beside it, so here
    it is the clock time (a count written once would fall behind the ticking one); a missing reading is "not recorded
    yet" (when it is due is the next-reading column's)."""
    if gate.name == "min_monitoring" and gate.due_from is not None:
        return f"{gate.label}: until {gate.due_from.astimezone(ZoneInfo(zone)):%H:%M}"
    if gate.rule == "bp_readings":
        return f"{gate.label}: not recorded yet"
    return f"{gate.label}: {gate.detail}"


def stage_of(session: Session, route: RouteRules, gates: ChairGates, now: datetime) -> str:
    """Arrived (no dose yet); dosed (the infusion is running, or the post-dose reading is still to come); in monitoring
    (waiting out the minimum time or an open gate); ready for discharge (only the discharge form's own checks left)."""
    if session.status != SessionStatus.DOSED or session.dosed_at is None:
        return "arrived"
    infusing = now < session.dosed_at + timedelta(minutes=route.infusion_minutes)
    if infusing or "post_dose" in missing_bp_phases(session, route):
        return "dosed"
    holding = [gate for gate in gates.discharge if gate.is_open and gate.rule not in CONFIRMED_AT_DISCHARGE]
    return "monitoring" if holding else "ready"


def next_reading(session: Session, route: RouteRules, rules: SessionRules, now: datetime) -> Reading | None:
    """The next blood-pressure reading the session's gates need, with its window; None when none is missing."""
    if session.dosed_at is None:
        return _before_the_dose(session, rules, now)
    missing = missing_bp_phases(session, route)
    if "post_dose" in missing:
        opens, closes = post_dose_window(session, route)
        return Reading("Post-dose BP", opens, closes, overdue=now > closes)
    if "pre_discharge" in missing:
        return Reading("Pre-discharge BP", earliest_discharge(session, route), None, overdue=False, before="discharge")
    return None


def _before_the_dose(session: Session, rules: SessionRules, now: datetime) -> Reading | None:
    latest = latest_reading(session, "pre_dose")
    if latest is None:
        return Reading("Pre-dose BP", None, None, overdue=False, before="the dose")
    if bp_elevated(rules, latest.systolic, latest.diastolic) and session.bp_elevated_at is not None:
        until = session.bp_elevated_at + timedelta(minutes=rules.bp_recheck_minutes)
        return Reading("Pre-dose BP re-check", None, until, overdue=now > until, before="the dose")
    return None
