"""A patient's text (PROTOCOL.md §5 Replies, Keywords, Crisis language): `sms.received` routed by what it says."""

from datetime import date, timedelta

import pytest
from pathway_helpers import ON_CALL, PatientDriver, discharged, local_at

from workflows.effects import SendMessage
from workflows.inbound import HELP_WORDS, START_WORDS, STOP_WORDS, read

LA = "America/Los_Angeles"
WED, SAT = date(2026, 3, 4), date(2026, 3, 7)


def reminded(**referral) -> PatientDriver:
    """s1 booked for Saturday 10:00 (New York); its 72-hour reminder went out on Wednesday at 10:00."""
    patient = PatientDriver(**referral).plan("esketamine")
    patient.post("rems.enrolled", {"enrollment_id": "REMS-1"})
    patient.post("session.scheduled", {"session": "s1", "start": local_at(SAT, 10)})
    patient.advance_to(local_at(WED, 10, 5))
    question = patient.state.open_question
    assert (question.kind, question.subject) == ("confirm", "session:s1")
    return patient


def checked_in(**referral) -> PatientDriver:
    """s1 discharged on Friday; the check-in went out on Saturday at 10:00 patient-local."""
    patient = discharged(**referral)
    patient.advance_to(patient.state.timers["checkin:s1"].due_at + timedelta(minutes=5))
    question = patient.state.open_question
    assert (question.kind, question.subject) == ("checkin", "session:s1")
    return patient


def replies(decision) -> list[SendMessage]:
    return [m for m in decision.of_type(SendMessage) if m.recipient == "patient"]


def staff(decision) -> list[SendMessage]:
    return [m for m in decision.of_type(SendMessage) if m.kind == "staff_alert"]


# --- carrier keywords -------------------------------------------------------------------------------------------------


def test_the_keyword_families_of_the_protocol():
    assert STOP_WORDS == {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
    assert START_WORDS == {"START", "YES", "UNSTOP"}
    assert HELP_WORDS == {"HELP", "INFO"}


@pytest.mark.parametrize("body", ["STOP", "stop", " stop ", "Stop\n", "STOPALL", "unsubscribe", "Cancel", "end",
                                  "QUIT", "revoke", "OptOut", "\tSTOP  "])
def test_a_stop_word_opts_out_at_once_with_a_task_and_no_reply(body):
    patient = reminded()
    decision = patient.text(body)
    assert patient.state.patient.opted_out is True
    task = patient.escalation("opted_out")
    assert (task.status, task.severity, task.owner_role) == ("open", "routine", "coordinator")
    assert replies(decision) == [], "nothing more is sent"
    assert staff(decision) == [], "a routine task: no page"
    assert patient.state.open_question is None


@pytest.mark.parametrize("body", ["stop sending me texts", "please stop", "cancel my appointment", "STOP IT NOW",
                                  "the end", "yes please", "help me reschedule", "s t o p"])
def test_a_keyword_inside_a_longer_message_is_not_a_keyword(body):
    patient = reminded()
    decision = patient.text(body)
    assert patient.state.patient.opted_out is False
    assert patient.escalation("opted_out") is None
    assert [m.kind for m in replies(decision)] == ["clarify"], "unreadable: one clarification"
    assert patient.session("s1").status == "scheduled"


@pytest.mark.parametrize("body", ["START", "yes", " Unstop "])
def test_a_start_word_opts_back_in_and_confirms(body):
    patient = reminded()
    patient.text("STOP")
    decision = patient.text(body)
    assert patient.state.patient.opted_out is False
    assert patient.escalation("opted_out").status == "resolved"
    (reply,) = replies(decision)
    assert (reply.kind, reply.drop_reason, reply.automated) == ("opt_in_confirm", None, False)
    assert "Reply STOP to opt out" in reply.body and reply.body.startswith(patient.clinic.name)


def test_after_opting_back_in_reminders_go_out_again():
    patient = reminded()
    patient.text("STOP")
    patient.advance_to(local_at(date(2026, 3, 6), 11))
    patient.text("START")
    patient.advance_to(local_at(SAT, 9))
    assert [m.drop_reason for m in patient.to_patient("session_reminder")] == [None, "opted_out", None]


@pytest.mark.parametrize("body", ["HELP", "help", " Info "])
def test_help_replies_with_the_clinic_phone_how_to_stop_and_the_crisis_line(body):
    patient = reminded()
    decision = patient.text(body)
    (reply,) = replies(decision)
    assert reply.kind == "help" and reply.drop_reason is None and reply.not_before == patient.now
    assert patient.clinic.name in reply.body and patient.clinic.phone in reply.body
    assert "Reply STOP to opt out" in reply.body
    assert patient.clinic.catalog.crisis_line in reply.body and "988" in reply.body
    assert patient.state.patient.opted_out is False
    assert patient.state.open_question is not None, "HELP answers nothing: the reminder's question stays open"


# --- crisis language --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["I want to die", "thinking about SUICIDE tonight", "i might   kill\nmyself",
                                  "took an Overdose", "stop. i want to end my life", "I keep wanting to hurt myself",
                                  "everyone would be better off dead"])
def test_crisis_language_anywhere_at_3am_is_an_emergency_answered_at_once(body):
    patient = reminded(patient={"timezone": LA})
    patient.advance_to(local_at(date(2026, 3, 5), 3, zone=LA))
    decision = patient.text(body)
    escalation = patient.escalation("crisis_language")
    assert (escalation.severity, escalation.status, escalation.owner_role) == ("emergency", "open", "clinician")
    assert escalation.raised_at == patient.now
    assert escalation.ack_deadline == patient.now + timedelta(minutes=15)
    (reply,) = replies(decision)
    assert (reply.kind, reply.urgent, reply.drop_reason) == ("crisis", True, None)
    assert reply.not_before == patient.now, "not deferred to the morning"
    assert patient.clinic.catalog.crisis_line in reply.body
    (alert,) = staff(decision)
    assert alert.to == ON_CALL and alert.escalation == escalation.id and alert.urgent
    assert "safety emergency" in alert.body
    assert body.strip().lower() not in alert.body.lower(), "the patient's words stay in the record, not in an SMS"
    assert patient.state.patient.opted_out is False, "crisis language wins over a keyword in the message"
    assert patient.session("s1").status == "scheduled"


def test_crisis_language_from_an_opted_out_patient_still_pages_the_on_call_clinician():
    patient = reminded()
    patient.text("STOP")
    decision = patient.text("I want to die")
    assert patient.escalation("crisis_language").severity == "emergency"
    assert [m.to for m in staff(decision)] == [ON_CALL]


def test_crisis_language_from_a_patient_without_sms_consent_still_pages():
    patient = PatientDriver(patient={"sms_consent": False})
    decision = patient.text("I am suicidal")
    assert patient.escalation("crisis_language").status == "open"
    assert [m.to for m in staff(decision)] == [ON_CALL]
    # Consent covers what the clinic sends on its own; the crisis line answers the patient's own text.
    [crisis] = [m for m in replies(decision) if m.kind == "crisis"]
    assert crisis.drop_reason is None and crisis.not_before == patient.now


def test_every_crisis_term_of_the_catalog_is_read_as_crisis():
    catalog = PatientDriver().clinic.catalog
    for term in catalog.crisis_terms:
        assert read(f"  some words {term.upper()} more words ", catalog).kind == "crisis"
    assert read("I feel fine today", catalog).kind == "unreadable"


# --- digits answer the most recent open question ---------------------------------------------------------------------


def test_1_after_a_reminder_confirms_that_session():
    patient = reminded()
    assert "confirm:s1" in patient.state.timers
    decision = patient.text("1")
    session = patient.session("s1")
    assert session.status == "confirmed" and session.confirmed_at == patient.now
    assert "confirm:s1" not in patient.state.timers, "no 'call to confirm' task will be needed"
    (reply,) = replies(decision)
    assert reply.kind == "reply_ack" and "is confirmed" in reply.body and "Sat Mar 7 at 10:00 AM" in reply.body
    assert patient.state.open_question is None
    patient.advance_to(local_at(SAT, 9))
    assert patient.escalation("confirmation_missing") is None


def test_1_after_an_evaluation_reminder_confirms_the_appointment():
    patient = PatientDriver()
    patient.post("evaluation.scheduled", {"start": local_at(date(2026, 3, 6), 14)})
    patient.advance_to(local_at(date(2026, 3, 3), 14, 5))
    decision = patient.text(" 1 ")
    assert patient.state.appointments["evaluation"].status == "confirmed"
    assert [m.kind for m in replies(decision)] == ["reply_ack"]


def test_2_after_a_reminder_asks_the_coordinator_to_reschedule():
    patient = reminded()
    decision = patient.text("2")
    task = patient.escalation("reschedule_request")
    assert (task.status, task.severity, task.owner_role, task.session) == ("open", "routine", "coordinator", "s1")
    (reply,) = replies(decision)
    assert reply.kind == "reply_ack" and "will call you" in reply.body
    assert patient.session("s1").status == "scheduled", "the coordinator moves it, not the text"
    assert patient.state.open_question is None


@pytest.mark.parametrize("body, score", [("7", 7), ("10", 10), (" 4 ", 4), ("07", 7)])
def test_a_checkin_answer_records_the_score_and_ends_the_ladder(body, score):
    patient = checked_in()
    decision = patient.text(body)
    checkin = patient.state.checkins["s1"]
    assert (checkin.score, checkin.answered_at) == (score, patient.now)
    assert "checkin_nudge:s1" not in patient.state.timers and "checkin_missed:s1" not in patient.state.timers
    assert patient.escalation("low_checkin") is None
    (reply,) = replies(decision)
    assert reply.kind == "reply_ack" and patient.clinic.catalog.crisis_line in reply.body
    assert str(score) not in reply.body.replace("988", "").replace("838255", ""), "no score in an SMS"
    patient.advance(days=2)
    assert patient.to_patient("checkin_nudge") == [] and patient.escalation("checkin_missed") is None


@pytest.mark.parametrize("body", ["0", "1", "3"])
def test_a_low_checkin_answer_gets_a_clinician_review_the_same_day(body):
    patient = checked_in()
    patient.text(body)
    review = patient.escalation("low_checkin")
    assert (review.severity, review.owner_role, review.session) == ("routine", "clinician", "s1")
    assert patient.state.checkins["s1"].score == int(body)


@pytest.mark.parametrize("first, second", [("11", "hello"), ("hello", "11"), ("ok thanks", "??"), ("99", "-1")])
def test_an_unreadable_answer_gets_one_clarification_then_none(first, second):
    patient = checked_in()
    assert [m.kind for m in replies(patient.text(first))] == ["clarify"]
    assert replies(patient.text(second)) == []
    assert patient.state.checkins["s1"].answered_at is None
    assert "checkin_missed:s1" in patient.state.timers
    patient.text("6")
    assert patient.state.checkins["s1"].score == 6, "the question is still open after a clarification"


def test_a_number_other_than_1_or_2_after_a_reminder_is_unreadable():
    patient = reminded()
    assert [m.kind for m in replies(patient.text("5"))] == ["clarify"]
    assert patient.session("s1").status == "scheduled"
    assert patient.escalation("reschedule_request") is None


def test_a_digit_with_no_open_question_changes_nothing_and_gets_no_reply():
    patient = PatientDriver()
    before = patient.state.model_copy(deep=True)
    decision = patient.text("1")
    assert replies(decision) == [] and staff(decision) == []
    assert patient.state == before


def test_a_reminder_while_a_checkin_is_open_asks_nothing_and_its_confirmation_is_asked_after():
    """One digit question at a time: the check-in keeps the digits; the reminder tells the time and asks nothing."""
    patient = checked_in()
    now_local = patient.local(patient.now)
    later = local_at(now_local.date() + timedelta(days=3), 13)  # across the DST change: 72 h before is 12:00
    patient.post("session.scheduled", {"session": "s2", "start": later})
    patient.advance_to(later - timedelta(hours=72) + timedelta(minutes=5))
    reminder = patient.to_patient("session_reminder")[-1]
    assert reminder.drop_reason is None and "Tue Mar 10 at 1:00 PM" in reminder.body
    assert "Reply" not in reminder.body, "no reply ask while the check-in is open"
    assert patient.state.open_question.subject == "session:s1"
    patient.text("1")
    assert patient.state.checkins["s1"].score == 1, "the only question asked was the check-in"
    assert patient.session("s2").status == "scheduled"
    (ask,) = patient.to_patient("confirm_request")
    assert ask.body == f"{patient.clinic.name}: Reply 1 to confirm your visit Tue Mar 10 at 1:00 PM, 2 to reschedule."
    assert (ask.automated, ask.drop_reason, ask.not_before, ask.subject) == (True, None, patient.now, "session:s2")
    patient.advance(minutes=10)
    patient.text("1")
    assert patient.session("s2").status == "confirmed"


def test_the_most_recent_question_wins_a_checkin_after_the_reminder():
    patient = discharged()
    checkin_at = patient.state.timers["checkin:s1"].due_at
    later = checkin_at + timedelta(hours=72) - timedelta(hours=1)  # its 72-hour reminder an hour before the check-in
    patient.post("session.scheduled", {"session": "s2", "start": later})
    patient.advance_to(checkin_at + timedelta(minutes=5))
    assert [m.kind for m in patient.to_patient()[-2:]] == ["session_reminder", "checkin"]
    patient.text("1")
    assert patient.state.checkins["s1"].score == 1
    assert patient.session("s2").status == "scheduled"
    assert patient.escalation("low_checkin") is not None
