"""A session's dosing and discharge gates: which are open, and when discharge is allowed (PROTOCOL.md §3).

One copy of the rules. The engine refuses a dose or a discharge with the first open gate listed here, in this order;
the console's chair lists them all. So what the screen shows as open is exactly what the engine would refuse.
Ride home, fasting, sedation and dissociation are facts the clinician attests with the dose or the discharge itself:
without an answer (`None`, the chair before the form is sent) those gates are open, waiting for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from workflows.clock import clinic_time
from workflows.protocol import RouteRules, SessionRules
from workflows.state import Session, SessionStatus, Vital, WorkflowState

GateState = Literal["open", "passed", "not_required"]
PHASE_LABELS = {"pre_dose": "pre-dose", "post_dose": "post-dose", "pre_discharge": "pre-discharge"}


@dataclass(frozen=True)
class Gate:
    """One condition a dose or a discharge needs; `refusal` is the engine's message while it is open."""

    name: str  # unique within a session's gates: "ride_home", "bp_post_dose", ...
    rule: str  # the engine's rule name, as `Rejected.rule` carries it
    label: str
    state: GateState
    detail: str = ""
    refusal: str = ""
    due_from: datetime | None = None
    due_until: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.state == "open"


def first_open(gates: list[Gate]) -> Gate | None:
    return next((gate for gate in gates if gate.is_open), None)


# --- before the dose ------------------------------------------------------------------------------------------------

def bp_elevated(rules: SessionRules, systolic: int, diastolic: int) -> bool:
    """At or above the pre-dose hold threshold (140/90 by default)."""
    return systolic >= rules.pre_dose_hold.systolic or diastolic >= rules.pre_dose_hold.diastolic


def latest_reading(session: Session, phase: str) -> Vital | None:
    readings = [v for v in session.vitals if v.phase == phase]
    return readings[-1] if readings else None


def dose_gates(state: WorkflowState, session: Session, route: RouteRules, rules: SessionRules,
               ride_confirmed: bool | None = None, fasting_confirmed: bool | None = None) -> list[Gate]:
    """No other dose in monitoring, pre-dose BP, REMS enrollment, ride home, fasting: in the order the engine checks them."""
    return [
        _one_dose_at_a_time(state, session),
        _pre_dose_bp(session, rules),
        _required(route.requires_rems_enrollment, state.rems_enrollment_id is not None, "rems_enrollment",
                  "REMS enrollment", "no REMS patient enrollment on file: record rems.enrolled first",
                  open_detail="no patient enrollment on file", passed_detail=f"on file ({state.rems_enrollment_id})"),
        _attested(route.requires_ride_home, ride_confirmed, session, "ride_home", "Ride home",
                  "ride home not confirmed (ride_confirmed must be true)"),
        _attested(route.requires_fasting, fasting_confirmed, session, "fasting", "Fasting",
                  "fasting not confirmed (fasting_confirmed must be true)"),
    ]


def _one_dose_at_a_time(state: WorkflowState, session: Session) -> Gate:
    """A patient is dosed again only once the last dose's monitoring ended in a discharge."""
    label = "No other dose in monitoring"
    if session.status == SessionStatus.DOSED:
        return Gate("one_dose_at_a_time", "one_dose_at_a_time", label, "passed", "this session's dose")
    monitored = sorted(s.id for s in state.sessions.values() if s.id != session.id and s.status == SessionStatus.DOSED)
    if not monitored:
        return Gate("one_dose_at_a_time", "one_dose_at_a_time", label, "passed", "none")
    return Gate("one_dose_at_a_time", "one_dose_at_a_time", label, "open", f"session {monitored[0]} is being monitored",
                f"session {monitored[0]} was dosed and is not discharged yet: discharge it before another dose")


def _pre_dose_bp(session: Session, rules: SessionRules) -> Gate:
    latest = latest_reading(session, "pre_dose")
    if latest is None:
        return Gate("bp_pre_dose", "bp_pre_dose", "Pre-dose BP", "open", "not recorded yet",
                    "no pre-dose blood pressure recorded")
    reading = f"{latest.systolic}/{latest.diastolic}"
    if not bp_elevated(rules, latest.systolic, latest.diastolic):
        return Gate("bp_pre_dose", "bp_pre_dose", "Pre-dose BP", "passed", reading)
    hold = rules.pre_dose_hold
    refusal = (f"pre-dose blood pressure {reading} is at or above {hold.systolic}/{hold.diastolic}; one re-check is"
               f" allowed within {rules.bp_recheck_minutes} min")
    recheck_until = (session.bp_elevated_at + timedelta(minutes=rules.bp_recheck_minutes)
                     if session.bp_elevated_at else None)
    return Gate("bp_pre_dose", "bp_pre_dose", "Pre-dose BP", "open",
                f"{reading} is at or above {hold.systolic}/{hold.diastolic}: one re-check allowed", refusal,
                due_until=recheck_until)


def _required(required: bool, met: bool, rule: str, label: str, refusal: str, *, open_detail: str,
              passed_detail: str) -> Gate:
    if not required:
        return Gate(rule, rule, label, "not_required", "not required for this route")
    if met:
        return Gate(rule, rule, label, "passed", passed_detail)
    return Gate(rule, rule, label, "open", open_detail, refusal)


def _attested(required: bool, answer: bool | None, session: Session, rule: str, label: str, refusal: str) -> Gate:
    """A fact confirmed with the dose: passed once a dose was given (the engine refused it otherwise)."""
    if not required:
        return Gate(rule, rule, label, "not_required", "not required for this route")
    if answer or session.dosed_at is not None:
        return Gate(rule, rule, label, "passed", "confirmed")
    detail = "not confirmed" if answer is False else "to confirm with the dose"
    return Gate(rule, rule, label, "open", detail, refusal)


# --- monitoring and discharge ---------------------------------------------------------------------------------------

def earliest_discharge(session: Session, route: RouteRules) -> datetime:
    """The dose (or the infusion's end) plus the route's minimum monitoring time."""
    return session.dosed_at + timedelta(minutes=route.infusion_minutes + route.min_monitoring_minutes)


def post_dose_window(session: Session, route: RouteRules) -> tuple[datetime, datetime]:
    low, high = route.post_dose_window_minutes
    return session.dosed_at + timedelta(minutes=low), session.dosed_at + timedelta(minutes=high)


def missing_bp_phases(session: Session, route: RouteRules) -> list[str]:
    """Required phases with no valid reading; a post-dose reading counts from the start of its window."""
    missing = []
    for phase in route.required_bp_phases:
        readings = [v for v in session.vitals if v.phase == phase]
        if phase == "post_dose":
            window_start, _ = post_dose_window(session, route)
            readings = [v for v in readings if v.at >= window_start]
        if not readings:
            missing.append(phase)
    return missing


def discharge_gates(session: Session, route: RouteRules, now: datetime, sedation_resolved: bool | None = None,
                    dissociation_resolved: bool | None = None, zone: str = "UTC") -> list[Gate]:
    """Minimum monitoring time, sedation, dissociation, breathing, BP readings: in the order the engine checks them.

    Needs a dosed (or discharged) session: before the dose there is no monitoring time to count.
    """
    earliest = earliest_discharge(session, route)
    if now < earliest:
        minutes = math.ceil((earliest - now).total_seconds() / 60)
        monitoring = Gate("min_monitoring", "min_monitoring", "Minimum monitoring time", "open",
                          f"{minutes} min left",
                          f"minimum monitoring time not reached: discharge allowed from {clinic_time(earliest, zone)}"
                          f" ({minutes} min left)", due_from=earliest)
    else:
        monitoring = Gate("min_monitoring", "min_monitoring", "Minimum monitoring time", "passed", "reached",
                          due_from=earliest)
    return [
        monitoring,
        _resolved(sedation_resolved, session, "sedation_resolved", "Sedation resolved", "sedation is not resolved"),
        _resolved(dissociation_resolved, session, "dissociation_resolved", "Dissociation resolved",
                  "dissociation is not resolved"),
        _breathing(session, route),
        *_bp_reading_gates(session, route),
    ]


def _resolved(answer: bool | None, session: Session, rule: str, label: str, refusal: str) -> Gate:
    if answer or session.status == SessionStatus.DISCHARGED:
        return Gate(rule, rule, label, "passed", "confirmed")
    detail = "not resolved" if answer is False else "to confirm at discharge"
    return Gate(rule, rule, label, "open", detail, refusal)


# The rule id and the words staff read for it (PROTOCOL.md §3: esketamine monitoring lasts until respiratory depression
# has resolved).
RESPIRATORY_RULE = "respiratory_resolved"
RESPIRATORY_LABEL = "Breathing back to normal"


def latest_breathing(session: Session) -> Vital | None:
    """The last reading since the dose (post-dose or pre-discharge) that says how the patient was breathing."""
    observed = [v for v in session.vitals if v.respiratory_status is not None and v.phase != "pre_dose"]
    return observed[-1] if observed else None


def _breathing(session: Session, route: RouteRules) -> Gate:
    """Open while the last breathing observation since the dose is respiratory depression. With none recorded there
    is nothing to resolve: the gate asks staff to record what they see, it does not invent a concern."""
    if not route.monitors_respiratory:
        return Gate(RESPIRATORY_RULE, RESPIRATORY_RULE, RESPIRATORY_LABEL, "not_required", "not required for this route")
    latest = latest_breathing(session)
    if latest is None:
        return Gate(RESPIRATORY_RULE, RESPIRATORY_RULE, RESPIRATORY_LABEL, "passed",
                    "no breathing problem recorded since the dose")
    if latest.respiratory_status == "normal":
        return Gate(RESPIRATORY_RULE, RESPIRATORY_RULE, RESPIRATORY_LABEL, "passed", "breathing recorded as normal")
    return Gate(RESPIRATORY_RULE, RESPIRATORY_RULE, RESPIRATORY_LABEL, "open", "slowed or shallow breathing recorded",
                "respiratory depression is not resolved: record vitals with respiratory_status normal once the"
                " patient's breathing is back to normal")


def _bp_reading_gates(session: Session, route: RouteRules) -> list[Gate]:
    """One gate per required reading after the dose; the engine names every missing phase in one refusal."""
    missing = missing_bp_phases(session, route)
    refusal = f"required blood pressure readings missing: {', '.join(missing)}"
    gates = []
    for phase in route.required_bp_phases:
        if phase == "pre_dose":
            continue  # the dose gate already required it; it cannot go missing afterwards
        due_from, due_until = post_dose_window(session, route) if phase == "post_dose" else (None, None)
        label = f"{PHASE_LABELS[phase].capitalize()} BP"
        if phase in missing:
            detail = "due" if phase == "post_dose" else "due before discharge"
            gates.append(Gate(f"bp_{phase}", "bp_readings", label, "open", detail, refusal, due_from, due_until))
        else:
            latest = latest_reading(session, phase)
            gates.append(Gate(f"bp_{phase}", "bp_readings", label, "passed", f"{latest.systolic}/{latest.diastolic}",
                              due_from=due_from, due_until=due_until))
    return gates


# --- the chair's view -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChairGates:
    """What the chair shows for one session at `now`."""

    dose: list[Gate]
    discharge: list[Gate]  # empty before the dose
    earliest_discharge: datetime | None  # None before the dose
    seconds_left: int | None  # until the earliest discharge; 0 once reached

    @property
    def open(self) -> list[Gate]:
        return [gate for gate in (*self.dose, *self.discharge) if gate.is_open]


def chair_gates(state: WorkflowState, session: Session, route: RouteRules, rules: SessionRules,
                now: datetime, zone: str = "UTC") -> ChairGates:
    dose = dose_gates(state, session, route, rules)
    if session.dosed_at is None:
        return ChairGates(dose, [], None, None)
    earliest = earliest_discharge(session, route)
    left = max(0, int((earliest - now).total_seconds())) if session.status == SessionStatus.DOSED else 0
    return ChairGates(dose, discharge_gates(session, route, now, zone=zone), earliest, left)
