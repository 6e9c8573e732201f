"""A patient's text, routed to their workflow: crisis, opt-out and back in, help, and digit answers."""

from __future__ import annotations

from workflows import escalations
from workflows.events import ProviderReport, SmsReceived
from workflows.handlers import messaging, sessions
from workflows.inbound import read
from workflows.messages import send_to_patient
from workflows.step import Step
from workflows.subjects import Subject


def sms_received(step: Step, data: SmsReceived) -> None:
    """A patient's text: crisis words first, then carrier keywords, then a digit answering the open question."""
    reading = read(data.body, step.clinic.catalog)
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
    send_to_patient(step, template, automated=False, **options)


def _crisis(step: Step, _number) -> None:
    escalations.raise_escalation(step, "crisis_language")
    _reply(step, "crisis", urgent=True)


def _opt_out(step: Step, _number) -> None:
    step.state.patient.opted_out = True
    step.state.open_question = None
    escalations.raise_escalation(step, "opted_out")


def _opt_in(step: Step, _number) -> None:
    step.state.patient.opted_out = False
    escalations.close_open(step, "opted_out", "patient opted back in")
    _reply(step, "opt_in_confirm")


def _help(step: Step, _number) -> None:
    _reply(step, "help")


def _answer(step: Step, number: int) -> None:
    question = step.state.open_question
    if question is None:
        _unreadable(step, number)
        return
    subject = Subject.parse(question.subject)
    if question.kind == "checkin" and 0 <= number <= 10 and subject.key in step.state.checkins:
        messaging.answer_checkin(step, subject.key, number)
        step.state.open_question = None
        _reply(step, "checkin_received")
    elif question.kind == "confirm" and number == 1 and _confirm(step, subject):
        step.state.open_question = None
    elif question.kind == "confirm" and number == 2:
        escalations.raise_escalation(step, "reschedule_request", session=subject.key if subject.kind == "session" else None)
        step.state.open_question = None
        _reply(step, "reschedule_requested")
    else:
        _unreadable(step, number)


def _confirm(step: Step, subject: Subject) -> bool:
    visit = step.state.visit(subject)
    if visit is None or visit.status not in ("scheduled", "confirmed"):
        return False
    if subject.kind == "session":
        sessions.confirm(step, visit)
    else:
        visit.status = "confirmed"
    _reply(step, "confirmed", subject_start=visit.start)
    return True


def _unreadable(step: Step, _number) -> None:
    """Kept in the history for staff; one clarification per open question, not one per message."""
    question = step.state.open_question
    if question is not None and not question.clarified:
        question.clarified = True
        _reply(step, "clarify")


def opted_out_at_carrier(step: Step, data: ProviderReport) -> None:
    """Twilio 21610: the patient opted out with the carrier; treat it as their STOP."""
    _opt_out(step, None)


def undeliverable(step: Step, data: ProviderReport) -> None:
    """An invalid or non-mobile number: a coordinator must call and fix it."""
    escalations.raise_escalation(step, "phone_unreachable")
