"""The unit of work on real SQLite and PostgreSQL: what each call writes, and what it must never write."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pathway_support import (
    CLINIC,
    CLINICIAN,
    DAY,
    PHQ9_ITEM9,
    PHQ9_MILD,
    PROTOCOLS,
    T0,
    assert_projections_match,
    count_events,
    ev,
    event_rows,
    hours,
    referral,
    replayed_state,
    row_counts,
    stored_history,
    timer_rows,
    to_treatment_planned,
    workflow_row,
)
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.pool import NullPool
from sqlmodel import Session

from models.db import make_engine, migrate
from models.store import Outcome, WorkflowStore
from models.tables import (
    AssessmentRecord,
    EscalationRecord,
    EventRecord,
    OutboxMessage,
    PatientRow,
    SessionRecord,
    TimerRecord,
)
from models.timer_batch import fire_due_timers
from models.timers import claim_due_timers, fire
from models.unit_of_work import run_committed
from workflows.effects import SaveEscalation, ScheduleTimer, SendMessage
from workflows.errors import Rejected
from workflows.events import dump_data
from workflows.pathway import decide, start
from workflows.stages import TIMER_EVENTS
from workflows.state import WorkflowState


def walk_through_first_session(pathway: WorkflowStore) -> tuple[str, list[Outcome]]:
    """Referral to the first esketamine session's discharge, checking the rows after every event."""
    engine = pathway.engine
    first = pathway.start(referral(key="ref-1"), T0)
    workflow_id = first.workflow_id
    session_start = T0 + 4 * DAY
    steps = [
        (ev("evaluation.scheduled", {"start": T0 + DAY}, key="eval-1"), T0 + hours(1), "evaluation_scheduled"),
        (ev("evaluation.completed", {"eligible": True, "route": "esketamine", "clinician": "Dr B", "weight_kg": 80},
            CLINICIAN), T0 + DAY, "treatment_planned"),
        (ev("session.scheduled", {"session": "s1", "start": session_start, "dose_mg": 56}, key="s1-book"),
         T0 + DAY + hours(0.5), "induction"),
        (ev("assessment.submitted", {"instrument": "phq9", "answers": PHQ9_ITEM9}), T0 + DAY + hours(1), "induction"),
        (ev("rems.enrolled", {"enrollment_id": "R-1"}), T0 + DAY + hours(2), "induction"),
        (ev("session.confirmed", {"session": "s1"}, {"role": "patient"}), T0 + 2 * DAY, "induction"),
        (ev("session.arrived", {"session": "s1"}), session_start, "induction"),
        (ev("vitals.recorded", {"session": "s1", "phase": "pre_dose", "systolic": 120, "diastolic": 80}, CLINICIAN,
            occurred_at=session_start + timedelta(minutes=3)), session_start + timedelta(minutes=5), "induction"),
        (ev("dose.administered", {"session": "s1", "ride_confirmed": True, "fasting_confirmed": True}, CLINICIAN),
         session_start + timedelta(minutes=10), "induction"),
        (ev("vitals.recorded", {"session": "s1", "phase": "post_dose", "systolic": 130, "diastolic": 85}, CLINICIAN),
         session_start + timedelta(minutes=50), "induction"),
        (ev("vitals.recorded", {"session": "s1", "phase": "pre_discharge", "systolic": 125, "diastolic": 80},
            CLINICIAN), session_start + timedelta(minutes=135), "induction"),
        (ev("session.discharged", {"session": "s1", "sedation_resolved": True, "dissociation_resolved": True},
            CLINICIAN), session_start + timedelta(minutes=140), "induction"),
    ]
    outcomes = [first]
    for number, (event, now, stage) in enumerate(steps, start=2):
        outcome = pathway.apply(workflow_id, event, now)
        assert (outcome.stage, outcome.duplicate) == (stage, False)
        workflow = workflow_row(engine, workflow_id)
        assert (workflow.version, workflow.stage, workflow.updated_at) == (number, stage, now)
        last = event_rows(engine, workflow_id)[-1]
        assert (last.id, last.seq, last.type, last.stage_after) == (outcome.event_id, number, event.type, stage)
        assert (last.occurred_at, last.recorded_at) == (event.occurred_at or now, now)
        assert (last.actor_role, last.actor_name, last.idempotency_key) == (
            event.actor.role, event.actor.name, event.idempotency_key)
        assert last.data == dump_data(event)
        assert_projections_match(engine, workflow_id)
        outcomes.append(outcome)
    return workflow_id, outcomes


# --- starting a workflow ----------------------------------------------------------------------------------------------


def test_start_writes_patient_workflow_event_timers_and_escalations(engine: Engine, pathway: WorkflowStore) -> None:
    event = referral(key="ref-start", prior_treatments=1)  # fewer than 2: a clinician review task too
    outcome = pathway.start(event, T0)

    assert (outcome.stage, outcome.duplicate) == ("referred", False)
    decision = start(outcome.workflow_id, outcome.patient_id, event, T0, pathway.protocols.current, pathway.clinic)
    assert row_counts(engine) == {"patients": 1, "workflows": 1, "events": 1, "sessions": 0, "assessments": 0,
                                  "timers": len(decision.of_type(ScheduleTimer)),
                                  "outbox": len(decision.of_type(SendMessage)),
                                  "escalations": len(decision.of_type(SaveEscalation))}
    with Session(engine) as db:
        patient = db.get(PatientRow, outcome.patient_id)
        assert (patient.name, patient.phone, patient.timezone, patient.date_of_birth, patient.sms_consent,
                patient.opted_out, patient.created_at) == (
            "Test Patient", "+15555550101", "America/New_York", date(1980, 5, 17), True, False, T0)

    workflow = workflow_row(engine, outcome.workflow_id)
    assert (workflow.patient_id, workflow.stage, workflow.version, workflow.protocol_version, workflow.start_key) == (
        outcome.patient_id, "referred", 1, "2026.11", "ref-start")
    assert (workflow.created_at, workflow.updated_at) == (T0, T0)
    assert workflow.state == decision.state.model_dump(mode="json")

    [record] = event_rows(engine, outcome.workflow_id)
    assert (record.id, record.seq, record.type, record.stage_after) == (outcome.event_id, 1, "referral.received",
                                                                       "referred")
    assert (record.actor_role, record.actor_name, record.idempotency_key) == ("coordinator", "Sam", "ref-start")
    assert (record.occurred_at, record.recorded_at) == (T0, T0)
    assert record.data == dump_data(event)

    scheduled = {e.key: e.timer for e in decision.of_type(ScheduleTimer)}
    assert len(scheduled) >= 2  # at least the two escalations' acknowledgement deadlines
    assert {t.key: (t.kind, t.due_at, t.status, t.data, t.created_at) for t in timer_rows(engine)} == {
        key: (timer.kind, timer.due_at, "pending", timer.data, T0) for key, timer in scheduled.items()
    }
    saved = {e.escalation.id: e.escalation for e in decision.of_type(SaveEscalation)}
    with Session(engine) as db:
        rows = db.execute(select(EscalationRecord)).scalars().all()
        assert {r.id: (r.reason, r.severity, r.status, r.owner_role, r.ack_deadline, r.patient_id) for r in rows} == {
            e.id: (e.reason, e.severity, e.status, e.owner_role, e.ack_deadline, outcome.patient_id)
            for e in saved.values()
        }
    assert {e.reason for e in saved.values()} == {"referral_contact", "treatment_resistance_review"}
    assert_projections_match(engine, outcome.workflow_id)


# --- applying events --------------------------------------------------------------------------------------------------


def test_apply_appends_events_bumps_version_and_keeps_projections(engine: Engine, pathway: WorkflowStore) -> None:
    workflow_id, outcomes = walk_through_first_session(pathway)

    events = event_rows(engine, workflow_id)
    assert [e.seq for e in events] == list(range(1, 14))
    assert [e.id for e in events] == [o.event_id for o in outcomes]
    assert [e.stage_after for e in events] == [str(o.stage) for o in outcomes]

    with Session(engine) as db:
        [session] = db.execute(select(SessionRecord)).scalars().all()
        assert (session.workflow_id, session.session_key, session.route, session.series, session.status) == (
            workflow_id, "s1", "esketamine", "induction", "discharged")
        assert (session.start, session.dose_mg, session.dosed_at, session.discharged_at) == (
            T0 + 4 * DAY, 56, T0 + 4 * DAY + timedelta(minutes=10), T0 + 4 * DAY + timedelta(minutes=140))

        [assessment] = db.execute(select(AssessmentRecord)).scalars().all()
        assert (assessment.workflow_id, assessment.event_id, assessment.instrument, assessment.total, assessment.band,
                assessment.at) == (workflow_id, outcomes[4].event_id, "phq9", 7, "mild", T0 + DAY + hours(1))
        assert "baseline" in assessment.flags

        # PHQ-9 item 9 paged the on-call clinician, tied to the event that raised it.
        [alert] = db.execute(select(OutboxMessage).where(OutboxMessage.kind == "staff_alert")).scalars().all()
        assert (alert.kind, alert.recipient, alert.to_phone, alert.urgent, alert.event_id, alert.status) == (
            "staff_alert", "clinician", "+15555550190", True, outcomes[4].event_id, "pending")

    state = assert_projections_match(engine, workflow_id)
    assert {"rems_form_reminder:s1", "rems_form_overdue:s1", f"escalation:{alert.escalation_id}"} <= set(state.timers)
    assert not [key for key in state.timers if key.startswith(("no_show:", "confirm:", "rems_enrollment:"))]


def test_session_rows_follow_each_status_change(engine: Engine, pathway: WorkflowStore) -> None:
    workflow_id = to_treatment_planned(pathway)

    def status() -> tuple[str, object]:
        with Session(engine) as db:
            row = db.execute(select(SessionRecord).where(SessionRecord.session_key == "s1")).scalars().one()
            return row.status, row.start

    start_at = T0 + 5 * DAY
    pathway.apply(workflow_id, ev("session.scheduled", {"session": "s1", "start": start_at}), T0 + DAY)
    assert status() == ("scheduled", start_at)
    pathway.apply(workflow_id, ev("session.confirmed", {"session": "s1"}), T0 + 2 * DAY)
    assert status() == ("confirmed", start_at)
    pathway.apply(workflow_id, ev("session.rescheduled", {"session": "s1", "start": start_at + DAY}), T0 + 2 * DAY)
    assert status() == ("scheduled", start_at + DAY)
    pathway.apply(workflow_id, ev("session.cancelled", {"session": "s1", "reason": "sick"}), T0 + 3 * DAY)
    assert status() == ("cancelled", start_at + DAY)
    assert_projections_match(engine, workflow_id)


# --- idempotency ------------------------------------------------------------------------------------------------------


def test_repeated_idempotency_key_returns_first_outcome_and_writes_nothing(engine: Engine, pathway: WorkflowStore) -> None:
    workflow_id = pathway.start(referral(), T0).workflow_id
    event = ev("evaluation.scheduled", {"start": T0 + DAY}, key="book-eval")
    first = pathway.apply(workflow_id, event, T0 + hours(1))
    before, version = row_counts(engine), workflow_row(engine, workflow_id).version

    again = pathway.apply(workflow_id, event, T0 + hours(2))

    assert again.duplicate is True
    assert (again.workflow_id, again.event_id, again.stage) == (first.workflow_id, first.event_id, first.stage)
    assert row_counts(engine) == before
    assert workflow_row(engine, workflow_id).version == version
    # The same key for a different event is a client bug, not a retry: refused, nothing written.
    with pytest.raises(Rejected) as refused:
        pathway.apply(workflow_id, ev("evaluation.scheduled", {"start": T0 + 3 * DAY}, key="book-eval"), T0 + DAY)
    assert refused.value.rule == "idempotency_key_reuse"
    assert row_counts(engine) == before


def test_repeated_start_key_returns_the_first_workflow(engine: Engine, pathway: WorkflowStore) -> None:
    first = pathway.start(referral(key="ref-77"), T0)
    before = row_counts(engine)

    again = pathway.start(referral(key="ref-77"), T0 + hours(1))

    assert again.duplicate is True
    assert (again.workflow_id, again.patient_id, again.event_id, again.stage) == (
        first.workflow_id, first.patient_id, first.event_id, "referred")
    assert row_counts(engine) == before
    # Still the first outcome after the workflow moved on; a different key starts a second workflow.
    pathway.apply(first.workflow_id, ev("evaluation.scheduled", {"start": T0 + DAY}), T0 + hours(2))
    moved = row_counts(engine)
    assert pathway.start(referral(key="ref-77"), T0 + hours(3)).stage == "referred"
    assert row_counts(engine) == moved
    other = pathway.start(referral(key="ref-78"), T0 + hours(3))
    assert other.workflow_id != first.workflow_id and not other.duplicate


def test_timer_event_fired_twice_applies_once(engine: Engine, pathway: WorkflowStore) -> None:
    workflow_id = pathway.start(referral(), T0).workflow_id
    [claimed] = run_committed(engine, claim_due_timers, T0 + 10 * DAY)
    fire(pathway, claimed, T0 + 10 * DAY)
    after_first = row_counts(engine)
    version = workflow_row(engine, workflow_id).version

    fire(pathway, claimed, T0 + 10 * DAY + hours(1))  # e.g. a scheduler that crashed after applying, before marking

    assert row_counts(engine) == after_first
    assert workflow_row(engine, workflow_id).version == version == 2
    assert count_events(engine, "escalation.deadline_passed") == 1
    [row] = timer_rows(engine, workflow_id)
    assert (row.status, row.fired_at) == ("fired", T0 + 10 * DAY)
    assert fire_due_timers(pathway, T0 + 20 * DAY) == 0


# --- rejection --------------------------------------------------------------------------------------------------------


def test_rejected_event_writes_nothing(engine: Engine, pathway: WorkflowStore) -> None:
    workflow_id = pathway.start(referral(), T0).workflow_id
    before, workflow = row_counts(engine), workflow_row(engine, workflow_id)

    refused = [
        (ev("dose.administered", {"session": "s1"}, CLINICIAN, key="k1"), "not_allowed"),  # not in stage referred
        (ev("evaluation.scheduled", {"start": T0 - DAY}, key="k2"), "invalid_data"),  # a handler's rule
        (ev("safety.hold", {"reason": "x"}, key="k3"), "forbidden"),  # a coordinator may not
        (referral(key="k4"), "not_allowed"),  # a started workflow does not start again
    ]
    for event, code in refused:
        with pytest.raises(Rejected) as info:
            pathway.apply(workflow_id, event, T0 + hours(1))
        assert info.value.code == code
        assert row_counts(engine) == before
        now = workflow_row(engine, workflow_id)
        assert (now.version, now.stage, now.state, now.updated_at) == (
            workflow.version, workflow.stage, workflow.state, workflow.updated_at)

    # A refused event does not use up its idempotency key: the corrected event goes through with it.
    fixed = pathway.apply(workflow_id, ev("evaluation.scheduled", {"start": T0 + DAY}, key="k2"), T0 + hours(1))
    assert (fixed.duplicate, fixed.stage) == (False, "evaluation_scheduled")
    assert workflow_row(engine, workflow_id).version == 2


def test_rejected_clinical_gate_writes_nothing(engine: Engine, pathway: WorkflowStore) -> None:
    workflow_id = to_treatment_planned(pathway)
    start_at = T0 + 3 * DAY
    pathway.apply(workflow_id, ev("session.scheduled", {"session": "s1", "start": start_at}), T0 + DAY)
    pathway.apply(workflow_id, ev("session.arrived", {"session": "s1"}), start_at)
    before, workflow = row_counts(engine), workflow_row(engine, workflow_id)

    with pytest.raises(Rejected) as info:  # no pre-dose blood pressure, no REMS enrollment
        pathway.apply(workflow_id, ev("dose.administered", {"session": "s1", "dose_mg": 56, "ride_confirmed": True,
                                                            "fasting_confirmed": True}, CLINICIAN), start_at)
    assert (info.value.code, info.value.rule) == ("rule", "bp_pre_dose")
    assert row_counts(engine) == before
    assert workflow_row(engine, workflow_id).state == workflow.state


def test_unknown_workflow_and_wrong_first_event_write_nothing(engine: Engine, pathway: WorkflowStore) -> None:
    with pytest.raises(Rejected) as info:
        pathway.apply("00000000-0000-0000-0000-000000000000", ev("evaluation.scheduled", {"start": T0 + DAY}), T0)
    assert info.value.code == "not_found"

    with pytest.raises(Rejected) as info:
        pathway.start(ev("evaluation.scheduled", {"start": T0 + DAY}, key="x"), T0)
    assert info.value.code == "not_allowed"
    assert sum(row_counts(engine).values()) == 0


# --- timers -----------------------------------------------------------------------------------------------------------


def fire_and_check(pathway: WorkflowStore, workflow_id: str, now) -> list[TimerRecord]:
    """Fire what is due at `now`, checking it fired exactly the due rows; returns the rows it fired."""
    engine = pathway.engine
    before = {t.id: t for t in timer_rows(engine, workflow_id)}
    due = {i for i, t in before.items() if t.status == "pending" and t.due_at <= now}
    events_before = count_events(engine, *TIMER_EVENTS.values())

    fired = fire_due_timers(pathway, now)

    after = {t.id: t for t in timer_rows(engine, workflow_id)}
    newly_fired = [t for i, t in after.items() if t.status == "fired" and before.get(i, t).status != "fired"]
    assert fired == len(newly_fired) == count_events(engine, *TIMER_EVENTS.values()) - events_before
    assert due <= {t.id for t in newly_fired}, "every due timer fires"
    assert all(t.due_at <= now and t.claimed_at == now and t.fired_at == now for t in newly_fired)
    for i, t in before.items():
        if t.status == "cancelled":  # cancelled rows are never claimed or fired
            assert (after[i].status, after[i].claimed_at, after[i].fired_at) == ("cancelled", None, None)
        if t.status == "pending" and t.due_at > now:  # future rows stay pending, unless the firing cancelled them
            assert after[i].status in ("pending", "cancelled")
    assert_projections_match(engine, workflow_id)
    return newly_fired


def test_fire_due_timers_fires_due_leaves_future_and_skips_cancelled(engine: Engine, pathway: WorkflowStore) -> None:
    workflow_id = to_treatment_planned(pathway)  # its referral_contact deadline (due T0 + 2 days) was cancelled
    old_start, new_start = T0 + 5 * DAY, T0 + 8 * DAY
    pathway.apply(workflow_id, ev("session.scheduled", {"session": "s1", "start": old_start}), T0 + DAY)
    old_rows = {t.id: t for t in timer_rows(engine, workflow_id) if t.status == "pending" and t.session_key == "s1"}
    assert {"no_show:s1", "confirm:s1", "rems_enrollment:s1"} <= {t.key for t in old_rows.values()}

    pathway.apply(workflow_id, ev("session.rescheduled", {"session": "s1", "start": new_start}), T0 + DAY + hours(1))

    rows = {t.id: t for t in timer_rows(engine, workflow_id)}
    assert {rows[i].status for i in old_rows} == {"cancelled"}, "a rescheduled session's old timer rows are cancelled"
    state = assert_projections_match(engine, workflow_id)
    assert {k: state.timers[k].due_at for k in ("no_show:s1", "confirm:s1", "rems_enrollment:s1")} == {
        "no_show:s1": new_start + timedelta(minutes=30), "confirm:s1": new_start - DAY,
        "rems_enrollment:s1": new_start - 2 * DAY}
    cancelled = {i for i, t in rows.items() if t.status == "cancelled"}

    # Every old (cancelled) row is overdue by now; of the live ones, the REMS enrollment check is due, not the rest.
    now = new_start - 2 * DAY + timedelta(minutes=1)
    assert all(rows[i].due_at <= now for i in old_rows if rows[i].key != "no_show:s1")
    fired = fire_and_check(pathway, workflow_id, now)
    assert "rems_enrollment:s1" in {t.key for t in fired}
    assert {t.id for t in timer_rows(engine, workflow_id) if t.status == "cancelled"} == cancelled
    assert count_events(engine, "rems.enrollment_check_due") == 1
    assert count_events(engine, "session.no_show", "session.confirmation_due") == 0
    state = assert_projections_match(engine, workflow_id)
    [escalation] = [e for e in state.escalations.values() if e.reason == "rems_enrollment_missing"]
    assert {"no_show:s1", "confirm:s1", f"escalation:{escalation.id}"} <= set(state.timers)

    assert fire_due_timers(pathway, now) == 0  # nothing more is due

    # A day later: the unacknowledged escalation's deadline (now + 60 min) and the confirmation check are due.
    later = new_start - DAY + timedelta(minutes=1)
    fired = fire_and_check(pathway, workflow_id, later)
    assert {"confirm:s1", f"escalation:{escalation.id}"} <= {t.key for t in fired}
    state = assert_projections_match(engine, workflow_id)
    assert state.escalations[escalation.id].tier == 2
    assert "no_show:s1" in state.timers and count_events(engine, "session.no_show") == 0


def test_fire_due_timers_fires_every_overdue_timer_in_due_order(engine: Engine, pathway: WorkflowStore) -> None:
    workflow_id = to_treatment_planned(pathway)
    # Booked less than 48 h ahead: the REMS enrollment check is due at once.
    start_at = T0 + DAY + hours(30)
    pathway.apply(workflow_id, ev("session.scheduled", {"session": "s1", "start": start_at}), T0 + DAY)
    far = start_at + 3 * DAY
    version = workflow_row(engine, workflow_id).version

    fired = fire_and_check(pathway, workflow_id, far)

    assert {"rems_enrollment:s1", "confirm:s1", "no_show:s1"} <= {t.key for t in fired}
    timer_events = event_rows(engine, workflow_id)[version:]
    assert len(timer_events) == len(fired)
    due_times = [e.data["due_at"] for e in timer_events]
    assert due_times == sorted(due_times), "fired in due order"
    state = assert_projections_match(engine, workflow_id)
    assert state.sessions["s1"].status == "no_show"
    # The escalations they raised run their clocks from the firing time, so none is due yet.
    assert {"rems_enrollment_missing", "no_show"} <= {e.reason for e in state.escalations.values() if e.status == "open"}
    assert state.timers and all(t.due_at > far for t in state.timers.values())
    assert fire_due_timers(pathway, far) == 0


def test_claim_takes_at_most_limit_due_timers_earliest_first(engine: Engine, pathway: WorkflowStore) -> None:
    for i in range(5):  # two escalation deadlines each, a day apart
        pathway.start(referral(prior_treatments=1, phone=f"+1555555{i:04d}"), T0 + hours(i))
    pathway.start(referral(phone="+15555550999"), T0 + 30 * DAY)  # not due
    now = T0 + 10 * DAY
    due = sorted((t.due_at, t.id) for t in timer_rows(engine) if t.due_at <= now)
    assert len(due) == 10

    batches = [run_committed(engine, claim_due_timers, now, limit=3) for _ in range(5)]

    assert [len(b) for b in batches] == [3, 3, 3, 1, 0]
    assert [c.timer.due_at for b in batches for c in b] == [d for d, _ in due]
    assert {c.id for b in batches for c in b} == {i for _, i in due}
    assert sorted(t.status for t in timer_rows(engine)) == ["claimed"] * 10 + ["pending"]


def test_claimed_timer_of_a_rescheduled_session_fires_as_a_no_op(engine: Engine, pathway: WorkflowStore) -> None:
    workflow_id = to_treatment_planned(pathway)
    start_at = T0 + 3 * DAY
    pathway.apply(workflow_id, ev("rems.enrolled", {}), T0 + DAY)
    pathway.apply(workflow_id, ev("session.scheduled", {"session": "s1", "start": start_at}), T0 + DAY)
    pathway.apply(workflow_id, ev("session.confirmed", {"session": "s1"}), T0 + 2 * DAY)
    fire_due_timers(pathway, start_at + timedelta(minutes=29))  # everything due before the no-show check
    now = start_at + timedelta(minutes=31)
    [claimed] = run_committed(engine, claim_due_timers, now)
    assert claimed.key == "no_show:s1"
    # A person moves the session while the scheduler holds the claimed no-show timer.
    pathway.apply(workflow_id, ev("session.rescheduled", {"session": "s1", "start": now + DAY}), now)
    before = WorkflowState.model_validate(workflow_row(engine, workflow_id).state)

    fire(pathway, claimed, now)

    after = assert_projections_match(engine, workflow_id)
    assert after.sessions["s1"].status == "scheduled"
    assert after.sessions == before.sessions and after.timers == before.timers
    stale = [t for t in timer_rows(engine, workflow_id) if t.key == "no_show:s1"]
    assert sorted(t.status for t in stale) == ["fired", "pending"]


# --- replay -----------------------------------------------------------------------------------------------------------


def test_replaying_the_stored_events_rebuilds_the_stored_state(engine: Engine, pathway: WorkflowStore) -> None:
    workflow_id, _ = walk_through_first_session(pathway)
    # Refused and repeated events leave no trace to replay.
    with pytest.raises(Rejected):
        pathway.apply(workflow_id, ev("evaluation.scheduled", {"start": T0 + 9 * DAY}), T0 + 5 * DAY)
    pathway.apply(workflow_id, ev("evaluation.scheduled", {"start": T0 + DAY}, key="eval-1"), T0 + 5 * DAY)
    pathway.apply(workflow_id, ev("assessment.submitted", {"instrument": "phq9", "answers": PHQ9_MILD}), T0 + 6 * DAY)
    fire_due_timers(pathway, T0 + 20 * DAY)  # escalation ladders, REMS form reminder and overdue, ...
    assert count_events(engine, "rems.form_due", "rems.form_overdue") == 2

    stored = workflow_row(engine, workflow_id)
    rebuilt = replayed_state(engine, workflow_id)

    assert rebuilt.model_dump(mode="json") == stored.state
    assert rebuilt == WorkflowState.model_validate(stored.state)
    assert_projections_match(engine, workflow_id)

    # Folding start/decide by hand gives, after each event, the stage its row recorded.
    protocol = pathway.protocols.get(stored.protocol_version)
    rows = sorted(event_rows(engine, workflow_id), key=lambda r: r.seq)
    state = None
    for (event, now), row in zip(stored_history(engine, workflow_id), rows, strict=True):
        if state is None:
            state = start(workflow_id, stored.patient_id, event, now, protocol, pathway.clinic).state
        else:
            state = decide(state, event, now, protocol, pathway.clinic).state
        assert state.stage == row.stage_after
    assert state == rebuilt


def test_escalation_rows_keep_the_latest_version(engine: Engine, pathway: WorkflowStore) -> None:
    workflow_id = pathway.start(referral(), T0).workflow_id
    state = WorkflowState.model_validate(workflow_row(engine, workflow_id).state)
    [escalation_id] = state.escalations
    pathway.apply(workflow_id, ev("escalation.acknowledged", {"escalation": escalation_id, "by": "Sam"}), T0 + hours(1))
    pathway.apply(workflow_id, ev("escalation.resolved", {"escalation": escalation_id, "note": "called"}),
                  T0 + hours(2))
    with Session(engine) as db:
        [row] = db.execute(select(EscalationRecord)).scalars().all()
        assert (row.status, row.acknowledged_by, row.resolved_by, row.note, row.resolved_at) == (
            "resolved", "Sam", "Sam", "called", T0 + hours(2))
        assert db.execute(select(TimerRecord.status)).scalars().all() == ["cancelled"]
    assert_projections_match(engine, workflow_id)


def drop_every_connection(engine: Engine) -> None:
    """What a database restart does to a pool: every connection it holds is closed by the server (from outside it)."""
    admin = create_engine(engine.url, poolclass=NullPool)
    with admin.connect() as conn:
        dropped = conn.exec_driver_sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                                       " WHERE datname = current_database() AND pid <> pg_backend_pid()").scalar()
    admin.dispose()
    assert dropped >= 1, "the pool held no connection to drop"


@pytest.mark.postgres
def test_after_the_database_dropped_its_connections_an_event_with_a_key_is_applied_once(fresh_postgres_url: str) -> None:
    """No ping before each unit of work: the first statement on a dropped connection fails, and the store tries once
    more on a fresh one. A coordinator's click goes through, once."""
    migrate(fresh_postgres_url)
    engine = make_engine(fresh_postgres_url)
    pathway = WorkflowStore(engine, PROTOCOLS, CLINIC)
    workflow_id = pathway.start(referral(key="ref-drop"), T0).workflow_id
    drop_every_connection(engine)

    outcome = pathway.apply(workflow_id, ev("assessment.submitted", {"instrument": "phq9", "answers": PHQ9_MILD},
                                            key="phq9-after-drop"), T0 + DAY)

    assert not outcome.duplicate
    assert count_events(engine, "assessment.submitted") == 1
    assert workflow_row(engine, workflow_id).version == 2
    assert_projections_match(engine, workflow_id)
    engine.dispose()


def test_a_unit_of_work_left_without_commit_writes_nothing_even_when_it_only_flushed(engine: Engine,
                                                                                     pathway: WorkflowStore) -> None:
    """Read-only units of work end in COMMIT (cheaper on PostgreSQL); one that wrote anything still rolls back."""
    workflow_id = pathway.start(referral(), T0).workflow_id
    before = row_counts(engine)
    with pathway.unit_of_work() as uow:
        pathway.apply_in(uow, workflow_id, ev("assessment.submitted", {"instrument": "phq9", "answers": PHQ9_MILD}),
                         T0 + DAY)  # flushed, never committed
    with pathway.unit_of_work() as uow:
        assert uow.db.get(type(workflow_row(engine, workflow_id)), workflow_id).version == 1  # read only
    assert row_counts(engine) == before
    assert workflow_row(engine, workflow_id).version == 1


def test_after_commit_callbacks_run_once_the_commit_is_done_and_see_what_it_wrote(engine: Engine,
                                                                                  pathway: WorkflowStore) -> None:
    """The hand-off to Celery posts ids after the commit: a task taking them finds the rows there."""
    seen: list[int] = []
    with pathway.unit_of_work() as uow:
        started = pathway.start_in(uow, referral(), T0)
        uow.after_commit(lambda: seen.append(count_events_of(engine, started.workflow_id)))
        assert seen == []  # not before the commit
        uow.commit()
        assert seen == [1]  # at once after it, from another connection: committed
    assert seen == [1]  # and only once


def test_after_commit_callbacks_do_not_run_when_the_unit_of_work_rolls_back(engine: Engine,
                                                                            pathway: WorkflowStore) -> None:
    ran: list[str] = []
    with pytest.raises(Rejected), pathway.unit_of_work() as uow:
        uow.after_commit(lambda: ran.append("refused"))
        pathway.apply_in(uow, "no-such-workflow", ev("assessment.submitted", {"instrument": "phq9",
                                                                              "answers": PHQ9_MILD}), T0)
    with pathway.unit_of_work() as uow:
        uow.after_commit(lambda: ran.append("left uncommitted"))
        pathway.start_in(uow, referral(), T0)
    with pathway.unit_of_work() as uow:
        uow.after_commit(lambda: ran.append("read only, never committed"))
    assert ran == []


def test_a_failing_after_commit_callback_leaves_the_commit_and_the_other_callbacks(engine: Engine,
                                                                                   pathway: WorkflowStore) -> None:
    ran: list[str] = []
    with pathway.unit_of_work() as uow:
        started = pathway.start_in(uow, referral(), T0)
        uow.after_commit(lambda: 1 / 0)
        uow.after_commit(lambda: ran.append("second"))
        uow.commit()
    assert ran == ["second"]
    assert count_events_of(engine, started.workflow_id) == 1


def count_events_of(engine: Engine, workflow_id: str) -> int:
    with Session(engine) as db:
        return len(db.execute(select(EventRecord.id).where(EventRecord.workflow_id == workflow_id)).all())
