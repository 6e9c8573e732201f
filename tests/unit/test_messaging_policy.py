"""Message policy (PROTOCOL.md §5): reminders, consent, opt-out, quiet hours, the daily cap, and the send-time re-check.

Times are written as wall-clock times in a named zone: the clinic is in New York, and the quiet-hours tests put the
patient in Los Angeles so that "patient-local" and "clinic-local" disagree by three hours.
"""

from collections import Counter
from datetime import date, timedelta

import pytest
from pathway_helpers import ON_CALL, PROTOCOL, PatientDriver, local_at, reach

from config.protocol import load_protocol
from workflows.effects import SendMessage
from workflows.messages import Pending, end_of_quiet_hours, in_quiet_hours, recheck

NY, LA = "America/New_York", "America/Los_Angeles"
STRICT = load_protocol(overrides={"messaging": {"strict_fcc": True}})
RULES = PROTOCOL.messaging
# plan() leaves the clock at Tuesday 3 March 2026, 09:00 New York (06:00 Los Angeles).
TUE, WED, THU, FRI, SAT = (date(2026, 3, d) for d in (3, 4, 5, 6, 7))


def planned(route: str = "esketamine", zone: str | None = None, consent: bool = True, protocol=PROTOCOL) -> PatientDriver:
    patient_fields: dict = {"sms_consent": consent}
    if zone:
        patient_fields["timezone"] = zone
    patient = PatientDriver(patient=patient_fields, protocol=protocol).plan(route)
    if route == "esketamine":
        patient.post("rems.enrolled", {"enrollment_id": "REMS-1"})
    assert patient.now == local_at(TUE, 9, zone=NY)
    return patient


def book(patient: PatientDriver, session: str, start) -> None:
    patient.post("session.scheduled", {"session": session, "start": start})


def reminders(patient: PatientDriver, session: str | None = None) -> list[SendMessage]:
    return [m for m in patient.to_patient("session_reminder") if session is None or m.subject == f"session:{session}"]


def pending(message: SendMessage) -> Pending:
    return Pending(kind=message.kind, recipient=message.recipient, automated=message.automated, urgent=message.urgent,
                   subject=message.subject, subject_start=message.subject_start, expires_at=message.expires_at)


def sent_per_local_day(patient: PatientDriver) -> Counter:
    """Automated, non-urgent patient messages that will leave, by the patient-local day they leave on."""
    return Counter(patient.local(m.not_before).date() for m in patient.to_patient()
                   if m.automated and not m.urgent and m.drop_reason is None)


# --- reminders ------------------------------------------------------------------------------------------------------


def test_session_reminders_72_24_and_2_hours_before_the_start():
    patient = planned()
    start = local_at(SAT, 10)
    book(patient, "s1", start)
    assert sorted(t.due_at for k, t in patient.state.timers.items() if k.startswith("reminder:session:s1:")) == [
        start - timedelta(hours=72), start - timedelta(hours=24), start - timedelta(hours=2)]
    patient.advance_to(start - timedelta(minutes=1))
    sent = reminders(patient, "s1")
    assert [m.not_before for m in sent] == [local_at(WED, 10), local_at(FRI, 10), local_at(SAT, 8)]
    for message in sent:
        assert message.drop_reason is None and message.automated and not message.urgent
        assert (message.subject, message.subject_start, message.expires_at, message.session) == (
            "session:s1", start, start, "s1")
        assert message.to == patient.state.patient.phone
        assert message.body.startswith(f"{patient.clinic.name}:")
        assert "Sat Mar 7 at 10:00 AM" in message.body
        assert "Reply 1 to confirm, 2 to reschedule." in message.body
    assert len({m.dedupe_key for m in sent}) == 3


def test_only_reminders_still_in_the_future_are_planned():
    patient = planned()
    book(patient, "soon", patient.now + timedelta(hours=30))
    book(patient, "very_soon", patient.now + timedelta(minutes=90))
    keys = sorted(k for k in patient.state.timers if k.startswith("reminder:"))
    assert keys == ["reminder:session:soon:24h", "reminder:session:soon:2h"]


def test_the_day_before_reminder_for_esketamine_adds_ride_home_and_fasting_lines():
    patient = planned("esketamine")
    book(patient, "s1", local_at(SAT, 10))
    patient.advance_to(local_at(SAT, 9))
    week_before, day_before, same_day = (m.body for m in reminders(patient, "s1"))
    assert "ride home" in day_before and "no driving until the next day" in day_before
    assert "No food for 2 hours and no drinks for 30 minutes before" in day_before
    for other in (week_before, same_day):
        assert "ride" not in other and "food" not in other


@pytest.mark.parametrize("route", ["iv_ketamine", "im_ketamine"])
def test_the_day_before_reminder_for_ketamine_has_its_own_ride_and_fasting_lines(route):
    patient = planned(route)
    book(patient, "s1", local_at(SAT, 10))
    patient.advance_to(local_at(SAT, 9))
    day_before = reminders(patient, "s1")[1].body
    assert "ride home" in day_before and "no driving for 12 hours after" in day_before
    assert "No food for 4 hours before" in day_before
    assert "until the next day" not in day_before


def test_evaluation_reminders_use_their_own_kind():
    patient = PatientDriver()
    start = local_at(date(2026, 3, 6), 14)
    patient.post("evaluation.scheduled", {"start": start})
    patient.advance_to(start)
    sent = patient.to_patient("evaluation_reminder")
    assert [m.not_before for m in sent] == [start - timedelta(hours=h) for h in (72, 24, 2)]
    assert all(m.subject == "appointment:evaluation" and "Fri Mar 6 at 2:00 PM" in m.body for m in sent)


def test_therapy_appointment_reminders():
    patient = reach("maintenance")
    start = local_at(patient.local(patient.now).date() + timedelta(days=4), 14)
    patient.post("therapy.scheduled", {"appointment": "t1", "start": start})
    patient.advance_to(start)
    sent = patient.to_patient("therapy_reminder")
    assert len(sent) == 3 and {m.subject for m in sent} == {"appointment:t1"}
    assert all(m.drop_reason is None and m.subject_start == start for m in sent)


# --- consent and opt-out ----------------------------------------------------------------------------------------------


def test_without_consent_every_reminder_is_dropped_and_becomes_a_call_task():
    patient = planned(consent=False)
    start = local_at(SAT, 10)
    book(patient, "s1", start)
    patient.advance_to(local_at(WED, 10))
    message = reminders(patient, "s1")[-1]
    assert message.drop_reason == "no_consent"
    task = patient.escalation("call_patient")
    assert task is not None and task.status == "open" and task.severity == "routine"
    assert task.session == "s1" and task.count >= 2, "one call task, updated for each reminder"
    assert all(m.drop_reason == "no_consent" for m in patient.to_patient())
    assert patient.state.open_question is None, "a dropped reminder asks nothing"


def test_an_opted_out_patient_gets_nothing_and_the_coordinator_calls_instead():
    patient = planned()
    book(patient, "s1", local_at(SAT, 10))
    patient.text("STOP")
    patient.advance_to(local_at(SAT, 9))
    assert [m.drop_reason for m in reminders(patient, "s1")] == ["opted_out"] * 3
    assert patient.escalation("call_patient").status == "open"
    assert patient.escalation("opted_out").status == "open"


# --- quiet hours (patient-local) --------------------------------------------------------------------------------------


def test_a_reminder_due_in_the_patients_quiet_hours_waits_for_08_00_patient_local():
    patient = planned(zone=LA)
    start = local_at(SAT, 9, zone=LA)  # 12:00 in the clinic's New York
    book(patient, "s1", start)
    patient.advance_to(start - timedelta(minutes=1))
    two_hours = reminders(patient, "s1")[-1]
    assert (local_at(SAT, 7, zone=LA), "reminder:session:s1:2h", "reminder") in patient.fired
    assert two_hours.not_before == local_at(SAT, 8, zone=LA)
    assert two_hours.drop_reason is None


@pytest.mark.parametrize("hour, minute, quiet", [(20, 59, False), (21, 0, True), (23, 59, True), (0, 0, True),
                                                 (7, 59, True), (8, 0, False), (12, 0, False)])
def test_quiet_hours_run_from_21_00_to_08_00_patient_local(hour, minute, quiet):
    assert in_quiet_hours(local_at(FRI, hour, minute, zone=LA), LA, RULES) is quiet


def test_the_end_of_quiet_hours_is_08_00_local_even_across_a_dst_change():
    # The night of 7-8 March 2026 is one hour shorter in Los Angeles: 08:00 is still 08:00 on the wall clock.
    assert end_of_quiet_hours(local_at(SAT, 21, 30, zone=LA), LA, RULES) == local_at(date(2026, 3, 8), 8, zone=LA)
    assert end_of_quiet_hours(local_at(SAT, 3, zone=LA), LA, RULES) == local_at(SAT, 8, zone=LA)
    assert end_of_quiet_hours(local_at(SAT, 8, zone=LA), LA, RULES) == local_at(SAT, 8, zone=LA)


def test_a_reminder_names_the_time_in_the_patients_own_zone():
    patient = planned(zone=LA)
    book(patient, "s1", local_at(SAT, 12, zone=NY))
    patient.advance_to(local_at(WED, 12, zone=NY))
    assert "Sat Mar 7 at 9:00 AM" in reminders(patient, "s1")[0].body


def test_quiet_hours_follow_the_patients_zone_not_the_clinics():
    patient = planned(zone=LA)
    start = local_at(FRI, 7, 30, zone=LA)  # 10:30 New York
    book(patient, "s1", start)
    patient.advance_to(start)
    # 2 h before is 05:30 in Los Angeles (08:30 at the clinic, outside its quiet hours): it would wait until 08:00 in
    # Los Angeles, after the visit has started, so it is pointless and dropped.
    message = reminders(patient, "s1")[-1]
    assert message.subject_start == start and message.drop_reason == "quiet_hours_obsolete"
    assert not in_quiet_hours(start - timedelta(hours=2), NY, RULES)
    assert patient.escalation("call_patient") is None, "an obsolete reminder is not a call task"


def test_an_evening_reminder_after_21_00_waits_for_the_next_morning():
    patient = planned(zone=LA)
    start = local_at(SAT, 21, 30, zone=LA)
    book(patient, "s1", start)
    patient.advance_to(local_at(THU, 12, zone=LA))
    week_before = reminders(patient, "s1")[0]
    assert week_before.not_before == local_at(THU, 8, zone=LA)
    assert week_before.drop_reason is None


def test_replies_and_crisis_replies_are_not_held_back_by_quiet_hours():
    patient = planned(zone=LA)
    patient.advance_to(local_at(WED, 23, zone=LA))
    help_reply = patient.text("HELP").of_type(SendMessage)
    assert [(m.kind, m.not_before, m.automated, m.drop_reason) for m in help_reply] == [
        ("help", patient.now, False, None)]
    patient.advance_to(local_at(THU, 3, zone=LA))
    crisis = patient.text("I want to die").of_type(SendMessage)
    reply = next(m for m in crisis if m.recipient == "patient")
    assert (reply.kind, reply.not_before, reply.urgent, reply.drop_reason) == ("crisis", patient.now, True, None)
    for message in (help_reply[0], reply):
        assert recheck(patient.state, pending(message), patient.now, RULES).action == "send"


# --- the daily cap ----------------------------------------------------------------------------------------------------


def test_the_fourth_automated_message_of_a_local_day_waits_for_the_next_day():
    patient = planned()
    for number, hour in enumerate((10, 11, 12, 13), start=1):
        book(patient, f"s{number}", local_at(SAT, hour))
    patient.advance_to(local_at(WED, 18))
    week_before = [reminders(patient, f"s{n}")[0] for n in (1, 2, 3, 4)]
    assert [m.not_before for m in week_before] == [
        local_at(WED, 10), local_at(WED, 11), local_at(WED, 12), local_at(THU, 8)]
    assert all(m.drop_reason is None for m in week_before)
    assert sent_per_local_day(patient)[WED] == RULES.daily_cap == 3


def test_a_capped_message_that_would_be_pointless_by_the_next_day_is_dropped():
    patient = planned()
    for number, hour in enumerate((10, 11, 12), start=1):
        book(patient, f"s{number}", local_at(SAT, hour))
    book(patient, "today", local_at(WED, 16))
    patient.advance_to(local_at(WED, 15))
    late = reminders(patient, "today")[-1]
    assert late.subject_start == local_at(WED, 16) and late.drop_reason == "cap"
    assert sent_per_local_day(patient)[WED] == 3


def test_replies_do_not_count_against_the_cap():
    patient = planned()
    for number, hour in enumerate((10, 11, 12), start=1):
        book(patient, f"s{number}", local_at(SAT, hour))
    patient.advance_to(local_at(WED, 12, 30))
    patient.text("HELP")
    patient.text("1")
    # One question at a time: s1's reminder asked it; s2's and s3's told their times and asked nothing.
    assert patient.session("s1").status == "confirmed"
    replies = [m for m in patient.to_patient() if not m.automated]
    assert all(m.drop_reason is None and m.not_before == patient.now for m in replies[-2:])
    book(patient, "s4", local_at(SAT, 13))
    patient.advance_to(local_at(WED, 13, 30))
    assert reminders(patient, "s4")[0].not_before == local_at(THU, 8)


def test_strict_fcc_mode_allows_one_a_day_and_three_a_week():
    patient = planned(protocol=STRICT)
    assert STRICT.messaging.strict_fcc and STRICT.version == PROTOCOL.version
    # Tuesday already had the evaluation's 2-hour reminder: one of this week's three.
    assert sent_per_local_day(patient) == {TUE: 1}
    book(patient, "s1", local_at(SAT, 10))
    book(patient, "s2", local_at(SAT, 11))
    patient.advance_to(local_at(SAT, 9))
    s1, s2 = reminders(patient, "s1"), reminders(patient, "s2")
    assert s1[0].not_before == local_at(WED, 10)
    assert s2[0].not_before == local_at(THU, 8), "one a day: the second waits for the next day"
    # Three this week already (Tue, Wed, Thu): the day-before and same-day reminders would wait for Monday: dropped.
    assert [m.drop_reason for m in s1[1:] + s2[1:]] == ["cap"] * 4
    per_day = sent_per_local_day(patient)
    assert max(per_day.values()) == 1 and sum(per_day.values()) == 3


def test_strict_fcc_weekly_cap_counts_any_seven_consecutive_days():
    patient = planned(protocol=STRICT)
    book(patient, "s1", local_at(SAT, 10))
    book(patient, "s2", local_at(SAT, 11))
    patient.advance_to(local_at(SAT, 9))
    for session in ("s1", "s2"):
        patient.post("session.cancelled", {"session": session, "reason": "moved to next week"})
    later = local_at(date(2026, 3, 12), 10)  # Thursday of the next week
    book(patient, "s3", later)
    patient.advance_to(later - timedelta(hours=1))
    s3 = reminders(patient, "s3")
    assert [m.drop_reason for m in s3] == [None, None, None]
    # Tue, Wed and Thu of the week before used the 3: Monday the 9th is still inside their 7 days, Tuesday is not.
    assert [m.not_before for m in s3] == [local_at(date(2026, 3, d), h) for d, h in ((10, 8), (11, 10), (12, 8))]


# --- the send-time re-check -------------------------------------------------------------------------------------------


def _two_hour_reminder_waiting_for_morning(zone: str = NY) -> tuple[PatientDriver, SendMessage]:
    """A session at 09:00: its 2-hour reminder fires at 07:00 and waits for 08:00."""
    patient = planned(zone=zone)
    book(patient, "s1", local_at(SAT, 9, zone=zone))
    patient.advance_to(local_at(SAT, 7, 15, zone=zone))
    message = reminders(patient, "s1")[-1]
    assert message.not_before == local_at(SAT, 8, zone=zone) and message.drop_reason is None
    return patient, message


def test_recheck_sends_a_reminder_that_is_still_wanted_even_if_confirmed_since():
    patient, message = _two_hour_reminder_waiting_for_morning()
    patient.post("session.confirmed", {"session": "s1"})
    assert recheck(patient.state, pending(message), message.not_before, RULES).action == "send"


def test_recheck_drops_a_reminder_when_the_patient_opted_out_since():
    patient, message = _two_hour_reminder_waiting_for_morning()
    patient.text("stop")
    verdict = recheck(patient.state, pending(message), message.not_before, RULES)
    assert (verdict.action, verdict.reason) == ("drop", "opted_out")


@pytest.mark.parametrize("change", ["session.cancelled", "session.rescheduled"])
def test_recheck_drops_a_reminder_for_a_session_cancelled_or_moved_since(change):
    patient, message = _two_hour_reminder_waiting_for_morning()
    data = {"session": "s1"} | ({"start": local_at(SAT, 15)} if change == "session.rescheduled" else {})
    patient.post(change, data)
    verdict = recheck(patient.state, pending(message), message.not_before, RULES)
    assert (verdict.action, verdict.reason) == ("drop", "cancelled")


def test_recheck_drops_a_reminder_for_a_session_moved_and_moved_back_only_if_the_time_differs():
    patient, message = _two_hour_reminder_waiting_for_morning()
    patient.post("session.rescheduled", {"session": "s1", "start": local_at(SAT, 15)})
    patient.post("session.rescheduled", {"session": "s1", "start": local_at(SAT, 9)})
    assert recheck(patient.state, pending(message), message.not_before, RULES).action == "send"


def test_recheck_defers_an_automated_message_when_the_worker_is_late_into_quiet_hours():
    patient = planned(zone=LA)
    start = local_at(SAT, 20, 30, zone=LA)
    book(patient, "s1", start)
    patient.advance_to(local_at(WED, 21, zone=LA))
    week_before = reminders(patient, "s1")[0]
    assert week_before.not_before == local_at(WED, 20, 30, zone=LA)
    late = local_at(WED, 21, 15, zone=LA)
    verdict = recheck(patient.state, pending(week_before), late, RULES)
    assert (verdict.action, verdict.reason, verdict.not_before) == ("defer", "quiet_hours", local_at(THU, 8, zone=LA))
    # The same-day reminder, late into the night, would only go after the visit: dropped.
    patient.advance_to(local_at(SAT, 18, 45, zone=LA))
    same_day = reminders(patient, "s1")[-1]
    verdict = recheck(patient.state, pending(same_day), local_at(SAT, 21, 5, zone=LA), RULES)
    assert (verdict.action, verdict.reason) == ("drop", "quiet_hours_obsolete")


def test_recheck_drops_a_message_past_its_expiry():
    patient, message = _two_hour_reminder_waiting_for_morning()
    verdict = recheck(patient.state, pending(message), local_at(SAT, 9, 1), RULES)
    assert verdict.action == "drop"


def test_recheck_always_sends_staff_messages():
    patient = planned(zone=LA)
    patient.text("STOP")
    patient.advance_to(local_at(WED, 3, zone=LA))
    decision = patient.text("I am going to kill myself")
    (alert,) = [m for m in decision.of_type(SendMessage) if m.kind == "staff_alert"]
    assert alert.recipient != "patient" and alert.to == ON_CALL
    assert in_quiet_hours(patient.now, LA, RULES)
    assert recheck(patient.state, pending(alert), patient.now, RULES).action == "send"


def test_recheck_drops_a_session_reminder_when_a_safety_hold_started_since():
    patient, message = _two_hour_reminder_waiting_for_morning()
    patient.post("safety.hold", {"reason": "clinical concern", "clinician": "Dr. Berg"})
    verdict = recheck(patient.state, pending(message), message.not_before, RULES)
    assert (verdict.action, verdict.reason) == ("drop", "paused")


# --- cancelled, moved, held sessions ------------------------------------------------------------------------------------


def test_a_moved_session_gets_reminders_for_its_new_time_only():
    patient = planned()
    old, new = local_at(SAT, 10), local_at(date(2026, 3, 10), 14)
    book(patient, "s1", old)
    patient.advance_to(local_at(WED, 12))
    patient.post("session.rescheduled", {"session": "s1", "start": new})
    timers = {k: t for k, t in patient.state.timers.items() if k.startswith("reminder:session:s1:")}
    assert sorted(t.due_at for t in timers.values()) == [new - timedelta(hours=h) for h in (72, 24, 2)]
    moved_at = len(patient.sent)
    patient.advance_to(new)
    after = [m for _, m in patient.sent[moved_at:] if m.kind == "session_reminder"]
    assert len(after) == 3 and {m.subject_start for m in after} == {new}
    assert all(m.drop_reason is None for m in after)


def test_a_cancelled_session_leaves_no_reminder_behind():
    patient = planned()
    start = local_at(SAT, 10)
    book(patient, "s1", start)
    patient.advance_to(local_at(WED, 12))
    patient.post("session.cancelled", {"session": "s1", "reason": "patient asked"})
    assert not [k for k in patient.state.timers if k.startswith("reminder:session:s1:")]
    assert patient.timers_of("s1") == {}
    patient.advance_to(start + timedelta(hours=1))
    assert len(reminders(patient, "s1")) == 1, "only the one sent before the cancellation"
    assert patient.to_patient("no_show") == []


def test_a_safety_hold_suspends_session_reminders_and_clearing_it_resumes_them():
    patient = planned()
    start = local_at(SAT, 10)
    book(patient, "s1", start)
    patient.post("safety.hold", {"reason": "clinical concern", "clinician": "Dr. Berg"})
    patient.advance_to(local_at(THU, 12))
    held = reminders(patient, "s1")
    assert [m.drop_reason for m in held] == ["paused"]
    assert patient.session("s1").status == "scheduled", "the session stays on the calendar"
    assert patient.escalation("call_patient") is None
    assert patient.state.open_question.subject != "session:s1", "a suspended reminder asks nothing"
    patient.post("safety.cleared", {"reason": "reviewed", "clinician": "Dr. Berg"})
    patient.advance_to(start - timedelta(minutes=1))
    assert [m.drop_reason for m in reminders(patient, "s1")] == ["paused", None, None]


def test_a_no_show_text_goes_out_but_respects_quiet_hours():
    patient = planned(zone=LA)
    start = local_at(SAT, 20, 45, zone=LA)
    book(patient, "s1", start)
    patient.advance_to(start + timedelta(hours=1))
    assert patient.session("s1").status == "no_show"
    (note,) = patient.to_patient("no_show")
    assert note.not_before == local_at(date(2026, 3, 8), 8, zone=LA) and note.drop_reason is None
    assert patient.escalation("no_show").status == "open"


def test_a_no_show_during_a_safety_hold_tasks_the_coordinator_but_texts_nothing():
    patient = planned()
    start = local_at(SAT, 10)
    book(patient, "s1", start)
    patient.post("safety.hold", {"reason": "clinical concern", "clinician": "Dr. Berg"})
    patient.advance_to(start + timedelta(hours=1))
    assert patient.session("s1").status == "no_show"
    assert patient.escalation("no_show").status == "open"
    assert patient.to_patient("no_show") == []


def test_a_no_show_note_deferred_by_quiet_hours_is_dropped_if_a_hold_starts_meanwhile():
    patient = planned(zone=LA)
    start = local_at(SAT, 20, 45, zone=LA)
    book(patient, "s1", start)
    patient.advance_to(start + timedelta(hours=1))
    patient.post("safety.hold", {"reason": "clinical concern", "clinician": "Dr. Berg"})
    (note,) = patient.to_patient("no_show")
    assert recheck(patient.state, pending(note), local_at(date(2026, 3, 8), 8, zone=LA), PROTOCOL.messaging).action == "drop"
