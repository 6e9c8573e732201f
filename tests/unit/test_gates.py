"""The chair's gates (workflows.gates): what they show open is what the engine refuses, and when discharge is allowed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pathway_helpers import ELEVATED_BP, PROTOCOL, PatientDriver, dosed, esketamine_at_chair, route_at_chair

from workflows.gates import chair_gates, first_open


def gates_of(patient: PatientDriver, session_id: str = "s1"):
    session = patient.session(session_id)
    return chair_gates(patient.state, session, PROTOCOL.route(session.route), PROTOCOL.sessions, patient.now,
                       zone=patient.clinic.timezone)


def open_names(patient: PatientDriver) -> set[str]:
    return {gate.name for gate in gates_of(patient).open}


def test_at_arrival_every_esketamine_dose_gate_is_open_and_no_discharge_time_yet():
    patient = esketamine_at_chair(rems=False)
    view = gates_of(patient)
    assert [(g.name, g.state) for g in view.dose] == [
        ("one_dose_at_a_time", "passed"), ("bp_pre_dose", "open"), ("rems_enrollment", "open"), ("ride_home", "open"),
        ("fasting", "open")]
    assert view.discharge == [] and view.earliest_discharge is None and view.seconds_left is None


@pytest.mark.parametrize(("missing", "rule"), [("rems", "rems_enrollment"), ("ride", "ride_home"),
                                              ("fasting", "fasting"), ("bp", "bp_pre_dose")])
def test_the_engine_refuses_a_dose_with_a_gate_the_chair_shows_open(missing, rule):
    patient = esketamine_at_chair(rems=missing != "rems")
    if missing != "bp":
        patient.bp("s1", "pre_dose")
    shown_open = open_names(patient)
    error = patient.refuse("dose.administered", {"session": "s1", "dose_mg": 56, "ride_confirmed": missing != "ride",
                                                 "fasting_confirmed": missing != "fasting"})
    assert error.rule == rule and rule in shown_open
    assert error.message == next(g.refusal for g in gates_of(patient).dose if g.rule == rule)


def test_an_elevated_pre_dose_reading_keeps_the_gate_open_until_the_recheck_deadline():
    patient = esketamine_at_chair()
    patient.bp("s1", "pre_dose", ELEVATED_BP)
    gate = next(g for g in gates_of(patient).dose if g.name == "bp_pre_dose")
    assert gate.state == "open" and "150/95" in gate.detail
    assert gate.due_until == patient.now + timedelta(minutes=PROTOCOL.sessions.bp_recheck_minutes)
    patient.advance(minutes=10)
    patient.bp("s1", "pre_dose")
    assert "bp_pre_dose" not in open_names(patient)


def test_iv_ketamine_needs_no_rems_enrollment_and_no_ride_home():
    patient = route_at_chair("iv_ketamine")
    states = {g.name: g.state for g in gates_of(patient).dose}
    assert states["rems_enrollment"] == states["ride_home"] == "not_required"
    assert states["fasting"] == "open"


def test_after_the_dose_the_discharge_gates_count_down_to_the_earliest_discharge():
    patient = esketamine_at_chair()
    patient.dose_now("s1")
    dosed_at = patient.session("s1").dosed_at
    view = gates_of(patient)
    assert all(g.state in ("passed", "not_required") for g in view.dose)
    assert view.earliest_discharge == dosed_at + timedelta(minutes=120) and view.seconds_left == 120 * 60
    post_dose = next(g for g in view.discharge if g.name == "bp_post_dose")
    assert (post_dose.state, post_dose.due_from, post_dose.due_until) == (
        "open", dosed_at + timedelta(minutes=35), dosed_at + timedelta(minutes=50))
    assert open_names(patient) == {"min_monitoring", "sedation_resolved", "dissociation_resolved", "bp_post_dose",
                                   "bp_pre_discharge"}
    patient.advance(minutes=30)
    assert gates_of(patient).seconds_left == 90 * 60


def test_an_early_discharge_is_refused_with_the_gate_the_chair_shows_and_its_time_left():
    patient = esketamine_at_chair()
    patient.dose_now("s1")
    patient.advance(minutes=40)
    patient.bp("s1", "post_dose")
    patient.advance(minutes=60)
    patient.bp("s1", "pre_discharge")
    gate = first_open(gates_of(patient).discharge)
    assert (gate.name, gate.detail) == ("min_monitoring", "20 min left")
    error = patient.refuse("session.discharged", {"session": "s1", "sedation_resolved": True,
                                                  "dissociation_resolved": True})
    assert (error.rule, error.message) == ("min_monitoring", gate.refusal)
    allowed = patient.local(patient.session("s1").dosed_at + timedelta(hours=2))
    assert f"discharge allowed from {allowed:%Y-%m-%d %H:%M} E" in error.message, "in clinic time, to the minute"


def test_a_missing_reading_is_shown_open_and_is_the_engines_refusal_once_the_time_is_reached():
    patient = esketamine_at_chair()
    patient.dose_now("s1")
    patient.advance(minutes=120)
    assert open_names(patient) == {"sedation_resolved", "dissociation_resolved", "bp_post_dose", "bp_pre_discharge"}
    assert gates_of(patient).seconds_left == 0
    error = patient.refuse("session.discharged", {"session": "s1", "sedation_resolved": True,
                                                  "dissociation_resolved": True})
    assert error.rule == "bp_readings" and "post_dose, pre_discharge" in error.message
    patient.bp("s1", "pre_discharge")
    # A late post-dose reading still counts: the engine only refuses readings taken before its window opens.
    patient.bp("s1", "post_dose")
    assert open_names(patient) == {"sedation_resolved", "dissociation_resolved"}


def test_once_discharged_nothing_is_open():
    patient = esketamine_at_chair()
    patient.dose_now("s1")
    patient.monitor_and_discharge("s1")
    view = gates_of(patient)
    assert view.open == [] and view.seconds_left == 0


def test_a_second_session_is_not_dosed_while_the_first_is_still_monitored():
    patient = dosed()  # s1 dosed, not discharged
    start = patient.now + timedelta(minutes=20)
    patient.post("session.scheduled", {"session": "s2", "start": start})
    patient.post("session.arrived", {"session": "s2"})
    patient.bp("s2", "pre_dose")
    assert "one_dose_at_a_time" in open_names_of(patient, "s2")
    error = patient.refuse("dose.administered", {"session": "s2", "dose_mg": 56, "ride_confirmed": True,
                                                 "fasting_confirmed": True})
    assert error.rule == "one_dose_at_a_time" and "s1" in error.message


def _charted(patient: PatientDriver, event_type: str, data: dict, minutes_ago: float):
    from workflows.events import make_event
    from workflows.pathway import decide

    event = make_event(event_type, data, actor={"role": "clinician", "name": "Dr. Berg"},
                       occurred_at=patient.now - timedelta(minutes=minutes_ago))
    return decide(patient.state, event, patient.now, PROTOCOL, patient.clinic)


def test_late_charting_keeps_a_visits_steps_in_order():
    from workflows.errors import Rejected

    patient = esketamine_at_chair()  # arrived just now
    with pytest.raises(Rejected) as before_arrival:
        _charted(patient, "vitals.recorded", {"session": "s1", "phase": "pre_dose", "systolic": 120, "diastolic": 80},
                 minutes_ago=10)
    assert before_arrival.value.rule == "charted_in_order" and "before the arrival" in before_arrival.value.message

    patient.advance(minutes=10)
    patient.bp("s1", "pre_dose")
    with pytest.raises(Rejected) as before_reading:
        _charted(patient, "dose.administered", {"session": "s1", "dose_mg": 56, "ride_confirmed": True,
                                                "fasting_confirmed": True}, minutes_ago=3)
    assert before_reading.value.rule == "charted_in_order" and "pre-dose reading" in before_reading.value.message
    assert patient.session("s1").status == "arrived"


def open_names_of(patient: PatientDriver, session_id: str) -> set[str]:
    return {gate.name for gate in gates_of(patient, session_id).open}


# --- #16: breathing is an esketamine discharge gate (PROTOCOL.md §3, the current Spravato label) --------------------


def breathing(patient: PatientDriver, phase: str, status: str, session_id: str = "s1"):
    return patient.post("vitals.recorded", {"session": session_id, "phase": phase, "systolic": 120, "diastolic": 80,
                                            "spo2": 97, "respiratory_status": status})


def monitored_esketamine() -> PatientDriver:
    """An esketamine patient dosed at s1, past the minimum time, with every BP reading: ready but for breathing."""
    patient = dosed("esketamine")
    patient.advance(minutes=40)
    patient.bp("s1", "post_dose")
    patient.advance(minutes=80)
    patient.bp("s1", "pre_discharge")
    return patient


def breathing_gate(patient: PatientDriver):
    return next(g for g in gates_of(patient).discharge if g.name == "respiratory_resolved")


def test_respiratory_depression_recorded_after_the_dose_holds_discharge_until_breathing_is_recorded_normal():
    patient = dosed("esketamine")
    patient.advance(minutes=40)
    breathing(patient, "post_dose", "depressed")
    patient.advance(minutes=80)
    patient.bp("s1", "pre_discharge")
    gate = breathing_gate(patient)
    assert (gate.state, gate.label) == ("open", "Breathing back to normal")
    error = patient.refuse("session.discharged", {"session": "s1", "sedation_resolved": True,
                                                  "dissociation_resolved": True})
    assert (error.rule, error.message) == ("respiratory_resolved", gate.refusal)
    assert open_names(patient) == {"sedation_resolved", "dissociation_resolved", "respiratory_resolved"}
    breathing(patient, "pre_discharge", "normal")
    assert breathing_gate(patient).state == "passed"
    patient.discharge("s1")
    assert patient.session("s1").status == "discharged"


def test_no_breathing_concern_recorded_is_nothing_to_resolve_and_ketamine_routes_do_not_have_the_gate():
    patient = esketamine_at_chair()
    breathing(patient, "pre_dose", "depressed")  # before the dose: not this dose's respiratory depression
    patient.dose("s1")
    patient.advance(minutes=40)
    patient.bp("s1", "post_dose")  # no respiratory_status: not observed with this reading
    patient.advance(minutes=80)
    patient.bp("s1", "pre_discharge")
    gate = breathing_gate(patient)
    assert (gate.state, gate.detail) == ("passed", "no breathing problem recorded since the dose")
    patient.discharge("s1")
    ketamine = dosed("iv_ketamine")
    ketamine.advance(minutes=10)
    breathing(ketamine, "post_dose", "depressed")
    assert breathing_gate(ketamine).state == "not_required"


def test_respiratory_status_must_be_normal_or_depressed():
    patient = dosed("esketamine")
    error = patient.refuse("vitals.recorded", {"session": "s1", "phase": "post_dose", "systolic": 120,
                                               "diastolic": 80, "respiratory_status": "shallow"})
    assert (error.code, error.field) == ("invalid_data", "respiratory_status")
    assert "'normal' or 'depressed'" in error.message
