"""The embedded mode: the scheduler's tick runs the same task code in-process (SQLite, console SMS, no Redis)."""

from datetime import UTC, datetime, timedelta

import pytest
from process_support import zone_where_it_is_midday

from config import wiring
from models.db import migrate
from models.outbox import claim_message, hand_off_due_messages
from models.queries import messages, timers
from models.unit_of_work import run_committed
from workers.scheduler import tick
from workflows.events import make_event

COORDINATOR = {"role": "coordinator", "name": "c"}


@pytest.fixture
def inline_services(sqlite_database_url, monkeypatch):
    monkeypatch.setenv("CAREPATH_DATABASE_URL", sqlite_database_url)
    monkeypatch.setenv("CAREPATH_TASKS", "inline")
    monkeypatch.setenv("CAREPATH_SMS_BACKEND", "console")
    monkeypatch.setenv("CAREPATH_CLINIC_TIMEZONE", zone_where_it_is_midday())
    migrate(sqlite_database_url)
    wiring.install()  # a fresh factory: services built from the environment just set
    yield wiring.services()
    wiring.install()


def test_a_tick_fires_due_timers_and_sends_due_messages_once(inline_services):
    svc = inline_services
    now = datetime.now(UTC)
    referral = make_event("referral.received", {"patient": {"name": "P", "phone": "+15555550111", "sms_consent": True},
                                                "referrer": "r", "prior_treatments": 3}, actor=COORDINATOR)
    workflow = svc.store.start(referral, now).workflow_id
    svc.store.apply(workflow, make_event("evaluation.scheduled", {"start": now + timedelta(hours=2, seconds=1)},
                                           actor=COORDINATOR), now)
    later = now + timedelta(seconds=5)  # the 2 h reminder is due

    first = tick(svc, later)
    second = tick(svc, later + timedelta(seconds=1))

    assert (first.timers, first.messages) == (1, 1)
    assert (second.timers, second.messages) == (0, 0)
    [reminder] = [t for t in timers(svc.engine) if t.kind == "reminder"]
    assert reminder.status == "fired"
    [message] = messages(svc.engine)
    assert (message.kind, message.status) == ("evaluation_reminder", "sent")
    assert [kind for _, kind in svc.gateway.sent] == ["evaluation_reminder"]


def test_a_tick_reconciles_a_stale_send_the_gateway_already_made(inline_services):
    # The send went out but its outcome was never recorded (the process died): after the send grace the tick asks
    # the gateway, finds it, and marks it sent instead of sending it again.
    svc = inline_services
    now = datetime.now(UTC)
    referral = make_event("referral.received", {"patient": {"name": "P", "phone": "+15555550111", "sms_consent": True},
                                                "referrer": "r", "prior_treatments": 3}, actor=COORDINATOR)
    workflow = svc.store.start(referral, now).workflow_id
    svc.store.apply(workflow, make_event("sms.received", {"from": "+15555550111", "body": "HELP"},
                                           actor={"role": "patient"}), now)
    [message_id] = run_committed(svc.engine, hand_off_due_messages, now)
    message = run_committed(svc.engine, claim_message, message_id, now)
    provider_id = svc.gateway.send(message.id, message.kind, message.to_phone, message.body)

    result = tick(svc, now + timedelta(seconds=svc.settings.send_grace_seconds + 1))

    assert (result.reconciled, result.released, result.messages) == (1, 0, 0)
    [row] = messages(svc.engine)
    assert (row.status, row.provider_id) == ("sent", provider_id)
    assert [kind for _, kind in svc.gateway.sent] == ["help"]
