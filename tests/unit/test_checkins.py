"""Check-ins after a discharged session and the missed check-in ladder (PROTOCOL.md §5 Check-ins, §6 Missed check-in)."""

from datetime import date, timedelta

import pytest
from pathway_helpers import ON_CALL, PROTOCOL, PatientDriver, cssrs, discharged, local_at, phq9

from config.protocol import load_protocol
from workflows.effects import SendMessage
from workflows.messages import Pending, recheck

LA, SYDNEY, NY = "America/Los_Angeles", "Australia/Sydney", "America/New_York"
RULES = PROTOCOL.messaging
SAT = date(2026, 3, 7)  # discharged() leaves s1 discharged on Friday 6 March, 11:00 New York
STRICT = load_protocol(overrides={"messaging": {"strict_fcc": True}})


def checkin_sent(patient: PatientDriver) -> SendMessage:
    patient.advance_to(patient.state.timers["checkin:s1"].due_at)
    (message,) = patient.to_patient("checkin")
    return message


def at_risk(assessment: str) -> PatientDriver:
    """Treatment planned, with an elevated-risk screen on file, then s1 dosed and discharged."""
    patient = PatientDriver().plan("esketamine")
    patient.post("rems.enrolled", {"enrollment_id": "REMS-1"})
    if assessment == "phq9_item9":
        patient.post("assessment.submitted", {"instrument": "phq9", "answers": phq9(item9=1)})
    else:
        patient.post("assessment.submitted", {"instrument": "cssrs", "answers": cssrs(q1=True, q2=True, q3=True)})
    assert "elevated_risk" in patient.state.active_flags(patient.now)
    return patient.complete_session("s1")


def staff_alerts_at(patient: PatientDriver, when) -> list[SendMessage]:
    return [m for at, m in patient.staff_alerts() if at == when]


# --- the check-in ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("zone, expected", [
    (None, local_at(SAT, 10, zone=NY)),
    (LA, local_at(SAT, 10, zone=LA)),
    # 11:00 Friday in New York is 03:00 Saturday in Sydney: the day after that is Sunday there.
    (SYDNEY, local_at(date(2026, 3, 8), 10, zone=SYDNEY)),
])
def test_the_checkin_goes_at_10_00_patient_local_the_day_after_discharge(zone, expected):
    patient = discharged(patient={"timezone": zone} if zone else {})
    assert patient.session("s1").status == "discharged"
    assert patient.state.timers["checkin:s1"].due_at == expected
    message = checkin_sent(patient)
    assert message.not_before == expected and message.drop_reason is None
    assert message.automated and not message.urgent
    assert message.expires_at == expected + timedelta(hours=24)
    assert message.body.startswith(patient.clinic.name)
    assert "from 0 (worst) to 10 (best)? Reply with a number." in message.body
    assert message.body.endswith(patient.clinic.catalog.crisis_line)
    assert patient.state.open_question.kind == "checkin"
    assert patient.state.checkins["s1"].sent_at == expected


@pytest.mark.parametrize("route", ["iv_ketamine", "im_ketamine"])
def test_every_route_gets_a_checkin(route):
    patient = discharged(route)
    assert checkin_sent(patient).not_before == local_at(SAT, 10)


def test_no_reply_in_6_hours_gets_one_nudge():
    patient = discharged()
    sent = checkin_sent(patient)
    patient.advance_to(sent.not_before + timedelta(hours=12))
    (nudge,) = patient.to_patient("checkin_nudge")
    assert nudge.not_before == local_at(SAT, 16) and nudge.drop_reason is None
    assert nudge.expires_at == sent.not_before + timedelta(hours=24)
    assert nudge.body.endswith(patient.clinic.catalog.crisis_line)
    assert patient.escalation("checkin_missed") is None


def test_no_reply_in_24_hours_is_an_urgent_escalation_for_the_coordinator_with_the_on_call_paged():
    patient = discharged()
    sent = checkin_sent(patient)
    missed_at = sent.not_before + timedelta(hours=24)
    patient.advance_to(missed_at)
    escalation = patient.escalation("checkin_missed")
    assert (escalation.severity, escalation.owner_role, escalation.tier, escalation.session) == (
        "urgent", "coordinator", 1, "s1")
    assert escalation.raised_at == missed_at
    (alert,) = staff_alerts_at(patient, missed_at)
    assert alert.to == ON_CALL and "missed check-in" in alert.body
    assert len(patient.to_patient("checkin_nudge")) == 1, "one nudge, not one per hour"


def test_a_nudge_is_dropped_at_send_time_when_the_patient_answered_meanwhile():
    patient = discharged()
    sent = checkin_sent(patient)
    patient.advance_to(sent.not_before + timedelta(hours=6))
    (nudge,) = patient.to_patient("checkin_nudge")
    patient.text("8")
    pending = Pending(kind=nudge.kind, recipient="patient", automated=True, urgent=False, subject=nudge.subject,
                      subject_start=None, expires_at=nudge.expires_at)
    verdict = recheck(patient.state, pending, patient.now, RULES)
    assert (verdict.action, verdict.reason) == ("drop", "cancelled")


# --- elevated risk ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("assessment", ["phq9_item9", "cssrs_moderate"])
def test_elevated_risk_skips_the_nudge_and_goes_to_the_clinician_after_6_hours(assessment):
    patient = at_risk(assessment)
    sent = checkin_sent(patient)
    assert "checkin_nudge:s1" not in patient.state.timers
    missed = patient.state.timers["checkin_missed:s1"]
    assert missed.due_at == sent.not_before + timedelta(hours=6) and missed.data == {"elevated": True}
    patient.advance_to(sent.not_before + timedelta(hours=6))
    escalation = patient.escalation("checkin_missed")
    assert (escalation.severity, escalation.owner_role, escalation.status) == ("urgent", "clinician", "open")
    assert [m.to for m in staff_alerts_at(patient, patient.now)] == [ON_CALL]
    patient.advance(days=2)
    assert patient.to_patient("checkin_nudge") == []


def test_the_elevated_risk_flag_lasts_30_days_then_the_normal_ladder_returns():
    patient = PatientDriver().plan("esketamine")
    patient.post("rems.enrolled", {"enrollment_id": "REMS-1"})
    patient.post("assessment.submitted", {"instrument": "phq9", "answers": phq9(item9=2)})
    flagged_until = patient.state.flags["elevated_risk"]
    assert flagged_until == patient.now + timedelta(days=30)
    patient.advance(days=28)
    patient.complete_session("s1")  # discharged on day 31: the check-in comes after the flag expired
    sent = checkin_sent(patient)
    assert sent.not_before > flagged_until
    assert "elevated_risk" not in patient.state.active_flags(patient.now)
    assert patient.state.timers["checkin_missed:s1"].data == {"elevated": False}
    assert patient.state.timers["checkin_nudge:s1"].due_at == sent.not_before + timedelta(hours=6)
    patient.advance_to(sent.not_before + timedelta(hours=24))
    assert len(patient.to_patient("checkin_nudge")) == 1
    assert patient.escalation("checkin_missed").owner_role == "coordinator"


def test_a_screen_older_than_30_days_does_not_count_but_a_new_one_does():
    patient = PatientDriver().plan("esketamine")
    patient.post("rems.enrolled", {"enrollment_id": "REMS-1"})
    patient.post("assessment.submitted", {"instrument": "cssrs", "answers": cssrs(q1=True, q6=True,
                                                                                   q6_recency="lifetime")})
    patient.advance(days=31)
    patient.post("assessment.submitted", {"instrument": "phq9", "answers": phq9(item9=0)})
    assert patient.state.active_flags(patient.now) == []
    patient.post("assessment.submitted", {"instrument": "phq9", "answers": phq9(item9=1)})
    patient.complete_session("s1")
    checkin_sent(patient)
    assert "checkin_nudge:s1" not in patient.state.timers


# --- a reply ends the ladder ------------------------------------------------------------------------------------------


def test_a_reply_before_the_nudge_cancels_the_nudge_and_the_missed_check():
    patient = discharged()
    checkin_sent(patient)
    patient.advance(hours=2)
    patient.text("9")
    assert not [k for k in patient.state.timers if k.startswith(("checkin_nudge", "checkin_missed"))]
    patient.advance(days=3)
    assert patient.to_patient("checkin_nudge") == [] and patient.escalation("checkin_missed") is None


def test_a_reply_after_the_nudge_cancels_the_missed_check():
    patient = discharged()
    sent = checkin_sent(patient)
    patient.advance_to(sent.not_before + timedelta(hours=7))
    patient.text("5")
    assert "checkin_missed:s1" not in patient.state.timers
    patient.advance(days=2)
    assert patient.escalation("checkin_missed") is None


def test_a_late_reply_after_the_escalation_still_records_and_closes_it():
    patient = at_risk("phq9_item9")
    sent = checkin_sent(patient)
    patient.advance_to(sent.not_before + timedelta(hours=8))
    assert patient.escalation("checkin_missed").status == "open"
    patient.text("6")
    assert patient.state.checkins["s1"].score == 6
    assert patient.escalation("checkin_missed").status == "resolved"


def test_a_reply_to_an_elevated_risk_checkin_cancels_its_missed_check():
    patient = at_risk("cssrs_moderate")
    checkin_sent(patient)
    patient.text("7")
    patient.advance(days=2)
    assert patient.escalation("checkin_missed") is None


# --- when the check-in cannot go ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["no_consent", "opted_out"])
def test_no_sms_means_a_call_task_and_no_ladder(how):
    patient = discharged(patient={"sms_consent": how != "no_consent"})
    if how == "opted_out":
        patient.text("STOP")
    sent = checkin_sent(patient)
    assert sent.drop_reason == how
    task = patient.escalation("call_patient")
    assert task.status == "open" and task.session == "s1"
    assert "s1" not in patient.state.checkins
    assert not [k for k in patient.state.timers if k.startswith(("checkin_nudge", "checkin_missed"))]
    patient.advance(days=2)
    assert patient.escalation("checkin_missed") is None


def test_a_checkin_held_back_by_the_cap_counts_its_ladder_from_when_it_leaves():
    patient = discharged()
    # Three 72-hour reminders go out on Saturday at 09:00, 09:15 and 09:30 (Tuesday's visits, after the DST change):
    # the check-in due at 10:00 is the fourth automated message of that day and waits for Sunday 08:00.
    for number, minute in ((2, 0), (3, 15), (4, 30)):
        patient.post("session.scheduled", {"session": f"s{number}", "start": local_at(date(2026, 3, 10), 10, minute)})
    sent = checkin_sent(patient)
    sunday_8 = local_at(date(2026, 3, 8), 8)
    assert sent.not_before == sunday_8 and sent.drop_reason is None
    assert patient.state.checkins["s1"].sent_at == sunday_8
    assert patient.state.timers["checkin_nudge:s1"].due_at == sunday_8 + timedelta(hours=6)
    assert patient.state.timers["checkin_missed:s1"].due_at == sunday_8 + timedelta(hours=24)


def test_a_checkin_dropped_by_the_strict_weekly_cap_starts_no_ladder_but_a_call():
    patient = discharged(protocol=STRICT)
    sent = checkin_sent(patient)
    assert sent.drop_reason == "cap", "three messages already this week"
    assert "s1" not in patient.state.checkins
    assert not [k for k in patient.state.timers if k.startswith(("checkin_nudge", "checkin_missed"))]
    assert patient.state.open_question is None or patient.state.open_question.kind != "checkin"
    assert patient.escalation("call_patient").session == "s1", "someone still checks on the patient"
    patient.advance(days=4)
    assert patient.to_patient("checkin_nudge") == [] and patient.escalation("checkin_missed") is None


def test_an_elevated_risk_miss_takes_over_an_open_coordinator_miss_and_pages_again():
    patient = discharged()
    checkin_sent(patient)
    patient.advance(hours=24)
    assert patient.escalation("checkin_missed").owner_role == "coordinator"
    patient.post("assessment.submitted", {"instrument": "phq9", "answers": phq9(item9=1)})
    patient.complete_session("s2")
    sent = checkin_sent_for(patient, "s2")
    patient.advance_to(sent.not_before + timedelta(hours=6))
    escalation = patient.escalation("checkin_missed")
    assert (escalation.owner_role, escalation.status, escalation.count) == ("clinician", "open", 2)
    assert [m.to for m in staff_alerts_at(patient, patient.now)] == [ON_CALL]


def checkin_sent_for(patient: PatientDriver, session: str) -> SendMessage:
    patient.advance_to(patient.state.timers[f"checkin:{session}"].due_at)
    return [m for m in patient.to_patient("checkin") if m.session == session][-1]
