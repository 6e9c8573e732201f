"""The crisis line for every emergency (PROTOCOL.md §6): whichever path raises an emergency escalation, the patient
gets the crisis line at once, whatever the hour and the cap, once per event."""

from datetime import date

from pathway_helpers import CRITICAL_BP, ON_CALL, PatientDriver, cssrs, dosed, in_induction, local_at, phq9

from workflows.effects import SendMessage
from workflows.escalations import REASONS

LA = "America/Los_Angeles"
HIGH = cssrs(q1=True, q2=True, q4=True)


def crisis_lines(decision) -> list[SendMessage]:
    return [m for m in decision.of_type(SendMessage) if m.recipient == "patient" and m.kind == "crisis"]


def high_risk(patient: PatientDriver, role: str = "clinician"):
    return patient.post("assessment.submitted", {"instrument": "cssrs", "answers": HIGH}, role=role)


def test_the_emergency_reasons_are_the_two_the_protocol_names():
    assert {r for r, rule in REASONS.items() if rule.severity == "emergency"} == {"cssrs_high", "crisis_language"}


def test_cssrs_high_at_3am_sends_the_crisis_line_at_once():
    patient = PatientDriver(patient={"timezone": LA}).plan("iv_ketamine")
    patient.advance_to(local_at(date(2026, 3, 5), 3, zone=LA))
    decision = high_risk(patient)
    (line,) = crisis_lines(decision)
    assert (line.urgent, line.automated, line.drop_reason, line.not_before) == (True, False, None, patient.now)
    assert patient.clinic.catalog.crisis_line in line.body and line.body.startswith(patient.clinic.name)
    assert [m.to for m in decision.of_type(SendMessage) if m.kind == "staff_alert"] == [ON_CALL]


def test_a_screen_the_patient_submits_themselves_gets_the_crisis_line_too():
    patient = in_induction()
    assert len(crisis_lines(high_risk(patient, role="patient"))) == 1


def test_crisis_language_gets_the_crisis_line_once_not_twice():
    patient = in_induction()
    decision = patient.text("I want to die")
    assert len(crisis_lines(decision)) == 1
    assert len([m for m in decision.of_type(SendMessage) if m.recipient == "patient"]) == 1


def test_each_new_emergency_event_sends_it_again_but_the_paging_ladder_does_not():
    patient = in_induction()
    assert len(crisis_lines(high_risk(patient))) == 1
    patient.advance(minutes=50)  # tier 2 at 15 min, repeats at 30 and 45: pages only
    assert len(patient.to_patient("crisis")) == 1
    assert len(patient.staff_alerts()) == 4
    assert len(crisis_lines(patient.text("thinking about suicide"))) == 1, "a new emergency, a new crisis line"
    assert len(crisis_lines(high_risk(patient))) == 1, "a repeat of an open emergency is still a new event"
    assert len(patient.to_patient("crisis")) == 3


def test_without_sms_consent_an_emergency_still_sends_the_crisis_line():
    """A safety message, not a reminder: like the answer to a crisis text, it is not automated."""
    patient = PatientDriver(patient={"sms_consent": False})
    (line,) = crisis_lines(high_risk(patient))
    assert line.drop_reason is None


def test_an_opted_out_patient_is_not_texted_but_the_on_call_clinician_is_paged():
    patient = in_induction()
    patient.text("STOP")
    decision = high_risk(patient)
    (line,) = crisis_lines(decision)
    assert line.drop_reason == "opted_out", "the carrier refuses texts after STOP (Twilio 21610)"
    assert [m.to for m in decision.of_type(SendMessage) if m.kind == "staff_alert"] == [ON_CALL]


def test_urgent_escalations_do_not_send_the_crisis_line():
    patient = dosed("iv_ketamine")
    patient.advance(minutes=20)
    assert crisis_lines(patient.bp("s1", "post_dose", CRITICAL_BP)) == []  # bp_critical
    assert crisis_lines(patient.post("assessment.submitted", {"instrument": "phq9", "answers": phq9(item9=1)})) == []
    moderate = cssrs(q1=True, q2=True, q3=True)
    assert crisis_lines(patient.post("assessment.submitted", {"instrument": "cssrs", "answers": moderate})) == []
    assert {patient.escalation(r).severity for r in ("bp_critical", "phq9_item9", "cssrs_moderate")} == {"urgent"}
    assert patient.to_patient("crisis") == []
