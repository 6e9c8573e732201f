"""A patient's text, routed to their workflow: crisis, opt-out and back in, help, and digit answers."""

from __future__ import annotations

from workflows import conversation, escalations
from workflows.events import NumberBlocked, ProviderReport, SmsReceived, is_copy
from workflows.handlers import messaging, sessions
from workflows.inbound import read
from workflows.messages import send_to_patient
from workflows.step import Step
from workflows.subjects import Subject


def sms_received(step: Step, data: SmsReceived) -> None:
    """A patient's text: crisis words first, then carrier keywords, then a digit answering the open question."""
    reading = read(data.body, step.clinic)
    {
        "crisis": _crisis,
        "stop": _opt_out,
        "start": _opt_in,
        "help": _help,
        "number": _answer,
        "unreadable": _unreadable,
    }[reading.kind](step, reading.number)


def _reply(step: Step, template: str, **options) -> None:
    # A direct answer to the patient's own message: not automated, so quiet hours and the cap do not hold it back.
    if is_copy(step.event.data):
        return  # a shared number's copy: the same text is answered on the first patient's record
    send_to_patient(step, template, automated=False, **options)


def _crisis(step: Step, _number) -> None:
    # An emergency: raising it sends the patient the crisis line at once, whatever the hour (`escalations.py`).
    escalations.raise_escalation(step, "crisis_language")


def _opt_out(step: Step, _number) -> None:
    step.state.patient.opted_out = True
    conversation.forget_due(step.state, step.now)
    step.state.queued_questions = []  # nothing more is asked; after START, the next reminders ask again
    escalations.raise_escalation(step, "opted_out")


def _opt_in(step: Step, _number) -> None:
    if step.state.patient.opted_out:
        conversation.forget_due(step.state, step.now)  # what fell due while opted out was dropped, never seen
    step.state.patient.opted_out = False
    escalations.close_open(step, "opted_out", "patient opted back in")
    _reply(step, "opt_in_confirm")


def _help(step: Step, _number) -> None:
    _reply(step, "help")


def _answer(step: Step, number: int) -> None:
    """A digit answers the question open for this patient now, if it fits it (`workflows/conversation.py`)."""
    question = conversation.answering(step.state, step.now)
    if question is None or not conversation.fits(question, number):
        _unreadable(step, number)
        return
    subject = Subject.parse(question.subject)
    if question.kind == "checkin":
        messaging.answer_checkin(step, subject.key, number)
        _reply(step, "checkin_received", subject=subject)
    elif number == 1:
        _confirm(step, subject)
    else:
        escalations.raise_escalation(step, "reschedule_request", session=subject.key if subject.kind == "session" else None)
        _reply(step, "reschedule_requested", subject=subject)
    # Answered: the next waiting question, if any, is asked after this decision (`messaging.ask_waiting`).
    conversation.answered(step.state, question.kind, question.subject, step.now)


def _confirm(step: Step, subject: Subject) -> None:
    visit = step.state.visit(subject)  # an open question's visit is still on (`conversation.is_live`)
    if subject.kind == "session":
        sessions.confirm(step, visit)
    else:
        visit.status = "confirmed"
    _reply(step, "confirmed", subject=subject, subject_start=visit.start)


def _unreadable(step: Step, _number) -> None:
    """Kept in the history for staff; one clarification per open question, not one per message."""
    question = conversation.answering(step.state, step.now)
    if question is not None and not question.clarified:
        question.clarified = True
        _reply(step, "clarify")


def opted_out_at_carrier(step: Step, data: ProviderReport) -> None:
    """Twilio 21610: the patient opted out with the carrier; treat it as their STOP."""
    _opt_out(step, None)


def undeliverable(step: Step, data: ProviderReport) -> None:
    """An invalid or non-mobile number: a coordinator must call and fix it."""
    escalations.raise_escalation(step, "phone_unreachable")


def number_blocked(step: Step, data: NumberBlocked) -> None:
    """Referred onto a number that had said STOP (or cannot take texts): this patient is opted out from the start, so
    every reminder becomes a call, and the coordinator gets the same task as after the patient's own STOP."""
    if data.reason == "opted_out":
        _opt_out(step, None)
    else:
        undeliverable(step, data)
