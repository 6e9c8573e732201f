"""The demo clinic's simulated patients, as `carepath standalone --demo` runs them: its seed, its in-process scheduler
and console SMS, on SQLite and PostgreSQL. Each answer comes in through the inbound path (`accept_text`, the webhook's
own): it is in the staff inbox, applied to the patient's workflow, and does what the patient's words mean."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from process_support import zone_where_it_is_midday
from sqlalchemy import select
from sqlmodel import Session

from cli.standalone import DEMO_PATIENT_PHONES, add_demo_clinic, configure_demo_replies, first_text, seed_demo
from config import wiring
from models.db import migrate
from models.queries.inbox import inbox_page
from models.tables import OutboxMessage, WorkflowRow
from workers.demo_phones import DemoPhones
from workers.gateways import ConsoleGateway
from workers.scheduler import tick
from workflows.state import WorkflowState
from workflows.subjects import Subject

SEEDED_MINUTES_AGO = 3  # the seed's reminder (45 s after it) and check-in are due at once


@pytest.fixture
def standalone_env(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[str]:
    """The settings `carepath standalone` runs with, on this test's database, at about noon in the clinic (reminders
    are held in quiet hours), answers without delay."""
    for name, value in {"CAREPATH_DATABASE_URL": database_url, "CAREPATH_TASKS": "inline",
                        "CAREPATH_SMS_BACKEND": "console", "CAREPATH_CLINIC_TIMEZONE": zone_where_it_is_midday(),
                        "CAREPATH_DEMO_REPLY_SECONDS": "0"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CAREPATH_DEMO_REPLIES", "unset")  # recorded, so restored after whatever standalone sets
    monkeypatch.delenv("CAREPATH_DEMO_REPLIES")
    migrate(database_url)
    yield database_url
    wiring.install()  # the next test's services are its own


def start(database_url: str, demo: bool):
    """What `run_standalone` does before serving: the demo's settings, its second clinic, the services, and the demo's
    patients, seeded a few minutes back (without `--demo` too: their texts leave all the same)."""
    configure_demo_replies(demo)
    add_demo_clinic(database_url)
    wiring.install()  # a fresh factory: the process's services (the inline tasks' too) from the settings just set
    svc = wiring.services()
    seed_demo(svc, now=datetime.now(UTC) - timedelta(minutes=SEEDED_MINUTES_AGO))
    return svc


def run_scheduler(svc, rounds: int = 8) -> None:
    """The standalone's scheduler thread, a tick at a time, each followed by the answers it brought."""
    for _ in range(rounds):
        tick(svc)
        if isinstance(svc.gateway, DemoPhones):
            assert svc.gateway.settle(30), "the simulated answers were not all stored"


def workflow_of(svc, phone: str) -> WorkflowState:
    with Session(svc.engine) as db:
        rows = db.execute(select(WorkflowRow)).scalars().all()
        states = [WorkflowState.model_validate(row.state) for row in rows]
    return next(state for state in states if state.patient.phone == phone)


def texts_from(svc, phone: str) -> list:
    rows = inbox_page(svc.engine, limit=100).rows
    return sorted((row.text for row in rows if row.text.from_phone == phone), key=lambda text: text.received_at)


def sent_kinds(svc, phone: str) -> list[str]:
    with Session(svc.engine) as db:
        return list(db.execute(select(OutboxMessage.kind).where(OutboxMessage.to_phone == phone,
                                                                OutboxMessage.status == "sent")
                               .order_by(OutboxMessage.created_at)).scalars())


def test_the_demo_patients_answer_the_check_in_and_the_reminder_through_the_inbound_path(standalone_env: str) -> None:
    svc = start(standalone_env, demo=True)
    assert isinstance(svc.gateway, DemoPhones)
    first_text(svc)
    run_scheduler(svc)

    one, two, three = DEMO_PATIENT_PHONES[:3]
    # Demo Patient One, only referred, asked the front desk a question: in the inbox, on their workflow, for staff.
    asked = texts_from(svc, one)
    assert [(text.body, text.status) for text in asked] == [
        ("Hi, do I need to bring anything to my first appointment?", "applied")]
    assert asked[0].workflow_id == workflow_of(svc, one).workflow_id and asked[0].event_id is not None

    # Demo Patient Three's session later today: the reminder left, the patient asked about parking (words the clinic
    # cannot read: kept for staff, one "please reply with a number"), then answered 1, and the visit is confirmed.
    assert [(text.body, text.status) for text in texts_from(svc, three)] == [
        ("Is there parking at the clinic?", "applied"), ("1", "applied")]
    assert workflow_of(svc, three).visit(Subject.session("iv1")).status == "confirmed"
    # Demo Patient Two's session was yesterday: the check-in left at the first tick, and the patient answered 9.
    assert [(text.body, text.status) for text in texts_from(svc, two)] == [("9", "applied")]
    checkin = workflow_of(svc, two).checkins["iv1"]
    assert (checkin.score, checkin.answered_at is not None) == (9, True)
    assert sent_kinds(svc, two) == ["checkin", "reply_ack"], "the check-in, then the clinic's thanks"
    kinds = sent_kinds(svc, three)
    assert kinds.count("session_reminder") == 1 and "clarify" in kinds and "reply_ack" in kinds


def test_a_standalone_without_demo_never_answers(standalone_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREPATH_DEMO_REPLIES", "true")  # even asked to: only --demo has simulated patients
    svc = start(standalone_env, demo=False)  # the demo's patients all the same: their texts leave, nobody answers
    assert isinstance(svc.gateway, ConsoleGateway) and not isinstance(svc.gateway, DemoPhones)
    run_scheduler(svc, rounds=3)

    two, three = DEMO_PATIENT_PHONES[1:3]
    assert sent_kinds(svc, two) == ["checkin"] and sent_kinds(svc, three) == ["session_reminder"], "the texts left"
    assert inbox_page(svc.engine).total == 0, "nobody answered them"
    assert workflow_of(svc, two).checkins["iv1"].answered_at is None
