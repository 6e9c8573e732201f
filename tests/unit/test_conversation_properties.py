"""Property tests for questions in context (PROTOCOL.md §5 Replies; `workflows/conversation.py`).

Hypothesis drives one patient, in a random time zone and cap mode, through sessions booked, moved and cancelled at
various times (their reminders), visits to discharge (their check-ins), safety holds, clock jumps, and the patient's
replies, on the machinery of `test_messaging_properties` (timers fire at their due times; a simulated outbox sends each
planned message at its `not_before` after the send-time re-check). A model of the conversation is kept from what the
patient actually received: every message that asked a question (a reminder with "Reply 1 to confirm", a confirmation
asked later, a check-in or its nudge), in the order it left.

Checked on every reply and at the end:

- (b) no reply is lost and none is misapplied: a digit is applied only to the question the patient was asked last, if
  that question is still open (not answered, not expired, its visit still ahead at the time it named, no safety hold)
  and the digit fits it; a digit that fits the open question is applied; any other digit gets the one clarification
  of the open question (none when nothing is open);
- one question at a time: two messages asking different questions never leave at the same moment;
- (a) a diligent patient, who answers every question they receive, in the order received, each within five hours of
  receiving it (even when an answer meant for a confirmation lands on the check-in that outranked it), is never
  nudged and never escalated as `checkin_missed`;
- every emergency raised in a decision sends the patient exactly one crisis line in it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import event as label
from hypothesis import strategies as st
from test_messaging_properties import CLIN, CLINIC, COORD, PATIENT, PHONE, ZONES, Run, keyword, visit

from workflows.effects import SaveEscalation, SendMessage
from workflows.events import make_event
from workflows.inbound import read
from workflows.stages import Stage
from workflows.subjects import Subject

ASKS_CONFIRMATION = re.compile(r"reply 1 to confirm", re.IGNORECASE)
VISIT_TEXTS = {"session_reminder", "evaluation_reminder", "therapy_reminder", "confirm_request"}
session = st.sampled_from(["s1", "s2", "s3"])
ahead = st.tuples(st.integers(1, 100), st.integers(0, 59))  # hours, minutes: reminders at 72, 24 and 2 h before
DIGITS = ["0", "1", "1", "2", "2", "3", "5", "6", "7", "9", "10", "11", "42"]
OTHER = ["hello", "HELP", "ok", "STOP", "START", "I want to die"]
PARAMETERS = {
    "book": st.tuples(session, ahead),
    "move": st.tuples(session, ahead),
    "cancel": st.tuples(session),
    "advance": st.tuples(st.integers(1, 2 * 24 * 60)),
    "visit": st.tuples(session),
    "hold": st.tuples(),
    "clear": st.tuples(),
    "text": st.tuples(st.sampled_from(DIGITS * 3 + OTHER)),
}
STAFF = ["book"] * 4 + ["move", "cancel"] + ["advance"] * 5 + ["visit"] * 4 + ["hold", "clear", "clear"]
staff_actions = st.sampled_from(STAFF).flatmap(lambda kind: PARAMETERS[kind].map(lambda params: (kind, *params)))
any_actions = st.sampled_from(STAFF + ["text"] * 8).flatmap(lambda kind: PARAMETERS[kind].map(lambda p: (kind, *p)))


class Conversation(Run):
    """A `Run` that also keeps what the patient was asked, as they received it, and checks every reply against it."""

    def __init__(self, zone, strict, route, offset, diligent: bool, delays: list[int], answers: list[str]) -> None:
        """`diligent`: the patient answers each question they receive with a fitting answer (`answers` for check-ins),
        after `delays`; otherwise they reply to what they receive with `answers`, fitting or not."""
        self.asked: list[tuple] = []  # (sent at, kind, subject, start) of every message that asked, in sent order
        self.answered: set[int] = set()  # indexes into `asked`: confirmations answered
        self.answered_checkins: set[str] = set()
        self.checkin_sent_at: dict[str, datetime] = {}
        self.closed: set[int] = set()  # asks withdrawn by an event: STOP; a safety hold (session confirmations)
        self.clarified: set[tuple] = set()  # questions (kind, subject, start) clarified since last answered
        self.diligent, self.delays, self.answers = diligent, delays, answers
        self.replies_due: list[tuple[datetime, int]] = []  # the diligent patient's replies: (when, ask received)
        self.patient_replied: set[int] = set()
        self.last_decision = None
        super().__init__(zone, True, strict, route, offset)

    # --- what the patient received ------------------------------------------------------------------------------------

    def check_send(self, message: SendMessage) -> None:
        super().check_send(message)
        question = self.question_in(message) if message.recipient == "patient" else None
        if question is None:
            return
        still_open = self.open_question()
        if still_open is not None and still_open[1][1:3] != question[1:3]:
            # One question at a time: only a check-in takes the floor from a confirmation, and only from one whose
            # message left before (never two asks leaving together).
            _, (left_at, kind, subject, _) = still_open
            assert (question[1], kind) == ("checkin", "confirm") and left_at < self.now, (
                f"{question[1]} of {question[2]} asked while the {kind} of {subject} was open")
            label("a check-in took the floor from a confirmation")
        self.asked.append(question)
        if message.kind == "checkin":
            self.checkin_sent_at[Subject.parse(message.subject).key] = self.now
        label(f"asked by: {message.kind}")
        delay = self.delays[len(self.asked) % len(self.delays)]
        self.replies_due.append((self.now + timedelta(minutes=delay), len(self.asked) - 1))

    def question_in(self, message: SendMessage) -> tuple | None:
        if message.kind in ("checkin", "checkin_nudge"):
            return (self.now, "checkin", message.subject, None)
        if message.kind in VISIT_TEXTS and ASKS_CONFIRMATION.search(message.body):
            return (self.now, "confirm", message.subject, message.subject_start)
        return None

    # --- the model: which question a digit answers now ------------------------------------------------------------

    def open_question(self) -> tuple[int, tuple] | None:
        """The question the patient was asked last, if it is still open now."""
        index = len(self.asked) - 1
        if index < 0 or index in self.closed:
            return None
        _, kind, subject, start = self.asked[index]
        if kind == "checkin":
            key = Subject.parse(subject).key
            missed_at = self.checkin_sent_at[key] + timedelta(hours=self.rules.checkin_missed_hours)
            return None if key in self.answered_checkins or self.now >= missed_at else (index, self.asked[index])
        booked = self.state.visit(Subject.parse(subject))
        if index in self.answered or booked is None or booked.status not in ("scheduled", "confirmed"):
            return None
        if booked.start != start or self.now >= start:
            return None
        if subject.startswith("session:") and self.state.stage == Stage.PAUSED:
            return None
        return index, self.asked[index]

    @staticmethod
    def fits(kind: str, number: int) -> bool:
        return number in (1, 2) if kind == "confirm" else 0 <= number <= 10

    # --- checks on every decision and every reply ---------------------------------------------------------------------

    def check(self, decision, before) -> None:
        super().check(decision, before)
        self.last_decision = decision
        if before is not None and before.stage != Stage.PAUSED and decision.state.stage == Stage.PAUSED:
            self.closed |= {i for i, q in enumerate(self.asked) if q[1] == "confirm" and q[2].startswith("session:")}
        raised = [e.escalation for e in decision.of_type(SaveEscalation) if e.escalation.severity == "emergency"]
        new = [e for e in raised if before is None or e.id not in before.escalations
               or before.escalations[e.id].count != e.count or before.escalations[e.id].severity != "emergency"]
        lines = [m for m in decision.of_type(SendMessage) if m.recipient == "patient" and m.kind == "crisis"]
        assert len(lines) == (1 if new else 0), f"{len(lines)} crisis lines in a decision raising {len(new)} emergencies"

    def text(self, body: str) -> None:
        """The patient texts now; a digit is checked against the model of what they were asked."""
        self.dispatch()  # what is due to leave now has left: the patient's text comes after it
        reading = read(body, CLINIC.catalog)
        expected = self.open_question()
        before, self.last_decision = self.state, None
        said = keyword(body)

        def heard():
            if said is not None:
                self.opted_out = said == "stop"
            if said == "stop":
                self.closed |= set(range(len(self.asked)))
        self.apply(make_event("sms.received", {"from": PHONE, "body": body}, actor=PATIENT), on_accept=heard)
        decision = self.last_decision
        if reading.kind == "number" and decision is not None:
            self.check_reply(body, reading.number, expected, decision, before)
        elif decision is not None and [m for m in decision.of_type(SendMessage) if m.kind == "clarify"]:
            assert expected is not None, "a clarification with no question open"
            self.clarified.add((expected[1][1], expected[1][2], expected[1][3]))  # words, not digits: also once
        self.dispatch()  # replies leave at once

    def check_reply(self, body, number, expected, decision, before) -> None:
        applied = self.applied(decision, before)
        clarified = [m for m in decision.of_type(SendMessage) if m.kind == "clarify"]
        if applied is not None:
            assert expected is not None, f"{body!r} applied to {applied}: no question the patient was asked is open"
            index, (_, kind, subject, start) = expected
            if before.earlier_question is not None and before.earlier_question.subject == subject:
                label("digit answered the question a waiting check-in outranks, before the check-in left")
            assert (kind, subject) == applied, f"{body!r} applied to {applied}; the patient was asked {(kind, subject)}"
            assert self.fits(kind, number)
            if kind == "checkin":
                self.answered_checkins.add(Subject.parse(subject).key)
            else:
                self.answered.add(index)
            self.clarified.discard((kind, subject, start))
            label(f"digit answered a {kind}")
        elif expected is None:
            assert clarified == [], "a clarification with no question open"
            label("digit with nothing open")
        else:
            index, (_, kind, subject, start) = expected
            assert not self.fits(kind, number), f"{body!r} fits the open {kind} of {subject} but was not applied"
            assert clarified or (kind, subject, start) in self.clarified, f"{body!r} lost without a clarification"
            self.clarified.add((kind, subject, start))
            label("digit clarified" if clarified else "digit after its clarification")

    @staticmethod
    def applied(decision, before) -> tuple[str, str] | None:
        """What the engine applied a reply to: a check-in answered, or a visit confirmed or to reschedule."""
        for key, checkin in decision.state.checkins.items():
            old = before.checkins.get(key)
            if checkin.answered_at is not None and (old is None or old.answered_at is None):
                return "checkin", f"session:{key}"
        acks = [m for m in decision.of_type(SendMessage) if m.kind == "reply_ack" and m.subject is not None]
        return ("confirm", acks[0].subject) if acks else None

    # --- the clock, with the diligent patient's replies on it ---------------------------------------------------------

    def advance(self, minutes: float) -> None:
        """As `Run.advance`, one moment at a time, so that the patient's replies fall in their place."""
        target = self.now + timedelta(minutes=minutes)
        while True:
            moments = [t.due_at for t in self.state.timers.values()] + [m.not_before for m in self.outbox]
            moments += [when for when, _ in self.replies_due]
            upcoming = [moment for moment in moments if moment <= target]
            if not upcoming:
                break
            moment = max(min(upcoming), self.now)
            super().advance((moment - self.now).total_seconds() / 60)  # timers and messages due by then
            for reply in sorted(r for r in self.replies_due if r[0] <= moment):
                self.replies_due.remove(reply)
                self.reply_in_turn()
        super().advance((target - self.now).total_seconds() / 60)

    def reply_in_turn(self) -> None:
        """The patient replies to the questions they received in the order they received them, one reply each: the
        diligent patient with an answer that fits the question (a score, or 1 / 2), the other with anything."""
        waiting = [index for index in range(len(self.asked)) if index not in self.patient_replied]
        if not waiting:
            return
        index = waiting[0]
        self.patient_replied.add(index)
        if not self.diligent or self.asked[index][1] == "checkin":
            self.text(self.answers[index % len(self.answers)])
        else:
            self.text("2" if index % 4 == 3 else "1")


def act(run: Conversation, action) -> None:
    kind = action[0]
    if kind == "advance":
        run.advance(action[1])
    elif kind in ("book", "move"):
        sid, (hours, minutes) = action[1], action[2]
        when = run.now + timedelta(hours=hours, minutes=minutes)
        event_type = "session.scheduled" if kind == "book" else "session.rescheduled"
        run.apply(make_event(event_type, {"session": sid, "start": when}, actor=COORD),
                  on_accept=lambda: run.starts.__setitem__(sid, when))
    elif kind == "cancel":
        sid = action[1]
        run.apply(make_event("session.cancelled", {"session": sid, "reason": "test"}, actor=COORD),
                  on_accept=lambda: run.cancelled.add(sid))
    elif kind == "visit":
        visit(run, action[1])
    elif kind == "hold":
        run.apply(make_event("safety.hold", {"reason": "review", "clinician": "d"}, actor=CLIN))
    elif kind == "clear":
        run.apply(make_event("safety.cleared", {"reason": "reviewed", "clinician": "d"}, actor=CLIN))
    elif kind == "text":
        run.text(action[1])


def settle(run: Conversation) -> None:
    """Staff take the worklist (the ladders stop paging), then everything planned falls due."""
    for escalation in list(run.state.escalations.values()):
        if escalation.status == "open":
            run.apply(make_event("escalation.acknowledged", {"escalation": escalation.id, "by": "d"}, actor=CLIN))
    run.advance(4 * 24 * 60)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    zone=st.sampled_from(ZONES),
    strict=st.sampled_from([False, False, True]),
    route=st.sampled_from(["esketamine", "iv_ketamine"]),
    offset=st.integers(0, 7 * 24 * 60),
    delays=st.lists(st.integers(0, 12 * 60), min_size=1, max_size=6),
    replies=st.lists(st.sampled_from(DIGITS + OTHER), min_size=1, max_size=6),
    steps=st.lists(any_actions, min_size=8, max_size=36),
)
def test_no_reply_is_lost_or_read_against_a_question_not_asked(zone, strict, route, offset, delays, replies, steps):
    run = Conversation(zone, strict, route, offset, diligent=False, delays=delays, answers=replies)
    for action in steps:
        act(run, action)
    settle(run)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    zone=st.sampled_from(ZONES),
    strict=st.sampled_from([False, False, True]),
    route=st.sampled_from(["esketamine", "iv_ketamine"]),
    offset=st.integers(0, 7 * 24 * 60),
    delays=st.lists(st.integers(1, 5 * 60), min_size=1, max_size=6),
    answers=st.lists(st.sampled_from([str(n) for n in range(11)]), min_size=1, max_size=4),
    steps=st.lists(staff_actions, min_size=8, max_size=36),
)
def test_a_patient_who_answers_every_question_is_never_nudged_or_escalated(zone, strict, route, offset, delays,
                                                                           answers, steps):
    run = Conversation(zone, strict, route, offset, diligent=True, delays=delays, answers=answers)
    for action in steps:
        act(run, action)
    settle(run)
    assert [m for _, m in run.sent if m.kind == "checkin_nudge"] == [], "a patient who answered was nudged"
    missed = [e for e in run.state.escalations.values() if e.reason == "checkin_missed"]
    assert missed == [], "a patient who answered was escalated as a missed check-in"
    label(f"check-ins answered: {min(len(run.answered_checkins), 3)}")
    label(f"confirmations answered: {min(len(run.answered), 3)}")
