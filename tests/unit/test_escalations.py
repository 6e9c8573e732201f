"""The escalation ladder of PROTOCOL.md §6 and the safety items of §4 that raise escalations."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from pathway_helpers import (
    CRITICAL_BP,
    ELEVATED_BP,
    MEDICAL_DIRECTOR,
    ON_CALL,
    PATIENT_NAME,
    PatientDriver,
    cssrs,
    dosed,
    in_induction,
    phq9,
)

from config.clinic import build_clinic
from workflows.effects import SendMessage
from workflows.rota import Rota, RotaLine

CLINIC_MANAGER = "+15555550192"
STAFF_ALERT = re.compile(r"^carepath: patient #\S{1,8} needs follow-up \([a-z -]+\)\. Worklist: \S+$")
FORBIDDEN_IN_STAFF_SMS = ("ketamine", "esketamine", "spravato", "mg", "phq", "pcl", "cssrs", "c-ssrs", "gad", "ptsd",
                          "suicid", "score", "blood pressure", "depress", "185", "110", PATIENT_NAME.lower())


def submit(patient: PatientDriver, instrument: str, answers, role: str = "clinician"):
    return patient.post("assessment.submitted", {"instrument": instrument, "answers": answers}, role=role)


def high_risk(patient: PatientDriver):
    return submit(patient, "cssrs", cssrs(q1=True, q2=True, q4=True))


# --- one open escalation per reason -------------------------------------------------------------------------------


def test_a_repeat_updates_the_open_escalation_instead_of_raising_another():
    patient = dosed("iv_ketamine")
    patient.advance(minutes=20)
    patient.bp("s1", "post_dose", CRITICAL_BP)
    first = patient.escalation("bp_critical")
    patient.advance(minutes=10)
    patient.bp("s1", "post_dose", CRITICAL_BP)
    assert len(patient.escalations("bp_critical")) == 1
    updated = patient.escalation("bp_critical")
    assert updated.id == first.id
    assert updated.count == 2
    assert updated.updated_at == patient.now and updated.raised_at == first.raised_at
    assert updated.ack_deadline == first.ack_deadline  # the clock keeps running from the first raise
    assert len(patient.staff_alerts()) == 1  # the on-call clinician is paged once


def test_a_new_urgent_cause_reopens_an_acknowledged_escalation_and_pages_again():
    patient = in_induction()
    submit(patient, "phq9", phq9(item9=1))
    patient.post("escalation.acknowledged", {"escalation": "phq9_item9", "by": "Dr. Berg"})
    assert f"escalation:{patient.escalation('phq9_item9').id}" not in patient.state.timers
    decision = submit(patient, "phq9", phq9(item9=2))
    assert len(patient.escalations("phq9_item9")) == 1
    reopened = patient.escalation("phq9_item9")
    assert (reopened.count, reopened.status, reopened.acknowledged_at) == (2, "open", None)
    assert f"escalation:{reopened.id}" in patient.state.timers
    assert [m.kind for m in decision.of_type(SendMessage)] == ["staff_alert"]


def test_after_resolving_the_same_reason_opens_a_new_escalation():
    patient = in_induction()
    submit(patient, "phq9", phq9(item9=1))
    first = patient.escalation("phq9_item9")
    patient.post("escalation.resolved", {"escalation": first.id, "by": "Dr. Berg", "note": "called, safe"})
    submit(patient, "phq9", phq9(item9=1))
    escalations = patient.escalations("phq9_item9")
    assert [e.status for e in escalations] == ["resolved", "open"]
    assert escalations[1].id != first.id and escalations[1].count == 1


# --- urgent: one hour, then the medical director ----------------------------------------------------------------


def test_urgent_unacknowledged_after_60_minutes_goes_to_the_medical_director():
    patient = in_induction()
    decision = submit(patient, "phq9", phq9(item9=1))
    raised_at = patient.now
    escalation = patient.escalation("phq9_item9")
    assert (escalation.severity, escalation.tier, escalation.owner_role) == ("urgent", 1, "clinician")
    assert escalation.ack_deadline == raised_at + timedelta(minutes=60)
    [alert] = decision.of_type(SendMessage)
    assert (alert.kind, alert.to, alert.urgent, alert.escalation) == ("staff_alert", ON_CALL, True, escalation.id)
    patient.advance(minutes=59)
    assert patient.escalation("phq9_item9").tier == 1
    patient.advance(minutes=1)
    escalation = patient.escalation("phq9_item9")
    assert (escalation.tier, escalation.owner_role, escalation.status) == (2, "medical_director", "open")
    at, alert = patient.staff_alerts()[-1]
    assert (at, alert.to, alert.recipient, alert.urgent) == (raised_at + timedelta(minutes=60), MEDICAL_DIRECTOR,
                                                             "medical_director", True)
    # An urgent item pages the medical director once; it stays on the worklist without repeating.
    assert f"escalation:{escalation.id}" not in patient.state.timers
    count = len(patient.staff_alerts())
    patient.advance(hours=3)
    assert len(patient.staff_alerts()) == count


def test_bp_hold_follows_the_urgent_ladder():
    patient = in_induction("iv_ketamine")
    patient.advance_to(patient.session("s1").start)
    patient.post("session.arrived", {"session": "s1"})
    patient.bp("s1", "pre_dose", ELEVATED_BP)
    patient.bp("s1", "pre_dose", ELEVATED_BP)
    patient.advance(minutes=60)
    hold = patient.escalation("bp_hold")
    assert (hold.tier, hold.owner_role) == (2, "medical_director")
    assert [m.to for _, m in patient.staff_alerts()] == [ON_CALL, MEDICAL_DIRECTOR]


def test_routine_unacknowledged_goes_to_the_clinic_manager_after_one_business_day():
    clinic = build_clinic(staff={"on_call": ON_CALL, "medical_director": MEDICAL_DIRECTOR, "clinic_manager": CLINIC_MANAGER})
    patient = PatientDriver(clinic=clinic).plan("iv_ketamine")
    start = patient.schedule("s1")
    patient.advance_to(start - timedelta(hours=24))
    task = patient.escalation("confirmation_missing")
    assert (task.severity, task.tier) == ("routine", 1)
    assert patient.staff_alerts() == []  # routine items are worklist only
    patient.post("session.confirmed", {"session": "s1"})
    # A routine item left open: the no-show task.
    patient.advance_to(start + timedelta(minutes=30))
    no_show = patient.escalation("no_show")
    patient.advance_to(no_show.ack_deadline)
    no_show = patient.escalation("no_show")
    assert (no_show.tier, no_show.owner_role) == (2, "clinic_manager")
    assert [m.to for _, m in patient.staff_alerts()] == [CLINIC_MANAGER]


# --- emergency: page at once, then every 15 minutes until acknowledged -----------------------------------------


def test_cssrs_high_is_an_emergency_with_a_safety_hold_and_an_immediate_page():
    patient = in_induction()
    decision = high_risk(patient)
    assert patient.stage == "paused" and patient.state.paused_from == "induction"
    emergency = patient.escalation("cssrs_high")
    assert (emergency.severity, emergency.tier, emergency.status) == ("emergency", 1, "open")
    assert emergency.ack_deadline == patient.now + timedelta(minutes=15)
    alerts = [m for m in decision.of_type(SendMessage) if m.kind == "staff_alert"]
    assert [m.to for m in alerts] == [ON_CALL]
    assert "elevated_risk" in patient.state.active_flags(patient.now)


def test_an_emergency_left_open_when_the_patient_withdraws_keeps_paging_until_acknowledged():
    # Found by the property test (issue #16): closing the workflow cancelled every timer, ladders included, so a
    # C-SSRS high raised just before a withdrawal paged the on-call once and nobody after.
    patient = in_induction()
    high_risk(patient)
    raised_at = patient.now
    patient.post("patient.withdrew", {"reason": "moving away"})
    assert patient.stage == "withdrawn" and patient.escalation("cssrs_high").status == "open"
    patient.advance(minutes=31)
    pages = [(at - raised_at, m.to) for at, m in patient.staff_alerts()]
    assert pages == [(timedelta(0), ON_CALL), (timedelta(minutes=15), MEDICAL_DIRECTOR),
                     (timedelta(minutes=30), MEDICAL_DIRECTOR)]
    patient.post("escalation.acknowledged", {"escalation": patient.escalation("cssrs_high").id})
    patient.advance(minutes=60)
    assert len(patient.staff_alerts()) == 3, "acknowledged: the ladder stops"
    assert patient.escalation_timers() == {}


def test_emergency_goes_to_tier_2_after_15_minutes_and_repeats_every_15_until_acknowledged():
    patient = in_induction()
    high_risk(patient)
    raised_at = patient.now
    patient.advance(minutes=14)
    assert patient.escalation("cssrs_high").tier == 1
    patient.advance(minutes=1)
    emergency = patient.escalation("cssrs_high")
    assert (emergency.tier, emergency.owner_role) == (2, "medical_director")
    patient.advance(minutes=30)
    pages = [(at - raised_at, m.to) for at, m in patient.staff_alerts()]
    assert pages == [
        (timedelta(0), ON_CALL),
        (timedelta(minutes=15), MEDICAL_DIRECTOR),
        (timedelta(minutes=30), MEDICAL_DIRECTOR),
        (timedelta(minutes=45), MEDICAL_DIRECTOR),
    ]
    keys = [m.dedupe_key for _, m in patient.staff_alerts()]
    assert len(set(keys)) == len(keys)  # each page is its own message, not deduplicated away
    patient.advance(minutes=5)
    patient.post("escalation.acknowledged", {"escalation": emergency.id, "by": "Dr. Director"}, role="clinician")
    acknowledged = patient.escalation("cssrs_high")
    assert (acknowledged.status, acknowledged.acknowledged_by, acknowledged.acknowledged_at) == (
        "acknowledged", "Dr. Director", patient.now)
    assert f"escalation:{emergency.id}" not in patient.state.timers
    patient.advance(hours=2)
    assert len(patient.staff_alerts()) == 4


@pytest.mark.parametrize(
    "answers",
    [
        cssrs(q1=True, q2=True, q4=True),
        cssrs(q1=True, q2=True, q5=True),
        cssrs(q1=True, q6=True, q6_recency="past_3_months"),
    ],
)
def test_every_high_cssrs_screen_is_an_emergency(answers):
    patient = in_induction()
    submit(patient, "cssrs", answers)
    assert patient.escalation("cssrs_high").severity == "emergency"
    assert patient.stage == "paused"


def test_an_emergency_before_treatment_pauses_and_resumes_the_stage_left():
    patient = PatientDriver()
    patient.schedule_evaluation()
    high_risk(patient)
    assert (patient.stage, patient.state.paused_from) == ("paused", "evaluation_scheduled")
    patient.post("safety.cleared", {"reason": "assessed", "clinician": "Dr. Berg"})
    assert patient.stage == "evaluation_scheduled"


def test_a_patient_may_submit_a_screen_that_escalates():
    patient = in_induction()
    submit(patient, "cssrs", cssrs(q1=True, q2=True, q4=True), role="patient")
    assert patient.escalation("cssrs_high").status == "open"


def test_cssrs_moderate_is_urgent_without_a_hold_and_low_is_routine():
    patient = in_induction()
    submit(patient, "cssrs", cssrs(q1=True, q6=True, q6_recency="lifetime"))
    moderate = patient.escalation("cssrs_moderate")
    assert (moderate.severity, moderate.owner_role) == ("urgent", "clinician")
    assert patient.stage == "induction"
    assert "elevated_risk" in patient.state.active_flags(patient.now)
    other = in_induction()
    submit(other, "cssrs", cssrs(q1=True))
    assert other.escalation("cssrs_low").severity == "routine"
    assert other.state.active_flags(other.now) == []
    assert other.staff_alerts() == []


# --- acknowledge and resolve --------------------------------------------------------------------------------------


def test_acknowledging_an_urgent_escalation_stops_the_ladder():
    patient = in_induction()
    submit(patient, "phq9", phq9(item9=2))
    patient.advance(minutes=30)
    patient.post("escalation.acknowledged", {"escalation": "phq9_item9"}, role="ops")
    assert f"escalation:{patient.escalation('phq9_item9').id}" not in patient.state.timers
    patient.advance(hours=2)
    escalation = patient.escalation("phq9_item9")
    assert (escalation.status, escalation.tier) == ("acknowledged", 1)
    assert [m.to for _, m in patient.staff_alerts()] == [ON_CALL]


def test_resolving_closes_with_a_note_and_stops_the_ladder():
    patient = in_induction()
    high_risk(patient)
    emergency = patient.escalation("cssrs_high")
    patient.advance(minutes=20)
    patient.post("escalation.resolved", {"escalation": emergency.id, "by": "Dr. Berg", "note": "seen in person"})
    resolved = patient.state.escalations[emergency.id]
    assert (resolved.status, resolved.note, resolved.resolved_by, resolved.resolved_at) == (
        "resolved", "seen in person", "Dr. Berg", patient.now)
    assert f"escalation:{emergency.id}" not in patient.state.timers
    count = len(patient.staff_alerts())
    patient.advance(hours=1)
    assert len(patient.staff_alerts()) == count
    assert patient.stage == "paused"  # resolving the item does not lift the safety hold


def test_acknowledge_and_resolve_refusals():
    patient = in_induction()
    submit(patient, "phq9", phq9(item9=1))
    patient.post("escalation.acknowledged", {"escalation": "phq9_item9"})
    error = patient.refuse("escalation.acknowledged", {"escalation": "phq9_item9"})
    assert (error.code, error.rule) == ("not_allowed", "escalation_open")
    patient.post("escalation.resolved", {"escalation": "phq9_item9", "note": "ok"})  # acknowledged → resolved
    escalation_id = patient.escalation("phq9_item9").id
    error = patient.refuse("escalation.resolved", {"escalation": escalation_id, "note": "again"})
    assert (error.code, error.rule) == ("not_allowed", "escalation_open")
    error = patient.refuse("escalation.acknowledged", {"escalation": "no-such-thing"})
    assert (error.code, error.rule) == ("not_found", "escalation_exists")
    error = patient.refuse("escalation.acknowledged", {"escalation": escalation_id}, role="patient")
    assert error.code == "forbidden"


def test_escalation_work_is_allowed_after_the_workflow_ends():
    patient = in_induction()
    submit(patient, "phq9", phq9(item9=1))
    patient.post("patient.withdrew", {"reason": "moved"})
    assert patient.escalation("phq9_item9").status == "open"  # stays on the worklist
    patient.post("escalation.resolved", {"escalation": "phq9_item9", "note": "referred locally"})
    assert patient.escalation("phq9_item9").status == "resolved"


# --- staff SMS content ------------------------------------------------------------------------------------------


def test_staff_alerts_carry_no_drug_name_score_or_clinical_detail():
    patient = dosed("esketamine")
    submit(patient, "phq9", [3] * 9)
    patient.advance(minutes=40)
    patient.bp("s1", "post_dose", CRITICAL_BP)
    high_risk(patient)
    patient.advance(hours=2)
    alerts = patient.staff_alerts()
    reasons = {patient.state.escalations[m.escalation].reason for _, m in alerts}
    assert reasons == {"phq9_item9", "bp_critical", "cssrs_high"}
    assert {m.to for _, m in alerts} == {ON_CALL, MEDICAL_DIRECTOR}
    for _, message in alerts:
        assert STAFF_ALERT.match(message.body), message.body
        lowered = message.body.lower().split("worklist:")[0]  # the link is ids only (a uuid may hold "185")
        for word in FORBIDDEN_IN_STAFF_SMS:
            assert word not in lowered, (word, message.body)
        assert len(message.body) <= 160
        assert patient.state.patient.phone not in message.body


# --- PHQ-9 item 9 -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("item9", [1, 2, 3])
def test_phq9_item9_above_zero_is_urgent_flags_elevated_risk_and_requests_a_cssrs(item9):
    patient = in_induction()
    submit(patient, "phq9", phq9(item9=item9))
    escalation = patient.escalation("phq9_item9")
    assert (escalation.severity, escalation.status, escalation.owner_role) == ("urgent", "open", "clinician")
    assert patient.staff_alerts()[-1][1].to == ON_CALL
    assert "elevated_risk" in patient.state.active_flags(patient.now)
    assert patient.state.flags["elevated_risk"] == patient.now + timedelta(days=30)
    assert patient.state.requested_instruments == ["cssrs"]
    assert patient.stage == "induction"  # urgent, not a safety hold
    # The requested C-SSRS, once submitted, is no longer outstanding.
    submit(patient, "cssrs", cssrs())
    assert patient.state.requested_instruments == []


def test_phq9_item9_zero_raises_nothing():
    patient = in_induction()
    submit(patient, "phq9", phq9(item9=0, others=3))
    assert patient.escalation("phq9_item9") is None
    assert patient.state.active_flags(patient.now) == []
    assert patient.state.requested_instruments == []


def test_elevated_risk_flag_lapses_after_30_days():
    patient = in_induction()
    submit(patient, "phq9", phq9(item9=1))
    assert "elevated_risk" not in patient.state.active_flags(patient.now + timedelta(days=30, seconds=1))


def test_a_second_item9_does_not_request_a_second_cssrs():
    patient = in_induction()
    submit(patient, "phq9", phq9(item9=1))
    submit(patient, "phq9", phq9(item9=1))
    assert patient.state.requested_instruments == ["cssrs"]


# --- #16: the C-SSRS a PHQ-9 item 9 > 0 requests is an open obligation on the worklist (PROTOCOL.md §4) ----------


def test_item9_above_zero_puts_the_requested_cssrs_on_the_clinicians_worklist_until_one_is_submitted():
    patient = in_induction()  # Monday 09:00 in New York, plus the days the builder took
    submit(patient, "phq9", phq9(item9=1))
    request = patient.escalation("cssrs_requested")
    assert (request.severity, request.owner_role, request.tier, request.status) == (
        "routine", "clinician", 1, "open")
    local_deadline = patient.local(request.ack_deadline)
    assert local_deadline.date() == patient.local(patient.now).date() and local_deadline.hour == 17, "same clinic day"
    alerted = {patient.state.escalations[m.escalation].reason for _, m in patient.staff_alerts()}
    assert alerted == {"phq9_item9"}, "one page for one answer: the request itself is a worklist item"
    submit(patient, "phq9", phq9(item9=2))
    assert [e.count for e in patient.escalations("cssrs_requested")] == [2], "one open request, updated"
    submit(patient, "cssrs", cssrs())
    assert patient.escalation("cssrs_requested").status == "resolved"
    assert patient.escalation("cssrs_requested").note == "C-SSRS submitted"
    assert patient.escalation("phq9_item9").status == "open", "the safety page stays for its owner"


def test_no_cssrs_request_without_item9_and_a_cssrs_alone_closes_nothing():
    patient = in_induction()
    submit(patient, "phq9", phq9(item9=0, others=3))
    submit(patient, "cssrs", cssrs(q1=True))  # an unrequested screener (low risk): its own review, no request item
    assert patient.escalations("cssrs_requested") == []
    assert patient.escalation("cssrs_low").status == "open"


def test_an_unanswered_cssrs_request_goes_to_tier_two_after_the_clinic_day():
    patient = in_induction()
    submit(patient, "phq9", phq9(item9=1))
    request = patient.escalation("cssrs_requested")
    patient.advance_to(request.ack_deadline - timedelta(minutes=1))
    assert patient.escalation("cssrs_requested").tier == 1
    patient.advance(minutes=1)
    assert (patient.escalation("cssrs_requested").tier, patient.escalation("cssrs_requested").owner_role) == (
        2, "clinic_manager")


# --- the rota: a page reaches whoever is on call at that moment ------------------------------------------------


@pytest.mark.parametrize(("hours_after_nine", "paged"), [(0, "+15555550190"), (10, "+15555550192")])
def test_a_page_goes_to_whoever_the_rota_has_on_call_at_that_moment(hours_after_nine: int, paged: str) -> None:
    clinic = build_clinic(staff={"medical_director": MEDICAL_DIRECTOR}, rota=Rota(lines=(
        RotaLine.model_validate({"role": "on_call", "phone": "+15555550190", "from": "08:00", "to": "18:00"}),
        RotaLine.model_validate({"role": "on_call", "phone": "+15555550192", "from": "18:00", "to": "08:00"}))))
    patient = PatientDriver(clinic=clinic)
    patient.advance(hours=hours_after_nine)  # from 09:00 in New York: by day, or at 19:00 (the night shift)
    submit(patient, "phq9", phq9(item9=1))
    patient.advance(minutes=60)  # unacknowledged: tier 2, the medical director (no rota line: the clinic's number)
    assert [m.to for _, m in patient.staff_alerts()] == [paged, MEDICAL_DIRECTOR]
