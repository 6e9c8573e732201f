"""Reminders before visits and check-ins after them (PROTOCOL.md §5, §6 missed check-ins)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from workflows import conversation, escalations
from workflows.clock import at_local_time
from workflows.messages import CALL_INSTEAD, send_to_patient
from workflows.protocol import Route
from workflows.stages import FINAL, Stage
from workflows.state import Checkin, Question
from workflows.step import Step
from workflows.subjects import Subject

APPOINTMENT_TEMPLATES = {"evaluation": "evaluation_reminder", "therapy": "therapy_reminder"}
INFO_ONLY = "_info"  # a reminder template's variant without "Reply 1 to confirm, 2 to reschedule"
CONFIRM_REQUEST = {"session": "confirm_request_session", "appointment": "confirm_request_appointment"}


def plan_reminders(step: Step, subject: Subject, start: datetime, session: str | None = None) -> None:
    """Reminder timers at 72, 24 and 2 hours before a visit (those still in the future)."""
    cancel_reminders(step, subject)
    for hours in step.protocol.messaging.reminder_hours_before:
        due = start - timedelta(hours=hours)
        if due > step.now:
            step.set_timer(f"reminder:{subject}:{hours}h", "reminder", due, session, subject=str(subject), hours=hours)


def cancel_reminders(step: Step, subject: Subject) -> None:
    for key in [key for key in step.state.timers if key.startswith(f"reminder:{subject}:")]:
        step.cancel_timer(key)


def reminder_due(step: Step, subject: Subject, hours: int) -> None:
    """A reminder before a visit that is still on: it asks the patient to confirm (1) or reschedule (2).

    While another question holds the floor (a check-in, or another visit's confirmation), the reminder still tells the
    visit's time and instructions but asks nothing, and the confirmation waits its turn (`workflows/conversation.py`).
    """
    visit = step.state.visit(subject)
    if visit is None or visit.status not in ("scheduled", "confirmed"):
        return
    asks = conversation.may_ask(step.state, "confirm", str(subject), step.now)
    template = _reminder_template(step, subject.kind, visit, hours) + ("" if asks else INFO_ONLY)
    is_session = subject.kind == "session"
    # Safety hold: the session stays on the calendar but nothing reminds the patient of it.
    paused = step.state.stage == Stage.PAUSED and is_session
    message = send_to_patient(
        step, template, automated=True, subject=subject, subject_start=visit.start, expires_at=visit.start,
        session=subject.key if is_session else None, suppressed="paused" if paused else None,
        dedupe_key=f"reminder:{step.state.workflow_id}:{subject}:{visit.start.isoformat()}:{hours}h",
    )
    _call_instead_if_unsent(step, message)
    if message.drop_reason is not None:
        return
    question = Question(kind="confirm", subject=str(subject), asked_at=message.not_before or step.now,
                        expires_at=visit.start, start=visit.start)
    if asks:
        conversation.put(step.state, question, step.now)
    elif visit.status == "scheduled":
        conversation.enqueue(step.state, question.model_copy(update={"asked_at": step.now}))


def _reminder_template(step: Step, kind: str, visit, hours: int) -> str:
    if kind == "appointment":
        return APPOINTMENT_TEMPLATES[visit.kind]
    if hours == step.protocol.messaging.day_before_reminder_hours:
        return "session_reminder_day_before_nasal" if visit.route == Route.ESKETAMINE else \
            "session_reminder_day_before_infusion"
    return "session_reminder"


def plan_checkin(step: Step, session_id: str) -> None:
    """The day after a discharged session, at 10:00 patient-local."""
    rules = step.protocol.messaging
    due = at_local_time(step.now, step.state.patient.timezone, time(rules.checkin_hour), days_later=1)
    step.set_timer(f"checkin:{session_id}", "checkin", due, session_id)


def checkin_due(step: Step, session_id: str) -> None:
    """The check-in after a discharged session. It outranks an open confirmation (which waits and is asked again
    after); it waits itself behind another check-in, or behind a question whose message has not left yet."""
    subject = str(Subject.session(session_id))
    expires_at = step.now + timedelta(hours=step.protocol.messaging.checkin_missed_hours)
    if not conversation.may_ask(step.state, "checkin", subject, step.now):
        conversation.enqueue(step.state, Question(kind="checkin", subject=subject, asked_at=step.now,
                                                  expires_at=expires_at))
        return
    ask_checkin(step, session_id, expires_at)


def ask_checkin(step: Step, session_id: str, expires_at: datetime) -> bool:
    """Send the check-in and start its ladder from when it leaves; returns whether it was asked."""
    rules = step.protocol.messaging
    message = send_to_patient(
        step, "checkin", automated=True, subject=Subject.session(session_id), session=session_id,
        expires_at=expires_at, dedupe_key=f"checkin:{step.state.workflow_id}:{session_id}",
    )
    if _call_instead_if_unsent(step, message):
        return False
    sent_at = message.not_before or step.now
    step.state.checkins[session_id] = Checkin(session=session_id, sent_at=sent_at)
    missed_after = timedelta(hours=rules.checkin_missed_hours)
    conversation.put(step.state, Question(kind="checkin", subject=str(Subject.session(session_id)), asked_at=sent_at,
                                          expires_at=sent_at + missed_after), step.now)
    if "elevated_risk" in step.state.active_flags(step.now):
        # Elevated risk: no nudge; silence for a few hours goes straight to the on-call clinician.
        missed_at = sent_at + timedelta(hours=rules.elevated_risk_missed_hours)
        step.set_timer(f"checkin_missed:{session_id}", "checkin_missed", missed_at, session_id, elevated=True)
        return True
    step.set_timer(f"checkin_nudge:{session_id}", "checkin_nudge", sent_at + timedelta(hours=rules.checkin_nudge_hours),
                   session_id)
    step.set_timer(f"checkin_missed:{session_id}", "checkin_missed", sent_at + missed_after, session_id, elevated=False)
    return True


def checkin_nudge_due(step: Step, session_id: str) -> None:
    """No reply yet: the nudge asks the check-in again (it is the open question once more when it leaves)."""
    checkin = step.state.checkins.get(session_id)
    if checkin is None or checkin.answered_at is not None:
        return
    subject, expires_at = str(Subject.session(session_id)), checkin.sent_at + timedelta(
        hours=step.protocol.messaging.checkin_missed_hours)
    if not conversation.may_ask(step.state, "checkin", subject, step.now):
        return  # another question holds the floor (after an opt-out and back in, say): no second ask
    message = send_to_patient(step, "checkin_nudge", automated=True, subject=Subject.session(session_id),
                              session=session_id, expires_at=expires_at,
                              dedupe_key=f"checkin_nudge:{step.state.workflow_id}:{session_id}")
    if message.drop_reason is None:
        conversation.put(step.state, Question(kind="checkin", subject=subject, asked_at=message.not_before or step.now,
                                              expires_at=expires_at), step.now)


def checkin_missed_due(step: Step, session_id: str, elevated: bool) -> None:
    checkin = step.state.checkins.get(session_id)
    if checkin is None or checkin.answered_at is not None:
        return
    owner = "clinician" if elevated else "coordinator"
    escalations.raise_escalation(step, "checkin_missed", session=session_id, owner_role=owner)


def answer_checkin(step: Step, session_id: str, score: int) -> None:
    checkin = step.state.checkins[session_id]
    checkin.answered_at, checkin.score = step.now, score
    step.cancel_timer(f"checkin_nudge:{session_id}")
    step.cancel_timer(f"checkin_missed:{session_id}")
    escalations.close_open(step, "checkin_missed", "patient replied", session_id)
    if score <= step.protocol.messaging.low_checkin_at_most:
        escalations.raise_escalation(step, "low_checkin", session=session_id)


def ask_waiting(step: Step) -> None:
    """After every decision: once the open question is answered or has expired (or what it asked about went away),
    ask the first waiting question that still makes sense, in one short message; and keep the expiry timer right."""
    state, now = step.state, step.now
    if state.stage in FINAL:
        return
    earlier = state.earlier_question
    if earlier is not None and (state.open_question is None or state.open_question.asked_at <= now
                                or not conversation.is_live(state, earlier, now)):
        state.earlier_question = None  # the newer question's message has left: the earlier one waits in the queue
    waiting = []
    for question in state.queued_questions:
        if conversation.still_wanted(state, question, now):
            waiting.append(question)
        elif question.kind == "checkin" and Subject.parse(question.subject).key not in state.checkins:
            # Missed before it could be asked: someone must still check on the patient (as for a check-in that
            # cannot go at all).
            escalations.raise_escalation(step, "call_patient", session=Subject.parse(question.subject).key)
    state.queued_questions = waiting
    while conversation.holding_floor(state, now) is None:
        question = next((q for q in state.queued_questions if _askable_now(state, q)), None)
        if question is None:
            break
        state.queued_questions = [q for q in state.queued_questions if q is not question]
        if question.kind == "checkin":
            ask_checkin(step, Subject.parse(question.subject).key, question.expires_at)
        else:
            _ask_confirmation(step, question)
    due = conversation.next_expiry(state, now)
    if due is None:
        step.cancel_timer(conversation.EXPIRY_TIMER)
    else:
        step.set_timer(conversation.EXPIRY_TIMER, "question_expiry", due)


def question_expired(step: Step) -> None:
    """The open question (or a waiting check-in) expired: `ask_waiting`, which runs after every event, moves on."""


def _askable_now(state, question: Question) -> bool:
    # A waiting session confirmation stays queued through a safety hold (session texts are suspended meanwhile).
    return not (question.kind == "confirm" and state.stage == Stage.PAUSED
                and Subject.parse(question.subject).kind == "session")


def _ask_confirmation(step: Step, question: Question) -> None:
    """The waiting confirmation, in one short automated message naming the visit."""
    subject = Subject.parse(question.subject)
    visit = step.state.visit(subject)
    step.state.questions_asked_again += 1
    message = send_to_patient(
        step, CONFIRM_REQUEST[subject.kind], automated=True, subject=subject, subject_start=visit.start,
        expires_at=visit.start, session=subject.key if subject.kind == "session" else None,
        dedupe_key=f"confirm_request:{step.state.workflow_id}:{subject}:{step.state.questions_asked_again}",
    )
    if message.drop_reason is None:
        conversation.put(step.state, question.model_copy(update={"asked_at": message.not_before or step.now,
                                                                 "clarified": False}), step.now)


def no_show_message(step: Step, session_id: str) -> None:
    message = send_to_patient(step, "no_show", automated=True, subject=Subject.session(session_id), session=session_id,
                              dedupe_key=f"no_show:{step.state.workflow_id}:{session_id}")
    _call_instead_if_unsent(step, message)


def _call_instead_if_unsent(step: Step, message) -> bool:
    """No consent or opted out: a coordinator calls instead (PROTOCOL.md §5). A check-in that cannot go at all (the
    strict weekly cap held it past its day) is a call too: someone must still check on the patient, and a check-in
    never sent must not start a missed check-in ladder. Returns whether the message was dropped."""
    if message.drop_reason is None:
        return False
    if message.kind in CALL_INSTEAD and (message.drop_reason in ("no_consent", "opted_out") or message.kind == "checkin"):
        escalations.raise_escalation(step, "call_patient", session=message.session)
    return True
