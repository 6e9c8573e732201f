"""Builders for pure pathway tests: a `PatientDriver` with a virtual clock over `workflows.pathway`.

Nothing here touches a database or the network: the driver keeps the state in memory, applies events with `decide`,
and fires due timers itself, in due order and at their due times, as the durable timer worker would.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from config.clinic import build_clinic
from config.protocol import load_protocol
from workflows.clinic import Clinic
from workflows.effects import Decision, SendMessage
from workflows.errors import Rejected
from workflows.events import make_event
from workflows.pathway import decide, start, timer_event
from workflows.protocol import Protocol
from workflows.stages import EVENT_RULES, Role
from workflows.state import Escalation, Session, WorkflowState

ON_CALL = "+15555550190"
MEDICAL_DIRECTOR = "+15555550191"
PATIENT_PHONE = "+15555550101"
PATIENT_NAME = "Test Patient One"
# Monday 2 March 2026, 09:00 in New York (the clinic's zone).
T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)

PROTOCOL = load_protocol()
CLINIC = build_clinic(staff={"on_call": ON_CALL, "medical_director": MEDICAL_DIRECTOR})

NORMAL_BP = (120, 80)
ELEVATED_BP = (150, 95)
CRITICAL_BP = (185, 110)
# A valid dose per route when a test names none (IV falls back to the protocol's standard mg/kg).
DEFAULT_DOSE: dict[str, dict] = {"esketamine": {"dose_mg": 56}, "im_ketamine": {"dose_mg_per_kg": 0.5}}


def local_at(day: date, hour: int, minute: int = 0, zone: str = "America/New_York") -> datetime:
    """A wall-clock time on a day in a time zone, as an aware UTC datetime."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def default_role(event_type: str) -> str:
    """Who normally posts an event: a coordinator where allowed, else a clinician (patients for their texts)."""
    roles = EVENT_RULES[event_type].roles
    for role in (Role.COORDINATOR, Role.CLINICIAN, Role.PATIENT):
        if role in roles:
            return role.value
    raise AssertionError(f"no default role for {event_type}")


def referral_data(**overrides: Any) -> dict:
    patient = {"name": PATIENT_NAME, "phone": PATIENT_PHONE, "sms_consent": True}
    patient.update(overrides.pop("patient", {}))
    data = {"patient": patient, "referrer": "Dr. Alvarez", "prior_treatments": 3}
    data.update(overrides)
    return data


class PatientDriver:
    """One patient's workflow on a virtual clock.

    `post` applies an event now; `advance` moves the clock, firing every timer that falls due on the way at its due
    time (timers created by a firing are honoured too). Every decision and every message is kept for assertions.
    """

    def __init__(
        self,
        *,
        now: datetime = T0,
        protocol: Protocol = PROTOCOL,
        clinic: Clinic = CLINIC,
        patient_id: str = "p1",
        **referral: Any,
    ) -> None:
        self.now = now
        self.protocol = protocol
        self.clinic = clinic
        self.decisions: list[Decision] = []
        self.fired: list[tuple[datetime, str, str]] = []  # (at, key, kind)
        self.sent: list[tuple[datetime, SendMessage]] = []
        event = make_event("referral.received", referral_data(**referral), actor={"role": "coordinator", "name": "Sam"})
        self._record(start(str(uuid.uuid4()), patient_id, event, now, protocol, clinic))

    # --- driving ------------------------------------------------------------------------------------------------

    def post(self, event_type: str, data: dict | None = None, role: str | None = None, name: str = "staff") -> Decision:
        event = make_event(event_type, data or {}, actor={"role": role or default_role(event_type), "name": name})
        return self._record(decide(self.state, event, self.now, self.protocol, self.clinic))

    def refuse(self, event_type: str, data: dict | None = None, role: str | None = None) -> Rejected:
        """Post an event that must be refused; asserts the state is left exactly as it was."""
        before = self.state.model_dump()
        with pytest.raises(Rejected) as info:
            self.post(event_type, data, role)
        assert self.state.model_dump() == before
        return info.value

    def advance(self, minutes: float = 0, hours: float = 0, days: float = 0) -> list[Decision]:
        return self.advance_to(self.now + timedelta(minutes=minutes, hours=hours, days=days))

    def advance_to(self, when: datetime) -> list[Decision]:
        """Move the clock to `when`, firing due timers in (due time, key) order at their due times."""
        assert when >= self.now, "the clock only moves forward"
        decisions = []
        while True:
            due = [(timer.due_at, key) for key, timer in self.state.timers.items() if timer.due_at <= when]
            if not due:
                break
            due_at, key = min(due)
            timer = self.state.timers[key]
            self.now = max(self.now, due_at)
            self.fired.append((self.now, key, timer.kind))
            decisions.append(self._record(decide(self.state, timer_event(key, timer), self.now, self.protocol, self.clinic)))
        self.now = when
        return decisions

    def _record(self, decision: Decision) -> Decision:
        self.state: WorkflowState = decision.state
        self.decisions.append(decision)
        self.sent.extend((self.now, message) for message in decision.of_type(SendMessage))
        return decision

    # --- reading ------------------------------------------------------------------------------------------------

    @property
    def stage(self) -> str:
        return self.state.stage

    def session(self, session_id: str = "s1") -> Session:
        return self.state.sessions[session_id]

    def escalation(self, reason: str) -> Escalation | None:
        """The open (or acknowledged) escalation for a reason, else the latest one with that reason, else None."""
        found = self.state.open_escalation(reason)
        if found is not None:
            return found
        matching = [e for e in self.state.escalations.values() if e.reason == reason]
        return matching[-1] if matching else None

    def escalations(self, reason: str) -> list[Escalation]:
        return [e for e in self.state.escalations.values() if e.reason == reason]

    def timers_of(self, session_id: str) -> dict:
        return {key: timer for key, timer in self.state.timers.items() if timer.session == session_id}

    def escalation_timers(self) -> dict:
        return {key: timer for key, timer in self.state.timers.items() if timer.kind == "escalation_deadline"}

    def staff_alerts(self, to: str | None = None) -> list[tuple[datetime, SendMessage]]:
        return [(at, m) for at, m in self.sent if m.kind == "staff_alert" and (to is None or m.to == to)]

    def to_patient(self, kind: str | None = None) -> list[SendMessage]:
        """Every message planned for the patient (dropped ones too), optionally of one kind."""
        return [m for _, m in self.sent if m.recipient == "patient" and (kind is None or m.kind == kind)]

    def local(self, moment: datetime) -> datetime:
        """A moment in the patient's own time zone."""
        return moment.astimezone(ZoneInfo(self.state.patient.timezone))

    def text(self, body: str) -> Decision:
        """An inbound SMS from the patient's phone."""
        return self.post("sms.received", {"from": self.state.patient.phone, "body": body}, role="patient")

    # --- shortcuts to a stage -------------------------------------------------------------------------------------

    def schedule_evaluation(self, days: float = 1) -> Decision:
        return self.post("evaluation.scheduled", {"start": self.now + timedelta(days=days)})

    def complete_evaluation(self, route: str = "esketamine", weight_kg: float | None = 80.0) -> Decision:
        data: dict[str, Any] = {"eligible": True, "route": route, "clinician": "Dr. Berg"}
        if weight_kg is not None:
            data["weight_kg"] = weight_kg
        return self.post("evaluation.completed", data)

    def plan(self, route: str = "esketamine") -> PatientDriver:
        """Referral → evaluation booked → evaluated eligible: stage treatment_planned."""
        self.schedule_evaluation()
        self.advance(days=1)
        self.complete_evaluation(route)
        assert self.stage == "treatment_planned"
        return self

    def schedule(self, session_id: str = "s1", days: float = 3, **dose: Any) -> datetime:
        start_at = self.now + timedelta(days=days)
        self.post("session.scheduled", {"session": session_id, "start": start_at, **dose})
        return start_at

    def bp(self, session_id: str, phase: str, reading: tuple[int, int] = NORMAL_BP) -> Decision:
        systolic, diastolic = reading
        return self.post("vitals.recorded", {"session": session_id, "phase": phase, "systolic": systolic,
                                             "diastolic": diastolic})

    def arrive(self, session_id: str = "s1", days: float = 3, confirm: bool = True, **dose: Any) -> PatientDriver:
        """Book a session `days` ahead, confirm it, let the clock run to its start and check the patient in."""
        start_at = self.schedule(session_id, days, **dose)
        if confirm:
            self.post("session.confirmed", {"session": session_id})
        self.advance_to(start_at)
        self.post("session.arrived", {"session": session_id})
        return self

    def dose(self, session_id: str = "s1", **data: Any) -> Decision:
        """Give the dose with ride and fasting confirmed; with no dose named anywhere, a valid one for the route."""
        session = self.session(session_id)
        named = {"dose_mg", "dose_mg_per_kg"} & set(data)
        if not named and session.planned_dose_mg is None and session.planned_dose_mg_per_kg is None:
            data.update(DEFAULT_DOSE.get(session.route, {}))
        payload = {"session": session_id, "ride_confirmed": True, "fasting_confirmed": True, **data}
        return self.post("dose.administered", payload)

    def dose_now(self, session_id: str = "s1", **data: Any) -> Decision:
        """Normal pre-dose BP, then the dose."""
        self.bp(session_id, "pre_dose")
        return self.dose(session_id, **data)

    def discharge(self, session_id: str = "s1", sedation: bool = True, dissociation: bool = True) -> Decision:
        return self.post("session.discharged", {"session": session_id, "sedation_resolved": sedation,
                                                "dissociation_resolved": dissociation, "clinician": "Dr. Berg"})

    def monitor_and_discharge(self, session_id: str = "s1") -> Decision:
        """From the dose: the route's BP readings at their times, the minimum monitoring time, then discharge."""
        session = self.session(session_id)
        rules = self.protocol.route(session.route)
        total = rules.infusion_minutes + rules.min_monitoring_minutes
        if "post_dose" in rules.required_bp_phases:
            self.advance_to(session.dosed_at + timedelta(minutes=40))
            self.bp(session_id, "post_dose")
        self.advance_to(session.dosed_at + timedelta(minutes=total))
        self.bp(session_id, "pre_discharge")
        return self.discharge(session_id)

    def complete_session(self, session_id: str, days: float = 3, rems_form: bool = True, **dose: Any) -> PatientDriver:
        """Book, confirm, arrive, dose, monitor and discharge one session (and send its REMS form)."""
        self.arrive(session_id, days)
        self.dose_now(session_id, **dose)
        self.monitor_and_discharge(session_id)
        if rems_form and self.session(session_id).route == "esketamine":
            self.post("rems.form_submitted", {"session": session_id})
        return self


def esketamine_at_chair(date_of_birth: date | None = None, rems: bool = True, **referral: Any) -> PatientDriver:
    """An esketamine patient arrived at session s1 (REMS enrollment on file unless rems=False)."""
    if date_of_birth is not None:
        referral.setdefault("patient", {})["date_of_birth"] = date_of_birth.isoformat()
    patient = PatientDriver(**referral).plan("esketamine")
    if rems:
        patient.post("rems.enrolled", {"enrollment_id": "REMS-1"})
    return patient.arrive("s1")


def route_at_chair(route: str) -> PatientDriver:
    """A patient of any route arrived at s1 (esketamine with REMS on file)."""
    if route == "esketamine":
        return esketamine_at_chair()
    return PatientDriver().plan(route).arrive("s1")


def dosed(route: str = "esketamine", **dose: Any) -> PatientDriver:
    """A patient dosed at s1 with a normal pre-dose BP (a valid default dose for the route)."""
    patient = route_at_chair(route)
    patient.dose_now("s1", **dose)
    return patient


def discharged(route: str = "esketamine", **referral: Any) -> PatientDriver:
    """A patient whose first session s1 was dosed and discharged: the check-in waits for 10:00 the next day."""
    patient = PatientDriver(**referral).plan(route)
    if route == "esketamine":
        patient.post("rems.enrolled", {"enrollment_id": "REMS-1"})
    patient.complete_session("s1")
    return patient


def in_induction(route: str = "esketamine") -> PatientDriver:
    """Treatment planned and a first session booked: stage induction."""
    patient = PatientDriver().plan(route)
    if route == "esketamine":
        patient.post("rems.enrolled", {"enrollment_id": "REMS-1"})
    patient.schedule("s1")
    return patient


def cssrs(**answers: Any) -> dict:
    """C-SSRS screener answers, with skip logic applied: q3..q5 only when q2 is yes."""
    given = {"q1": False, "q2": False, "q6": False, **answers}
    if given["q2"]:
        for key in ("q3", "q4", "q5"):
            given.setdefault(key, False)
    return given


def phq9(item9: int = 0, others: int = 1) -> list[int]:
    return [others] * 8 + [item9]


def through_induction(route: str = "esketamine") -> PatientDriver:
    """Every planned induction session booked, dosed and discharged: stage response_review."""
    patient = PatientDriver().plan(route)
    if route == "esketamine":
        patient.post("rems.enrolled", {"enrollment_id": "REMS-1"})
    for number in range(1, PROTOCOL.route(route).induction_sessions + 1):
        patient.complete_session(f"s{number}")
    assert patient.stage == "response_review"
    return patient


def reach(stage: str, route: str = "esketamine") -> PatientDriver:
    """A patient in the given non-final stage, by the shortest ordinary path."""
    if stage == "referred":
        return PatientDriver()
    if stage == "evaluation_scheduled":
        patient = PatientDriver()
        patient.schedule_evaluation()
        return patient
    if stage == "treatment_planned":
        return PatientDriver().plan(route)
    if stage == "induction":
        return in_induction(route)
    if stage == "response_review":
        return through_induction(route)
    if stage == "maintenance":
        patient = through_induction(route)
        patient.post("review.completed", {"decision": "continue", "clinician": "Dr. Berg"})
        return patient
    if stage == "paused":
        patient = in_induction(route)
        patient.post("safety.hold", {"reason": "clinical concern", "clinician": "Dr. Berg"})
        return patient
    raise AssertionError(f"no builder for stage {stage}")
