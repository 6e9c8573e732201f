"""Reconciling stale sends against the fake Twilio: a send whose outcome is unknown is looked up before any resend."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fake_twilio import FakeTwilio
from pathway_support import CLINIC, PROTOCOLS, ev, referral
from sqlalchemy import Engine
from sqlmodel import Session

from models.outbox import (
    claim_message,
    hand_off_due_messages,
    mark_sent,
    record_provider_status,
    return_to_pending,
    sweep_messages,
)
from models.store import WorkflowStore
from models.tables import OutboxMessage
from models.unit_of_work import run_committed
from workers.reconcile import reconcile_stale_sends
from workers.runtime import Services
from workers.settings import Settings
from workers.twilio_gateway import TwilioGateway

GRACE = 60
PATIENT = {"role": "patient"}


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


class Spy:
    """The Twilio gateway, counting lookups."""

    def __init__(self, gateway: TwilioGateway) -> None:
        self.gateway, self.lookups = gateway, []

    def send(self, *args, **kwargs):
        return self.gateway.send(*args, **kwargs)

    def find_sent(self, message_id, to, body, since):
        self.lookups.append(message_id)
        return self.gateway.find_sent(message_id, to, body, since)


@pytest.fixture
def svc(engine: Engine, database_url: str, fake: FakeTwilio) -> Services:
    gateway = TwilioGateway(fake.account_sid, fake.auth_token, from_number=FakeTwilio.FROM_NUMBER,
                            api_base_url=fake.base_url, timeout=5)
    settings = Settings(environment="test", database_url=database_url, send_grace_seconds=GRACE)
    return Services(settings=settings, engine=engine, store=WorkflowStore(engine, PROTOCOLS, CLINIC),
                    make_gateway=lambda: Spy(gateway))


def claimed_send(svc: Services, phone: str = "+15555550101") -> OutboxMessage:
    """A patient texts HELP; a worker claims the reply (`sending`) and is never heard from again."""
    now = datetime.now(UTC)
    workflow_id = svc.store.start(referral(phone=phone), now).workflow_id
    svc.store.apply(workflow_id, ev("sms.received", {"from": phone, "body": "HELP"}, PATIENT), now)
    [message_id] = run_committed(svc.engine, hand_off_due_messages, now)
    return run_committed(svc.engine, claim_message, message_id, now)


def row(svc: Services, message_id: str) -> OutboxMessage:
    with Session(svc.engine) as db:
        found = db.get(OutboxMessage, message_id)
        db.expunge_all()
    return found


def after_grace(message: OutboxMessage) -> datetime:
    return message.claimed_at + timedelta(seconds=GRACE + 1)


def test_a_stale_send_twilio_accepted_is_marked_sent_and_not_resent(svc: Services, fake: FakeTwilio,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    message = claimed_send(svc)
    sid = svc.gateway.send(message.id, message.kind, message.to_phone, message.body)  # the answer never came back
    later = after_grace(message)

    result = reconcile_stale_sends(svc, later)

    assert (result.found, result.resent, result.unsettled) == (1, 0, 0)
    settled = row(svc, message.id)
    assert (settled.status, settled.provider_id, settled.sent_at, settled.attempts) == ("sent", sid, later, 1)
    assert len(fake.messages) == 1
    assert message.to_phone not in caplog.text and message.body not in caplog.text
    assert reconcile_stale_sends(svc, later + timedelta(seconds=1)).found == 0  # settled once


def test_a_stale_send_twilio_never_got_goes_back_to_pending(svc: Services, fake: FakeTwilio) -> None:
    message = claimed_send(svc)

    result = reconcile_stale_sends(svc, after_grace(message))

    assert (result.found, result.resent, result.unsettled) == (0, 1, 0)
    returned = row(svc, message.id)
    assert (returned.status, returned.claimed_at, returned.provider_id) == ("pending", None, None)
    assert run_committed(svc.engine, hand_off_due_messages, after_grace(message)) == [message.id]  # and out it goes again
    assert fake.messages == []


def test_while_twilio_cannot_answer_stale_sends_stay_sending(svc: Services, fake: FakeTwilio) -> None:
    first, second = claimed_send(svc), claimed_send(svc, "+15555550102")
    svc.gateway.send(second.id, second.kind, second.to_phone, second.body)
    fake.fail_lookups(1, status=503)

    result = reconcile_stale_sends(svc, after_grace(second))

    assert (result.found, result.resent, result.unsettled) == (0, 0, 2)
    assert svc.gateway.lookups == [first.id]  # Twilio is down: the rest are not tried this tick
    assert [row(svc, m.id).status for m in (first, second)] == ["sending", "sending"]

    result = reconcile_stale_sends(svc, after_grace(second) + timedelta(seconds=1))  # next tick, Twilio is back

    assert (result.found, result.resent, result.unsettled) == (1, 1, 0)
    assert [row(svc, m.id).status for m in (first, second)] == ["pending", "sent"]
    assert len(fake.messages) == 1


def test_a_refused_lookup_leaves_the_send_alone_and_goes_on(svc: Services, fake: FakeTwilio) -> None:
    first, second = claimed_send(svc), claimed_send(svc, "+15555550102")
    fake.fail_lookups(1, status=403, code=20403)

    result = reconcile_stale_sends(svc, after_grace(second))

    assert (result.found, result.resent, result.unsettled) == (0, 1, 1)
    assert [row(svc, m.id).status for m in (first, second)] == ["sending", "pending"]


def test_a_send_within_the_grace_is_not_looked_up(svc: Services) -> None:
    message = claimed_send(svc)

    result = reconcile_stale_sends(svc, message.claimed_at + timedelta(seconds=GRACE - 1))

    assert (result.found, result.resent, result.unsettled) == (0, 0, 0)
    assert svc.gateway.lookups == []
    assert row(svc, message.id).status == "sending"


def test_the_sweeper_no_longer_resends_sending_rows(svc: Services) -> None:
    message = claimed_send(svc)

    assert run_committed(svc.engine, sweep_messages, message.claimed_at + timedelta(days=1), GRACE) == 0
    assert row(svc, message.id).status == "sending"


def test_an_answer_about_an_older_claim_changes_nothing(svc: Services) -> None:
    # Another scheduler already returned the row and a worker claimed it again: this scheduler's "not found" is about
    # the old claim and must not take the new send back.
    message = claimed_send(svc)
    old_claim = message.claimed_at
    assert run_committed(svc.engine, return_to_pending, message.id, old_claim)
    [again] = run_committed(svc.engine, hand_off_due_messages, after_grace(message))
    run_committed(svc.engine, claim_message, again, after_grace(message))

    assert not run_committed(svc.engine, return_to_pending, message.id, old_claim)
    assert not run_committed(svc.engine, mark_sent, message.id, "SM" + "0" * 32, after_grace(message), old_claim)
    assert row(svc, message.id).status == "sending"


def test_a_status_callback_first_wins(svc: Services, fake: FakeTwilio) -> None:
    message = claimed_send(svc)
    sid = svc.gateway.send(message.id, message.kind, message.to_phone, message.body)
    run_committed(svc.engine, record_provider_status, message.id, "delivered", sid, None, datetime.now(UTC))

    result = reconcile_stale_sends(svc, after_grace(message))

    assert (result.found, result.resent) == (0, 0) and svc.gateway.lookups == []
    assert row(svc, message.id).status == "delivered"
