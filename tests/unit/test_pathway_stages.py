"""Stage transitions of PROTOCOL.md §2, refusals that name the stage and the allowed events, and who may post what."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from pathway_helpers import (
    CLINIC,
    PROTOCOL,
    T0,
    PatientDriver,
    dosed,
    in_induction,
    reach,
    through_induction,
)

from workflows.errors import Rejected
from workflows.events import make_event
from workflows.pathway import decide, start
from workflows.stages import ACTIVE, FINAL, NON_FINAL, allowed_events
from workflows.state import OPEN_SESSION, SessionStatus

NY = ZoneInfo("America/New_York")
NON_FINAL_STAGES = sorted(stage.value for stage in NON_FINAL)
ACTIVE_STAGES = sorted(stage.value for stage in ACTIVE)
HOLD = {"reason": "clinical concern", "clinician": "Dr. Berg"}


def assert_final(patient: PatientDriver, stage: str) -> None:
    """A final stage: no timer left running (but the ladder of an item still open), no session or appointment
    left open."""
    assert patient.stage == stage
    ladders = {f"escalation:{e.id}" for e in patient.state.escalations.values() if e.status == "open"
                   and e.severity in ("urgent", "emergency")}
    assert set(patient.state.timers) <= ladders
    assert patient.state.paused_from is None
    for session in patient.state.sessions.values():
        assert session.status not in OPEN_SESSION and session.status != SessionStatus.ARRIVED
    assert all(a.status not in ("scheduled", "confirmed") for a in patient.state.appointments.values())


# --- referral and evaluation ----------------------------------------------------------------------------------------


def test_referral_starts_in_referred_with_a_contact_task_due_in_two_business_days():
    patient = PatientDriver()
    assert patient.stage == "referred"
    task = patient.escalation("referral_contact")
    assert (task.severity, task.owner_role, task.status) == ("routine", "coordinator", "open")
    assert task.ack_deadline == T0 + timedelta(days=2)  # Monday 09:00 → Wednesday 09:00
    assert patient.state.flags == {}


def test_urgent_referral_contact_is_due_the_same_day():
    patient = PatientDriver(urgency="urgent")
    # 17:00 in New York on the day of the referral.
    assert patient.escalation("referral_contact").ack_deadline == T0.replace(hour=22)


def test_a_referral_over_a_weekend_skips_to_business_days():
    friday = T0 + timedelta(days=4)
    patient = PatientDriver(now=friday)
    deadline = patient.escalation("referral_contact").ack_deadline.astimezone(NY)
    # Friday 09:00 → Tuesday 09:00 local, across the weekend (and the switch to daylight saving time).
    assert (deadline.date().isoformat(), deadline.hour) == ("2026-03-10", 9)


@pytest.mark.parametrize("prior", [0, 1])
def test_low_prior_treatments_is_accepted_but_flagged_for_clinician_review(prior):
    patient = PatientDriver(prior_treatments=prior)
    assert patient.stage == "referred"
    assert "low_prior_treatments" in patient.state.active_flags(patient.now)
    review = patient.escalation("treatment_resistance_review")
    assert (review.owner_role, review.severity, review.status) == ("clinician", "routine", "open")


def test_two_prior_treatments_is_not_flagged():
    patient = PatientDriver(prior_treatments=2)
    assert patient.state.flags == {}
    assert patient.escalation("treatment_resistance_review") is None


def test_evaluation_scheduled_moves_on_and_closes_the_contact_task():
    patient = PatientDriver()
    patient.schedule_evaluation()
    assert patient.stage == "evaluation_scheduled"
    assert patient.escalation("referral_contact").status == "resolved"
    assert patient.state.appointments["evaluation"].kind == "evaluation"
    assert patient.escalation_timers() == {}


def test_evaluation_in_the_past_is_refused():
    patient = PatientDriver()
    error = patient.refuse("evaluation.scheduled", {"start": patient.now - timedelta(hours=1)})
    assert (error.code, error.rule) == ("invalid_data", "start_in_future")


@pytest.mark.parametrize("route", ["esketamine", "iv_ketamine", "im_ketamine"])
def test_eligible_evaluation_plans_treatment_on_the_route(route):
    patient = PatientDriver().plan(route)
    assert patient.stage == "treatment_planned"
    assert patient.state.route == route
    assert patient.state.appointments["evaluation"].status == "completed"


def test_not_eligible_evaluation_declines_and_is_final():
    patient = PatientDriver()
    patient.schedule_evaluation()
    patient.advance(days=1)  # the booked start
    patient.post("evaluation.completed", {"eligible": False, "clinician": "Dr. Berg", "reason": "psychosis"})
    assert_final(patient, "declined")
    error = patient.refuse("evaluation.scheduled", {"start": patient.now + timedelta(days=1)})
    assert error.code == "not_allowed"


def test_eligible_with_a_contraindication_is_a_contradiction():
    with pytest.raises(Rejected) as info:
        make_event("evaluation.completed", {"eligible": True, "route": "esketamine", "clinician": "Dr. Berg",
                                            "contraindications": ["uncontrolled_hypertension"]})
    assert info.value.code == "invalid_data"
    assert "contradiction" in str(info.value)


def test_eligible_needs_a_route():
    with pytest.raises(Rejected) as info:
        make_event("evaluation.completed", {"eligible": True, "clinician": "Dr. Berg"})
    assert info.value.code == "invalid_data"


# --- induction, review, maintenance -----------------------------------------------------------------------------


def test_first_session_scheduled_starts_induction():
    patient = PatientDriver().plan("esketamine")
    patient.schedule("s1")
    assert patient.stage == "induction"
    assert patient.session("s1").series == "induction"
    assert patient.session("s1").status == SessionStatus.SCHEDULED


def test_esketamine_induction_ends_after_eight_discharged_sessions():
    patient = PatientDriver().plan("esketamine")
    patient.post("rems.enrolled", {"enrollment_id": "REMS-1"})
    for number in range(1, 8):
        patient.complete_session(f"s{number}")
        assert patient.stage == "induction"
    assert patient.escalation("response_review") is None
    patient.complete_session("s8")
    assert patient.stage == "response_review"
    review = patient.escalation("response_review")
    assert (review.status, review.owner_role) == ("open", "clinician")


@pytest.mark.parametrize("route", ["iv_ketamine", "im_ketamine"])
def test_ketamine_induction_ends_after_six_discharged_sessions(route):
    patient = PatientDriver().plan(route)
    for number in range(1, 6):
        patient.complete_session(f"s{number}")
    assert patient.stage == "induction"
    patient.complete_session("s6")
    assert patient.stage == "response_review"
    assert patient.escalation("response_review").status == "open"


def test_cancelled_no_show_and_held_sessions_do_not_count_toward_induction():
    patient = PatientDriver().plan("iv_ketamine")
    for number in range(1, 6):
        patient.complete_session(f"s{number}")
    # A cancelled one, a no-show and a BP hold: none of them counts.
    patient.schedule("x1", days=1)
    patient.post("session.cancelled", {"session": "x1", "reason": "patient ill"})
    start_at = patient.schedule("x2", days=1)
    patient.advance_to(start_at + timedelta(minutes=31))
    assert patient.session("x2").status == SessionStatus.NO_SHOW
    patient.arrive("x3", days=1)
    patient.bp("x3", "pre_dose", (150, 95))
    patient.bp("x3", "pre_dose", (150, 95))
    assert patient.session("x3").status == SessionStatus.HELD
    assert patient.stage == "induction"
    patient.complete_session("s6")
    assert patient.stage == "response_review"


def test_review_continue_moves_to_maintenance_and_closes_the_review_task():
    patient = through_induction("iv_ketamine")
    patient.post("review.completed", {"decision": "continue", "clinician": "Dr. Berg"})
    assert patient.stage == "maintenance"
    assert patient.escalation("response_review").status == "resolved"
    # Maintenance sessions are booked in the maintenance series.
    patient.schedule("m1")
    assert patient.session("m1").series == "maintenance"
    assert patient.stage == "maintenance"


def test_review_discharge_ends_care():
    patient = through_induction("iv_ketamine")
    patient.post("review.completed", {"decision": "discharge", "clinician": "Dr. Berg"})
    assert_final(patient, "discharged")
    assert patient.escalation("response_review").status == "resolved"


def test_maintenance_review_discharge_ends_care():
    patient = reach("maintenance", "iv_ketamine")
    patient.schedule("m1")
    patient.post("review.completed", {"decision": "continue", "clinician": "Dr. Berg"})
    assert patient.stage == "maintenance"
    patient.post("review.completed", {"decision": "discharge", "clinician": "Dr. Berg"})
    assert_final(patient, "discharged")
    assert patient.session("m1").status == SessionStatus.CANCELLED


# --- safety hold --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ACTIVE_STAGES)
def test_safety_hold_pauses_and_clearing_returns_to_the_stage_left(stage):
    patient = reach(stage, "iv_ketamine")
    patient.post("safety.hold", HOLD)
    assert patient.stage == "paused"
    assert patient.state.paused_from == stage
    patient.post("safety.cleared", HOLD)
    assert patient.stage == stage
    assert patient.state.paused_from is None


def test_paused_blocks_dosing_but_keeps_sessions_on_the_calendar():
    patient = PatientDriver().plan("iv_ketamine").arrive("s1")
    patient.post("safety.hold", HOLD)
    assert patient.session("s1").status == SessionStatus.ARRIVED
    patient.bp("s1", "pre_dose")
    error = patient.refuse("dose.administered", {"session": "s1", "fasting_confirmed": True})
    assert (error.code, error.stage) == ("not_allowed", "paused")
    assert "dose.administered" not in error.allowed


def test_safety_hold_twice_is_refused_and_cleared_needs_a_hold():
    patient = reach("paused")
    error = patient.refuse("safety.hold", HOLD)
    assert (error.code, error.stage) == ("not_allowed", "paused")
    patient.post("safety.cleared", HOLD)
    error = patient.refuse("safety.cleared", HOLD)
    assert (error.code, error.stage) == ("not_allowed", "induction")


def test_a_first_session_booked_during_a_hold_resumes_into_induction():
    patient = PatientDriver().plan("iv_ketamine")
    patient.post("safety.hold", HOLD)
    patient.schedule("s1")
    assert (patient.stage, patient.state.paused_from) == ("paused", "induction")
    patient.post("safety.cleared", HOLD)
    assert patient.stage == "induction"
    patient.advance_to(patient.session("s1").start)
    patient.post("session.arrived", {"session": "s1"})
    patient.dose_now("s1")
    assert patient.session("s1").status == SessionStatus.DOSED


def test_induction_completing_while_paused_resumes_into_response_review():
    patient = PatientDriver().plan("iv_ketamine")
    for number in range(1, 6):
        patient.complete_session(f"s{number}")
    patient.arrive("s6")
    patient.dose_now("s6")
    patient.post("safety.hold", HOLD)
    patient.monitor_and_discharge("s6")
    assert patient.stage == "paused"
    patient.post("safety.cleared", HOLD)
    assert patient.stage == "response_review"


# --- #16: in maintenance PCL-5 and PHQ-9 fall due every 4 weeks (PROTOCOL.md §2) ----------------------------------

PCL5 = {"instrument": "pcl5", "answers": [1] * 20}
PHQ9 = {"instrument": "phq9", "answers": [1] * 8 + [0]}


def in_maintenance() -> PatientDriver:
    patient = through_induction("iv_ketamine")
    patient.post("review.completed", {"decision": "continue", "clinician": "Dr. Berg"})
    assert patient.stage == "maintenance"
    return patient


def test_in_maintenance_each_questionnaire_falls_due_4_weeks_on_and_a_submission_restarts_its_clock():
    patient = in_maintenance()
    entered = patient.now
    assert {key: t.due_at for key, t in patient.state.timers.items() if t.kind == "assessment_due"} == {
        "assessment_due:pcl5": entered + timedelta(days=28), "assessment_due:phq9": entered + timedelta(days=28)}
    patient.advance_to(entered + timedelta(days=28))
    for reason in ("pcl5_due", "phq9_due"):
        item = patient.escalation(reason)
        assert (item.status, item.severity, item.owner_role, item.raised_at) == (
            "open", "routine", "coordinator", entered + timedelta(days=28))
    assert set(patient.state.requested_instruments) == {"pcl5", "phq9"}
    patient.advance(days=1)
    patient.post("assessment.submitted", PCL5)
    assert patient.escalation("pcl5_due").status == "resolved"
    assert patient.escalation("phq9_due").status == "open", "each instrument is its own obligation"
    assert patient.state.requested_instruments == ["phq9"]
    assert patient.state.timers["assessment_due:pcl5"].due_at == patient.now + timedelta(days=28)
    patient.advance(days=27)  # PHQ-9 still unsubmitted: due again 4 weeks after it first fell due, the same item
    assert [e.count for e in patient.escalations("phq9_due")] == [2]


def test_a_questionnaire_submitted_within_4_weeks_does_not_fall_due_and_none_fall_due_before_maintenance():
    patient = through_induction("iv_ketamine")
    patient.post("assessment.submitted", PCL5)  # the response review's PCL-5: no clock before maintenance
    assert not [t for t in patient.state.timers.values() if t.kind == "assessment_due"]
    patient.post("review.completed", {"decision": "continue", "clinician": "Dr. Berg"})
    patient.advance(days=27, hours=23)
    patient.post("assessment.submitted", PCL5)
    patient.post("assessment.submitted", PHQ9)
    patient.advance(days=27)
    assert patient.escalations("pcl5_due") == [] and patient.escalations("phq9_due") == []
    patient.post("review.completed", {"decision": "continue", "clinician": "Dr. Berg"})  # keeps the clocks as they are
    patient.advance(days=1, minutes=-59)
    assert patient.escalations("pcl5_due") == []
    patient.advance(hours=1)
    assert patient.escalation("pcl5_due").status == "open"
    patient.post("review.completed", {"decision": "discharge", "clinician": "Dr. Berg"})
    assert patient.escalation("pcl5_due").status == "resolved" and patient.state.timers == {}


# --- #16: sessions held by a safety hold reach the coordinators' worklist (PROTOCOL.md §2) --------------------------


def paused_items(patient: PatientDriver) -> dict[str, str]:
    """Each session's `paused_session` item: session → status."""
    return {e.session: e.status for e in patient.escalations("paused_session")}


def test_a_safety_hold_puts_each_booked_session_on_the_coordinators_worklist():
    patient = PatientDriver().plan("iv_ketamine")
    patient.complete_session("s1", days=1)  # discharged: not held, nothing to rebook
    patient.schedule("s2", days=2)
    patient.schedule("s3", days=4)
    patient.post("session.confirmed", {"session": "s3"})
    patient.post("safety.hold", HOLD)
    assert paused_items(patient) == {"s2": "open", "s3": "open"}
    item = patient.escalation("paused_session")
    assert (item.severity, item.owner_role, item.tier) == ("routine", "coordinator", 1)
    patient.schedule("s4", days=6)  # booked during the hold: on the worklist too, its reminders suspended as well
    assert paused_items(patient) == {"s2": "open", "s3": "open", "s4": "open"}
    patient.post("session.cancelled", {"session": "s3", "reason": "rebook after the hold"})
    assert paused_items(patient)["s3"] == "resolved"
    assert not [m for m in patient.to_patient() if m.kind == "session_reminder" and m.drop_reason is None
                and m.session in ("s2", "s4")], "the held sessions' reminders stay suspended"
    patient.post("safety.cleared", HOLD)
    assert paused_items(patient) == {"s2": "resolved", "s3": "resolved", "s4": "resolved"}


def test_a_safety_hold_with_no_booked_session_puts_nothing_on_the_worklist():
    patient = PatientDriver().plan("iv_ketamine")
    patient.complete_session("s1", days=1)
    patient.schedule("s2", days=2)
    patient.post("session.cancelled", {"session": "s2"})
    patient.post("safety.hold", HOLD)
    assert patient.escalations("paused_session") == []
    patient.post("safety.cleared", HOLD)
    patient.schedule("s3", days=2)  # booked after the hold: an ordinary session with its reminders
    assert patient.escalations("paused_session") == []


def test_a_high_risk_cssrs_pause_lists_the_booked_sessions_too():
    patient = in_induction("iv_ketamine")
    patient.post("assessment.submitted", {"instrument": "cssrs", "answers": {"q1": True, "q2": True, "q3": False,
                                                                              "q4": True, "q5": False, "q6": False}})
    assert patient.stage == "paused"
    assert paused_items(patient) == {"s1": "open"}


# --- withdraw and discharge from anywhere ---------------------------------------------------------------------------


@pytest.mark.parametrize("stage", NON_FINAL_STAGES)
@pytest.mark.parametrize(("event_type", "final"), [("patient.withdrew", "withdrawn"), ("workflow.discharged", "discharged")])
def test_withdraw_or_discharge_from_any_non_final_stage(stage, event_type, final):
    patient = reach(stage, "iv_ketamine")
    if stage in ("induction", "maintenance", "paused"):
        patient.schedule("extra", days=2)  # an open session to be cancelled
    patient.post(event_type, {"reason": "moving away", "clinician": "Dr. Berg"})
    assert_final(patient, final)
    # Nothing runs afterwards, however far the clock moves.
    assert patient.advance(days=30) == []


def test_closing_cancels_an_arrived_session_and_its_timers():
    patient = PatientDriver().plan("esketamine").arrive("s1")
    patient.schedule("s2", days=4)
    patient.post("patient.withdrew", {"reason": "changed mind"})
    assert_final(patient, "withdrawn")
    assert patient.session("s1").status == SessionStatus.CANCELLED
    assert patient.session("s2").status == SessionStatus.CANCELLED


def test_closing_is_refused_while_a_patient_is_dosed_in_the_chair():
    patient = dosed("iv_ketamine")
    error = patient.refuse("workflow.discharged", {"reason": "done", "clinician": "Dr. Berg"})
    assert error.rule == "session_open"


@pytest.mark.parametrize("final", ["declined", "withdrawn", "discharged"])
def test_final_stages_refuse_further_care(final):
    patient = PatientDriver()
    patient.schedule_evaluation()
    if final == "declined":
        patient.advance(days=1)  # the booked start
        patient.post("evaluation.completed", {"eligible": False, "clinician": "Dr. Berg", "reason": "not suitable"})
    elif final == "withdrawn":
        patient.post("patient.withdrew", {"reason": "moved"})
    else:
        patient.post("workflow.discharged", {"reason": "referred elsewhere", "clinician": "Dr. Berg"})
    assert patient.stage == final
    for event_type, data in [
        ("patient.withdrew", {"reason": "again"}),
        ("workflow.discharged", {"reason": "again"}),
        ("assessment.submitted", {"instrument": "phq9", "answers": [0] * 9}),
        ("safety.hold", HOLD),
        ("rems.enrolled", {"enrollment_id": "R"}),
    ]:
        error = patient.refuse(event_type, data)
        assert (error.code, error.stage) == ("not_allowed", final)
        assert event_type not in error.allowed


# --- refusals name the stage and the allowed events ---------------------------------------------------------------


NOT_ALLOWED = [
    ("referred", "session.scheduled", {"session": "s1", "start": T0 + timedelta(days=5)}),
    ("referred", "evaluation.completed", {"eligible": True, "route": "esketamine", "clinician": "Dr. B"}),
    ("evaluation_scheduled", "evaluation.scheduled", {"start": T0 + timedelta(days=5)}),
    ("evaluation_scheduled", "dose.administered", {"session": "s1"}),
    ("treatment_planned", "review.completed", {"decision": "continue"}),
    ("treatment_planned", "safety.cleared", HOLD),
    ("induction", "evaluation.completed", {"eligible": False, "clinician": "Dr. B", "reason": "x"}),
    ("induction", "therapy.scheduled", {"appointment": "t1", "start": T0 + timedelta(days=30)}),
    ("paused", "dose.administered", {"session": "s1"}),
    ("paused", "review.completed", {"decision": "discharge"}),
]


@pytest.mark.parametrize(("stage", "event_type", "data"), NOT_ALLOWED)
def test_event_not_allowed_in_stage_is_refused_naming_stage_and_allowed_events(stage, event_type, data):
    patient = reach(stage)
    error = patient.refuse(event_type, data)
    assert error.code == "not_allowed"
    assert error.stage == stage
    assert error.rule == "stage_allows_event"
    assert error.allowed == tuple(sorted(allowed_events(stage)))
    assert event_type not in error.allowed
    text = str(error)
    assert stage in text and event_type in text


def test_a_refused_event_leaves_the_input_state_unchanged():
    patient = dosed("esketamine")
    state = patient.state
    before = state.model_dump()
    event = make_event("session.discharged", {"session": "s1", "sedation_resolved": True, "dissociation_resolved": True},
                       actor={"role": "clinician", "name": "Dr. Berg"})
    with pytest.raises(Rejected):
        decide(state, event, patient.now, PROTOCOL, CLINIC)
    assert state.model_dump() == before
    # An accepted event does not change its input either: decide returns a new state.
    decide(state, make_event("vitals.recorded", {"session": "s1", "phase": "post_dose", "systolic": 120, "diastolic": 80},
                             actor={"role": "clinician"}), patient.now, PROTOCOL, CLINIC)
    assert state.model_dump() == before


def test_a_started_workflow_refuses_a_second_referral():
    patient = PatientDriver()
    event = make_event("referral.received", {"patient": {"name": "X", "phone": "+15555550102", "sms_consent": False},
                                             "referrer": "Dr. A", "prior_treatments": 3}, actor={"role": "coordinator"})
    with pytest.raises(Rejected) as info:
        decide(patient.state, event, patient.now, PROTOCOL, CLINIC)
    assert (info.value.code, info.value.stage) == ("not_allowed", "referred")


def test_a_workflow_must_start_with_a_referral():
    event = make_event("rems.enrolled", {"enrollment_id": "R"}, actor={"role": "coordinator"})
    with pytest.raises(Rejected) as info:
        start("00000000-0000-0000-0000-000000000001", "p9", event, T0, PROTOCOL, CLINIC)
    assert info.value.code == "not_allowed"


# --- roles --------------------------------------------------------------------------------------------------------


def test_a_coordinator_may_not_post_a_dose():
    patient = PatientDriver().plan("iv_ketamine").arrive("s1")
    patient.bp("s1", "pre_dose")
    error = patient.refuse("dose.administered", {"session": "s1", "fasting_confirmed": True}, role="coordinator")
    assert error.code == "forbidden"
    assert error.rule == "role_may_post"
    assert error.stage == "induction"


@pytest.mark.parametrize(
    ("stage", "event_type", "data", "role"),
    [
        ("evaluation_scheduled", "evaluation.completed", {"eligible": False, "clinician": "x", "reason": "y"},
         "coordinator"),
        ("induction", "vitals.recorded", {"session": "s1", "phase": "pre_dose", "systolic": 120, "diastolic": 80},
         "coordinator"),
        ("induction", "safety.hold", HOLD, "coordinator"),
        ("induction", "safety.hold", HOLD, "ops"),
        ("induction", "session.arrived", {"session": "s1"}, "patient"),
        ("induction", "workflow.discharged", {"reason": "x"}, "coordinator"),
        ("referred", "evaluation.scheduled", {"start": T0 + timedelta(days=1)}, "ops"),
    ],
)
def test_roles_are_enforced(stage, event_type, data, role):
    patient = reach(stage)
    error = patient.refuse(event_type, data, role=role)
    assert error.code == "forbidden"
    assert role in str(error)


def test_admin_may_post_anything_allowed_in_the_stage():
    patient = in_induction()
    patient.post("safety.hold", HOLD, role="admin")
    assert patient.stage == "paused"


def test_people_cannot_post_timer_events():
    patient = in_induction()
    timer_key = "no_show:s1"
    due = patient.state.timers[timer_key].due_at
    error = patient.refuse("session.no_show", {"key": timer_key, "due_at": due}, role="clinician")
    assert (error.code, error.rule) == ("not_allowed", "system_event")


def test_stage_sets_are_consistent():
    assert FINAL.isdisjoint(NON_FINAL)
    assert "paused" not in ACTIVE
