"""A text staff write to a patient (`message.sent_by_staff`), through the store on SQLite and PostgreSQL: refused without
consent or after STOP (nothing written), held to the patient's quiet hours unless urgent, never counted against the
daily cap, and refused when it names a drug, a diagnosis or a score until the sender confirms it."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pathway_support import CLINIC, COORDINATOR, T0, ev, row_counts
from sqlalchemy import Engine, select
from sqlmodel import Session

from models.queries import load_state
from models.store import WorkflowStore
from models.tables import OutboxMessage
from workflows.errors import Rejected

NEW_YORK = ZoneInfo("America/New_York")


def patient(pathway: WorkflowStore, consent: bool = True, phone: str = "+15555550161") -> str:
    data = {"patient": {"name": "Staff Text Patient", "phone": phone, "sms_consent": consent}, "referrer": "Dr A",
            "prior_treatments": 3}
    return pathway.start(ev("referral.received", data), T0).workflow_id


def staff_text(pathway: WorkflowStore, workflow_id: str, body: str, at: datetime, **options):
    return pathway.apply(workflow_id, ev("message.sent_by_staff", {"body": body, **options}, COORDINATOR), at)


def staff_messages(engine: Engine, workflow_id: str) -> list[OutboxMessage]:
    with Session(engine) as db:
        rows = list(db.execute(select(OutboxMessage).where(OutboxMessage.workflow_id == workflow_id,
                                                           OutboxMessage.kind == "staff_message")).scalars())
        db.expunge_all()
        return rows


def test_a_staff_text_goes_now_named_for_the_clinic_and_not_counted_against_the_cap(pathway: WorkflowStore,
                                                                                    engine: Engine) -> None:
    workflow_id = patient(pathway)
    before = load_state(engine, workflow_id).message_log
    staff_text(pathway, workflow_id, "Please call us back when you can.", T0 + timedelta(hours=1))

    [message] = staff_messages(engine, workflow_id)
    assert message.body == f"{CLINIC.name}: Please call us back when you can."
    assert (message.not_before, message.automated, message.status) == (T0 + timedelta(hours=1), False, "pending")
    assert load_state(engine, workflow_id).message_log == before


def test_in_quiet_hours_it_waits_for_eight_unless_urgent(pathway: WorkflowStore, engine: Engine) -> None:
    workflow_id = patient(pathway)
    late = datetime(2026, 3, 2, 23, 15, tzinfo=NEW_YORK)
    staff_text(pathway, workflow_id, "See you tomorrow.", late)
    staff_text(pathway, workflow_id, "Please call the clinic now.", late, urgent=True)

    waiting, urgent = sorted(staff_messages(engine, workflow_id), key=lambda m: m.urgent)
    assert waiting.not_before == datetime(2026, 3, 3, 8, 0, tzinfo=NEW_YORK)
    assert urgent.not_before == late and urgent.urgent


def test_without_consent_or_after_stop_it_is_refused_and_nothing_is_written(pathway: WorkflowStore,
                                                                            engine: Engine) -> None:
    no_consent = patient(pathway, consent=False, phone="+15555550162")
    stopped = patient(pathway)
    pathway.apply(stopped, ev("sms.received", {"from": "+15555550161", "body": "STOP"}, {"role": "patient"}),
                  T0 + timedelta(minutes=1))
    before = row_counts(engine)
    for workflow_id, rule in ((no_consent, "sms_consent"), (stopped, "sms_opted_out")):
        with pytest.raises(Rejected) as refused:
            staff_text(pathway, workflow_id, "Are you coming on Friday?", T0 + timedelta(hours=1))
        assert refused.value.rule == rule and "Call the patient" in refused.value.message
    assert row_counts(engine) == before


def test_a_drug_name_is_refused_until_the_sender_confirms_it(pathway: WorkflowStore, engine: Engine) -> None:
    workflow_id = patient(pathway)
    body = "Your esketamine visit is moved to 3pm."
    with pytest.raises(Rejected) as refused:
        staff_text(pathway, workflow_id, body, T0 + timedelta(hours=1))
    assert (refused.value.rule, refused.value.field) == ("sms_content", "body")
    assert "esketamine" in refused.value.message and staff_messages(engine, workflow_id) == []

    staff_text(pathway, workflow_id, body, T0 + timedelta(hours=1), send_anyway=True)
    [message] = staff_messages(engine, workflow_id)
    assert message.body.endswith(body)


def test_only_coordinators_and_clinicians_text_patients(pathway: WorkflowStore) -> None:
    workflow_id = patient(pathway)
    for role in ("patient", "ops"):
        with pytest.raises(Rejected) as refused:
            pathway.apply(workflow_id, ev("message.sent_by_staff", {"body": "hello"}, {"role": role}), T0)
        assert refused.value.code == "forbidden"
