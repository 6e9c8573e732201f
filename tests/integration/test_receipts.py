"""Delivery receipts only move forward, on SQLite and PostgreSQL: a callback counts only with the message's own
MessageSid, each (MessageSid, status) is recorded once, `delivered` is final, and a failure reported after it goes
into the patient's history instead of onto the message."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from pathway_support import CLINIC, PROTOCOLS, ev, event_rows, referral
from sqlalchemy import Engine, select
from sqlmodel import Session

from models.outbox import claim_message, hand_off_due_messages
from models.store import WorkflowStore
from models.tables import MessageReceipt, OutboxMessage
from models.unit_of_work import run_committed
from workers.runtime import Services
from workers.settings import Settings
from workers.status_callbacks import handle_status_callback

PATIENT = {"role": "patient"}
SID, OTHER_SID = "SM" + "a" * 32, "SM" + "b" * 32


@pytest.fixture
def svc(engine: Engine, database_url: str) -> Services:
    settings = Settings(_env_file=None, environment="test", database_url=database_url)
    return Services(settings=settings, engine=engine, store=WorkflowStore(engine, PROTOCOLS, CLINIC))


def sending(svc: Services, provider_id: str | None = None) -> OutboxMessage:
    """A patient texts HELP; a worker claims the reply and, with `provider_id`, records Twilio's SID for it."""
    now = datetime.now(UTC)
    workflow_id = svc.store.start(referral(), now).workflow_id
    svc.store.apply(workflow_id, ev("sms.received", {"from": "+15555550101", "body": "HELP"}, PATIENT), now)
    [message_id] = run_committed(svc.engine, hand_off_due_messages, now)
    message = run_committed(svc.engine, claim_message, message_id, now)
    if provider_id:
        with svc.unit_of_work() as uow:
            row = uow.db.get(OutboxMessage, message_id)
            row.status, row.provider_id, row.sent_at = "sent", provider_id, now
            uow.commit()
    return message


def callback(svc: Services, message: OutboxMessage, status: str, sid: str | None = SID, code: str | None = None,
             at: datetime | None = None) -> str | None:
    params = {"MessageStatus": status, **({"MessageSid": sid} if sid else {}), **({"ErrorCode": code} if code else {})}
    return handle_status_callback(svc, message.id, params, at or datetime.now(UTC))


def row(svc: Services, message_id: str) -> OutboxMessage:
    with Session(svc.engine) as db:
        found = db.get(OutboxMessage, message_id)
        db.expunge_all()
    return found


def receipts(svc: Services, message_id: str) -> list[tuple[str, str]]:
    with Session(svc.engine) as db:
        return sorted(db.execute(select(MessageReceipt.provider_id, MessageReceipt.status)
                                 .where(MessageReceipt.message_id == message_id)).all())


def history(svc: Services, workflow_id: str) -> list[str]:
    return [e.type for e in event_rows(svc.engine, workflow_id)]


def test_a_late_sent_never_moves_a_delivered_message_back(svc: Services) -> None:
    message = sending(svc, SID)
    assert callback(svc, message, "delivered") == "delivered"
    delivered_at = row(svc, message.id).delivered_at

    assert callback(svc, message, "sent") == "delivered"
    assert callback(svc, message, "queued") == "delivered"

    settled = row(svc, message.id)
    assert (settled.status, settled.delivered_at) == ("delivered", delivered_at)
    assert receipts(svc, message.id) == [(SID, "delivered"), (SID, "queued"), (SID, "sent")]


def test_a_failure_after_delivered_is_recorded_in_the_history_not_on_the_message(svc: Services) -> None:
    message = sending(svc, SID)
    callback(svc, message, "delivered")

    assert callback(svc, message, "undelivered", code="30003") == "delivered"
    assert callback(svc, message, "undelivered", code="30003") == "delivered"  # Twilio repeated itself

    settled = row(svc, message.id)
    assert (settled.status, settled.error_code) == ("delivered", None)
    assert history(svc, message.workflow_id).count("sms.undeliverable") == 1
    [report] = [e for e in event_rows(svc.engine, message.workflow_id) if e.type == "sms.undeliverable"]
    assert report.data == {"message": message.id, "code": "30003"}
    assert receipts(svc, message.id) == [(SID, "delivered"), (SID, "undelivered")]


def test_a_failure_before_delivered_fails_the_message(svc: Services) -> None:
    message = sending(svc, SID)
    assert callback(svc, message, "failed", code="30007") == "failed"
    assert callback(svc, message, "delivered") == "failed"  # failed is final too
    assert (row(svc, message.id).status, row(svc, message.id).error_code) == ("failed", "30007")
    assert "sms.undeliverable" not in history(svc, message.workflow_id)


def test_a_callback_with_another_message_sid_is_ignored(svc: Services, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    message = sending(svc, SID)

    assert callback(svc, message, "delivered", sid=OTHER_SID) is None
    assert callback(svc, message, "failed", sid=OTHER_SID, code="30003") is None
    assert callback(svc, message, "delivered", sid=None) is None  # no MessageSid at all

    assert (row(svc, message.id).status, row(svc, message.id).provider_id) == ("sent", SID)
    assert receipts(svc, message.id) == []
    assert "wrong_sid" in caplog.text and OTHER_SID in caplog.text
    assert message.to_phone not in caplog.text and message.body not in caplog.text
    assert callback(svc, message, "delivered") == "delivered"  # its own SID still counts


def test_the_first_sid_is_stored_when_the_sender_died_before_recording_it(svc: Services) -> None:
    message = sending(svc)  # `sending`, no provider id: the worker was killed inside the provider call
    assert callback(svc, message, "sent") == "sent"
    assert row(svc, message.id).provider_id == SID

    assert callback(svc, message, "delivered", sid=OTHER_SID) is None  # from now on only that SID counts
    assert callback(svc, message, "delivered") == "delivered"


def test_each_sid_and_status_is_recorded_once(svc: Services) -> None:
    message = sending(svc, SID)
    first = datetime.now(UTC)
    callback(svc, message, "delivered", at=first)
    callback(svc, message, "delivered", at=first + timedelta(minutes=5))

    assert row(svc, message.id).delivered_at == first
    assert receipts(svc, message.id) == [(SID, "delivered")]


def test_a_carrier_opt_out_is_reported_once(svc: Services) -> None:
    message = sending(svc, SID)
    callback(svc, message, "failed", code="21610")
    callback(svc, message, "failed", code="21610")
    assert row(svc, message.id).status == "failed"
    assert history(svc, message.workflow_id).count("sms.opted_out_at_carrier") == 1
