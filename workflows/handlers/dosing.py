"""At the chair: vitals, the dose and its gates, monitoring and discharge, the REMS form (PROTOCOL.md §3)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from workflows import escalations, gates, rems
from workflows.clock import age_on, at_local_time, clinic_time, local
from workflows.events import DoseAdministered, RemsEnrolled, SessionDischarged, SessionRef, VitalsRecorded
from workflows.handlers import messaging
from workflows.protocol import Route, RouteRules
from workflows.stages import Stage
from workflows.state import NOT_HAPPENING, Session, SessionStatus, Vital
from workflows.step import Step


def vitals_recorded(step: Step, data: VitalsRecorded) -> None:
    """A blood-pressure reading at the chair; the pre-dose one is the BP gate (PROTOCOL.md §3)."""
    session = step.session(data.session)
    if session.status not in (SessionStatus.ARRIVED, SessionStatus.DOSED):
        step.reject(f"session {session.id} is {session.status}; vitals need an arrived or dosed session", "session_at_chair")
    if data.phase == "pre_dose" and session.status != SessionStatus.ARRIVED:
        step.reject(f"session {session.id} is already dosed; record post_dose or pre_discharge", "vitals_phase")
    if data.phase != "pre_dose" and session.status != SessionStatus.DOSED:
        step.reject(f"session {session.id} is not dosed yet; record a pre_dose reading", "vitals_phase")
    if data.phase == "pre_dose":
        charted_after(step, session.arrived_at, "a pre_dose reading", "the arrival")
    else:
        charted_after(step, session.dosed_at, f"a {data.phase} reading", "the dose")
    session.vitals.append(
        Vital(phase=data.phase, systolic=data.systolic, diastolic=data.diastolic,
              heart_rate=data.heart_rate, spo2=data.spo2, respiratory_status=data.respiratory_status,
              sedation=data.sedation, dissociation=data.dissociation, at=step.now)
    )
    critical = step.protocol.sessions.critical_bp
    if data.systolic >= critical.systolic or data.diastolic >= critical.diastolic:
        escalations.raise_escalation(step, "bp_critical", session=session.id)
    if data.spo2 is not None and data.spo2 < step.protocol.sessions.spo2_alert_below:
        escalations.raise_escalation(step, "spo2_low", session=session.id)
    if data.phase == "pre_dose":
        _pre_dose_gate(step, session, elevated=gates.bp_elevated(step.protocol.sessions, data.systolic, data.diastolic))


def _pre_dose_gate(step: Step, session: Session, elevated: bool) -> None:
    """First elevated reading opens a re-check window; a second one (or none in time) holds the session."""
    key = f"bp_recheck:{session.id}"
    pending = step.state.timers.get(key)
    if pending is not None and step.now > pending.due_at:
        # The re-check window has passed and its timer has not fired yet: too late to count as the re-check.
        hold_session(step, session)
        return
    if not elevated:
        step.cancel_timer(key)
        return
    if session.bp_elevated_at is None:
        session.bp_elevated_at = step.now
        due = step.now + timedelta(minutes=step.protocol.sessions.bp_recheck_minutes)
        step.set_timer(key, "bp_recheck", due, session.id)
        return
    hold_session(step, session)


def bp_recheck_due(step: Step, session_id: str) -> None:
    session = step.state.sessions.get(session_id)
    if session is None or session.status != SessionStatus.ARRIVED:
        return
    latest = gates.latest_reading(session, "pre_dose")
    if latest is not None and gates.bp_elevated(step.protocol.sessions, latest.systolic, latest.diastolic):
        hold_session(step, session)


def hold_session(step: Step, session: Session) -> None:
    session.status = SessionStatus.HELD
    session.closed_reason = "blood pressure above the pre-dose limit after re-check"
    step.cancel_session_timers(session.id)
    escalations.raise_escalation(step, "bp_hold", session=session.id)


def dose_administered(step: Step, data: DoseAdministered) -> None:
    """The dose is given, once every gate is closed and the dose fits the route's rule."""
    state = step.state
    session = step.session(data.session)
    if session.status != SessionStatus.ARRIVED:
        step.reject(f"session {session.id} is {session.status}; a dose needs an arrived session", "session_arrived")
    rules = step.protocol.route(session.route)
    # The gates live in workflows.gates, shared with the console's chair: the first open one is the refusal.
    blocker = gates.first_open(gates.dose_gates(state, session, rules, step.protocol.sessions,
                                                ride_confirmed=data.ride_confirmed, fasting_confirmed=data.fasting_confirmed))
    if blocker is not None:
        step.reject(blocker.refusal, blocker.rule)
    # The pre-dose reading (required by the gates above) was itself charted after the arrival.
    charted_after(step, gates.latest_reading(session, "pre_dose").at, "the dose", "the pre-dose reading")
    session.dose_mg = data.dose_mg if data.dose_mg is not None else session.planned_dose_mg
    session.dose_mg_per_kg = data.dose_mg_per_kg if data.dose_mg_per_kg is not None else session.planned_dose_mg_per_kg
    _check_dose(step, session, rules, at_dose=True)
    session.status = SessionStatus.DOSED
    session.dosed_at = step.now


def charted_after(step: Step, earlier: datetime | None, what: str, after: str) -> None:
    """Late charting (an earlier `occurred_at`) is fine, but a visit's steps keep their order: no pre-dose reading
    before the arrival, no dose before the arrival or its pre-dose reading, no post-dose reading before the dose.

    (An arrival may be charted before the booking was entered: a same-day add-on is often booked after the patient
    walked in.)"""
    if earlier is not None and step.now < earlier:
        zone = step.clinic.timezone
        step.reject(f"{what} is charted at {clinic_time(step.now, zone)}, before {after} at {clinic_time(earlier, zone)}",
                    "charted_in_order", "invalid_data")


def check_planned_dose(step: Step, session: Session) -> None:
    """A dose given at booking is checked now, so a wrong plan is caught before the patient is in the chair.

    Only what is knowable at booking: the dose form and allowed values, and the day-1 dose when this is the first
    session. Step sizes between doses are checked at the chair, against the dose actually given last time.
    """
    if session.planned_dose_mg is None and session.planned_dose_mg_per_kg is None:
        return
    rules = step.protocol.route(session.route)
    session.dose_mg, session.dose_mg_per_kg = session.planned_dose_mg, session.planned_dose_mg_per_kg
    try:
        if rules.allowed_doses_mg and not _is_first_session(step, session):
            _check_allowed_mg(step, session, rules, at_dose=False)
        else:
            _check_dose(step, session, rules, at_dose=False)
    finally:
        session.dose_mg = session.dose_mg_per_kg = None


def _is_first_session(step: Step, session: Session) -> bool:
    others = [s for s in step.state.sessions.values() if s.id != session.id and s.status not in NOT_HAPPENING]
    return not any(s.dosed_at for s in others) and all(s.start > session.start for s in others)



def _check_dose(step: Step, session: Session, rules: RouteRules, at_dose: bool) -> None:
    if rules.allowed_doses_mg:
        _check_fixed_dose(step, session, rules, at_dose)
    else:
        _check_weight_based_dose(step, session, rules)


def _check_allowed_mg(step: Step, session: Session, rules: RouteRules, at_dose: bool) -> bool:
    """Form and value of a fixed dose; returns whether there is a dose to check further."""
    allowed = ", ".join(str(mg) for mg in rules.allowed_doses_mg)
    if session.dose_mg_per_kg is not None:
        step.reject(f"{session.route} is dosed in mg ({allowed}), not mg/kg", "dose_rule", "invalid_data")
    if session.dose_mg is None:
        if at_dose:
            step.reject(f"dose_mg is required ({allowed} mg)", "dose_rule", "invalid_data")
        return False
    if session.dose_mg not in rules.allowed_doses_mg:
        step.reject(f"dose {session.dose_mg} mg is not allowed; allowed: {allowed} mg", "dose_rule")
    return True


def _check_fixed_dose(step: Step, session: Session, rules: RouteRules, at_dose: bool) -> None:
    if not _check_allowed_mg(step, session, rules, at_dose):
        return
    previous = _previous_dose(step, session)
    if previous is None:
        first = _first_dose(step, rules, session.start)
        if session.dose_mg != first:
            step.reject(f"the first {session.route} dose must be {first} mg, not {session.dose_mg} mg", "dose_rule")
    elif rules.max_dose_step_mg is not None and abs(session.dose_mg - previous) > rules.max_dose_step_mg:
        step.reject(
            f"dose changes in steps of at most {rules.max_dose_step_mg} mg (last dose {previous} mg, asked"
            f" {session.dose_mg} mg)",
            "dose_rule",
        )


def _first_dose(step: Step, rules: RouteRules, day: datetime) -> int:
    birth = step.state.patient.date_of_birth
    # Age on the patient's own calendar day of the session, not the UTC date (an evening visit is "tomorrow" in UTC).
    local_day = local(day, step.state.patient.timezone).date()
    if birth is not None and rules.first_dose_mg_older is not None and age_on(birth, local_day) >= rules.older_age:
        return rules.first_dose_mg_older
    return rules.first_dose_mg


def _previous_dose(step: Step, session: Session) -> int | None:
    dosed = [s for s in step.state.sessions.values() if s.id != session.id and s.dosed_at is not None and s.dose_mg]
    return max(dosed, key=lambda s: s.dosed_at).dose_mg if dosed else None


def _check_weight_based_dose(step: Step, session: Session, rules: RouteRules) -> None:
    low, high = rules.dose_mg_per_kg_min, rules.dose_mg_per_kg_max
    if session.dose_mg is not None:
        step.reject(f"{session.route} is dosed in mg/kg ({low}–{high}), not fixed mg", "dose_rule", "invalid_data")
    if session.dose_mg_per_kg is None:
        session.dose_mg_per_kg = rules.standard_dose_mg_per_kg
    if session.dose_mg_per_kg is None:
        step.reject(f"dose_mg_per_kg is required ({low}–{high} mg/kg)", "dose_rule", "invalid_data")
    if not low <= session.dose_mg_per_kg <= high:
        step.reject(f"dose {session.dose_mg_per_kg} mg/kg is outside {low}–{high} mg/kg", "dose_rule")


def session_discharged(step: Step, data: SessionDischarged) -> None:
    """The patient leaves after monitoring: the REMS form and the check-in are planned, and induction may be done."""
    session = step.session(data.session)
    if session.status != SessionStatus.DOSED:
        step.reject(f"session {session.id} is {session.status}; only a dosed session is discharged", "session_dosed")
    charted_after(step, session.dosed_at, "the discharge", "the dose")
    rules = step.protocol.route(session.route)
    blocker = gates.first_open(gates.discharge_gates(session, rules, step.now, sedation_resolved=data.sedation_resolved,
                                                     dissociation_resolved=data.dissociation_resolved,
                                                     zone=step.clinic.timezone))
    if blocker is not None:
        step.reject(blocker.refusal, blocker.rule)
    session.status = SessionStatus.DISCHARGED
    session.discharged_at = step.now
    session.discharged_by = data.clinician
    session.adverse_events = data.adverse_events
    if rules.rems_form:
        _plan_rems_form(step, session)
    messaging.plan_checkin(step, session.id)
    _complete_induction_if_done(step)


def _plan_rems_form(step: Step, session: Session) -> None:
    rules, zone = step.protocol.sessions, step.state.patient.timezone
    reminder = at_local_time(session.discharged_at, zone, time(9), days_later=rules.rems_form_reminder_day)
    overdue = rems.form_deadline(session, rules, zone)  # the form page shows this same deadline
    step.set_timer(f"rems_form_reminder:{session.id}", "rems_form_reminder", reminder, session.id)
    step.set_timer(f"rems_form_overdue:{session.id}", "rems_form_overdue", overdue, session.id)
    # The coordinator's task starts at discharge. Its deadline is the form's own (the end of day 7), and its ladder
    # is the overdue timer above, so it gets no escalation clock of its own.
    escalations.raise_escalation(step, "rems_form_due", session=session.id, deadline=overdue, ladder=False)


def rems_form_submitted(step: Step, data: SessionRef) -> None:
    """The REMS monitoring form for one esketamine session is sent: its reminders and tasks close."""
    session = step.session(data.session)
    if session.route != Route.ESKETAMINE or session.status != SessionStatus.DISCHARGED:
        step.reject(f"session {session.id} is not a discharged esketamine session", "rems_form_session")
    if session.rems_form_submitted:
        step.reject(f"the REMS form for session {session.id} is already submitted", "rems_form_once", "not_allowed")
    session.rems_form_submitted = True
    for kind in ("rems_form_reminder", "rems_form_overdue"):
        step.cancel_timer(f"{kind}:{session.id}")
    for reason in ("rems_form_due", "rems_form_overdue"):
        escalations.close_open(step, reason, "form submitted", session.id)


def rems_form_due(step: Step, session_id: str, reason: str) -> None:
    """Day 5: the coordinator's task is raised again (a reminder); after day 7 it passes to the medical director."""
    session = step.state.sessions.get(session_id)
    if session is None or session.rems_form_submitted:
        return
    if reason == "rems_form_overdue":
        escalations.close_open(step, "rems_form_due", "overdue: passed to the medical director", session.id)
    escalations.raise_escalation(step, reason, session=session.id)


def rems_enrolled(step: Step, data: RemsEnrolled) -> None:
    """The patient's REMS enrollment is on file: the enrollment checks and task close."""
    step.state.rems_enrollment_id = data.enrollment_id
    for key in [key for key, timer in step.state.timers.items() if timer.kind == "rems_enrollment_check"]:
        step.cancel_timer(key)
    escalations.close_open(step, "rems_enrollment_missing", "enrollment on file")


def _complete_induction_if_done(step: Step) -> None:
    state = step.state
    planned = step.protocol.route(state.route).induction_sessions
    done = sum(1 for s in state.sessions.values() if s.series == "induction" and s.status == SessionStatus.DISCHARGED)
    if step.course != Stage.INDUCTION or done < planned:
        return
    # Under a safety hold too: clearing the hold then resumes at the response review.
    step.transition(Stage.RESPONSE_REVIEW)
    escalations.raise_escalation(step, "response_review")
