"""The transition table is the one declaration of stage changes: `Step.transition` refuses anything else."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pathway_helpers import CLINIC, PROTOCOL, PatientDriver, reach

from workflows import transitions
from workflows.events import make_event
from workflows.handlers import intake
from workflows.pathway import HANDLERS, mistyped
from workflows.stages import Stage
from workflows.step import Step
from workflows.transitions import STAGE_LEFT, TRANSITIONS, UndeclaredTransition, declared, entry_stage


def step_for(patient: PatientDriver, event_type: str, data: dict) -> Step:
    event = make_event(event_type, data, actor={"role": "clinician", "name": "d"})
    return Step(state=patient.state.model_copy(deep=True), event=event, now=patient.now, protocol=PROTOCOL,
                clinic=CLINIC)


def held(stage: str) -> PatientDriver:
    patient = reach(stage)
    patient.post("safety.hold", {"reason": "test"}, role="clinician")
    return patient


def test_a_declared_change_moves_the_workflow():
    step = step_for(reach("referred"), "evaluation.scheduled", {"start": "2026-03-10T15:00:00+00:00"})
    step.transition(Stage.EVALUATION_SCHEDULED)
    assert (step.state.stage, step.state.paused_from) == (Stage.EVALUATION_SCHEDULED, None)


def test_an_undeclared_change_is_refused_as_a_bug_and_changes_nothing():
    step = step_for(reach("referred"), "evaluation.scheduled", {"start": "2026-03-10T15:00:00+00:00"})
    before = step.state.model_dump()
    with pytest.raises(UndeclaredTransition, match="evaluation.scheduled may not move a workflow from referred to "
                                                   "maintenance"):
        step.transition(Stage.MAINTENANCE)
    assert step.state.model_dump() == before


def test_the_right_target_on_the_wrong_event_is_refused():
    step = step_for(reach("referred"), "safety.cleared", {"reason": "test"})
    with pytest.raises(UndeclaredTransition):
        step.transition(Stage.EVALUATION_SCHEDULED)


def test_staying_in_the_stage_is_no_change():
    step = step_for(reach("maintenance"), "review.completed", {"decision": "continue"})
    step.transition(Stage.MAINTENANCE)
    assert step.state.stage == Stage.MAINTENANCE


def test_pausing_remembers_the_stage_left_and_clearing_returns_to_it():
    step = step_for(reach("induction"), "safety.hold", {"reason": "test"})
    step.transition(Stage.PAUSED)
    assert (step.state.stage, step.state.paused_from) == (Stage.PAUSED, Stage.INDUCTION)
    cleared = Step(state=step.state, event=make_event("safety.cleared", {"reason": "ok"}), now=step.now,
                   protocol=PROTOCOL, clinic=CLINIC)
    cleared.transition(STAGE_LEFT)
    assert (cleared.state.stage, cleared.state.paused_from) == (Stage.INDUCTION, None)


def test_the_stage_left_is_only_returned_to_by_clearing_a_hold():
    step = step_for(held("induction"), "session.confirmed", {"session": "s1"})
    with pytest.raises(UndeclaredTransition):
        step.transition(STAGE_LEFT)


def test_under_a_hold_a_declared_change_moves_the_stage_the_hold_returns_to():
    patient = held("treatment_planned")
    step = step_for(patient, "session.scheduled", {"session": "s1", "start": patient.now + timedelta(days=3)})
    step.transition(Stage.INDUCTION)
    assert (step.state.stage, step.state.paused_from) == (Stage.PAUSED, Stage.INDUCTION)


def test_under_a_hold_an_undeclared_change_is_refused():
    patient = held("treatment_planned")
    step = step_for(patient, "session.scheduled", {"session": "s1", "start": patient.now + timedelta(days=3)})
    with pytest.raises(UndeclaredTransition, match="from treatment_planned to maintenance"):
        step.transition(Stage.MAINTENANCE)


def test_an_undeclared_change_in_a_handler_escapes_decide_as_a_bug_not_a_refusal(monkeypatch):
    patient = reach("referred")
    without = tuple(t for t in TRANSITIONS if t.event != "evaluation.scheduled")
    monkeypatch.setattr(transitions, "TRANSITIONS", without)
    with pytest.raises(UndeclaredTransition):
        patient.post("evaluation.scheduled", {"start": (patient.now + timedelta(days=2)).isoformat()})


def test_a_workflow_starts_in_the_stage_the_table_declares():
    assert entry_stage("referral.received") == Stage.REFERRED
    assert PatientDriver().stage == Stage.REFERRED
    with pytest.raises(UndeclaredTransition):
        entry_stage("session.scheduled")


def test_a_high_risk_screen_pauses_like_a_safety_hold():
    assert declared(Stage.INDUCTION, "assessment.submitted", Stage.PAUSED)
    assert declared(Stage.INDUCTION, "safety.hold", Stage.PAUSED)
    assert not declared(Stage.PAUSED, "safety.hold", Stage.PAUSED)
    assert not declared(Stage.DISCHARGED, "assessment.submitted", Stage.PAUSED)


def test_every_handler_takes_its_events_payload():
    assert mistyped(HANDLERS) == {}
    assert mistyped({"session.confirmed": intake.referral_received}) == {"session.confirmed": "referral_received"}
    assert mistyped({"safety.hold": intake.safety_hold}) == {}
