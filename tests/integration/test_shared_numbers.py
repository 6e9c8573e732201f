"""Numbers own consent, and texts from a shared or unknown number, on SQLite and PostgreSQL: a STOP from a number stops
every automated text to everyone on it (and every workflow on it learns it); a digit goes to the one patient whose open
question it answers; an unclear text waits for staff with one acknowledgement; crisis language reaches every patient
on the number with one crisis line; an unknown number's crisis gets the crisis line and a worklist item with no
patient; assigning a waiting text applies it once."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from pathway_support import CLINIC, T0, ev, event_rows, outbox
from sqlalchemy import Engine, select
from sqlmodel import Session

from models import unattached
from models.assignment import assign_text
from models.inbox import apply_text, take_in
from models.numbers import report_to_number
from models.outbox import deliver_due
from models.queries import inbox as inbox_queries
from models.queries import listing
from models.store import WorkflowStore
from models.tables import AuditEntry, EscalationRecord, InboundText, OutboxMessage, PhoneNumber
from models.timer_batch import fire_due_timers
from models.unit_of_work import run_committed
from workers.gateways import ConsoleGateway
from workflows.errors import Rejected
from workflows.state import WorkflowState

SHARED = "+15555550142"
UNKNOWN = "+15555550199"
EVALUATION = T0 + timedelta(days=4)  # Friday 09:00 in New York; its 72 h reminder falls on Tuesday 09:00
ASKED = T0 + timedelta(days=1, minutes=1)  # just after that reminder: its confirmation question is open


def patient_on(pathway: WorkflowStore, name: str, phone: str = SHARED, consent: bool = True) -> str:
    data = {"patient": {"name": name, "phone": phone, "sms_consent": consent}, "referrer": "Dr A", "prior_treatments": 3}
    return pathway.start(ev("referral.received", data), T0).workflow_id


def book_evaluation(pathway: WorkflowStore, workflow_id: str) -> None:
    pathway.apply(workflow_id, ev("evaluation.scheduled", {"start": EVALUATION}), T0 + timedelta(minutes=5))


def text(pathway: WorkflowStore, engine: Engine, body: str, sid: str, at=ASKED, phone: str = SHARED):
    arrival = run_committed(engine, take_in, sid, phone, "+15555550100", body, at, CLINIC.catalog)
    return arrival.id, apply_text(pathway, arrival.id, at)


def types(engine: Engine, workflow_id: str) -> list[str]:
    return [e.type for e in event_rows(engine, workflow_id)]


def state(engine: Engine, workflow_id: str) -> WorkflowState:
    from models.queries import load_state

    return load_state(engine, workflow_id)


def inbox_row(engine: Engine, inbox_id: str) -> InboundText:
    with Session(engine) as db:
        row = db.get(InboundText, inbox_id)
        db.expunge_all()
        return row


def asked_to_confirm(pathway: WorkflowStore, *workflow_ids: str) -> None:
    for workflow_id in workflow_ids:
        book_evaluation(pathway, workflow_id)
    fire_due_timers(pathway, ASKED)
    for workflow_id in workflow_ids:
        assert state(pathway.engine, workflow_id).open_question is not None


def test_stop_from_a_shared_number_stops_automated_texts_to_every_patient_on_it(pathway: WorkflowStore,
                                                                               engine: Engine) -> None:
    first, second = patient_on(pathway, "Ana Shared"), patient_on(pathway, "Ben Shared")
    book_evaluation(pathway, first)
    book_evaluation(pathway, second)

    _inbox_id, applied = text(pathway, engine, "STOP", "SMstop", at=T0 + timedelta(hours=1))

    assert applied.status == "applied"
    for workflow_id in (first, second):  # every workflow on the number learns it: opted out, a call-instead task
        assert "sms.received" in types(engine, workflow_id)
        assert state(engine, workflow_id).patient.opted_out
        assert state(engine, workflow_id).open_escalation("opted_out") is not None
    with Session(engine) as db:
        number = db.get(PhoneNumber, SHARED)
        assert number.opted_out and number.opted_out_by == "keyword"
    # A patient referred on the number afterwards starts opted out in their own record: a coordinator is told, and
    # their reminders are calls; the number's record would still stop any text at send time.
    third = patient_on(pathway, "Cy Shared")
    assert types(engine, third) == ["referral.received", "sms.number_blocked"]
    assert state(engine, third).patient.opted_out
    assert state(engine, third).open_escalation("opted_out") is not None
    book_evaluation(pathway, third)
    gateway = ConsoleGateway(quiet=True)
    for day in range(1, 5):
        fire_due_timers(pathway, T0 + timedelta(days=day, hours=1))
        deliver_due(pathway, gateway, T0 + timedelta(days=day, hours=1))
    to_number = outbox(engine, to_phone=SHARED)
    assert to_number and not [m for m in to_number if m.status == "sent"], "nothing reached the number after STOP"
    assert "opted_out" in {m.drop_reason for m in to_number if m.workflow_id == third}
    assert gateway.sent == []
    # START from the number: texts may go to it again, for every patient on it.
    text(pathway, engine, "start", "SMstart", at=T0 + timedelta(days=4, hours=2))
    assert not inbox_queries.number_record(engine, SHARED).opted_out
    assert not any(state(engine, w).patient.opted_out for w in (first, second, third))


def test_a_patient_referred_onto_an_unreachable_number_gets_a_call_task_from_the_start(pathway: WorkflowStore,
                                                                                     engine: Engine) -> None:
    first = patient_on(pathway, "Ana Landline")
    book_evaluation(pathway, first)
    fire_due_timers(pathway, ASKED)
    [reminder] = outbox(engine, workflow_id=first, kind="evaluation_reminder")
    report_to_number(pathway, reminder.id, "sms.undeliverable", "21614", ASKED)  # not a mobile number

    second = patient_on(pathway, "Ben Landline")
    unreferred = patient_on(pathway, "Cy Mobile", phone="+15555550143")

    assert types(engine, second) == ["referral.received", "sms.number_blocked"]
    assert state(engine, second).open_escalation("phone_unreachable") is not None
    assert not state(engine, second).patient.opted_out  # unreachable is not a STOP: a new number fixes it
    assert types(engine, unreferred) == ["referral.received"]  # a number nothing is known against: nothing added


def test_the_carriers_opt_out_is_the_numbers_and_every_workflow_on_it_learns_it(pathway: WorkflowStore,
                                                                               engine: Engine) -> None:
    first, second = patient_on(pathway, "Ana Carrier"), patient_on(pathway, "Ben Carrier")
    book_evaluation(pathway, first)
    fire_due_timers(pathway, ASKED)
    [reminder] = outbox(engine, workflow_id=first, kind="evaluation_reminder")

    outcomes = report_to_number(pathway, reminder.id, "sms.opted_out_at_carrier", "21610", ASKED)
    again = report_to_number(pathway, reminder.id, "sms.opted_out_at_carrier", "21610", ASKED)

    assert {o.workflow_id for o in outcomes} == {first, second} and all(o.duplicate for o in again)
    for workflow_id in (first, second):
        assert types(engine, workflow_id).count("sms.opted_out_at_carrier") == 1
        assert state(engine, workflow_id).patient.opted_out
    assert inbox_queries.number_record(engine, SHARED).opted_out_by == "carrier"


def test_a_digit_from_a_shared_number_goes_to_the_one_patient_whose_question_it_answers(pathway: WorkflowStore,
                                                                                        engine: Engine) -> None:
    asked, other = patient_on(pathway, "Ana Asked"), patient_on(pathway, "Ben Other")
    asked_to_confirm(pathway, asked)

    _inbox_id, applied = text(pathway, engine, "1", "SMone")

    assert (applied.status, applied.workflow_id) == ("applied", asked)
    assert state(engine, asked).appointments["evaluation"].status == "confirmed"
    assert "sms.received" not in types(engine, other)
    assert [m.kind for m in outbox(engine, workflow_id=asked, kind="reply_ack")] == ["reply_ack"]
    assert outbox(engine, workflow_id=None) == [], "no acknowledgement: the text was answered"


def test_an_unclear_text_from_a_shared_number_waits_for_staff_with_one_acknowledgement(pathway: WorkflowStore,
                                                                                       engine: Engine) -> None:
    first, second = patient_on(pathway, "Ana Both"), patient_on(pathway, "Ben Both")
    asked_to_confirm(pathway, first, second)  # "1" answers either patient's question

    one, applied = text(pathway, engine, "1", "SMambiguous")
    free, later = text(pathway, engine, "running late, sorry", "SMfree", at=ASKED + timedelta(minutes=3))

    assert (applied.status, later.status) == ("unassigned", "unassigned")
    assert inbox_row(engine, one).note == inbox_row(engine, free).note == "shared_number"
    for workflow_id in (first, second):
        assert "sms.received" not in types(engine, workflow_id)
    [ack] = outbox(engine, workflow_id=None, to_phone=SHARED)
    assert ack.kind == "reply_ack" and CLINIC.name in ack.body and len(ack.body) <= 160
    assert not CLINIC.catalog.banned_in(ack.body)


def test_crisis_language_from_a_shared_number_raises_an_emergency_for_every_patient_with_one_crisis_line(
        pathway: WorkflowStore, engine: Engine) -> None:
    first, second = patient_on(pathway, "Ana Crisis"), patient_on(pathway, "Ben Crisis")
    finished = patient_on(pathway, "Cy Finished")
    pathway.apply(finished, ev("patient.withdrew", {"reason": "moved away"}), T0 + timedelta(minutes=1))

    _inbox_id, applied = text(pathway, engine, "i want to die", "SMcrisis", at=T0 + timedelta(hours=2))

    assert applied.status == "applied"
    for workflow_id in (first, second):
        assert state(engine, workflow_id).open_escalation("crisis_language") is not None
    assert "sms.received" not in types(engine, finished), "only patients in care"
    crisis_lines = [m for m in outbox(engine, to_phone=SHARED) if m.kind == "crisis"]
    assert len(crisis_lines) == 1, "the crisis line goes once to the number"
    copies = [e for w in (first, second) for e in event_rows(engine, w) if e.type == "sms.received"]
    assert sorted(bool(e.data.get("copy")) for e in copies) == [False, True]
    # HELP is the number's too: on both records, answered once.
    text(pathway, engine, "HELP", "SMhelp", at=T0 + timedelta(hours=3))
    assert all(types(engine, w).count("sms.received") == 2 for w in (first, second))
    assert len([m for m in outbox(engine, to_phone=SHARED) if m.kind == "help"]) == 1


def test_crisis_language_from_an_unknown_number_gets_the_crisis_line_and_a_worklist_item_without_a_patient(
        pathway: WorkflowStore, engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    body = "nobody knows me here and I want to end my life"
    inbox_id, applied = text(pathway, engine, body, "SMunknowncrisis", phone=UNKNOWN)

    assert (applied.status, inbox_row(engine, inbox_id).note) == ("unassigned", "unknown_number")
    with Session(engine) as db:
        [item] = db.execute(select(EscalationRecord).where(EscalationRecord.inbox_id == inbox_id)).scalars().all()
    assert (item.workflow_id, item.patient_id, item.reason, item.severity, item.status) == (
        None, None, "crisis_language", "emergency", "open")
    assert item.ack_deadline == ASKED + timedelta(minutes=15)
    [line] = outbox(engine, to_phone=UNKNOWN)
    assert (line.kind, line.workflow_id, line.urgent) == ("crisis", None, True)
    alerts = outbox(engine, kind="staff_alert", escalation_id=item.id)
    assert {m.to_phone for m in alerts} == {CLINIC.staff.on_call, CLINIC.staff.medical_director}
    # The worklist shows it (no patient), and it can be taken and closed without a workflow.
    worklist = listing.worklist_page(engine, now=ASKED)
    assert (item.id, None) in [(record.id, patient) for record, patient in worklist.rows]
    gateway = ConsoleGateway(quiet=True)
    assert deliver_due(pathway, gateway, ASKED) == 3
    assert sorted(kind for _id, kind in gateway.sent) == ["crisis", "staff_alert", "staff_alert"]
    claim = ev("escalation.acknowledged", {"escalation": item.id}, actor={"role": "clinician", "name": "Dr B"},
               key="claim-1")
    first = unattached.settle(pathway, item.id, claim, ASKED + timedelta(minutes=5))
    again = unattached.settle(pathway, item.id, claim, ASKED + timedelta(minutes=6))  # the same claim, sent twice
    assert (first.duplicate, again.duplicate, again.record.acknowledged_at) == (False, True, ASKED + timedelta(minutes=5))
    with pytest.raises(Rejected):  # another claim of an item taken already is refused
        unattached.settle(pathway, item.id, claim.model_copy(update={"idempotency_key": "claim-2"}),
                          ASKED + timedelta(minutes=6))
    with Session(engine) as db:
        [change] = db.execute(select(AuditEntry).where(AuditEntry.target_id == item.id)).scalars().all()
        assert (change.action, change.detail) == ("change", "escalation.acknowledged")
    assert body not in caplog.text and "end my life" not in caplog.text, "logged without its body"
    # Sent again (the same MessageSid): nothing new. Another text from the number waits for staff, with no reply.
    run_committed(engine, take_in, "SMunknowncrisis", UNKNOWN, None, body, ASKED, CLINIC.catalog)
    _other, applied = text(pathway, engine, "is this the clinic?", "SMwho", phone=UNKNOWN)
    assert applied.status == "unassigned" and len(outbox(engine, to_phone=UNKNOWN)) == 1


def test_an_unknown_numbers_emergency_pages_the_medical_director_every_15_minutes_until_acknowledged(
        pathway: WorkflowStore, engine: Engine) -> None:
    inbox_id, _ = text(pathway, engine, "i want to die", "SMunknownladder", phone=UNKNOWN)
    item_id = unattached.escalation_id_for(inbox_id)

    def pages() -> list[OutboxMessage]:
        return [m for m in outbox(engine, kind="staff_alert", escalation_id=item_id)
                if m.to_phone == CLINIC.staff.medical_director]

    assert run_committed(engine, unattached.repage_overdue, pathway, ASKED + timedelta(minutes=14)) == 0
    assert len(pages()) == 1, "paged at once, not again before the deadline"
    # The deadline passes: paged again, tier 2; a scheduler that comes back 40 minutes late pages once, not thrice.
    assert run_committed(engine, unattached.repage_overdue, pathway, ASKED + timedelta(minutes=55)) == 1
    assert run_committed(engine, unattached.repage_overdue, pathway, ASKED + timedelta(minutes=56)) == 0
    assert len(pages()) == 2
    with Session(engine) as db:
        item = db.get(EscalationRecord, item_id)
        assert (item.tier, item.ack_deadline) == (2, ASKED + timedelta(minutes=70))
    assert run_committed(engine, unattached.repage_overdue, pathway, ASKED + timedelta(minutes=70)) == 1
    assert len(pages()) == 3
    # Acknowledged: the paging stops.
    unattached.settle(pathway, item_id, ev("escalation.acknowledged", {"escalation": item_id},
                                           actor={"role": "clinician", "name": "Dr On Call"}),
                      ASKED + timedelta(minutes=71))
    assert run_committed(engine, unattached.repage_overdue, pathway, ASKED + timedelta(hours=3)) == 0
    assert len(pages()) == 3


def test_assigning_a_waiting_text_applies_it_once(pathway: WorkflowStore, engine: Engine) -> None:
    first, second = patient_on(pathway, "Ana Assign"), patient_on(pathway, "Ben Assign")
    asked_to_confirm(pathway, first, second)
    inbox_id, _ = text(pathway, engine, "1", "SMassign")

    outcome = assign_text(pathway, inbox_id, first, "Sam", ASKED + timedelta(minutes=10))
    again = assign_text(pathway, inbox_id, first, "Sam", ASKED + timedelta(minutes=11))

    assert again.duplicate and again.event_id == outcome.event_id
    with pytest.raises(Rejected):
        assign_text(pathway, inbox_id, second, "Kim", ASKED + timedelta(minutes=12))
    [received] = [e for e in event_rows(engine, first) if e.type == "sms.received"]
    assert received.idempotency_key == "twilio:SMassign" and received.occurred_at == ASKED
    assert state(engine, first).appointments["evaluation"].status == "confirmed"
    assert "sms.received" not in types(engine, second)
    row = inbox_row(engine, inbox_id)
    assert (row.status, row.workflow_id, row.event_id, row.note) == ("applied", first, received.id, "assigned by Sam")


def test_an_unknown_numbers_crisis_text_assigned_later_is_a_copy_on_the_patients_record(pathway: WorkflowStore,
                                                                                        engine: Engine) -> None:
    workflow_id = patient_on(pathway, "Dee New Phone", phone="+15555550143")
    inbox_id, _ = text(pathway, engine, "I want to die", "SMnewphone", phone=UNKNOWN)

    assign_text(pathway, inbox_id, workflow_id, "Sam", ASKED + timedelta(minutes=2))

    assert state(engine, workflow_id).open_escalation("crisis_language") is not None
    assert [m.kind for m in outbox(engine, workflow_id=workflow_id) if m.recipient == "patient"] == [], \
        "the crisis line went when the text arrived: not again"
    with Session(engine) as db:
        item = db.get(EscalationRecord, unattached.escalation_id_for(inbox_id))
        assert item.status == "resolved" and item.resolved_by == "Sam"
