"""The escalation ladder (PROTOCOL.md §6): who owns each reason, when it must be acknowledged, and what happens if not."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from workflows.clock import add_business_days, end_of_local_day
from workflows.effects import SendMessage
from workflows.events import is_copy
from workflows.messages import send_to_patient
from workflows.state import Escalation
from workflows.step import Step


@dataclass(frozen=True)
class ReasonRule:
    severity: str
    owner_role: str
    label: str  # the words a staff SMS uses: never a score, drug or diagnosis
    tier: int = 1
    # One open item per session, not per patient: each session's obligation is its own (PROTOCOL.md §3, REMS form).
    per_session: bool = False


REASONS: dict[str, ReasonRule] = {
    "referral_contact": ReasonRule("routine", "coordinator", "new referral to contact"),
    "treatment_resistance_review": ReasonRule("routine", "clinician", "referral to review"),
    "confirmation_missing": ReasonRule("routine", "coordinator", "visit not confirmed"),
    "reschedule_request": ReasonRule("routine", "coordinator", "reschedule request"),
    "opted_out": ReasonRule("routine", "coordinator", "switch to phone contact"),
    "low_checkin": ReasonRule("routine", "clinician", "check-in review"),
    "checkin_missed": ReasonRule("urgent", "coordinator", "missed check-in"),
    "no_show": ReasonRule("routine", "coordinator", "missed visit"),
    "bp_hold": ReasonRule("urgent", "clinician", "visit on hold"),
    "bp_critical": ReasonRule("urgent", "clinician", "vital signs alert"),
    # Pulse oximetry below `sessions.spo2_alert_below`: one item per session, raised again by each low reading.
    "spo2_low": ReasonRule("urgent", "clinician", "vital signs alert", per_session=True),
    "phq9_item9": ReasonRule("urgent", "clinician", "safety follow-up"),
    "cssrs_low": ReasonRule("routine", "clinician", "screening review"),
    # The C-SSRS that PHQ-9 item 9 > 0 requests (§4), open until one is submitted. Routine: the urgent `phq9_item9`
    # page already went for the same answer; due the same clinic day (`SAME_DAY`).
    "cssrs_requested": ReasonRule("routine", "clinician", "screening due"),
    "cssrs_moderate": ReasonRule("urgent", "clinician", "safety follow-up"),
    "cssrs_high": ReasonRule("emergency", "clinician", "safety emergency"),
    "crisis_language": ReasonRule("emergency", "clinician", "safety emergency"),
    "rems_enrollment_missing": ReasonRule("urgent", "coordinator", "enrollment missing"),
    "rems_form_due": ReasonRule("routine", "coordinator", "form due", per_session=True),
    "rems_form_overdue": ReasonRule("urgent", "medical_director", "form overdue", tier=2, per_session=True),
    "response_review": ReasonRule("routine", "clinician", "review due"),
    # Maintenance questionnaires 4 weeks since the last (§2): a coordinator has the patient complete them.
    "pcl5_due": ReasonRule("routine", "coordinator", "questionnaire due"),
    "phq9_due": ReasonRule("routine", "coordinator", "questionnaire due"),
    # A booked session under a safety hold: its reminders are suspended, so a coordinator calls or rebooks (§2).
    "paused_session": ReasonRule("routine", "coordinator", "visit paused", per_session=True),
    "call_patient": ReasonRule("routine", "coordinator", "call the patient"),
    "phone_unreachable": ReasonRule("routine", "coordinator", "phone number to check"),
}

# Worklist items that only make sense while the patient is in care: closed, with a note, when the workflow ends.
# Clinical and safety items (crisis language, C-SSRS, PHQ-9 item 9, blood pressure, missed or low check-ins, the REMS
# monitoring form still owed for a past session, reviews) stay open for staff to resolve.
ACTIVE_ONLY = frozenset({
    "referral_contact", "confirmation_missing", "reschedule_request", "rems_enrollment_missing", "call_patient",
    "no_show", "opted_out", "phone_unreachable", "paused_session", "pcl5_due", "phq9_due",
})

# Routine items due the same clinic day rather than in a business day (an urgent referral's contact likewise).
SAME_DAY = frozenset({"cssrs_requested"})

TIER_TWO_OWNER = {"routine": "clinic_manager", "urgent": "medical_director", "emergency": "medical_director"}
STAFF_NUMBER_FOR_OWNER = {"clinician": "on_call", "medical_director": "medical_director", "clinic_manager": "clinic_manager"}


def ack_deadline(step: Step, severity: str, reason: str) -> datetime:
    rules, hours = step.protocol.escalations, step.clinic.hours_under(step.protocol.clinic_hours)
    zone = step.clinic.timezone
    if reason in SAME_DAY or (reason == "referral_contact" and step.state.urgency == "urgent"):
        # "Same day": the end of today's clinic day, or two hours from now when that has passed.
        return max(end_of_local_day(step.now, zone, hours.day_ends_at_hour), step.now + timedelta(hours=2))
    if reason == "referral_contact":
        return add_business_days(step.now, step.protocol.referral.contact_business_days, zone, hours.business_days,
                                 closed=step.clinic.is_closed)
    if severity == "emergency":
        return step.now + timedelta(minutes=rules.emergency_ack_minutes)
    if severity == "urgent":
        return step.now + timedelta(minutes=rules.urgent_ack_minutes)
    return add_business_days(step.now, rules.routine_ack_business_days, zone, hours.business_days,
                             closed=step.clinic.is_closed)


def raise_escalation(
    step: Step, reason: str, session: str | None = None, severity: str | None = None, owner_role: str | None = None,
    deadline: datetime | None = None, ladder: bool = True,
) -> Escalation:
    """Open a worklist item, or update the open one for the same reason (never two open for one reason; for a
    per-session reason, never two open for one session)."""
    rule = REASONS[reason]
    severity = severity or rule.severity
    existing = step.state.open_escalation(reason, session if rule.per_session else None)
    if existing is not None:
        existing.count += 1
        existing.updated_at = step.now
        existing.session = session or existing.session
        if _more_severe(severity, existing.severity):
            existing.severity = severity
            existing.owner_role = owner_role or rule.owner_role
            _reopen(step, existing)
        elif owner_role and owner_role != existing.owner_role and severity != "routine":
            # A more serious path for the same reason (an elevated-risk missed check-in): the new owner is paged.
            existing.owner_role = owner_role
            _reopen(step, existing)
        elif existing.status == "acknowledged" and severity != "routine":
            # Acknowledged is not resolved: a new urgent cause must page someone again, not just bump a counter.
            _reopen(step, existing)
        if severity == "emergency":
            crisis_line_to_patient(step)
        return existing
    escalation = Escalation(
        id=step.next_escalation_id(),
        reason=reason,
        severity=severity,
        tier=rule.tier,
        owner_role=owner_role or rule.owner_role,
        raised_at=step.now,
        updated_at=step.now,
        ack_deadline=step.now,
        session=session,
    )
    step.state.escalations[escalation.id] = escalation
    _start_clock(step, escalation, deadline, ladder)
    if severity == "emergency":
        crisis_line_to_patient(step)
    return escalation


def crisis_line_to_patient(step: Step) -> None:
    """Every emergency (PROTOCOL.md §6): the patient gets the crisis line at once, whatever the hour and the cap.

    Urgent and not automated, like the answer to a crisis text; sent once per event, however many emergencies it
    raises. A shared number's copy of a text sends nothing: the first patient's record answered it.
    """
    if any(m.kind == "crisis" and m.recipient == "patient" for m in step.messages):
        return
    if is_copy(step.event.data):
        return
    send_to_patient(step, "crisis", automated=False, urgent=True)


def _reopen(step: Step, escalation: Escalation) -> None:
    escalation.status = "open"
    escalation.tier = REASONS[escalation.reason].tier
    escalation.acknowledged_at = escalation.acknowledged_by = None
    _start_clock(step, escalation)


def _start_clock(step: Step, escalation: Escalation, deadline: datetime | None = None, ladder: bool = True) -> None:
    escalation.ack_deadline = deadline or ack_deadline(step, escalation.severity, escalation.reason)
    if ladder:
        step.set_timer(f"escalation:{escalation.id}", "escalation_deadline", escalation.ack_deadline,
                       escalation=escalation.id)
    if escalation.severity in ("urgent", "emergency"):
        alert_staff(step, escalation)


def _more_severe(new: str, old: str) -> bool:
    order = ["routine", "urgent", "emergency"]
    return order.index(new) > order.index(old)


# The staff alerts' words (ids only: no name, score or clinical detail), each ending with the link to its item.
# `workers.settings` refuses a CAREPATH_PUBLIC_URL that would make either longer than one SMS.
STAFF_ALERT = "carepath: patient #{ref} needs follow-up ({label}). Worklist: {link}"
UNKNOWN_NUMBER_ALERT = "carepath: an unknown number needs follow-up ({label}). Worklist: {link}"

def alert_staff(step: Step, escalation: Escalation) -> None:
    """Text the staff member who owns the escalation now. Ids only: no name, score or clinical detail."""
    # Tier 1 pages the on-call clinician whoever owns the item; tier 2 pages the owner above them.
    number_key = "on_call" if escalation.tier == 1 else STAFF_NUMBER_FOR_OWNER.get(escalation.owner_role)
    number = step.clinic.staff_number(number_key, step.now) if number_key else None
    if number is None:
        return
    label = REASONS[escalation.reason].label
    body = STAFF_ALERT.format(ref=step.state.patient.id[:8], label=label, link=step.clinic.item_link(escalation.id))
    step.messages.append(
        SendMessage(
            kind="staff_alert",
            to=number,
            body=body,
            recipient=escalation.owner_role,
            escalation=escalation.id,
            urgent=True,
            dedupe_key=f"staff:{escalation.id}:{escalation.tier}:{escalation.count}:{step.now.isoformat()}",
        )
    )


def on_deadline_passed(step: Step, escalation_id: str) -> None:
    """Unacknowledged at its deadline: move to tier 2; an emergency keeps paging every few minutes."""
    escalation = step.state.escalations.get(escalation_id)
    if escalation is None or escalation.status != "open":
        return
    escalation.tier = 2
    escalation.owner_role = TIER_TWO_OWNER[escalation.severity]
    escalation.updated_at = step.now
    if escalation.severity == "emergency":
        repeat = timedelta(minutes=step.protocol.escalations.emergency_repeat_minutes)
        step.set_timer(f"escalation:{escalation.id}", "escalation_deadline", step.now + repeat, escalation=escalation.id)
    alert_staff(step, escalation)


def acknowledge(step: Step, ref: str, by: str | None) -> Escalation:
    escalation = step.escalation(ref)
    if escalation.status != "open":
        step.reject(f"escalation {escalation.id} is {escalation.status}, not open", "escalation_open", "not_allowed")
    escalation.status = "acknowledged"
    escalation.acknowledged_at = step.now
    escalation.acknowledged_by = by or step.event.actor.name
    escalation.updated_at = step.now
    step.cancel_timer(f"escalation:{escalation.id}")
    return escalation


def resolve(step: Step, ref: str, by: str | None, note: str | None) -> Escalation:
    escalation = step.escalation(ref)
    if escalation.status == "resolved":
        step.reject(f"escalation {escalation.id} is already resolved", "escalation_open", "not_allowed")
    close(step, escalation, by or step.event.actor.name, note)
    return escalation


def close(step: Step, escalation: Escalation, by: str | None, note: str | None) -> None:
    escalation.status = "resolved"
    escalation.resolved_at = step.now
    escalation.resolved_by = by
    escalation.note = note
    escalation.updated_at = step.now
    step.cancel_timer(f"escalation:{escalation.id}")


def ladders_of_open_items(state) -> frozenset[str]:
    """The ladder timers of the urgent and emergency items still waiting for an acknowledgement (safety items: a
    routine one stays on the worklist without climbing once the workflow is closed)."""
    return frozenset(f"escalation:{e.id}" for e in state.escalations.values()
                     if e.status == "open" and e.severity in ("urgent", "emergency"))


def close_active_only(step: Step, note: str) -> None:
    """The workflow ended: close the open items that only made sense while the patient was in care."""
    for escalation in list(step.state.escalations.values()):
        if escalation.reason in ACTIVE_ONLY and escalation.status != "resolved":
            close(step, escalation, "carepath", note)


def close_open(step: Step, reason: str, note: str, session: str | None = None) -> None:
    """The system closes a task whose cause went away (the evaluation was booked, the form arrived).

    Given a session, only an item about that session (or about none) closes; a per-session reason without a session
    closes every session's open item."""
    for escalation in _open_items(step, reason, session):
        close(step, escalation, "carepath", note)


def _open_items(step: Step, reason: str, session: str | None) -> list[Escalation]:
    if REASONS[reason].per_session:
        return [e for e in step.state.escalations.values()
                if e.reason == reason and e.status != "resolved" and session in (None, e.session)]
    escalation = step.state.open_escalation(reason)
    if escalation is None or (session is not None and escalation.session not in (None, session)):
        return []
    return [escalation]
