"""Why did this happen: each text, timer and worklist item of a patient named with the event of the history that caused
it and the protocol rule behind it, and each event with what it caused.

The causes are recorded where the rows are written (`outbox.event_id`, `timers.event_id`, `escalations.event_id`, set
by models/projections.py in the event's own transaction), so nothing here guesses. A text a timer sent was caused by
the timer's event ("the reminder fell due"); that event names, in turn, the event that set the timer ("session booked").
Rows written before their cause was recorded (timers before migration 0014) read "cause not recorded".

Everything is linked by ids only: `#event-<seq>`, `#message-<id>`, `#timer-<id>`, `#escalation-<id>`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from api.console.history import Reader, sentence
from models.tables import EscalationRecord, EventRecord, OutboxMessage, TimerRecord
from workflows.rulebook import Rule, rule
from workflows.stages import TIMER_EVENTS, Stage
from workflows.state import WorkflowState
from workflows.subjects import Subject

TIMER_KIND_OF_EVENT = {event_type: kind for kind, event_type in TIMER_EVENTS.items()}
# Timers whose firing sends the patient a text (each handler's text: workflows/handlers/messaging.py, sessions.py).
TEXT_TIMERS = frozenset({"reminder", "checkin", "checkin_nudge", "no_show"})
WAITING = frozenset({"pending", "queued", "sending"})  # an outbox row not yet sent, dropped or failed


def when(value: datetime, zone: ZoneInfo) -> str:
    """A time as the upcoming list says it: "Tue 10 Mar 10:00", in clinic time."""
    return value.astimezone(zone).strftime("%a %d %b %H:%M")


def visit_name(state: WorkflowState, subject: Subject | None, zone: ZoneInfo) -> str:
    """A session or appointment as staff call it: "the dosing session on Tue 10 Mar 10:00"."""
    visit = state.visit(subject) if subject else None
    if visit is None:
        return "a visit"
    if subject.kind == "session":
        return f"the dosing session on {when(visit.start, zone)}"
    return f"the {'evaluation' if visit.kind == 'evaluation' else 'therapy appointment'} on {when(visit.start, zone)}"


def _session_subject(session: str | None) -> Subject | None:
    return Subject.session(session) if session else None


def describe_timer(kind: str, session: str | None, data: dict[str, Any], state: WorkflowState, zone: ZoneInfo) -> str:
    """What a timer will do, in plain words; never a message body (the template's plain description instead)."""
    visit = visit_name(state, _session_subject(session), zone)
    match kind:
        case "reminder":
            subject = Subject.parse_optional(data.get("subject"))
            extra = ""
            if subject and subject.kind == "session" and data.get("hours") == 24:
                extra = ", with the ride-home and fasting instructions"
            return f"Reminder of {visit_name(state, subject, zone)}{extra}"
        case "checkin":
            return f"Check-in after {visit}: how the patient feels from 0 to 10, with the crisis line"
        case "checkin_nudge":
            return "The check-in asked again, if the patient has not replied"
        case "no_show":
            return f"If the patient has not arrived for {visit}: marked a no-show, and a “we missed you” text"
        case "checkin_missed":
            return "A worklist item, if the check-in is still unanswered"
        case "confirmation_check":
            return f"A worklist item, if {visit} is still unconfirmed"
        case "rems_enrollment_check":
            return f"A worklist item, if no REMS enrollment is on file for {visit}"
        case "bp_recheck":
            return f"The pre-dose blood pressure re-check falls due at {visit}"
        case "rems_form_reminder":
            return f"A reminder to send the REMS monitoring form for {visit}"
        case "rems_form_overdue":
            return f"The REMS monitoring form for {visit} passes to the medical director, if not sent"
        case "escalation_deadline":
            return "A worklist item goes to tier 2, if not taken by then"
        case "question_expiry":
            return "The open question to the patient expires"
        case "assessment_due":
            instrument = {"pcl5": "PCL-5", "phq9": "PHQ-9"}.get(str(data.get("instrument")), "A questionnaire")
            return f"{instrument} due again"
    return kind.replace("_", " ").capitalize()


def timer_noun(kind: str) -> str:
    """How an event's "Caused" list counts a timer of this kind."""
    if kind == "reminder":
        return "reminder"
    if kind in ("checkin", "checkin_nudge"):
        return "check-in"
    return "check"


@dataclass
class EventLink:
    """One event of the history as a cause: its anchor, its sentence and time, and what it caused."""

    record: EventRecord
    summary: str
    texts: list[OutboxMessage] = field(default_factory=list)
    timers: list[TimerRecord] = field(default_factory=list)
    items: list[EscalationRecord] = field(default_factory=list)
    set_by: EventLink | None = None  # a timer's event: the event that had set the timer
    # Where each timer shows on the page, shared by every link: a pending one in its list, a fired one as the event it
    # fired as; a cancelled one nowhere (it only counts).
    timer_href: dict[str, str] = field(default_factory=dict)

    @property
    def anchor(self) -> str:
        return f"event-{self.record.seq}"

    @property
    def caused(self) -> list[dict[str, str]]:
        """"2 texts", "1 reminder scheduled", "1 worklist item": each with the link to the first of them."""
        groups: list[dict[str, str]] = []
        if self.texts:
            groups.append(_group(len(self.texts), "text", f"#message-{self.texts[0].id}"))
        nouns: dict[str, list[TimerRecord]] = defaultdict(list)
        for timer in self.timers:
            nouns[timer_noun(timer.kind)].append(timer)
        for noun, timers in nouns.items():
            href = next((self.timer_href[t.id] for t in timers if t.id in self.timer_href), "")
            groups.append(_group(len(timers), noun, href, " scheduled"))
        if self.items:
            groups.append(_group(len(self.items), "worklist item", f"#escalation-{self.items[0].id}"))
        return groups


def _group(count: int, noun: str, href: str, suffix: str = "") -> dict[str, str]:
    return {"text": f"{count} {noun}{'' if count == 1 else 's'}{suffix}", "href": href}


@dataclass(frozen=True)
class Why:
    """Why one row exists: the event that caused it (None: not recorded) and the protocol rule behind it."""

    event: EventLink | None
    rule_id: str
    rule: Rule | None


class Causes:
    """The patient's events, texts, timers and worklist items, linked both ways."""

    def __init__(self, history: list[EventRecord], timers: list[TimerRecord], texts: list[OutboxMessage],
                 items: list[EscalationRecord], state: WorkflowState, zone: ZoneInfo) -> None:
        self.state, self.zone = state, zone
        self.timers = timers
        reader = Reader(state, zone)
        self.timer_href = {t.id: f"#timer-{t.id}" for t in timers if t.status == "pending"}
        self.events = {e.id: EventLink(e, sentence(e.type, e.data or {}, reader), timer_href=self.timer_href)
                       for e in history}
        fired = {(t.key, t.due_at.isoformat()): t for t in timers}
        for link in self.events.values():
            if link.record.type in TIMER_KIND_OF_EVENT:
                self._link_timer_event(link, fired)
        for text in texts:
            self._cause(text.event_id, "texts", text)
        for timer in timers:
            self._cause(timer.event_id, "timers", timer)
        for item in items:
            self._cause(item.event_id, "items", item)

    def _link_timer_event(self, link: EventLink, fired: dict[tuple[str, str], TimerRecord]) -> None:
        """A timer's event reads as what the timer did, and points at the event that had set it."""
        data = link.record.data or {}
        timer = fired.get((str(data.get("key")), _iso(data.get("due_at"))))
        if timer is None:
            return
        self.timer_href.setdefault(timer.id, f"#{link.anchor}")
        what = describe_timer(timer.kind, timer.session_key, timer.data or {}, self.state, self.zone)
        link.summary = f"Timer fell due: {what[:1].lower()}{what[1:]}."
        link.set_by = self.events.get(timer.event_id) if timer.event_id else None

    def _cause(self, event_id: int | None, kind: str, row: Any) -> None:
        if event_id in self.events:
            getattr(self.events[event_id], kind).append(row)

    def link(self, record: EventRecord) -> EventLink:
        return self.events[record.id]

    def of_text(self, text: OutboxMessage) -> Why:
        return Why(self.events.get(text.event_id), text.kind, rule(text.kind))

    def of_timer(self, timer: TimerRecord) -> Why:
        return Why(self.events.get(timer.event_id), timer.kind, rule(timer.kind))

    def of_item(self, item: EscalationRecord | dict) -> Why:
        event_id, reason = (item["event_id"], item["reason"]) if isinstance(item, dict) else (item.event_id, item.reason)
        return Why(self.events.get(event_id), reason, rule(reason))

    def pending_timers(self) -> list[TimerRecord]:
        return sorted((t for t in self.timers if t.status == "pending"), key=lambda t: (t.due_at, t.key))

    def describe(self, timer: TimerRecord) -> str:
        return describe_timer(timer.kind, timer.session_key, timer.data or {}, self.state, self.zone)


def _iso(raw: Any) -> str:
    try:
        return datetime.fromisoformat(str(raw)).isoformat()
    except ValueError:
        return str(raw)


@dataclass(frozen=True)
class Upcoming:
    """One message the patient will get: what, from when (clinic time), why; `anchor` is its row's id."""

    anchor: str
    what: str
    due_at: datetime
    why: Why
    note: str = ""


def upcoming_messages(causes: Causes, texts: list[OutboxMessage], state: WorkflowState) -> list[Upcoming]:
    """Texts already planned and waiting to leave (quiet hours, the daily cap), then the timers that will send one;
    soonest first. A visit's reminder is gone from here once the visit is cancelled (its timer is cancelled)."""
    rows = [Upcoming(f"message-{t.id}", _planned_text(t, causes), t.not_before, causes.of_text(t))
            for t in texts if is_planned(t)]
    rows += [Upcoming(f"timer-{t.id}", causes.describe(t), t.due_at, causes.of_timer(t), _not_by_text(state, t))
             for t in causes.pending_timers() if t.kind in TEXT_TIMERS]
    return sorted(rows, key=lambda u: u.due_at)


def is_planned(text: OutboxMessage) -> bool:
    """An automated text to the patient still waiting to leave (held by quiet hours or the daily cap). A direct reply
    leaves at once: it stays with the sent messages, whatever its status for the moment."""
    return text.status in WAITING and text.recipient == "patient" and text.automated


def _planned_text(text: OutboxMessage, causes: Causes) -> str:
    """A planned text by its template's plain description, never its body."""
    subject = Subject.parse_optional(text.subject)
    described = {
        "session_reminder": f"Reminder of {visit_name(causes.state, subject, causes.zone)}",
        "evaluation_reminder": f"Reminder of {visit_name(causes.state, subject, causes.zone)}",
        "therapy_reminder": f"Reminder of {visit_name(causes.state, subject, causes.zone)}",
        "confirm_request": f"Asks to confirm {visit_name(causes.state, subject, causes.zone)}",
        "checkin": "Check-in: how the patient feels from 0 to 10, with the crisis line",
        "checkin_nudge": "The check-in asked again",
        "no_show": "“We missed you” text, with the clinic's phone",
    }.get(text.kind)
    return f"{described or text.kind.replace('_', ' ').capitalize()} (waiting to be sent)"


def _not_by_text(state: WorkflowState, timer: TimerRecord) -> str:
    """Why a planned text will not go, when that is known now (the patient can still change it: consent, a hold)."""
    if state.stage == Stage.PAUSED and timer.session_key and timer.kind in ("reminder", "no_show"):
        return "No text while dosing is paused (safety hold); the worklist has the session instead."
    if state.patient.opted_out:
        return "Will not go by text: the patient opted out."
    if not state.patient.sms_consent:
        return "Will not go by text: no SMS consent (a coordinator calls instead)."
    return ""
