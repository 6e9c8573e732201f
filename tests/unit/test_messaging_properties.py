"""Property tests for the messaging rules (PROTOCOL.md §5, §7): whatever the calendar and the patient's texts do.

Hypothesis drives one patient, in a random time zone, through random bookings, moves and cancellations, visits,
screens, holds, texts (keywords, digits, crisis language, garbage) and clock jumps of up to days. The timers fire at
their due times and a simulated outbox sends each planned message at its `not_before`, after the send-time `recheck`,
as the dispatcher does. Checked on every decision, and on every send:

- no automated non-urgent message is planned for, or sent in, the patient's quiet hours;
- no local day gets more than the cap of automated messages (and, in strict FCC mode, no week more than three);
- nothing reaches a patient between a STOP and the next START;
- no reminder is planned or sent for a cancelled session, or for a session's old time after a move;
- every emergency escalation pages the on-call number in the same decision;
- no SMS body contains a forbidden word, and every patient SMS names the clinic;
- no message is planned twice (dedupe keys), and no check-in ladder runs for a check-in that was not sent;
- once the workflow is final (withdrawn, discharged), no automated text is planned for or sent to the patient;
- an urgent or emergency escalation not yet acknowledged has its ladder timer pending while a step of its ladder is
  left (PROTOCOL.md §6: an urgent one at tier 1, before the medical director is paged; an emergency always, paged every
  15 minutes until acknowledged) (issue #16).
"""

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import event as label
from hypothesis import strategies as st

from config.clinic import build_clinic
from config.protocol import load_protocol
from workflows.catalog import forbidden_in
from workflows.clock import local
from workflows.effects import SaveEscalation, SendMessage
from workflows.errors import Rejected
from workflows.events import make_event
from workflows.inbound import START_WORDS, STOP_WORDS
from workflows.messages import REMINDER_KINDS, Pending, in_quiet_hours, recheck
from workflows.pathway import decide, start, timer_event
from workflows.stages import FINAL, Stage
from workflows.state import OPEN_SESSION
from workflows.subjects import Subject

ON_CALL = "+15555550190"
CLINIC = build_clinic(staff={"on_call": ON_CALL, "medical_director": "+15555550191"},
                      name="Riverside Interventional Psychiatry", timezone="America/New_York")
PROTOCOLS = {False: load_protocol(), True: load_protocol(overrides={"messaging": {"strict_fcc": True}})}
FORBIDDEN = CLINIC.catalog.forbidden_words
T0 = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
WORKFLOW = "00000000-0000-4000-8000-000000000002"
PHONE = "+15555550101"
COORD, CLIN, PATIENT = {"role": "coordinator", "name": "c"}, {"role": "clinician", "name": "d"}, {"role": "patient"}
ZONES = ["America/New_York", "America/Los_Angeles", "Pacific/Honolulu", "Europe/London", "Asia/Kathmandu",
         "Australia/Sydney", "Australia/Lord_Howe", "America/St_Johns", "Asia/Tokyo"]
SESSIONS = ["s1", "s2", "s3"]
TEXTS = ["STOP", " stop ", "Unsubscribe", "cancel", "START", "yes", "unstop", "HELP", "info", "1", "1", "2", "0", "3",
         "7", "10", "11", "hello", "stop sending me texts", "", "ok 👍", "I want to die", "thinking of SUICIDE",
         "kill\nmyself", "can I reschedule?", "YES!"]

session = st.sampled_from(SESSIONS)
ahead = st.tuples(st.integers(3, 150), st.integers(0, 59))  # hours, minutes
PARAMETERS = {
    "book": st.tuples(session, ahead),
    "move": st.tuples(session, ahead),
    "cancel": st.tuples(session),
    "text": st.tuples(st.sampled_from(TEXTS) | st.text(max_size=12)),
    "advance": st.tuples(st.integers(1, 3 * 24 * 60)),
    "visit": st.tuples(session),
    "phq9": st.tuples(st.integers(0, 3)),
    "cssrs_high": st.tuples(),
    "clear": st.tuples(),
    "ack": st.tuples(st.sampled_from(["crisis_language", "cssrs_high", "checkin_missed"])),
    "end": st.tuples(st.sampled_from([("patient.withdrew", {"reason": "moving away"}),
                                      ("workflow.discharged", {"reason": "care complete", "clinician": "d"})])),
}
KINDS = ["book"] * 4 + ["move"] * 2 + ["cancel"] + ["text"] * 6 + ["advance"] * 5 + ["visit"] * 3 + [
    "phq9", "cssrs_high", "clear", "clear", "ack", "ack", "end"]
actions = st.sampled_from(KINDS).flatmap(lambda kind: PARAMETERS[kind].map(lambda params: (kind, *params)))


def keyword(body: str) -> str | None:
    if CLINIC.catalog.mentions_crisis(body):
        return None
    word = body.strip().upper()
    return "stop" if word in STOP_WORDS else "start" if word in START_WORDS else None


class Run:
    """One patient, the timers, an outbox, and a model of what the calendar and the patient said."""

    def __init__(self, zone: str, consent: bool, strict: bool, route: str, offset_minutes: int) -> None:
        self.zone, self.protocol, self.rules = zone, PROTOCOLS[strict], PROTOCOLS[strict].messaging
        self.now = T0 + timedelta(minutes=offset_minutes)
        self.outbox: list[SendMessage] = []
        self.per_day: Counter = Counter()
        self.starts: dict[str, datetime] = {}  # the model: each booked session's current start
        self.cancelled: set[str] = set()
        self.opted_out = False
        self.sent: list[tuple[datetime, SendMessage]] = []
        self.planned: Counter = Counter()  # (kind, drop reason) of every patient message planned
        self.dedupe_keys: set[str] = set()
        self.checkins_asked: set[str] = set()  # sessions whose check-in was planned to go
        referral = make_event("referral.received", {
            "patient": {"name": "P", "phone": PHONE, "timezone": zone, "sms_consent": consent},
            "referrer": "r", "prior_treatments": 3,
        }, actor=COORD)
        decision = start(WORKFLOW, "patient-2", referral, self.now, self.protocol, CLINIC)
        self.state = decision.state
        self.check(decision, None)
        for event in [
            make_event("evaluation.scheduled", {"start": self.now + timedelta(hours=1)}, actor=COORD),
            make_event("evaluation.completed", {"eligible": True, "route": route, "clinician": "d", "weight_kg": 80},
                       actor=CLIN),
            make_event("rems.enrolled", {"enrollment_id": "R1"}, actor=COORD),
        ]:
            self.apply(event)

    # --- driving ----------------------------------------------------------------------------------------------------

    def apply(self, event, on_accept=None) -> bool:
        before = self.state
        try:
            decision = decide(before, event, self.now, self.protocol, CLINIC)
        except Rejected:
            return False
        if on_accept:
            on_accept()
        self.state = decision.state
        self.check(decision, before)
        return True

    def advance(self, minutes: int) -> None:
        target = self.now + timedelta(minutes=minutes)
        while True:
            timers = [(t.due_at, key) for key, t in self.state.timers.items() if t.due_at <= target]
            queued = [m.not_before for m in self.outbox if m.not_before <= target]
            if not timers and not queued:
                break
            if timers and (not queued or min(timers)[0] <= min(queued)):
                due_at, key = min(timers)
                self.now = max(self.now, due_at)
                self.apply(timer_event(key, self.state.timers[key]))
            else:
                self.now = max(self.now, min(queued))
                self.dispatch()
        self.now = target

    def dispatch(self) -> None:
        """The outbox worker: everything due now is re-checked, then sent, deferred or dropped."""
        due = [m for m in self.outbox if m.not_before <= self.now]
        self.outbox = [m for m in self.outbox if m.not_before > self.now]
        for message in due:
            pending = Pending(kind=message.kind, recipient=message.recipient, automated=message.automated,
                              urgent=message.urgent, subject=message.subject, subject_start=message.subject_start,
                              expires_at=message.expires_at)
            verdict = recheck(self.state, pending, self.now, self.rules)
            if verdict.action == "defer":
                assert verdict.not_before > self.now
                self.outbox.append(replace(message, not_before=verdict.not_before))
            elif verdict.action == "send":
                self.check_send(message)

    # --- invariants ---------------------------------------------------------------------------------------------------

    def check(self, decision, before) -> None:
        messages = decision.of_type(SendMessage)
        for message in messages:
            assert forbidden_in(message.body, FORBIDDEN) == [], message.body
            if message.recipient != "patient":
                continue
            assert message.body.startswith(CLINIC.name), message.body
            self.planned[message.kind, message.drop_reason] += 1
            if message.drop_reason is not None:
                continue
            assert not self.opted_out, f"{message.kind} planned while opted out"
            assert not (message.automated and before is not None and before.stage in FINAL), (
                f"{message.kind} planned for a {before.stage} workflow")
            # Without consent only direct answers to the patient's own text (crisis line, help) may go.
            assert self.state.patient.sms_consent or not message.automated, f"{message.kind} without consent"
            if message.automated and not message.urgent:
                assert not in_quiet_hours(message.not_before, self.zone, self.rules), (
                    f"{message.kind} planned for {local(message.not_before, self.zone)}")
                self.count(message.not_before)
            if message.dedupe_key is not None:
                assert message.dedupe_key not in self.dedupe_keys, f"the same {message.kind} twice"
                self.dedupe_keys.add(message.dedupe_key)
            if message.kind == "checkin":
                self.checkins_asked.add(message.session)
            self.outbox.append(message)
        assert set(decision.state.checkins) <= self.checkins_asked, "a check-in ladder for a check-in never sent"
        for message in messages:
            if message.kind == "session_reminder":
                sid = Subject.parse(message.subject).key
                assert sid not in self.cancelled, "a reminder for a cancelled session"
                assert message.subject_start == self.starts[sid], "a reminder for a session's old time"
                assert decision.state.sessions[sid].status in OPEN_SESSION
        self.check_emergencies(decision, before)
        self.check_ladders(decision.state)

    def check_ladders(self, state) -> None:
        for escalation in state.escalations.values():
            climbing = escalation.severity == "emergency" or (escalation.severity == "urgent" and escalation.tier == 1)
            if climbing and escalation.status == "open":
                assert f"escalation:{escalation.id}" in state.timers, (
                    f"{escalation.severity} {escalation.reason} open at tier {escalation.tier} with no ladder timer")

    def count(self, moment: datetime) -> None:
        day = local(moment, self.zone).date()
        self.per_day[day] += 1
        daily = self.rules.strict_daily_cap if self.rules.strict_fcc else self.rules.daily_cap
        assert self.per_day[day] <= daily, f"{self.per_day[day]} automated messages on {day}"
        if self.rules.strict_fcc:
            monday = day - timedelta(days=day.weekday())
            week = sum(self.per_day[monday + timedelta(days=n)] for n in range(7))
            assert week <= self.rules.strict_weekly_cap, f"{week} automated messages in the week of {monday}"

    def check_emergencies(self, decision, before) -> None:
        alerts = {(m.escalation, m.to) for m in decision.of_type(SendMessage) if m.kind == "staff_alert"}
        for effect in decision.of_type(SaveEscalation):
            escalation = effect.escalation
            if escalation.severity != "emergency" or escalation.status != "open" or escalation.tier != 1:
                continue
            old = before.escalations.get(escalation.id) if before else None
            if old is None or old.severity != "emergency" or old.status != "open":
                assert (escalation.id, ON_CALL) in alerts, f"emergency {escalation.reason} without a page"
                label(f"emergency paged: {escalation.reason}")

    def check_send(self, message: SendMessage) -> None:
        """What the worker actually sends, at the moment it sends it."""
        self.sent.append((self.now, message))
        if message.recipient != "patient":
            return
        assert not self.state.patient.opted_out and not self.opted_out, f"{message.kind} sent while opted out"
        assert not (message.automated and self.state.stage in FINAL), f"{message.kind} sent to a final workflow"
        if message.automated and not message.urgent:
            assert not in_quiet_hours(self.now, self.zone, self.rules), f"{message.kind} sent in quiet hours"
        if message.expires_at is not None:
            assert self.now < message.expires_at, f"{message.kind} sent after it expired"
        subject = Subject.parse_optional(message.subject)
        if message.kind in REMINDER_KINDS and subject is not None and subject.kind == "session":
            sid = subject.key
            assert sid not in self.cancelled and self.starts[sid] == message.subject_start, "stale reminder sent"
            assert self.state.stage != Stage.PAUSED, "reminder sent during a safety hold"


def visit(run: Run, sid: str) -> None:
    """A whole visit: a same-day booking when the session is not on the calendar, then arrival to discharge."""
    current = run.state.sessions.get(sid)
    if current is None:
        when = run.now + timedelta(minutes=30)
        run.apply(make_event("session.scheduled", {"session": sid, "start": when}, actor=COORD),
                  on_accept=lambda: run.starts.__setitem__(sid, when))
    route = run.state.route
    dose = {"dose_mg": 56} if route == "esketamine" else {}
    steps = [
        make_event("session.arrived", {"session": sid}, actor=COORD),
        make_event("vitals.recorded", {"session": sid, "phase": "pre_dose", "systolic": 122, "diastolic": 80},
                   actor=CLIN),
        make_event("dose.administered", {"session": sid, "ride_confirmed": True, "fasting_confirmed": True, **dose},
                   actor=CLIN),
        40,
        make_event("vitals.recorded", {"session": sid, "phase": "post_dose", "systolic": 128, "diastolic": 82},
                   actor=CLIN),
        85,
        make_event("vitals.recorded", {"session": sid, "phase": "pre_discharge", "systolic": 124, "diastolic": 80},
                   actor=CLIN),
        make_event("session.discharged", {"session": sid, "sedation_resolved": True, "dissociation_resolved": True},
                   actor=CLIN),
    ]
    for step in steps:
        if isinstance(step, int):
            run.advance(step)
        elif not run.apply(step):
            return
    label("visit completed")


def act(run: Run, action) -> None:
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
    elif kind == "text":
        body = action[1]
        said = keyword(body)

        def heard():
            if said is not None:
                run.opted_out = said == "stop"
        run.apply(make_event("sms.received", {"from": PHONE, "body": body}, actor=PATIENT), on_accept=heard)
        assert run.state.patient.opted_out == run.opted_out
        run.dispatch()  # replies leave at once
    elif kind == "visit":
        visit(run, action[1])
    elif kind == "phq9":
        answers = [1] * 8 + [action[1]]
        run.apply(make_event("assessment.submitted", {"instrument": "phq9", "answers": answers}, actor=CLIN))
    elif kind == "cssrs_high":
        answers = {"q1": True, "q2": True, "q3": False, "q4": True, "q5": False, "q6": False}
        run.apply(make_event("assessment.submitted", {"instrument": "cssrs", "answers": answers}, actor=CLIN))
    elif kind == "clear":
        run.apply(make_event("safety.cleared", {"reason": "reviewed", "clinician": "d"}, actor=CLIN))
    elif kind == "end":
        event_type, data = action[1]
        run.apply(make_event(event_type, data, actor=CLIN))
        label(f"ended: {event_type}" if run.state.stage in FINAL else "end refused")
    elif kind == "ack":
        run.apply(make_event("escalation.acknowledged", {"escalation": action[1], "by": "d"}, actor=CLIN))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    zone=st.sampled_from(ZONES),
    consent=st.sampled_from([True, True, True, False]),
    strict=st.sampled_from([False, False, True]),
    route=st.sampled_from(["esketamine", "iv_ketamine"]),
    offset=st.integers(0, 7 * 24 * 60),
    steps=st.lists(actions, min_size=8, max_size=32),
)
def test_messaging_rules_hold_whatever_happens(zone, consent, strict, route, offset, steps):
    run = Run(zone, consent, strict, route, offset)
    for action in steps:
        act(run, action)
    for escalation in list(run.state.escalations.values()):  # staff take the worklist: the ladders stop paging
        if escalation.status == "open":
            run.apply(make_event("escalation.acknowledged", {"escalation": escalation.id, "by": "d"}, actor=CLIN))
    run.advance(7 * 24 * 60)  # let everything planned fall due, and be sent or dropped
    for kind, reason in run.planned:
        label(f"planned: {kind} ({reason or 'to send'})")
    label(f"patient messages sent: {min(sum(1 for _, m in run.sent if m.recipient == 'patient') // 5 * 5, 20)}+")
