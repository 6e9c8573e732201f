"""Final means silent: a withdrawn, discharged or declined workflow sends nothing automated again.

`close_workflow` asks the store to drop what still waits in the outbox (`DropPendingMessages("workflow_closed")`),
withdraws every question, and closes the worklist items that only made sense while the patient was in care; the
send-time check refuses an automated text for a final workflow. Staff alerts and direct replies still go.
"""

from datetime import date, timedelta

import pytest
from pathway_helpers import PROTOCOL, PatientDriver, discharged, in_induction, local_at, phq9

from workflows.effects import DropPendingMessages, SendMessage
from workflows.escalations import ACTIVE_ONLY, REASONS
from workflows.messages import Pending, recheck

RULES = PROTOCOL.messaging
SAT = date(2026, 3, 7)
CLOSE = {
    "withdrawn": ("patient.withdrew", {"reason": "moving away"}),
    "discharged": ("workflow.discharged", {"reason": "care complete", "clinician": "Dr. Berg"}),
}


def pending(message: SendMessage) -> Pending:
    return Pending(kind=message.kind, recipient=message.recipient, automated=message.automated, urgent=message.urgent,
                   subject=message.subject, subject_start=message.subject_start, expires_at=message.expires_at)


def close(patient: PatientDriver, final: str):
    event_type, data = CLOSE[final]
    return patient.post(event_type, data)


@pytest.mark.parametrize("final", ["withdrawn", "discharged"])
def test_closing_drops_what_waits_in_the_outbox_and_withdraws_every_question(final):
    patient = discharged()
    patient.post("session.scheduled", {"session": "s2", "start": local_at(date(2026, 3, 10), 13)})
    patient.advance_to(local_at(SAT, 12, 5))  # the check-in is open and s2's confirmation waits behind it
    assert patient.state.open_question is not None and patient.state.queued_questions
    decision = close(patient, final)
    assert decision.of_type(DropPendingMessages) == [DropPendingMessages("workflow_closed")]
    assert (patient.state.open_question, patient.state.earlier_question, patient.state.queued_questions) == (
        None, None, [])
    assert patient.state.timers == {}
    decision = patient.text("6")
    assert patient.state.checkins["s1"].answered_at is None, "nothing is asked any more"
    assert [m for m in decision.of_type(SendMessage) if m.recipient == "patient"] == []


def test_a_declined_referral_drops_its_pending_reminders_too():
    patient = PatientDriver()
    patient.schedule_evaluation(days=4)
    # Declined days before the booked start (so its reminders are still waiting): it was brought forward.
    decision = patient.post("evaluation.completed", {"eligible": False, "clinician": "Dr. Berg", "reason": "exclusion",
                                                     "brought_forward": "seen early, a slot opened"})
    assert patient.stage == "declined"
    assert decision.of_type(DropPendingMessages) == [DropPendingMessages("workflow_closed")]


def test_nothing_is_dropped_by_an_event_that_does_not_close_the_workflow():
    patient = in_induction()
    assert not [d for d in patient.decisions if d.of_type(DropPendingMessages)]


@pytest.mark.parametrize("final", ["withdrawn", "discharged"])
def test_the_send_time_check_refuses_automated_texts_for_a_final_workflow(final):
    patient = discharged()
    patient.post("session.scheduled", {"session": "s2", "start": local_at(date(2026, 3, 10), 21, 30)})
    patient.advance_to(local_at(SAT, 10))
    automated = [m for m in patient.to_patient() if m.automated and m.drop_reason is None]
    assert {m.kind for m in automated} >= {"checkin", "session_reminder"}
    help_reply = patient.text("HELP").of_type(SendMessage)[0]
    close(patient, final)
    for message in automated:
        verdict = recheck(patient.state, pending(message), message.not_before, RULES)
        assert (verdict.action, verdict.reason) == ("drop", "workflow_closed"), message.kind
    assert recheck(patient.state, pending(help_reply), patient.now, RULES).action == "send", "a direct reply still goes"
    alert = SendMessage(kind="staff_alert", to="+15555550190", body="x", recipient="clinician", urgent=True)
    assert recheck(patient.state, pending(alert), patient.now, RULES).action == "send", "staff alerts still go"


def test_after_withdrawal_a_crisis_text_still_gets_the_crisis_line_and_pages():
    patient = discharged()
    close(patient, "withdrawn")
    decision = patient.text("I want to die")
    (crisis,) = [m for m in decision.of_type(SendMessage) if m.recipient == "patient"]
    assert (crisis.kind, crisis.automated, crisis.urgent, crisis.drop_reason) == ("crisis", False, True, None)
    assert recheck(patient.state, pending(crisis), patient.now, RULES).action == "send"
    assert patient.escalation("crisis_language").status == "open"


def test_closing_closes_the_care_only_worklist_items_with_a_note_and_keeps_the_safety_ones():
    patient = in_induction()
    patient.post("assessment.submitted", {"instrument": "phq9", "answers": phq9(item9=1)})
    patient.text("STOP")  # opted_out; the next reminder becomes a call task
    patient.advance_to(patient.session("s1").start - timedelta(hours=24, minutes=-1))  # confirmation_missing
    assert patient.escalation("confirmation_missing").status == "open"
    assert patient.escalation("opted_out").status == "open"
    patient.post("patient.withdrew", {"reason": "moving away"})
    for reason in ("confirmation_missing", "opted_out", "call_patient"):
        item = patient.escalation(reason)
        assert item is not None and item.status == "resolved", reason
        assert (item.resolved_by, item.note) == ("carepath", "workflow closed: patient withdrew")
    assert patient.escalation("phq9_item9").status == "open", "a safety item stays for staff"


def test_the_care_only_reasons_are_logistics_never_safety():
    assert ACTIVE_ONLY <= set(REASONS)
    safety = {"crisis_language", "cssrs_high", "cssrs_moderate", "cssrs_low", "phq9_item9", "bp_hold", "bp_critical",
              "checkin_missed", "low_checkin", "rems_form_due", "rems_form_overdue", "cssrs_requested"}
    assert not ACTIVE_ONLY & safety
    assert {"referral_contact", "confirmation_missing", "reschedule_request", "rems_enrollment_missing",
            "call_patient"} <= ACTIVE_ONLY
    assert all(REASONS[reason].owner_role == "coordinator" for reason in ACTIVE_ONLY)
