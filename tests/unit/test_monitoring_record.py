"""The monitoring record at the chair (#18): SpO2 and what staff observe with each reading, the low-SpO2 alert, and
what the discharge records for the REMS form."""

from __future__ import annotations

import pytest
from pathway_helpers import PROTOCOL, PatientDriver, dosed, esketamine_at_chair


def reading(patient: PatientDriver, phase: str = "post_dose", **extra) -> None:
    patient.post("vitals.recorded", {"session": "s1", "phase": phase, "systolic": 124, "diastolic": 78, **extra})


def spo2_items(patient: PatientDriver) -> list:
    return patient.escalations("spo2_low")


def test_a_reading_below_the_protocol_threshold_raises_an_urgent_clinician_item_for_the_session():
    patient = dosed("esketamine")
    patient.advance(minutes=20)
    below = PROTOCOL.sessions.spo2_alert_below - 1
    reading(patient, spo2=below)
    [item] = spo2_items(patient)
    assert (item.severity, item.owner_role, item.session, item.status) == ("urgent", "clinician", "s1", "open")
    # A second low reading is the same item raised again, not a second one.
    reading(patient, spo2=below)
    assert [i.count for i in spo2_items(patient)] == [2]


def test_a_reading_at_the_threshold_raises_nothing_and_without_spo2_nothing_is_assumed():
    patient = esketamine_at_chair()
    reading(patient, "pre_dose", spo2=PROTOCOL.sessions.spo2_alert_below)
    reading(patient, "pre_dose")  # no SpO2 taken with this reading
    assert spo2_items(patient) == []
    assert [v.spo2 for v in patient.session("s1").vitals] == [90, None]


def test_the_threshold_is_the_protocol_files():
    stricter = PROTOCOL.model_copy(update={"sessions": PROTOCOL.sessions.model_copy(update={"spo2_alert_below": 94})})
    patient = esketamine_at_chair(protocol=stricter)
    reading(patient, "pre_dose", spo2=93)
    assert len(spo2_items(patient)) == 1


@pytest.mark.parametrize("value", [49, 101])
def test_spo2_outside_50_to_100_is_refused_with_what_is_allowed(value):
    patient = dosed("esketamine")
    error = patient.refuse("vitals.recorded", {"session": "s1", "phase": "post_dose", "systolic": 120,
                                               "diastolic": 80, "spo2": value})
    assert (error.code, error.field) == ("invalid_data", "spo2")
    assert f"spo2: {value}% is not a pulse oximetry reading" in error.message and "from 50 to 100" in error.message


def test_sedation_dissociation_and_breathing_are_kept_with_each_reading_over_time():
    patient = dosed("esketamine")
    patient.advance(minutes=40)
    reading(patient, spo2=95, sedation="present", dissociation="present", respiratory_status="normal")
    patient.advance(minutes=60)
    reading(patient, "pre_discharge", spo2=98, sedation="none", dissociation="none")
    record = [(v.phase, v.sedation, v.dissociation, v.respiratory_status) for v in patient.session("s1").vitals]
    assert record[1:] == [("post_dose", "present", "present", "normal"), ("pre_discharge", "none", "none", None)]
    error = patient.refuse("vitals.recorded", {"session": "s1", "phase": "pre_discharge", "systolic": 120,
                                               "diastolic": 80, "sedation": "a little"})
    assert (error.code, error.field) == ("invalid_data", "sedation")


def test_the_discharge_keeps_who_monitored_and_any_adverse_events_for_the_rems_form():
    patient = dosed("esketamine")
    patient.monitor_and_discharge("s1")
    assert (patient.session("s1").discharged_by, patient.session("s1").adverse_events) == ("Dr. Berg", None)
    other = dosed("esketamine")
    other.advance(minutes=40)
    other.bp("s1", "post_dose")
    other.advance(minutes=80)
    other.bp("s1", "pre_discharge")
    other.post("session.discharged", {"session": "s1", "sedation_resolved": True, "dissociation_resolved": True,
                                      "clinician": "Dr. Okafor", "adverse_events": "nausea, resolved by discharge"})
    assert other.session("s1").adverse_events == "nausea, resolved by discharge"
    assert other.session("s1").discharged_by == "Dr. Okafor"


def test_the_forms_deadline_is_the_overdue_timers_and_missing_fields_read_not_recorded():
    from workflows.rems import NOT_RECORDED, fill

    patient = dosed("esketamine")
    form = fill(patient.state, patient.session("s1"), PROTOCOL.sessions)
    assert form.deadline is None and form.ready_for_discharge is None
    assert (form.sedation, form.respiratory_depression, form.lowest_spo2, form.clinician, form.adverse_events) == (
        NOT_RECORDED, NOT_RECORDED, NOT_RECORDED, NOT_RECORDED, NOT_RECORDED)
    assert form.bp["post_dose"] is None and form.bp["pre_dose"].blood_pressure == "120/80 mmHg"
    patient.monitor_and_discharge("s1")
    form = fill(patient.state, patient.session("s1"), PROTOCOL.sessions)
    assert form.deadline == patient.state.timers["rems_form_overdue:s1"].due_at
    assert (form.clinician, form.adverse_events, form.monitored_minutes) == ("Dr. Berg", "none recorded", 120)
