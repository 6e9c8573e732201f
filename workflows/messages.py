"""Message policy (PROTOCOL.md §5): consent, opt-out, quiet hours, the daily cap and obsolescence.

Decided when a message is planned (`send_to_patient`) and decided again when a worker is about to send it
(`recheck`), because a patient may opt out, a session may move, or the night may fall in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from workflows.catalog import Catalog
from workflows.clock import at_local_time, local
from workflows.effects import SendMessage
from workflows.protocol import MessagingRules
from workflows.stages import FINAL, Stage
from workflows.state import OPEN_SESSION, WorkflowState
from workflows.step import Step
from workflows.subjects import Subject

REMINDER_KINDS = frozenset({"session_reminder", "evaluation_reminder", "therapy_reminder"})
# Texts about one visit at one time: pointless once it is cancelled or moved. A `confirm_request` asks a confirmation
# that had to wait its turn (`workflows/conversation.py`).
VISIT_KINDS = REMINDER_KINDS | {"confirm_request"}
# Session texts a safety hold suspends (a no-show note deferred by quiet hours included).
PAUSED_KINDS = VISIT_KINDS | {"no_show"}
# Without SMS, these become a coordinator's phone call: a patient must still hear about the visit or be checked on.
CALL_INSTEAD = REMINDER_KINDS | {"checkin"}
LOG_DAYS_KEPT = 14
# A final workflow (withdrawn, discharged, declined) sends nothing automated: what waits in the outbox is dropped.
WORKFLOW_CLOSED = "workflow_closed"


def send_to_patient(
    step: Step,
    template: str,
    *,
    automated: bool,
    urgent: bool = False,
    subject: Subject | None = None,
    subject_start: datetime | None = None,
    expires_at: datetime | None = None,
    session: str | None = None,
    dedupe_key: str | None = None,
    suppressed: str | None = None,
) -> SendMessage:
    """Plan an SMS to the patient: when it may leave, or why it must not."""
    state, clinic = step.state, step.clinic
    catalog = clinic.catalog_for(state.patient.language)  # the patient's language; staff texts never come here
    when = format_when(subject_start, state.patient.timezone, catalog) if subject_start else ""
    kind, body = catalog.render(template, clinic=clinic.name, clinic_phone=clinic.phone, when=when)
    drop = suppressed or (_closed(state) if automated else None) or _blocked(state, direct_reply=not automated)
    not_before = step.now
    if drop is None and automated and not urgent:
        not_before, deferred_by = delivery_slot(state, step.protocol.messaging, step.now)
        if expires_at is not None and not_before >= expires_at:
            drop = "cap" if deferred_by == "cap" else "quiet_hours_obsolete"
        else:
            _count(state, step.protocol.messaging, not_before, step.now)
    message = SendMessage(
        kind=kind, to=state.patient.phone, body=body, session=session, not_before=not_before, urgent=urgent,
        automated=automated, subject=str(subject) if subject is not None else None, subject_start=subject_start,
        expires_at=expires_at, dedupe_key=dedupe_key, drop_reason=drop,
    )
    step.messages.append(message)
    return message


def _blocked(state: WorkflowState, direct_reply: bool = False) -> str | None:
    # Consent covers what we send on our own; a direct answer to the patient's own text (the crisis line, help)
    # goes to whoever wrote. An opt-out stops everything: the carrier would refuse it anyway (Twilio 21610).
    if not state.patient.sms_consent and not direct_reply:
        return "no_consent"
    if state.patient.opted_out:
        return "opted_out"
    return None


def _closed(state: WorkflowState) -> str | None:
    return WORKFLOW_CLOSED if state.stage in FINAL else None


def format_when(moment: datetime, zone: str, catalog: Catalog | None = None) -> str:
    """'Thu Mar 5 at 10:00 AM' (or the catalog's own words: 'jue 5 mar, 10:00'), in the patient's own time zone."""
    moment = local(moment, zone)
    worded = catalog.format_when(moment) if catalog is not None else None
    return worded or f"{moment:%a %b} {moment.day} at {moment:%I:%M %p}".replace(" at 0", " at ")


def in_quiet_hours(moment: datetime, zone: str, rules: MessagingRules) -> bool:
    hour = local(moment, zone).hour
    start, end = rules.quiet_start_hour, rules.quiet_end_hour
    return (hour >= start or hour < end) if start > end else start <= hour < end


def end_of_quiet_hours(moment: datetime, zone: str, rules: MessagingRules) -> datetime:
    """The next time the quiet hours end, at or after `moment`."""
    today = at_local_time(moment, zone, time(rules.quiet_end_hour))
    return today if today >= moment else at_local_time(moment, zone, time(rules.quiet_end_hour), days_later=1)


def delivery_slot(state: WorkflowState, rules: MessagingRules, earliest: datetime) -> tuple[datetime, str | None]:
    """The first moment outside quiet hours on a day under the cap, and what (if anything) pushed it back."""
    zone, moment, reason = state.patient.timezone, earliest, None
    for _ in range(60):  # bounded: a cap of at least one a day always finds a slot within a couple of weeks
        if in_quiet_hours(moment, zone, rules):
            moment, reason = end_of_quiet_hours(moment, zone, rules), reason or "quiet_hours"
        elif _over_cap(state, rules, moment):
            moment, reason = at_local_time(moment, zone, time(rules.quiet_end_hour), days_later=1), "cap"
        else:
            return moment, reason
    return moment, reason


def _over_cap(state: WorkflowState, rules: MessagingRules, moment: datetime) -> bool:
    day = local(moment, state.patient.timezone).date()
    daily = rules.strict_daily_cap if rules.strict_fcc else rules.daily_cap
    if state.message_log.get(day.isoformat(), 0) >= daily:
        return True
    if rules.strict_fcc:
        # "3 a week" over any 7 consecutive days, not calendar weeks: every window that contains this day counts.
        windows = [[day + timedelta(days=start + offset) for offset in range(7)] for start in range(-6, 1)]
        return any(sum(state.message_log.get(d.isoformat(), 0) for d in window) >= rules.strict_weekly_cap
                   for window in windows)
    return False


def _count(state: WorkflowState, rules: MessagingRules, moment: datetime, now: datetime) -> None:
    day = local(moment, state.patient.timezone).date().isoformat()
    state.message_log[day] = state.message_log.get(day, 0) + 1
    oldest = (local(now, state.patient.timezone).date() - timedelta(days=LOG_DAYS_KEPT)).isoformat()
    for stale in [d for d in state.message_log if d < oldest]:
        del state.message_log[stale]


@dataclass(frozen=True)
class Verdict:
    action: str  # "send", "defer" or "drop"
    reason: str | None = None
    not_before: datetime | None = None


@dataclass(frozen=True)
class Pending:
    """What the send-time check needs to know about an outbox row."""

    kind: str
    recipient: str
    automated: bool
    urgent: bool
    subject: str | None
    subject_start: datetime | None
    expires_at: datetime | None


def recheck(state: WorkflowState, message: Pending, now: datetime, rules: MessagingRules) -> Verdict:
    """At send time: is this message still wanted, allowed, and allowed now?"""
    if message.recipient != "patient":
        return Verdict("send")
    if message.automated and _closed(state):
        return Verdict("drop", WORKFLOW_CLOSED)  # final means silent; staff alerts and direct replies still go
    blocked = _blocked(state, direct_reply=not message.automated)
    if blocked:
        return Verdict("drop", blocked)
    subject = Subject.parse_optional(message.subject)
    if message.kind in VISIT_KINDS and not _subject_unchanged(state, subject, message.subject_start):
        return Verdict("drop", "cancelled")
    if message.kind in PAUSED_KINDS and state.stage == Stage.PAUSED and subject is not None and subject.kind == "session":
        # A safety hold since planning: session reminders are suspended (PROTOCOL.md §2), as `reminder_due` does.
        return Verdict("drop", "paused")
    if message.kind == "checkin_nudge" and _checkin_answered(state, subject):
        return Verdict("drop", "cancelled")
    if message.automated and not message.urgent and in_quiet_hours(now, state.patient.timezone, rules):
        later = end_of_quiet_hours(now, state.patient.timezone, rules)
        if message.expires_at is not None and later >= message.expires_at:
            return Verdict("drop", "quiet_hours_obsolete")
        return Verdict("defer", "quiet_hours", later)
    if message.expires_at is not None and now >= message.expires_at:
        return Verdict("drop", "quiet_hours_obsolete")
    return Verdict("send")


def _subject_unchanged(state: WorkflowState, subject: Subject | None, announced_start: datetime | None) -> bool:
    """Is the visit a reminder announced still on, at the time it announced?"""
    if subject is None:
        return True
    visit = state.visit(subject)
    still_on = OPEN_SESSION if subject.kind == "session" else ("scheduled", "confirmed")
    return visit is not None and visit.status in still_on and visit.start == announced_start


def _checkin_answered(state: WorkflowState, subject: Subject | None) -> bool:
    checkin = state.checkins.get(subject.key if subject else "")
    return checkin is not None and checkin.answered_at is not None
