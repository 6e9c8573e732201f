"""A dosing session's calendar life: scheduled, moved, cancelled, confirmed, arrived, no-show (PROTOCOL.md §3)."""

from __future__ import annotations

from datetime import timedelta

from workflows import conversation, escalations
from workflows.clock import clinic_time
from workflows.events import SessionCancelled, SessionRef, SessionRescheduled, SessionScheduled
from workflows.handlers import dosing, messaging
from workflows.handlers.placing import place
from workflows.protocol import Route
from workflows.stages import Stage
from workflows.state import NOT_HAPPENING, OPEN_SESSION, Session, SessionStatus
from workflows.step import Step
from workflows.subjects import Subject


def session_scheduled(step: Step, data: SessionScheduled) -> None:
    """Book a dosing session (the first one starts induction) and plan its reminders and checks."""
    state = step.state
    if state.route is None:
        step.reject("no treatment route is planned yet", "route_planned")
    if data.session in state.sessions:
        step.reject(f"session {data.session!r} already exists; use session.rescheduled to move it", "session_unique")
    if data.start <= step.now:
        step.reject(f"start {clinic_time(data.start, step.clinic.timezone)} is not in the future", "start_in_future",
                    "invalid_data")
    series = "induction" if step.course in (Stage.TREATMENT_PLANNED, Stage.INDUCTION) else "maintenance"
    session = Session(
        id=data.session,
        start=data.start,
        route=state.route,
        series=series,
        planned_dose_mg=data.dose_mg,
        planned_dose_mg_per_kg=data.dose_mg_per_kg,
    )
    dosing.check_planned_dose(step, session)
    place(step, session, data)
    state.sessions[session.id] = session
    if step.course == Stage.TREATMENT_PLANNED:
        # Booked during a hold, the first session still starts induction: clearing the hold resumes induction, where
        # it can be dosed.
        step.transition(Stage.INDUCTION)
    plan_session_timers(step, session)
    if state.stage == Stage.PAUSED:
        show_paused(step, session)


def session_rescheduled(step: Step, data: SessionRescheduled) -> None:
    """Move a booked session: new confirmation, new timers; nothing is sent for the old time."""
    session = open_session(step, data.session)
    if data.start <= step.now:
        step.reject(f"start {clinic_time(data.start, step.clinic.timezone)} is not in the future", "start_in_future",
                    "invalid_data")
    had_check = _has_enrollment_check(step, session.id)
    session.start = data.start
    place(step, session, data)
    # A new time needs a new confirmation: the patient confirmed the old one.
    session.status = SessionStatus.SCHEDULED
    session.confirmed_at = None
    step.cancel_session_timers(session.id)
    plan_session_timers(step, session)
    if had_check:
        _hand_on_enrollment_check(step)


def session_cancelled(step: Step, data: SessionCancelled) -> None:
    """Cancel a booked session and every timer it had."""
    session = open_session(step, data.session)
    had_check = _has_enrollment_check(step, session.id)
    session.status = SessionStatus.CANCELLED
    session.closed_reason = data.reason or "cancelled"
    step.cancel_session_timers(session.id)
    if had_check:
        _hand_on_enrollment_check(step)
    escalations.close_open(step, "confirmation_missing", "session cancelled", session.id)
    escalations.close_open(step, PAUSED_SESSION, "session cancelled", session.id)


def session_confirmed(step: Step, data: SessionRef) -> None:
    """Staff confirmed the session with the patient: their confirmation question is answered too."""
    confirm(step, open_session(step, data.session))
    conversation.answered(step.state, "confirm", str(Subject.session(data.session)), step.now)


def confirm(step: Step, session: Session) -> None:
    """Confirmed by staff or by the patient's reply `1`: no confirmation task is needed any more."""
    session.status = SessionStatus.CONFIRMED
    session.confirmed_at = step.now
    step.cancel_timer(f"confirm:{session.id}")
    escalations.close_open(step, "confirmation_missing", "confirmed", session.id)


def session_arrived(step: Step, data: SessionRef) -> None:
    """The patient is at the clinic: the session's calendar timers stop."""
    session = open_session(step, data.session)
    session.status = SessionStatus.ARRIVED
    session.arrived_at = step.now
    step.cancel_session_timers(session.id)
    escalations.close_open(step, "confirmation_missing", "patient arrived", session.id)
    escalations.close_open(step, PAUSED_SESSION, "patient arrived", session.id)


def no_show_due(step: Step, session_id: str) -> None:
    """Not arrived 30 minutes after the start: the session is a no-show and the coordinator gets a reschedule task."""
    session = step.state.sessions.get(session_id)
    if session is None or session.status not in OPEN_SESSION:
        return
    session.status = SessionStatus.NO_SHOW
    session.closed_reason = "not arrived"
    step.cancel_session_timers(session.id)
    escalations.close_open(step, PAUSED_SESSION, "not arrived: a no-show", session.id)
    escalations.raise_escalation(step, "no_show", session=session.id)
    if step.state.stage != Stage.PAUSED:
        # During a safety hold the coordinator's task stands, but no "we missed you, let's rebook" text: dosing is
        # blocked, and reaching out is the clinician's call (PROTOCOL.md §2 suspends session messages while paused).
        messaging.no_show_message(step, session.id)


# --- sessions under a safety hold (PROTOCOL.md §2) -------------------------------------------------------------------

PAUSED_SESSION = "paused_session"


def show_paused(step: Step, session: Session) -> None:
    """A booked session under a safety hold stays on the calendar, but its reminders are suspended: the coordinators'
    worklist shows it instead (one item per session), so someone calls the patient or rebooks."""
    escalations.raise_escalation(step, PAUSED_SESSION, session=session.id)


def show_all_paused(step: Step) -> None:
    """The hold began: every session still booked goes on the worklist, soonest first."""
    for session in sorted(step.state.sessions.values(), key=lambda s: s.start):
        if session.status in OPEN_SESSION:
            show_paused(step, session)


def release_paused(step: Step) -> None:
    """The hold is cleared: reminders resume, so the paused sessions' items close."""
    escalations.close_open(step, PAUSED_SESSION, "safety hold cleared: reminders resume")


def confirmation_due(step: Step, session_id: str) -> None:
    session = step.state.sessions.get(session_id)
    if session is not None and session.status == SessionStatus.SCHEDULED:
        escalations.raise_escalation(step, "confirmation_missing", session=session.id)


def rems_enrollment_check_due(step: Step, session_id: str) -> None:
    session = step.state.sessions.get(session_id)
    if step.state.rems_enrollment_id is None and session is not None and session.status in OPEN_SESSION:
        escalations.raise_escalation(step, "rems_enrollment_missing", session=session.id)


def plan_session_timers(step: Step, session: Session) -> None:
    """The timers a booked session needs: no-show, confirmation check, and the REMS enrollment check."""
    messaging.plan_reminders(step, Subject.session(session.id), session.start, session.id)
    rules = step.protocol.sessions
    step.set_timer(
        f"no_show:{session.id}", "no_show", session.start + timedelta(minutes=rules.no_show_after_minutes), session.id
    )
    confirm_at = session.start - timedelta(hours=rules.confirmation_check_hours)
    if confirm_at > step.now:
        step.set_timer(f"confirm:{session.id}", "confirmation_check", confirm_at, session.id)
    if _needs_enrollment_check(step, session):
        check_at = max(session.start - timedelta(hours=rules.rems_enrollment_check_hours), step.now)
        step.set_timer(f"rems_enrollment:{session.id}", "rems_enrollment_check", check_at, session.id)


def _has_enrollment_check(step: Step, session_id: str) -> bool:
    return f"rems_enrollment:{session_id}" in step.state.timers


def _hand_on_enrollment_check(step: Step) -> None:
    """The session that carried the REMS enrollment check was cancelled or moved later: the new first session takes it."""
    if any(timer.kind == "rems_enrollment_check" for timer in step.state.timers.values()):
        return
    upcoming = sorted((s for s in step.state.sessions.values() if s.status in OPEN_SESSION), key=lambda s: s.start)
    if upcoming and _needs_enrollment_check(step, upcoming[0]):
        rules = step.protocol.sessions
        check_at = max(upcoming[0].start - timedelta(hours=rules.rems_enrollment_check_hours), step.now)
        step.set_timer(f"rems_enrollment:{upcoming[0].id}", "rems_enrollment_check", check_at, upcoming[0].id)


def _needs_enrollment_check(step: Step, session: Session) -> bool:
    if session.route != Route.ESKETAMINE or step.state.rems_enrollment_id is not None:
        return False
    rules = step.protocol.route(session.route)
    if not rules.requires_rems_enrollment:
        return False
    # Only the first esketamine session: enrollment is per patient, once.
    earlier = [s for s in step.state.sessions.values() if s.id != session.id and s.status not in NOT_HAPPENING]
    return all(other.start > session.start for other in earlier)



def open_session(step: Step, session_id: str) -> Session:
    session = step.session(session_id)
    if session.status not in OPEN_SESSION:
        step.reject(
            f"session {session.id} is {session.status}; only a scheduled or confirmed session can change this way",
            "session_open",
            "not_allowed",
        )
    return session
