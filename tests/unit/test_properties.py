"""Property tests: random event sequences never leave an inconsistent workflow.

Hypothesis drives one patient through random staff actions and clock jumps. After every step: a refused event changed
nothing, no timer waits on a session that will not happen or on a final workflow, at most one open escalation per
reason, every stage change is one the transition table declares, and replaying the accepted history from scratch
rebuilds exactly the same state.
"""

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import event as label
from hypothesis import strategies as st

from config.clinic import build_clinic
from config.protocol import load_protocol
from workflows.errors import Rejected
from workflows.escalations import REASONS
from workflows.events import make_event
from workflows.pathway import decide, replay, start, timer_event
from workflows.stages import FINAL, Stage
from workflows.state import NOT_HAPPENING, SessionStatus, WorkflowState
from workflows.transitions import STAGE_LEFT, declared

PROTOCOL = load_protocol()
# Two induction sessions, so a walk with two session ids can finish induction and reach the review and maintenance.
SHORT_INDUCTION = load_protocol(overrides={"routes": {"esketamine": {"induction_sessions": 2}}})
CLINIC = build_clinic(staff={"on_call": "+15555550190", "medical_director": "+15555550191"})
T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
WORKFLOW, PATIENT = "00000000-0000-4000-8000-000000000001", "patient-1"
COORD = {"role": "coordinator", "name": "c"}
CLIN = {"role": "clinician", "name": "d"}
SESSIONS = ["s1", "s2"]

session = st.sampled_from(SESSIONS)
bp = st.tuples(st.integers(90, 200), st.integers(50, 125)).filter(lambda p: p[1] < p[0])
hours = st.integers(1, 240)

actions = st.one_of(
    # A whole visit as a clinic runs it, so random runs reach dosing and discharge often, not by luck.
    st.tuples(st.just("visit"), session, st.sampled_from([56, 56, 56, 84, 28]), st.sampled_from([False, False, True])),
    st.tuples(st.just("visit"), session, st.sampled_from([56, 56, 56, 84, 28]), st.sampled_from([False, False, True])),
    st.tuples(st.just("advance"), st.integers(1, 3000)),
    st.tuples(st.just("session.scheduled"), session, hours, st.sampled_from([None, 28, 56, 84])),
    st.tuples(st.just("session.rescheduled"), session, hours),
    st.tuples(st.just("session.cancelled"), session),
    st.tuples(st.just("session.confirmed"), session),
    st.tuples(st.just("session.arrived"), session),
    st.tuples(st.just("vitals.recorded"), session, st.sampled_from(["pre_dose", "post_dose", "pre_discharge"]), bp),
    st.tuples(st.just("dose.administered"), session, st.booleans()),
    st.tuples(st.just("session.discharged"), session, st.booleans()),
    st.tuples(st.just("rems.form_submitted"), session),
    st.tuples(st.just("assessment.submitted"), st.lists(st.integers(0, 3), min_size=9, max_size=9)),
    st.tuples(st.just("cssrs"), st.booleans(), st.booleans(), st.booleans()),
    st.tuples(st.just("escalation"), st.sampled_from(["escalation.acknowledged", "escalation.resolved"]),
              st.sampled_from(["bp_hold", "bp_critical", "no_show", "phq9_item9", "cssrs_high", "confirmation_missing"])),
    st.tuples(st.sampled_from(["safety.hold", "safety.cleared", "patient.withdrew", "workflow.discharged",
                               "review.completed"])),
)
# What moves a workflow along its stages: the evaluation, REMS enrollment, bookings and visits that can finish
# induction, and the review; drawn often, so random walks reach the later stages.
pathway_actions = st.one_of(
    st.tuples(st.just("evaluation.scheduled"), hours),
    st.tuples(st.just("evaluation.completed"), st.sampled_from([True, True, False])),
    st.tuples(st.just("rems.enrolled")),
    st.tuples(st.just("session.scheduled"), session, hours, st.just(None)),
    st.tuples(st.just("visit"), session, st.just(56), st.just(False)),
    st.tuples(st.just("review"), st.sampled_from(["continue", "discharge"])),
)


def expand(action):
    """A visit becomes its steps: arrive, pre-dose BP, dose, post-dose BP, pre-discharge BP, discharge."""
    if action[0] != "visit":
        return [action]
    _, sid, dose, high_bp = action
    pressure = (150, 95) if high_bp else (124, 80)
    return [
        ("session.arrived", sid),
        ("vitals.recorded", sid, "pre_dose", pressure),
        ("dose.administered", sid, True, dose),
        ("advance", 40),
        ("vitals.recorded", sid, "post_dose", (130, 84)),
        ("advance", 85),
        ("vitals.recorded", sid, "pre_discharge", (126, 80)),
        ("session.discharged", sid, True),
    ]


def to_event(action, now):
    kind = action[0]
    if kind == "session.scheduled":
        data = {"session": action[1], "start": now + timedelta(hours=action[2])}
        if action[3]:
            data["dose_mg"] = action[3]
        return make_event(kind, data, actor=COORD)
    if kind == "session.rescheduled":
        return make_event(kind, {"session": action[1], "start": now + timedelta(hours=action[2])}, actor=COORD)
    if kind in ("session.cancelled", "session.confirmed", "session.arrived", "rems.form_submitted"):
        return make_event(kind, {"session": action[1]}, actor=COORD)
    if kind == "vitals.recorded":
        systolic, diastolic = action[3]
        data = {"session": action[1], "phase": action[2], "systolic": systolic, "diastolic": diastolic}
        return make_event(kind, data, actor=CLIN)
    if kind == "dose.administered":
        data = {"session": action[1], "ride_confirmed": action[2], "fasting_confirmed": True}
        if len(action) > 3:
            data["dose_mg"] = action[3]
        return make_event(kind, data, actor=CLIN)
    if kind == "session.discharged":
        data = {"session": action[1], "sedation_resolved": action[2], "dissociation_resolved": True}
        return make_event(kind, data, actor=CLIN)
    if kind == "assessment.submitted":
        return make_event(kind, {"instrument": "phq9", "answers": action[1]}, actor=CLIN)
    if kind == "cssrs":
        q2 = action[2]
        answers = {"q1": action[1], "q2": q2, "q6": False}
        if q2:
            answers |= {"q3": action[3], "q4": False, "q5": action[3]}
        return make_event("assessment.submitted", {"instrument": "cssrs", "answers": answers}, actor=CLIN)
    if kind == "escalation":
        return make_event(action[1], {"escalation": action[2], "by": "d"}, actor=CLIN)
    if kind == "review.completed":
        return make_event(kind, {"decision": "continue"}, actor=CLIN)
    if kind == "rems.enrolled":
        return make_event(kind, {"enrollment_id": "R1"}, actor=COORD)
    if kind == "review":
        return make_event("review.completed", {"decision": action[1]}, actor=CLIN)
    if kind == "evaluation.scheduled":
        return make_event(kind, {"start": now + timedelta(hours=action[1])}, actor=COORD)
    if kind == "evaluation.completed":
        eligible = {"eligible": True, "route": "esketamine"} if action[1] else {"eligible": False, "reason": "r"}
        return make_event(kind, {**eligible, "clinician": "d"}, actor=CLIN)
    return make_event(kind, {"reason": "test"}, actor=CLIN)


def referral(protocol=PROTOCOL):
    """A new workflow, just referred."""
    event = make_event("referral.received", {
        "patient": {"name": "P", "phone": "+15555550101", "sms_consent": True}, "referrer": "r", "prior_treatments": 3,
    }, actor=COORD)
    return start(WORKFLOW, PATIENT, event, T0, protocol, CLINIC).state, T0, [(event, T0)]


def opening(protocol=PROTOCOL, observe=None):
    """A patient eligible for esketamine, REMS-enrolled, with a first session booked (in induction)."""
    state, now, history = referral(protocol)
    for event in [
        make_event("evaluation.scheduled", {"start": T0 + timedelta(hours=4)}, actor=COORD),
        make_event("evaluation.completed", {"eligible": True, "route": "esketamine", "clinician": "d"}, actor=CLIN),
        make_event("rems.enrolled", {"enrollment_id": "R1"}, actor=COORD),
        make_event("session.scheduled", {"session": "s1", "start": T0 + timedelta(days=2), "dose_mg": 56}, actor=COORD),
    ]:
        now += timedelta(hours=3)
        after = decide(state, event, now, protocol, CLINIC).state
        if observe is not None:
            observe(state, event.type, after)
        state = after
        history.append((event, now))
    return state, now, history


def fire_due(state, now, target, history, protocol=PROTOCOL, observe=None):
    """Fire timers in due order up to `target`, each at its own due time, as the scheduler would."""
    while state.timers:
        key, timer = min(state.timers.items(), key=lambda item: (item[1].due_at, item[0]))
        if timer.due_at > target:
            break
        event = timer_event(key, timer)
        after = decide(state, event, timer.due_at, protocol, CLINIC).state
        if observe is not None:
            observe(state, event.type, after)
        state = after
        history.append((event, timer.due_at))
    return state


def assert_consistent(state):
    if state.stage in FINAL:
        # No timer but the ladders of safety items still waiting for an acknowledgement: those keep paging.
        ladders = {f"escalation:{e.id}" for e in state.escalations.values() if e.status == "open"
                   and e.severity in ("urgent", "emergency")}
        assert set(state.timers) <= ladders, "a final workflow keeps no timer but an open item's ladder"
    assert (state.stage == Stage.PAUSED) == (state.paused_from is not None)
    for timer in state.timers.values():
        if timer.session is None:
            continue
        status = state.sessions[timer.session].status
        assert status not in NOT_HAPPENING, f"timer {timer.kind} waits on a {status} session"
        if status == SessionStatus.DISCHARGED:
            assert timer.kind.startswith(("rems_form", "checkin")), "after discharge: the REMS form and the check-in"
    # One open item per reason; a per-session reason (a REMS form) has one per session.
    open_keys = [(e.reason, e.session if REASONS[e.reason].per_session else None)
                 for e in state.escalations.values() if e.status != "resolved"]
    assert len(open_keys) == len(set(open_keys)), "one open escalation per reason (and session, where per session)"
    for escalation in state.escalations.values():
        has_timer = f"escalation:{escalation.id}" in state.timers
        if escalation.status != "open":
            assert not has_timer, "an acknowledged or resolved escalation has no ladder timer"


def walk(steps, state, now, history, protocol=PROTOCOL, observe=None):
    """Apply the random actions in turn, checking the workflow after each; returns the final state."""
    for action in [step for composite in steps for step in expand(composite)]:
        if action[0] == "advance":
            target = now + timedelta(minutes=action[1])
            state = fire_due(state, now, target, history, protocol, observe)
            now = target
            assert_consistent(state)
            continue
        try:
            event = to_event(action, now)
        except Rejected:
            continue  # malformed data, refused before it reaches a workflow
        before = state.model_dump()
        try:
            decision = decide(state, event, now, protocol, CLINIC)
        except Rejected:
            assert state.model_dump() == before, "a refused event changed the state"
            continue
        assert state.model_dump() == before, "decide must not mutate its input"
        if observe is not None:
            observe(state, event.type, decision.state)
        state = decision.state
        history.append((event, now))
        assert_consistent(state)
    return state


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(actions, min_size=1, max_size=40))
def test_random_sequences_keep_the_workflow_consistent(steps):
    state, now, history = opening()
    state = walk(steps, state, now, history)
    label(f"final stage: {state.stage}")
    label(f"sessions dosed: {sum(1 for s in state.sessions.values() if s.dosed_at)}")
    assert replay(WORKFLOW, PATIENT, history, PROTOCOL, CLINIC).model_dump() == state.model_dump()


def assert_declared(before: WorkflowState, event_type: str, after: WorkflowState) -> None:
    """A stage change, or under a hold a change of the stage it returns to, is one the transition table declares."""
    if after.stage != before.stage:
        returned = after.stage == before.paused_from and declared(before.stage, event_type, STAGE_LEFT)
        assert declared(before.stage, event_type, after.stage) or returned, (
            f"undeclared stage change: {before.stage} --{event_type}--> {after.stage}")
        label(f"stage change: {before.stage} --{event_type}--> {after.stage}")
    elif after.paused_from != before.paused_from:
        assert declared(before.paused_from, event_type, after.paused_from), (
            f"undeclared change under a hold: {before.paused_from} --{event_type}--> {after.paused_from}")
        label(f"under a hold: {before.paused_from} --{event_type}--> {after.paused_from}")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.booleans(), st.lists(st.one_of(actions, pathway_actions, pathway_actions), min_size=20, max_size=60))
def test_every_stage_change_is_declared_in_the_transition_table(from_referral, steps):
    if from_referral:
        state, now, history = referral(SHORT_INDUCTION)
    else:
        state, now, history = opening(SHORT_INDUCTION, observe=assert_declared)
    state = walk(steps, state, now, history, SHORT_INDUCTION, observe=assert_declared)
    assert replay(WORKFLOW, PATIENT, history, SHORT_INDUCTION, CLINIC).model_dump() == state.model_dump()
