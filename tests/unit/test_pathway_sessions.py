"""Every session rule of PROTOCOL.md §3: doses, gates before dosing, blood pressure, discharge, calendar timers, REMS."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pathway_helpers import (
    CLINIC,
    CRITICAL_BP,
    ELEVATED_BP,
    MEDICAL_DIRECTOR,
    NORMAL_BP,
    ON_CALL,
    PROTOCOL,
    PatientDriver,
    dosed,
    esketamine_at_chair,
    route_at_chair,
)

from workflows.pathway import decide, timer_event
from workflows.state import SessionStatus

NY = ZoneInfo("America/New_York")
ROUTES = ["esketamine", "iv_ketamine", "im_ketamine"]


def local(moment: datetime) -> datetime:
    return moment.astimezone(NY)


# --- esketamine dose rule -------------------------------------------------------------------------------------------


def test_esketamine_first_dose_is_56_mg():
    patient = esketamine_at_chair()
    patient.bp("s1", "pre_dose")
    for wrong in (28, 84):
        error = patient.refuse("dose.administered", {"session": "s1", "dose_mg": wrong, "ride_confirmed": True,
                                                     "fasting_confirmed": True})
        assert (error.code, error.rule) == ("rule", "dose_rule")
        assert "56" in str(error)
    patient.dose("s1", dose_mg=56)
    assert patient.session("s1").status == SessionStatus.DOSED
    assert patient.session("s1").dose_mg == 56


@pytest.mark.parametrize("dose_mg", [0 + 14, 42, 70, 112])
def test_esketamine_doses_are_28_56_or_84_mg_only(dose_mg):
    patient = esketamine_at_chair()
    patient.bp("s1", "pre_dose")
    error = patient.refuse("dose.administered", {"session": "s1", "dose_mg": dose_mg, "ride_confirmed": True,
                                                 "fasting_confirmed": True})
    assert error.rule == "dose_rule"
    assert "28, 56, 84" in str(error)


def test_an_esketamine_booking_with_a_disallowed_dose_is_refused_at_booking():
    patient = PatientDriver().plan("esketamine")
    error = patient.refuse("session.scheduled", {"session": "s1", "start": patient.now + timedelta(days=3), "dose_mg": 42})
    assert error.rule == "dose_rule"
    error = patient.refuse("session.scheduled", {"session": "s1", "start": patient.now + timedelta(days=3), "dose_mg": 84})
    assert error.rule == "dose_rule"  # day 1 is 56 mg
    patient.schedule("s1", dose_mg=56)
    error = patient.refuse("session.scheduled", {"session": "s2", "start": patient.now + timedelta(days=6), "dose_mg": 42})
    assert error.rule == "dose_rule"
    patient.schedule("s2", days=6, dose_mg=84)  # a later session: the step is checked at the chair


def test_esketamine_planned_dose_is_used_at_the_chair():
    patient = PatientDriver().plan("esketamine")
    patient.post("rems.enrolled", {})
    patient.arrive("s1", dose_mg=56)
    patient.bp("s1", "pre_dose")
    patient.post("dose.administered", {"session": "s1", "ride_confirmed": True, "fasting_confirmed": True})
    assert patient.session("s1").dose_mg == 56


def test_esketamine_needs_a_dose_in_mg():
    patient = esketamine_at_chair()
    patient.bp("s1", "pre_dose")
    error = patient.refuse("dose.administered", {"session": "s1", "ride_confirmed": True, "fasting_confirmed": True})
    assert (error.code, error.rule) == ("invalid_data", "dose_rule")
    error = patient.refuse("dose.administered", {"session": "s1", "dose_mg_per_kg": 0.5, "ride_confirmed": True,
                                                 "fasting_confirmed": True})
    assert (error.code, error.rule) == ("invalid_data", "dose_rule")
    assert "mg/kg" in str(error)


@pytest.mark.parametrize(
    ("date_of_birth", "first_dose", "refused"),
    [
        (date(1961, 3, 6), 28, 56),  # 65 on the session day
        (date(1950, 1, 1), 28, 56),
        (date(1961, 3, 7), 56, 28),  # 65 tomorrow
        (date(1990, 6, 1), 56, 28),
    ],
)
def test_esketamine_day_one_dose_by_age(date_of_birth, first_dose, refused):
    patient = esketamine_at_chair(date_of_birth=date_of_birth)
    assert local(patient.session("s1").start).date() == date(2026, 3, 6)
    patient.bp("s1", "pre_dose")
    error = patient.refuse("dose.administered", {"session": "s1", "dose_mg": refused, "ride_confirmed": True,
                                                 "fasting_confirmed": True})
    assert error.rule == "dose_rule"
    patient.dose("s1", dose_mg=first_dose)
    assert patient.session("s1").status == SessionStatus.DOSED


def test_esketamine_age_is_taken_on_the_patients_local_date():
    # 20:00 in New York on 6 March is already 7 March in UTC; the patient turns 65 only on 7 March.
    patient = PatientDriver(patient={"date_of_birth": "1961-03-07"}).plan("esketamine")
    evening = datetime(2026, 3, 6, 20, 0, tzinfo=NY).astimezone(UTC)
    patient.post("session.scheduled", {"session": "s1", "start": evening, "dose_mg": 56})
    error = patient.refuse("session.scheduled", {"session": "s0", "start": evening - timedelta(hours=1), "dose_mg": 28})
    assert error.rule == "dose_rule"


@pytest.mark.parametrize(
    ("doses", "refused"),
    [
        ([56, 84], 28),       # 84 → 28 is a 56 mg step
        ([56, 28], 84),       # 28 → 84 too
        ([56, 56, 84], 28),
    ],
)
def test_esketamine_dose_changes_in_28_mg_steps(doses, refused):
    patient = PatientDriver().plan("esketamine")
    patient.post("rems.enrolled", {})
    for number, dose_mg in enumerate(doses, 1):
        patient.complete_session(f"s{number}", dose_mg=dose_mg)
        assert patient.session(f"s{number}").dose_mg == dose_mg
    patient.arrive("next")
    patient.bp("next", "pre_dose")
    error = patient.refuse("dose.administered", {"session": "next", "dose_mg": refused, "ride_confirmed": True,
                                                 "fasting_confirmed": True})
    assert error.rule == "dose_rule"
    assert "28 mg" in str(error)
    patient.dose("next", dose_mg=doses[-1])  # the same dose is always a valid step
    assert patient.session("next").status == SessionStatus.DOSED


def test_a_held_first_session_leaves_the_next_one_as_day_one():
    patient = esketamine_at_chair()
    patient.bp("s1", "pre_dose", ELEVATED_BP)
    patient.bp("s1", "pre_dose", ELEVATED_BP)
    assert patient.session("s1").status == SessionStatus.HELD
    patient.arrive("s2")
    patient.bp("s2", "pre_dose")
    error = patient.refuse("dose.administered", {"session": "s2", "dose_mg": 84, "ride_confirmed": True,
                                                 "fasting_confirmed": True})
    assert error.rule == "dose_rule"
    patient.dose("s2", dose_mg=56)


# --- ketamine mg/kg bounds ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "dose", "ok"),
    [
        ("iv_ketamine", 0.1, True),
        ("iv_ketamine", 0.5, True),
        ("iv_ketamine", 0.75, True),
        ("iv_ketamine", 0.09, False),
        ("iv_ketamine", 0.8, False),
        ("im_ketamine", 0.25, True),
        ("im_ketamine", 0.5, True),
        ("im_ketamine", 0.2, False),
        ("im_ketamine", 0.55, False),
    ],
)
def test_ketamine_mg_per_kg_bounds(route, dose, ok):
    patient = route_at_chair(route)
    patient.bp("s1", "pre_dose")
    data = {"session": "s1", "dose_mg_per_kg": dose, "fasting_confirmed": True}
    if ok:
        patient.post("dose.administered", data)
        assert patient.session("s1").dose_mg_per_kg == dose
    else:
        error = patient.refuse("dose.administered", data)
        assert (error.code, error.rule) == ("rule", "dose_rule")
        assert "mg/kg" in str(error)


@pytest.mark.parametrize("route", ["iv_ketamine", "im_ketamine"])
def test_ketamine_is_dosed_in_mg_per_kg_not_mg(route):
    patient = route_at_chair(route)
    patient.bp("s1", "pre_dose")
    error = patient.refuse("dose.administered", {"session": "s1", "dose_mg": 40, "fasting_confirmed": True})
    assert (error.code, error.rule) == ("invalid_data", "dose_rule")
    start = patient.now + timedelta(days=3)
    error = patient.refuse("session.scheduled", {"session": "s2", "start": start, "dose_mg": 40})
    assert (error.code, error.rule) == ("invalid_data", "dose_rule")
    error = patient.refuse("session.scheduled", {"session": "s2", "start": start, "dose_mg_per_kg": 0.9})
    assert error.rule == "dose_rule"


def test_iv_ketamine_defaults_to_the_standard_dose():
    patient = route_at_chair("iv_ketamine")
    patient.bp("s1", "pre_dose")
    patient.post("dose.administered", {"session": "s1", "fasting_confirmed": True})
    assert patient.session("s1").dose_mg_per_kg == 0.5


def test_im_ketamine_needs_a_dose():
    patient = route_at_chair("im_ketamine")
    patient.bp("s1", "pre_dose")
    error = patient.refuse("dose.administered", {"session": "s1", "fasting_confirmed": True})
    assert (error.code, error.rule) == ("invalid_data", "dose_rule")


# --- gates before dosing -----------------------------------------------------------------------------------------


def test_esketamine_dose_needs_rems_enrollment_on_file():
    patient = esketamine_at_chair(rems=False)
    patient.bp("s1", "pre_dose")
    error = patient.refuse("dose.administered", {"session": "s1", "dose_mg": 56, "ride_confirmed": True,
                                                 "fasting_confirmed": True})
    assert (error.code, error.rule) == ("rule", "rems_enrollment")
    patient.post("rems.enrolled", {"enrollment_id": "REMS-9"})
    patient.dose("s1", dose_mg=56)
    assert patient.session("s1").status == SessionStatus.DOSED


def test_esketamine_dose_needs_a_ride_home():
    patient = esketamine_at_chair()
    patient.bp("s1", "pre_dose")
    error = patient.refuse("dose.administered", {"session": "s1", "dose_mg": 56, "fasting_confirmed": True})
    assert error.rule == "ride_home"


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_needs_fasting_confirmed(route):
    patient = route_at_chair(route)
    patient.bp("s1", "pre_dose")
    data = {"session": "s1", "ride_confirmed": True, "fasting_confirmed": False}
    data.update({"esketamine": {"dose_mg": 56}, "im_ketamine": {"dose_mg_per_kg": 0.5}}.get(route, {}))
    error = patient.refuse("dose.administered", data)
    assert error.rule == "fasting"


@pytest.mark.parametrize("route", ["iv_ketamine", "im_ketamine"])
def test_ketamine_needs_no_rems_enrollment_or_ride_confirmation(route):
    patient = route_at_chair(route)
    assert patient.state.rems_enrollment_id is None
    patient.bp("s1", "pre_dose")
    patient.dose("s1", ride_confirmed=False)
    assert patient.session("s1").status == SessionStatus.DOSED


@pytest.mark.parametrize("route", ROUTES)
def test_a_dose_needs_a_pre_dose_reading(route):
    patient = route_at_chair(route)
    error = patient.refuse("dose.administered", {"session": "s1", "ride_confirmed": True, "fasting_confirmed": True})
    assert error.rule == "bp_pre_dose"


def test_a_dose_needs_an_arrived_session():
    patient = PatientDriver().plan("iv_ketamine")
    patient.schedule("s1")
    error = patient.refuse("dose.administered", {"session": "s1", "fasting_confirmed": True})
    assert error.rule == "session_arrived"
    error = patient.refuse("dose.administered", {"session": "nope", "fasting_confirmed": True})
    assert error.code == "not_found"


# --- pre-dose blood pressure gate ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("reading", "elevated"), [((140, 80), True), ((120, 90), True), ((139, 89), False),
                                                    ((150, 95), True)])
def test_pre_dose_bp_at_or_above_140_90_holds_dosing(reading, elevated):
    patient = route_at_chair("iv_ketamine")
    patient.bp("s1", "pre_dose", reading)
    if elevated:
        error = patient.refuse("dose.administered", {"session": "s1", "fasting_confirmed": True})
        assert error.rule == "bp_pre_dose"
        assert "re-check" in str(error)
        assert patient.state.timers["bp_recheck:s1"].due_at == patient.now + timedelta(minutes=30)
        assert patient.session("s1").status == SessionStatus.ARRIVED
    else:
        patient.dose("s1")
        assert patient.session("s1").status == SessionStatus.DOSED


@pytest.mark.parametrize("route", ROUTES)
def test_still_elevated_on_recheck_holds_the_session_and_escalates(route):
    patient = route_at_chair(route)
    patient.bp("s1", "pre_dose", ELEVATED_BP)
    assert patient.escalation("bp_hold") is None
    patient.advance(minutes=20)
    patient.bp("s1", "pre_dose", ELEVATED_BP)
    session = patient.session("s1")
    assert session.status == SessionStatus.HELD
    assert patient.timers_of("s1") == {}
    hold = patient.escalation("bp_hold")
    assert (hold.severity, hold.status, hold.session) == ("urgent", "open", "s1")
    assert hold.ack_deadline == patient.now + timedelta(minutes=60)
    assert [m.to for _, m in patient.staff_alerts()] == [ON_CALL]
    error = patient.refuse("dose.administered", {"session": "s1", "ride_confirmed": True, "fasting_confirmed": True})
    assert error.rule == "session_arrived"
    error = patient.refuse("vitals.recorded", {"session": "s1", "phase": "pre_dose", "systolic": 120, "diastolic": 80})
    assert error.rule == "session_at_chair"


def test_no_recheck_within_30_minutes_holds_the_session_by_timer():
    patient = route_at_chair("iv_ketamine")
    patient.bp("s1", "pre_dose", ELEVATED_BP)
    elevated_at = patient.now
    patient.advance(minutes=29)
    assert patient.session("s1").status == SessionStatus.ARRIVED
    patient.advance(minutes=1)
    assert patient.fired[-1][1:] == ("bp_recheck:s1", "bp_recheck")
    assert patient.fired[-1][0] == elevated_at + timedelta(minutes=30)
    assert patient.session("s1").status == SessionStatus.HELD
    assert patient.escalation("bp_hold").severity == "urgent"


def test_a_normal_recheck_within_30_minutes_allows_dosing():
    patient = esketamine_at_chair()
    patient.bp("s1", "pre_dose", ELEVATED_BP)
    patient.advance(minutes=15)
    patient.bp("s1", "pre_dose", NORMAL_BP)
    assert "bp_recheck:s1" not in patient.state.timers
    patient.advance(minutes=20)  # past the re-check window: nothing holds the session now
    assert patient.session("s1").status == SessionStatus.ARRIVED
    patient.dose("s1", dose_mg=56)
    assert patient.session("s1").status == SessionStatus.DOSED
    assert patient.escalation("bp_hold") is None


def test_a_recheck_after_the_30_minute_window_holds_even_if_the_timer_is_late():
    # The durable timer may fire a little late; a re-check taken after the window is not "within 30 min".
    patient = route_at_chair("iv_ketamine")
    patient.bp("s1", "pre_dose", ELEVATED_BP)
    patient.now += timedelta(minutes=35)  # the clock moves without the timer having fired yet
    patient.bp("s1", "pre_dose", NORMAL_BP)
    assert patient.session("s1").status == SessionStatus.HELD
    assert patient.escalation("bp_hold").status == "open"


def test_only_one_recheck_is_allowed():
    patient = route_at_chair("iv_ketamine")
    patient.bp("s1", "pre_dose", ELEVATED_BP)
    patient.bp("s1", "pre_dose", NORMAL_BP)
    patient.bp("s1", "pre_dose", ELEVATED_BP)
    assert patient.session("s1").status == SessionStatus.HELD


@pytest.mark.parametrize("phase", ["pre_dose", "post_dose", "pre_discharge"])
@pytest.mark.parametrize("reading", [CRITICAL_BP, (180, 100), (170, 120)])
def test_bp_at_or_above_180_120_in_any_phase_escalates_at_once(phase, reading):
    patient = route_at_chair("iv_ketamine") if phase == "pre_dose" else dosed("iv_ketamine")
    patient.bp("s1", phase, reading)
    critical = patient.escalation("bp_critical")
    assert (critical.severity, critical.status, critical.tier, critical.session) == ("urgent", "open", 1, "s1")
    alerts = patient.staff_alerts()
    assert alerts[-1][1].to == ON_CALL and alerts[-1][0] == patient.now


def test_bp_just_below_180_120_is_not_critical():
    patient = dosed("iv_ketamine")
    patient.bp("s1", "post_dose", (179, 119))
    assert patient.escalation("bp_critical") is None


def test_vitals_phase_follows_the_session():
    patient = route_at_chair("iv_ketamine")
    error = patient.refuse("vitals.recorded", {"session": "s1", "phase": "post_dose", "systolic": 120, "diastolic": 80})
    assert error.rule == "vitals_phase"
    patient.dose_now("s1")
    error = patient.refuse("vitals.recorded", {"session": "s1", "phase": "pre_dose", "systolic": 120, "diastolic": 80})
    assert error.rule == "vitals_phase"


# --- discharge ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("route", "minimum"), [("esketamine", 120), ("iv_ketamine", 70), ("im_ketamine", 30)])
def test_discharge_is_refused_before_minimum_monitoring(route, minimum):
    patient = dosed(route)
    dosed_at = patient.session("s1").dosed_at
    if route == "esketamine":
        patient.advance(minutes=40)
        patient.bp("s1", "post_dose")
    patient.advance_to(dosed_at + timedelta(minutes=minimum - 1))
    patient.bp("s1", "pre_discharge")
    error = patient.refuse("session.discharged", {"session": "s1", "sedation_resolved": True,
                                                  "dissociation_resolved": True})
    assert (error.code, error.rule) == ("rule", "min_monitoring")
    assert "1 min left" in str(error)
    patient.advance(minutes=1)
    patient.discharge("s1")
    assert patient.session("s1").status == SessionStatus.DISCHARGED


@pytest.mark.parametrize(("sedation", "dissociation", "rule"),
                         [(False, True, "sedation_resolved"), (True, False, "dissociation_resolved"),
                          (False, False, "sedation_resolved")])
def test_discharge_is_refused_while_sedation_or_dissociation_is_unresolved(sedation, dissociation, rule):
    patient = dosed("esketamine")
    patient.advance(minutes=40)
    patient.bp("s1", "post_dose")
    patient.advance(minutes=80)
    patient.bp("s1", "pre_discharge")
    error = patient.refuse("session.discharged", {"session": "s1", "sedation_resolved": sedation,
                                                  "dissociation_resolved": dissociation})
    assert error.rule == rule


def test_esketamine_discharge_needs_a_post_dose_reading_in_its_window():
    patient = dosed("esketamine")
    patient.advance(minutes=34)
    patient.bp("s1", "post_dose")  # too early: does not count
    patient.advance(minutes=86)
    patient.bp("s1", "pre_discharge")
    error = patient.refuse("session.discharged", {"session": "s1", "sedation_resolved": True,
                                                  "dissociation_resolved": True})
    assert error.rule == "bp_readings"
    assert "post_dose" in str(error) and "pre_discharge" not in str(error)
    patient.bp("s1", "post_dose")  # late is still a reading: it counts
    patient.discharge("s1")
    assert patient.session("s1").status == SessionStatus.DISCHARGED


@pytest.mark.parametrize("route", ROUTES)
def test_discharge_needs_a_pre_discharge_reading(route):
    patient = dosed(route)
    patient.advance(minutes=40)
    patient.bp("s1", "post_dose")
    patient.advance(minutes=100)
    error = patient.refuse("session.discharged", {"session": "s1", "sedation_resolved": True,
                                                  "dissociation_resolved": True})
    assert error.rule == "bp_readings"
    assert "pre_discharge" in str(error)


@pytest.mark.parametrize("route", ["iv_ketamine", "im_ketamine"])
def test_ketamine_discharge_needs_no_post_dose_reading(route):
    patient = dosed(route)
    patient.advance(minutes=70)
    patient.bp("s1", "pre_discharge")
    patient.discharge("s1")
    assert patient.session("s1").status == SessionStatus.DISCHARGED


def test_only_a_dosed_session_is_discharged():
    patient = route_at_chair("iv_ketamine")
    error = patient.refuse("session.discharged", {"session": "s1", "sedation_resolved": True,
                                                  "dissociation_resolved": True})
    assert error.rule == "session_dosed"


# --- no-show, reschedule, cancel, confirmation ----------------------------------------------------------------------


@pytest.mark.parametrize("confirm", [False, True])
def test_not_arrived_30_minutes_after_start_is_a_no_show(confirm):
    patient = PatientDriver().plan("iv_ketamine")
    start = patient.schedule("s1")
    if confirm:
        patient.post("session.confirmed", {"session": "s1"})
    patient.advance_to(start + timedelta(minutes=29))
    assert patient.session("s1").status in (SessionStatus.SCHEDULED, SessionStatus.CONFIRMED)
    patient.advance(minutes=1)
    assert patient.session("s1").status == SessionStatus.NO_SHOW
    assert patient.timers_of("s1") == {}
    task = patient.escalation("no_show")
    assert (task.owner_role, task.severity, task.session, task.raised_at) == (
        "coordinator", "routine", "s1", start + timedelta(minutes=30))
    error = patient.refuse("session.arrived", {"session": "s1"})
    assert error.rule == "session_open"


def test_arrival_cancels_the_no_show():
    patient = PatientDriver().plan("iv_ketamine").arrive("s1")
    assert patient.timers_of("s1") == {}
    patient.advance(hours=2)
    assert patient.session("s1").status == SessionStatus.ARRIVED
    assert patient.escalation("no_show") is None


def test_reschedule_replaces_every_timer_of_the_session():
    patient = PatientDriver().plan("esketamine")
    old_start = patient.schedule("s1", days=4)
    patient.post("session.confirmed", {"session": "s1"})
    old = patient.timers_of("s1")
    assert {timer.kind for timer in old.values()} == {"no_show", "rems_enrollment_check", "reminder"}
    new_start = old_start + timedelta(days=2, hours=3)
    decision = patient.post("session.rescheduled", {"session": "s1", "start": new_start})
    session = patient.session("s1")
    assert (session.start, session.status, session.confirmed_at) == (new_start, SessionStatus.SCHEDULED, None)
    new = patient.timers_of("s1")
    old_times = {timer.due_at for timer in old.values()}
    assert not old_times & {timer.due_at for timer in new.values()}
    assert new["no_show:s1"].due_at == new_start + timedelta(minutes=30)
    assert new["confirm:s1"].due_at == new_start - timedelta(hours=24)
    assert new["rems_enrollment:s1"].due_at == new_start - timedelta(hours=48)
    assert {type(e).__name__ for e in decision.effects} >= {"CancelTimer", "ScheduleTimer"}
    # Nothing happens at the old times.
    patient.advance_to(old_start + timedelta(minutes=31))
    fired_for_s1 = [due for due, key, _ in patient.fired if key.endswith((":s1", ":s1:72h", ":s1:24h", ":s1:2h"))]
    assert all(due >= new_start - timedelta(hours=72) for due in fired_for_s1)  # none at the old times
    assert patient.session("s1").status == SessionStatus.SCHEDULED
    assert patient.escalation("no_show") is None
    patient.advance_to(new_start + timedelta(minutes=30))
    assert patient.session("s1").status == SessionStatus.NO_SHOW


def test_reschedule_into_the_past_or_of_a_closed_session_is_refused():
    patient = PatientDriver().plan("iv_ketamine")
    patient.schedule("s1")
    error = patient.refuse("session.rescheduled", {"session": "s1", "start": patient.now - timedelta(minutes=1)})
    assert error.rule == "start_in_future"
    patient.post("session.cancelled", {"session": "s1"})
    error = patient.refuse("session.rescheduled", {"session": "s1", "start": patient.now + timedelta(days=1)})
    assert (error.code, error.rule) == ("not_allowed", "session_open")


def test_a_timer_event_for_an_old_time_changes_nothing():
    # A worker still holding the old timer (say, the no-show at the old time) fires it after the move: a no-op.
    patient = PatientDriver().plan("iv_ketamine")
    old_start = patient.schedule("s1")
    old_key, old_timer = "no_show:s1", patient.state.timers["no_show:s1"]
    patient.post("session.rescheduled", {"session": "s1", "start": old_start + timedelta(days=1)})
    patient.now = old_timer.due_at
    before = patient.state.model_dump()
    decision = decide(patient.state, timer_event(old_key, old_timer), patient.now, PROTOCOL, CLINIC)
    assert decision.state.model_dump() == before
    assert [type(effect).__name__ for effect in decision.effects] == ["FireTimer"]


def test_cancel_removes_every_timer_of_the_session():
    patient = PatientDriver().plan("esketamine")
    start = patient.schedule("s1")
    patient.schedule("s2", days=5)
    assert patient.timers_of("s1")
    patient.post("session.cancelled", {"session": "s1", "reason": "patient ill"})
    assert patient.timers_of("s1") == {}
    assert patient.timers_of("s2")  # other sessions keep theirs
    assert patient.session("s1").status == SessionStatus.CANCELLED
    patient.advance_to(start + timedelta(hours=1))
    assert not [key for _, key, _ in patient.fired if key.endswith(":s1")]
    assert patient.session("s1").status == SessionStatus.CANCELLED
    assert patient.escalation("no_show") is None


def test_unconfirmed_24_hours_before_start_raises_confirmation_missing():
    patient = PatientDriver().plan("iv_ketamine")
    start = patient.schedule("s1")
    patient.advance_to(start - timedelta(hours=24, minutes=1))
    assert patient.escalation("confirmation_missing") is None
    patient.advance(minutes=1)
    task = patient.escalation("confirmation_missing")
    assert (task.owner_role, task.severity, task.session, task.raised_at) == (
        "coordinator", "routine", "s1", start - timedelta(hours=24))
    patient.post("session.confirmed", {"session": "s1"})
    assert patient.escalation("confirmation_missing").status == "resolved"


def test_confirmed_sessions_raise_no_confirmation_task():
    patient = PatientDriver().plan("iv_ketamine")
    start = patient.schedule("s1")
    patient.post("session.confirmed", {"session": "s1"})
    assert "confirm:s1" not in patient.state.timers
    patient.advance_to(start)
    assert patient.escalation("confirmation_missing") is None


def test_cancelling_closes_its_confirmation_task():
    patient = PatientDriver().plan("iv_ketamine")
    start = patient.schedule("s1")
    patient.advance_to(start - timedelta(hours=20))
    assert patient.escalation("confirmation_missing").status == "open"
    patient.post("session.cancelled", {"session": "s1"})
    assert patient.escalation("confirmation_missing").status == "resolved"


# --- REMS enrollment check ----------------------------------------------------------------------------------------


def test_no_rems_enrollment_48_hours_before_the_first_esketamine_session_raises_an_urgent_task():
    patient = PatientDriver().plan("esketamine")
    start = patient.schedule("s1", days=4)
    assert patient.state.timers["rems_enrollment:s1"].due_at == start - timedelta(hours=48)
    patient.advance_to(start - timedelta(hours=48, minutes=1))
    assert patient.escalation("rems_enrollment_missing") is None
    patient.advance(minutes=1)
    task = patient.escalation("rems_enrollment_missing")
    assert (task.severity, task.owner_role, task.status, task.session) == ("urgent", "coordinator", "open", "s1")
    assert patient.staff_alerts()[-1][1].to == ON_CALL
    patient.post("rems.enrolled", {"enrollment_id": "REMS-2"})
    assert patient.escalation("rems_enrollment_missing").status == "resolved"
    assert patient.escalation_timers() == {}


def test_rems_enrollment_on_file_means_no_check():
    patient = PatientDriver().plan("esketamine")
    patient.post("rems.enrolled", {"enrollment_id": "REMS-1"})
    start = patient.schedule("s1")
    assert "rems_enrollment:s1" not in patient.state.timers
    patient.advance_to(start)
    assert patient.escalation("rems_enrollment_missing") is None


def test_enrollment_recorded_after_booking_cancels_the_check():
    patient = PatientDriver().plan("esketamine")
    start = patient.schedule("s1")
    patient.post("rems.enrolled", {"enrollment_id": "REMS-1"})
    assert "rems_enrollment:s1" not in patient.state.timers
    patient.advance_to(start)
    assert patient.escalation("rems_enrollment_missing") is None


def test_a_first_session_within_48_hours_checks_enrollment_at_once():
    patient = PatientDriver().plan("esketamine")
    patient.schedule("s1", days=1)
    assert patient.state.timers["rems_enrollment:s1"].due_at == patient.now
    patient.advance(minutes=0)
    assert patient.escalation("rems_enrollment_missing").status == "open"


def test_only_the_first_esketamine_session_gets_an_enrollment_check():
    patient = PatientDriver().plan("esketamine")
    patient.schedule("s1", days=3)
    patient.schedule("s2", days=6)
    assert "rems_enrollment:s2" not in patient.state.timers


@pytest.mark.parametrize("change", ["cancelled", "rescheduled"])
def test_the_enrollment_check_moves_to_the_new_first_session(change):
    patient = PatientDriver().plan("esketamine")
    patient.schedule("s1", days=3)
    s2_start = patient.schedule("s2", days=6)
    if change == "cancelled":
        patient.post("session.cancelled", {"session": "s1"})
    else:
        patient.post("session.rescheduled", {"session": "s1", "start": patient.now + timedelta(days=10)})
    checks = {key: t.due_at for key, t in patient.state.timers.items() if t.kind == "rems_enrollment_check"}
    assert checks == {"rems_enrollment:s2": s2_start - timedelta(hours=48)}
    patient.advance_to(s2_start - timedelta(hours=48))
    assert patient.escalation("rems_enrollment_missing").session == "s2"


def test_moving_the_first_session_earlier_keeps_one_check():
    patient = PatientDriver().plan("esketamine")
    start = patient.schedule("s1", days=4)
    patient.schedule("s2", days=7)
    patient.post("session.rescheduled", {"session": "s1", "start": start - timedelta(days=1)})
    checks = [key for key, t in patient.state.timers.items() if t.kind == "rems_enrollment_check"]
    assert checks == ["rems_enrollment:s1"]


def test_ketamine_sessions_get_no_enrollment_check():
    patient = PatientDriver().plan("iv_ketamine")
    patient.schedule("s1")
    assert {timer.kind for timer in patient.timers_of("s1").values()} == {"no_show", "confirmation_check", "reminder"}


# --- REMS patient monitoring form ---------------------------------------------------------------------------------


def discharged_esketamine() -> PatientDriver:
    patient = dosed("esketamine")
    patient.monitor_and_discharge("s1")
    return patient


def test_esketamine_discharge_plans_the_rems_form_reminder_and_deadline():
    patient = discharged_esketamine()
    discharged = local(patient.session("s1").discharged_at)
    reminder = local(patient.state.timers["rems_form_reminder:s1"].due_at)
    overdue = local(patient.state.timers["rems_form_overdue:s1"].due_at)
    assert (reminder.date() - discharged.date()).days == 5 and reminder.hour == 9
    assert (overdue.date() - discharged.date()).days == 8 and (overdue.hour, overdue.minute) == (0, 0)


def test_rems_form_task_at_discharge_reminder_on_day_5_then_overdue_to_the_medical_director_after_day_7():
    patient = discharged_esketamine()
    reminder_at = patient.state.timers["rems_form_reminder:s1"].due_at
    overdue_at = patient.state.timers["rems_form_overdue:s1"].due_at
    task = patient.escalation("rems_form_due")
    assert (task.severity, task.owner_role, task.status, task.session, task.count) == (
        "routine", "coordinator", "open", "s1", 1)
    assert task.ack_deadline == overdue_at, "the task's deadline is the form's, not one business day"
    assert f"escalation:{task.id}" not in patient.state.timers, "its ladder is the overdue timer, not a second one"
    patient.advance_to(reminder_at)
    due = patient.escalation("rems_form_due")
    assert (due.severity, due.owner_role, due.tier, due.status, due.session, due.count) == (
        "routine", "coordinator", 1, "open", "s1", 2)
    assert patient.escalation("rems_form_overdue") is None
    patient.advance_to(overdue_at - timedelta(minutes=1))
    assert patient.escalation("rems_form_overdue") is None
    patient.advance(minutes=1)
    overdue = patient.escalation("rems_form_overdue")
    assert (overdue.tier, overdue.owner_role, overdue.status, overdue.session) == (2, "medical_director", "open", "s1")
    assert overdue.raised_at == overdue_at
    assert (overdue_at, MEDICAL_DIRECTOR) in [(at, m.to) for at, m in patient.staff_alerts()]
    assert patient.escalation("rems_form_due").status == "resolved", "superseded by the overdue escalation"
    patient.post("rems.form_submitted", {"session": "s1"})
    assert patient.escalation("rems_form_overdue").status == "resolved"
    assert patient.timers_of("s1") == {}
    assert patient.escalation_timers() == {}


def test_rems_form_submitted_in_time_raises_nothing():
    patient = discharged_esketamine()
    patient.advance(days=2)
    patient.post("rems.form_submitted", {"session": "s1"})
    assert patient.session("s1").rems_form_submitted
    assert patient.timers_of("s1") == {}
    patient.advance(days=10)
    assert patient.escalation("rems_form_due").status == "resolved", "the discharge task closes with the form"
    assert patient.escalation("rems_form_overdue") is None


def two_forms_outstanding() -> PatientDriver:
    """Sessions s1 and s2 discharged three days apart, neither session's REMS form submitted yet."""
    patient = discharged_esketamine()
    patient.complete_session("s2", days=3, rems_form=False)
    return patient


def rems_tasks(patient: PatientDriver, reason: str = "rems_form_due") -> dict[str, str]:
    """Each session's REMS item for a reason: session → status."""
    return {e.session: e.status for e in patient.escalations(reason)}


def test_submitting_one_sessions_rems_form_leaves_the_other_sessions_obligation_open():
    # #16: each esketamine session's REMS form is its own obligation (PROTOCOL.md §3): one item per session.
    patient = two_forms_outstanding()
    assert rems_tasks(patient) == {"s1": "open", "s2": "open"}
    patient.post("rems.form_submitted", {"session": "s2"})
    assert rems_tasks(patient) == {"s1": "open", "s2": "resolved"}
    assert {t.kind for t in patient.timers_of("s1").values()} >= {"rems_form_reminder", "rems_form_overdue"}
    overdue_at = patient.state.timers["rems_form_overdue:s1"].due_at
    patient.advance_to(overdue_at)
    assert rems_tasks(patient, "rems_form_overdue") == {"s1": "open"}, "s1's form still reaches the medical director"
    assert (overdue_at, MEDICAL_DIRECTOR) in [(at, m.to) for at, m in patient.staff_alerts()]


def test_rems_form_of_the_one_session_closes_only_that_sessions_items():
    patient = two_forms_outstanding()
    patient.advance_to(patient.state.timers["rems_form_reminder:s1"].due_at)  # s1's day-5 reminder: s1's item only
    assert {e.session: e.count for e in patient.escalations("rems_form_due")} == {"s1": 2, "s2": 1}
    patient.post("rems.form_submitted", {"session": "s1"})
    assert rems_tasks(patient) == {"s1": "resolved", "s2": "open"}
    assert "rems_form_overdue:s2" in patient.state.timers
    patient.post("rems.form_submitted", {"session": "s2"})
    assert rems_tasks(patient) == {"s1": "resolved", "s2": "resolved"}
    patient.advance(days=10)
    assert patient.escalations("rems_form_overdue") == []


def test_rems_form_only_once_and_only_for_discharged_esketamine_sessions():
    patient = dosed("esketamine")
    error = patient.refuse("rems.form_submitted", {"session": "s1"})
    assert error.rule == "rems_form_session"
    patient.monitor_and_discharge("s1")
    patient.post("rems.form_submitted", {"session": "s1"})
    error = patient.refuse("rems.form_submitted", {"session": "s1"})
    assert (error.code, error.rule) == ("not_allowed", "rems_form_once")
    ketamine = dosed("iv_ketamine")
    ketamine.monitor_and_discharge("s1")
    assert {timer.kind for timer in ketamine.timers_of("s1").values()} == {"checkin"}  # no REMS form timers
    error = ketamine.refuse("rems.form_submitted", {"session": "s1"})
    assert error.rule == "rems_form_session"
