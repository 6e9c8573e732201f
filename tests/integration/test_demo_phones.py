"""The demo clinic's simulated patients, as `carepath standalone --demo` runs them: its seed, its in-process scheduler
and console SMS, on SQLite and PostgreSQL. Each answer comes in through the inbound path (`accept_text`, the webhook's
own): it is in the staff inbox, applied to the patient's workflow, and does what the patient's words mean."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

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
from workflows.events import make_event
from workflows.state import WorkflowState
from workflows.subjects import Subject

SEEDED_MINUTES_AGO = 3  # the seed's first reminders (45 s and 90 s after it) are due at once
COORDINATOR = {"role": "coordinator", "name": "Test Coordinator"}
CLINICIAN = {"role": "clinician", "name": "Test Clinician"}


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
    """What `run_standalone` does before serving: the demo's settings, its second clinic, the services, its seed."""
    configure_demo_replies(demo)
    if demo:
        add_demo_clinic(database_url)
    wiring.install()  # a fresh factory: the process's services (the inline tasks' too) from the settings just set
    svc = wiring.services()
    if demo:
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


def test_the_demo_patients_answer_its_reminders_through_the_inbound_path(standalone_env: str) -> None:
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
    # Demo Patient Two's evaluation tomorrow: "running late" first, then 1 once asked for a number.
    assert [text.body for text in texts_from(svc, two)] == ["Running about 10 minutes late, sorry!", "1"]
    evaluation = next(iter(workflow_of(svc, two).appointments.values()))
    assert evaluation.status == "confirmed"
    kinds = sent_kinds(svc, three)
    assert kinds.count("session_reminder") == 1 and "clarify" in kinds and "reply_ack" in kinds


def sent_kinds(svc, phone: str) -> list[str]:
    with Session(svc.engine) as db:
        return list(db.execute(select(OutboxMessage.kind).where(OutboxMessage.to_phone == phone,
                                                                OutboxMessage.status == "sent")
                               .order_by(OutboxMessage.created_at)).scalars())


def test_a_demo_patient_answers_the_check_in_after_a_session(standalone_env: str) -> None:
    svc = start(standalone_env, demo=True)
    phone = "+15555550177"
    workflow_id = discharged_yesterday(svc, phone)
    run_scheduler(svc)

    # The check-in (the day after at 10:00, two hours ago) left at the first tick, and the patient answered it.
    checkin = workflow_of(svc, phone).checkins["v1"]
    answers = texts_from(svc, phone)
    assert answers and all(text.status == "applied" and text.workflow_id == workflow_id for text in answers)
    assert checkin.answered_at is not None and str(checkin.score) == answers[-1].body


def discharged_yesterday(svc, phone: str) -> str:
    """A patient whose IV session was yesterday morning, clinic time: their check-in fell due at 10:00 today."""
    zone = ZoneInfo(svc.settings.clinic_timezone)
    morning = datetime.now(zone).replace(hour=8, minute=0, second=0, microsecond=0) - timedelta(days=1)

    def at(minutes: int) -> datetime:
        return (morning + timedelta(minutes=minutes)).astimezone(UTC)

    patient = {"name": "Checkin Patient", "phone": phone, "sms_consent": True}
    workflow_id = svc.store.start(make_event("referral.received", {"patient": patient, "referrer": "Dr. Demo",
                                                                   "prior_treatments": 3}, actor=COORDINATOR),
                                  at(-24 * 60)).workflow_id
    steps = [(-24 * 60 + 5, "evaluation.scheduled", {"start": at(-24 * 60 + 30)}, COORDINATOR),
             (-24 * 60 + 40, "evaluation.completed", {"eligible": True, "route": "iv_ketamine", "weight_kg": 80,
                                                       "clinician": "Test Clinician"}, CLINICIAN),
             (-24 * 60 + 50, "session.scheduled", {"session": "v1", "start": at(120)}, COORDINATOR),
             (110, "session.arrived", {"session": "v1"}, COORDINATOR),
             (115, "vitals.recorded", {"session": "v1", "phase": "pre_dose", "systolic": 120, "diastolic": 78},
              CLINICIAN),
             (120, "dose.administered", {"session": "v1", "fasting_confirmed": True}, CLINICIAN),
             (190, "vitals.recorded", {"session": "v1", "phase": "pre_discharge", "systolic": 120, "diastolic": 78},
              CLINICIAN),
             (195, "session.discharged", {"session": "v1", "sedation_resolved": True, "dissociation_resolved": True,
                                          "clinician": "Test Clinician"}, CLINICIAN)]
    for minutes, event_type, data, actor in steps:
        svc.store.apply(workflow_id, make_event(event_type, data, actor=actor), at(minutes))
    return workflow_id


def test_a_standalone_without_demo_never_answers(standalone_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREPATH_DEMO_REPLIES", "true")  # even asked to: only --demo has simulated patients
    svc = start(standalone_env, demo=False)
    assert isinstance(svc.gateway, ConsoleGateway) and not isinstance(svc.gateway, DemoPhones)
    phone = "+15555550178"
    discharged_yesterday(svc, phone)
    run_scheduler(svc, rounds=3)

    assert "checkin" in sent_kinds(svc, phone), "the check-in left"
    assert texts_from(svc, phone) == [] and inbox_page(svc.engine).total == 0, "nobody answered it"
    assert workflow_of(svc, phone).checkins["v1"].answered_at is None
