"""Questions in context (PROTOCOL.md §5 Replies; `workflows/conversation.py`): one digit question at a time.

Each rule where it fires, and at its boundary: a question opens when its message leaves; a check-in outranks a
confirmation; a reminder sent while another question is open tells and asks nothing, and its confirmation is asked
once, after; expiry; and `answerable`, the pure check other layers use for shared numbers.
"""

from datetime import date, timedelta

from pathway_helpers import PROTOCOL, PatientDriver, discharged, local_at, phq9, reach

from config.protocol import load_protocol
from workflows.conversation import answerable, answering, may_ask
from workflows.effects import SendMessage
from workflows.state import Question

NY = "America/New_York"
WED, FRI, SAT, SUN = date(2026, 3, 4), date(2026, 3, 6), date(2026, 3, 7), date(2026, 3, 8)
TUE_NEXT = date(2026, 3, 10)
ASK = "Reply 1 to confirm"


def replies(decision) -> list[SendMessage]:
    return [m for m in decision.of_type(SendMessage) if m.recipient == "patient"]


def asks(patient: PatientDriver) -> list[SendMessage]:
    return patient.to_patient("confirm_request")


def reminders(patient: PatientDriver, *sessions: str) -> list[SendMessage]:
    return [m for m in patient.to_patient("session_reminder") if m.subject in {f"session:{s}" for s in sessions}]


def checkin_open(**referral) -> PatientDriver:
    """s1 discharged on Friday; its check-in went out on Saturday at 10:00 and is open."""
    patient = discharged(**referral)
    patient.advance_to(local_at(SAT, 10, 5))
    assert (patient.state.open_question.kind, patient.state.open_question.subject) == ("checkin", "session:s1")
    return patient


def planned() -> PatientDriver:
    """Treatment planned on Tuesday 3 March at 09:00, REMS enrollment on file."""
    patient = PatientDriver().plan("esketamine")
    patient.post("rems.enrolled", {"enrollment_id": "REMS-1"})
    return patient


# --- a question opens when its message leaves -------------------------------------------------------------------------


def test_a_reply_one_minute_before_the_checkin_leaves_is_not_an_answer_to_it():
    early = load_protocol(overrides={"messaging": {"checkin_hour": 7}})  # due at 07:00, inside quiet hours: leaves 08:00
    patient = discharged(protocol=early)
    patient.advance_to(local_at(SAT, 7, 30))
    (checkin,) = patient.to_patient("checkin")
    assert checkin.not_before == local_at(SAT, 8)
    patient.advance_to(local_at(SAT, 7, 59))
    assert answering(patient.state, patient.now) is None
    decision = patient.text("7")
    assert patient.state.checkins["s1"].answered_at is None, "the check-in had not been asked yet"
    assert replies(decision) == [], "no question was open: nothing to clarify"
    patient.advance(minutes=1)
    patient.text("7")
    assert patient.state.checkins["s1"].score == 7


def test_until_a_checkin_leaves_the_confirmation_it_outranks_still_takes_the_digits():
    """The check-in is held by the daily cap until Sunday 08:00; until then the open confirmation is the question."""
    patient = discharged()
    for number, minute in ((2, 0), (3, 15), (4, 30)):
        patient.post("session.scheduled", {"session": f"s{number}", "start": local_at(TUE_NEXT, 10, minute)})
    patient.advance_to(local_at(SAT, 12))
    first, second, third = reminders(patient, "s2", "s3", "s4")
    assert ASK in first.body and ASK not in second.body and ASK not in third.body, "one question asked at a time"
    (checkin,) = patient.to_patient("checkin")
    assert checkin.not_before == local_at(SUN, 8)
    patient.advance_to(local_at(SUN, 7, 59))
    decision = patient.text("5")
    assert [m.kind for m in replies(decision)] == ["clarify"], "5 does not answer the confirmation open then"
    assert patient.state.checkins["s1"].answered_at is None
    patient.advance(minutes=1)
    patient.text("5")
    assert patient.state.checkins["s1"].score == 5, "at 08:00 the check-in is the question"
    assert [m.subject for m in asks(patient)] == ["session:s2"], "the confirmation it outranked is asked again"


def test_a_confirmation_answered_before_the_checkin_leaves_is_not_asked_again():
    patient = discharged()
    for number, minute in ((2, 0), (3, 15), (4, 30)):
        patient.post("session.scheduled", {"session": f"s{number}", "start": local_at(TUE_NEXT, 10, minute)})
    patient.advance_to(local_at(SUN, 7, 59))
    patient.text("1")
    assert patient.session("s2").status == "confirmed"
    assert asks(patient) == [], "the check-in holds the floor from 08:00: s3 waits"
    patient.advance(minutes=1)
    patient.text("8")
    assert patient.state.checkins["s1"].score == 8
    assert [m.subject for m in asks(patient)] == ["session:s3"]


# --- a check-in outranks a confirmation ---------------------------------------------------------------------------------


def test_a_checkin_while_a_confirmation_is_open_is_asked_and_the_confirmation_is_asked_after_it():
    patient = discharged()
    visit = local_at(TUE_NEXT, 9)  # its 72-hour reminder leaves on Saturday at 09:00, before the check-in
    patient.post("session.scheduled", {"session": "s2", "start": visit})
    patient.advance_to(local_at(SAT, 10, 5))
    assert [m.kind for m in patient.to_patient()[-2:]] == ["session_reminder", "checkin"]
    assert patient.state.open_question.kind == "checkin"
    patient.advance(hours=1)
    patient.text("6")
    assert patient.state.checkins["s1"].score == 6
    (ask,) = asks(patient)
    assert ask.body == f"{patient.clinic.name}: Reply 1 to confirm your visit Tue Mar 10 at 9:00 AM, 2 to reschedule."
    assert (ask.not_before, ask.subject, ask.subject_start, ask.expires_at, ask.automated) == (
        patient.now, "session:s2", visit, visit, True)
    patient.text("1")
    assert patient.session("s2").status == "confirmed"
    assert patient.to_patient("checkin_nudge") == [] and patient.escalation("checkin_missed") is None


def test_the_day_before_reminder_during_a_checkin_keeps_its_instructions_without_the_ask():
    patient = checkin_open()
    visit = local_at(SUN, 14)
    patient.post("session.scheduled", {"session": "s2", "start": visit})
    patient.advance_to(local_at(SAT, 14, 5))  # 24 h before: the ride-home and fasting reminder
    reminder = patient.to_patient("session_reminder")[-1]
    assert "ride home" in reminder.body and "No food for 2 hours" in reminder.body and "Sun Mar 8 at 2:00 PM" in reminder.body
    assert "Reply" not in reminder.body
    assert patient.state.queued_questions[0].subject == "session:s2"
    patient.text("9")
    assert [m.subject for m in asks(patient)] == ["session:s2"]


def test_another_visits_reminder_while_a_confirmation_is_open_asks_nothing_until_it_is_answered():
    patient = planned()
    patient.post("session.scheduled", {"session": "s1", "start": local_at(SAT, 10)})
    patient.post("session.scheduled", {"session": "s2", "start": local_at(SAT, 11)})
    patient.advance_to(local_at(WED, 11, 30))
    s1, s2 = reminders(patient, "s1", "s2")
    assert ASK in s1.body and ASK not in s2.body and "Sat Mar 7 at 11:00 AM" in s2.body
    patient.text("1")
    assert (patient.session("s1").status, patient.session("s2").status) == ("confirmed", "scheduled")
    assert [m.subject for m in asks(patient)] == ["session:s2"]
    patient.text("2")
    assert patient.escalation("reschedule_request").session == "s2"


# --- a queued confirmation is asked only while it still makes sense ------------------------------------------------------


def test_a_queued_confirmation_is_not_asked_when_its_visit_has_started():
    patient = checkin_open()
    visit = local_at(SAT, 15)
    patient.post("session.scheduled", {"session": "s2", "start": visit})
    patient.advance_to(local_at(SAT, 13, 5))  # its 2-hour reminder: the check-in is still open
    assert ASK not in patient.to_patient("session_reminder")[-1].body
    patient.advance_to(visit + timedelta(minutes=5))
    patient.text("7")
    assert patient.state.checkins["s1"].score == 7
    assert asks(patient) == [] and patient.state.queued_questions == []


def test_a_queued_confirmation_is_not_asked_when_staff_confirmed_the_visit_meanwhile():
    patient = checkin_open()
    patient.post("session.scheduled", {"session": "s2", "start": local_at(SUN, 15)})
    patient.advance_to(local_at(SAT, 15, 5))
    patient.post("session.confirmed", {"session": "s2"})
    patient.text("7")
    assert asks(patient) == []


def test_a_queued_confirmation_follows_its_visit_when_it_moves():
    patient = checkin_open()
    patient.post("session.scheduled", {"session": "s2", "start": local_at(SUN, 15)})
    patient.advance_to(local_at(SAT, 15, 5))
    moved = local_at(date(2026, 3, 9), 16)
    patient.post("session.rescheduled", {"session": "s2", "start": moved})
    patient.text("7")
    assert asks(patient) == [], "the queued question asked about the old time"
    patient.advance_to(moved - timedelta(hours=24))
    assert ASK in patient.to_patient("session_reminder")[-1].body, "the new time's reminder asks: nothing else is open"


def test_a_therapy_confirmation_waits_too_and_is_asked_naming_the_appointment():
    patient = reach("maintenance")
    checkin_at = patient.state.timers["checkin:s8"].due_at
    patient.advance_to(checkin_at + timedelta(minutes=5))
    start = checkin_at + timedelta(hours=74)  # its 72-hour reminder leaves 2 hours after the check-in
    patient.post("therapy.scheduled", {"appointment": "t1", "start": start})
    patient.advance_to(checkin_at + timedelta(hours=2, minutes=5))
    (reminder,) = patient.to_patient("therapy_reminder")
    assert reminder.drop_reason is None and "Reply" not in reminder.body
    assert not may_ask(patient.state, "confirm", "appointment:t1", patient.now), "the check-in holds the floor"
    patient.text("8")
    (ask,) = asks(patient)
    assert ask.subject == "appointment:t1" and "Reply 1 to confirm your appointment" in ask.body
    patient.text("1")
    assert patient.state.appointments["t1"].status == "confirmed"


# --- expiry --------------------------------------------------------------------------------------------------------------


def test_when_a_checkin_expires_unanswered_the_queued_confirmation_is_asked_then():
    """Elevated risk: the on-call clinician hears after 6 h, and the check-in stays open until it is missed at 24 h."""
    patient = PatientDriver().plan("esketamine")
    patient.post("rems.enrolled", {"enrollment_id": "REMS-1"})
    patient.post("assessment.submitted", {"instrument": "phq9", "answers": phq9(item9=1)})
    patient.complete_session("s1")
    patient.post("session.scheduled", {"session": "s2", "start": local_at(TUE_NEXT, 13)})
    patient.advance_to(local_at(SAT, 12, 5))  # the 72-hour reminder, during the check-in
    expiry = patient.state.timers["question_expiry"]
    checkin = patient.state.checkins["s1"]
    assert expiry.due_at == checkin.sent_at + timedelta(hours=PROTOCOL.messaging.checkin_missed_hours)
    patient.advance_to(expiry.due_at - timedelta(minutes=1))
    missed = patient.escalation("checkin_missed")
    assert missed.raised_at == checkin.sent_at + timedelta(hours=6) and asks(patient) == []
    patient.advance(minutes=1)
    (ask,) = asks(patient)
    assert ask.not_before == expiry.due_at and ask.subject == "session:s2"
    assert "question_expiry" not in patient.state.timers


def test_a_late_checkin_answer_before_it_is_missed_still_counts_and_frees_the_floor():
    patient = checkin_open()
    patient.post("session.scheduled", {"session": "s2", "start": local_at(TUE_NEXT, 13)})
    patient.advance_to(local_at(SAT, 19))  # past the nudge: the check-in is still open
    assert len(patient.to_patient("checkin_nudge")) == 1
    patient.text("4")
    assert patient.state.checkins["s1"].score == 4 and len(asks(patient)) == 1


def test_a_checkin_waits_behind_a_reminder_that_has_not_left_yet_and_is_asked_when_it_is_answered():
    late_mornings = load_protocol(overrides={"messaging": {"quiet_end_hour": 11}})
    patient = discharged(protocol=late_mornings)
    patient.post("session.scheduled", {"session": "s2", "start": local_at(SUN, 9)})
    patient.advance_to(local_at(SAT, 10, 5))
    (reminder,) = reminders(patient, "s2")
    assert reminder.not_before == local_at(SAT, 11) and ASK in reminder.body, "held by the late quiet hours"
    assert patient.to_patient("checkin") == [], "its question leaves first: the check-in waits, asked once only"
    assert [q.kind for q in patient.state.queued_questions] == ["checkin"]
    patient.advance_to(local_at(SAT, 11, 30))
    patient.text("1")
    assert patient.session("s2").status == "confirmed"
    (checkin,) = patient.to_patient("checkin")
    assert checkin.not_before == patient.now and patient.state.open_question.kind == "checkin"


def test_a_checkin_that_expires_while_waiting_becomes_a_call():
    late_mornings = load_protocol(overrides={"messaging": {"quiet_end_hour": 11}})
    patient = discharged(protocol=late_mornings)
    patient.post("session.scheduled", {"session": "s2", "start": local_at(SUN, 9)})
    patient.advance_to(local_at(SUN, 12))
    assert [m.drop_reason for m in patient.to_patient("checkin")] == ["quiet_hours_obsolete"]
    task = patient.escalation("call_patient")
    assert task.status == "open" and task.session == "s1", "someone still checks on the patient"
    assert "s1" not in patient.state.checkins and patient.escalation("checkin_missed") is None


# --- clarification, opt-out ---------------------------------------------------------------------------------------------


def test_a_digit_that_fits_no_open_question_gets_one_clarification():
    patient = planned()
    patient.post("session.scheduled", {"session": "s1", "start": local_at(SAT, 10)})
    patient.advance_to(local_at(WED, 10, 5))
    assert [m.kind for m in replies(patient.text("7"))] == ["clarify"]
    assert replies(patient.text("7")) == []
    assert patient.session("s1").status == "scheduled"


def test_stop_withdraws_every_question_waiting():
    patient = checkin_open()
    patient.post("session.scheduled", {"session": "s2", "start": local_at(TUE_NEXT, 13)})
    patient.advance_to(local_at(SAT, 12, 5))
    assert patient.state.queued_questions
    patient.text("STOP")
    assert (patient.state.open_question, patient.state.queued_questions) == (None, [])
    patient.text("START")
    patient.text("6")
    assert patient.state.checkins["s1"].answered_at is None and asks(patient) == []


def test_a_safety_hold_parks_an_open_confirmation_and_it_is_asked_again_after_the_hold():
    patient = planned()
    patient.post("session.scheduled", {"session": "s1", "start": local_at(SAT, 10)})
    patient.advance_to(local_at(WED, 10, 5))
    patient.post("safety.hold", {"reason": "clinical concern", "clinician": "Dr. Berg"})
    assert patient.state.open_question is None and patient.state.queued_questions[0].subject == "session:s1"
    assert replies(patient.text("1")) == [] and patient.session("s1").status == "scheduled", "nothing open meanwhile"
    patient.post("safety.cleared", {"reason": "reviewed", "clinician": "Dr. Berg"})
    (ask,) = asks(patient)
    assert (ask.subject, ask.not_before) == ("session:s1", patient.now)
    patient.text("1")
    assert patient.session("s1").status == "confirmed"


def test_a_question_answered_before_its_next_reminder_leaves_is_open_again_when_it_leaves():
    patient = planned()
    visit = local_at(SAT, 7, 30)  # the 24-hour reminder falls due at 07:30 on Friday and leaves at 08:00
    patient.post("session.scheduled", {"session": "s1", "start": visit})
    patient.advance_to(local_at(FRI, 7, 45))
    assert patient.state.open_question.subject == "session:s1", "asked by the 72-hour reminder"
    patient.text("2")
    assert patient.escalation("reschedule_request").status == "open"
    patient.advance_to(local_at(FRI, 7, 59))
    assert answering(patient.state, patient.now) is None
    patient.advance(minutes=6)
    assert ASK in reminders(patient, "s1")[-1].body
    patient.text("1")
    assert patient.session("s1").status == "confirmed", "the reminder that left at 08:00 asked again"


def test_a_reminder_due_while_opted_out_asks_nothing_after_start_but_one_still_to_leave_does():
    for back_at, confirmed in ((local_at(WED, 9), False), (local_at(WED, 7, 45), True)):
        patient = planned()
        patient.post("session.scheduled", {"session": "s1", "start": local_at(SAT, 7)})  # asked Wednesday 08:00
        patient.advance_to(local_at(WED, 7, 30))
        patient.text("STOP")
        patient.advance_to(back_at)
        patient.text("START")
        patient.advance_to(local_at(WED, 9, 5))
        decision = patient.text("1")
        assert (patient.session("s1").status == "confirmed") is confirmed
        if not confirmed:
            assert replies(decision) == [], "its text was dropped while opted out: nothing was open"


def test_start_without_a_stop_closes_nothing():
    patient = planned()
    patient.post("session.scheduled", {"session": "s1", "start": local_at(SAT, 10)})
    patient.advance_to(local_at(WED, 10, 5))
    patient.text("START")
    patient.text("1")
    assert patient.session("s1").status == "confirmed"


# --- answerable: the pure check other layers use -----------------------------------------------------------------------


def test_answerable_says_whether_a_text_answers_the_question_open_now():
    patient = checkin_open()
    catalog, state, now = patient.clinic.catalog, patient.state, patient.now
    assert answerable(state, " 7 ", now, catalog) and answerable(state, "0", now, catalog)
    assert answerable(state, "10", now, catalog)
    assert not answerable(state, "11", now, catalog), "out of range for a check-in"
    for text in ("STOP", "HELP", "yes", "I want to die", "seven", ""):
        assert not answerable(state, text, now, catalog), text
    sent_at = state.checkins["s1"].sent_at
    assert not answerable(state, "7", sent_at - timedelta(minutes=1), catalog), "before the check-in left"
    missed = sent_at + timedelta(hours=PROTOCOL.messaging.checkin_missed_hours)
    assert answerable(state, "7", missed - timedelta(minutes=1), catalog)
    assert not answerable(state, "7", missed, catalog), "missed: no longer open"
    reminded = planned()
    reminded.post("session.scheduled", {"session": "s1", "start": local_at(SAT, 10)})
    reminded.advance_to(local_at(WED, 10, 5))
    assert answerable(reminded.state, "1", reminded.now, catalog) and answerable(reminded.state, "2", reminded.now, catalog)
    assert not answerable(reminded.state, "3", reminded.now, catalog)
    assert not answerable(PatientDriver().state, "1", local_at(WED, 12), catalog), "no question asked"


def test_a_stored_question_without_the_new_fields_still_reads():
    """States stored before questions had an expiry: a confirmation still closes with its visit."""
    patient = planned()
    patient.post("session.scheduled", {"session": "s1", "start": local_at(SAT, 10)})
    patient.advance_to(local_at(WED, 10, 5))
    legacy = patient.state.model_copy(deep=True)
    legacy.open_question = Question(kind="confirm", subject="session:s1", asked_at=local_at(WED, 10))
    catalog = patient.clinic.catalog
    assert answerable(legacy, "1", patient.now, catalog)
    assert not answerable(legacy, "1", local_at(SAT, 10), catalog)
