"""The inbox on SQLite and PostgreSQL: a text is stored once per MessageSid, applied once (however many workers try,
however busy its workflow), crisis texts are handed out first, and a text whose task was lost comes back."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from pathway_support import CLINIC, PROTOCOLS, T0, ev, event_rows, referral, workflow_row
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from models.db import make_engine, migrate
from models.inbox import Incoming, apply_text, receive_sms, take_in, take_in_many
from models.inbox_sweep import (
    hand_off_waiting_texts,
    release_text,
    return_unhanded_texts,
    sweep_texts,
    waiting_texts,
)
from models.store import WorkflowStore
from models.tables import InboundText
from models.unit_of_work import run_committed
from workers import inbound, tasks
from workers.inbound import accept_text
from workers.runtime import Services
from workers.settings import Settings
from workflows.pathway import timer_event
from workflows.state import WorkflowState

PHONE = "+15555550101"  # referral()'s patient
CATALOG = CLINIC.catalog


def store_text(engine: Engine, sid: str, body: str = "1", phone: str = PHONE, at=T0, handed_off: bool = False):
    return run_committed(engine, take_in, sid, phone, "+15555550100", body, at, CATALOG, handed_off=handed_off)


def text_row(engine: Engine, inbox_id: str) -> InboundText:
    with Session(engine) as db:
        row = db.get(InboundText, inbox_id)
        db.expunge_all()
        return row


def test_a_text_is_stored_once_per_message_sid(engine: Engine) -> None:
    first = store_text(engine, "SM1", "running late")
    again = store_text(engine, "SM1", "running late")

    assert first.new and not again.new and again.id == first.id
    row = text_row(engine, first.id)
    assert (row.status, row.from_phone, row.to_phone, row.body, row.crisis) == (
        "pending", PHONE, "+15555550100", "running late", False)
    with Session(engine) as db:
        assert db.execute(select(func.count()).select_from(InboundText)).scalar_one() == 1


def test_texts_that_arrived_together_are_stored_in_one_statement(engine: Engine) -> None:
    earlier = store_text(engine, "SMb0", "first")
    batch = [Incoming(sid, PHONE, None, body, T0) for sid, body in
             (("SMb1", "1"), ("SMb0", "first"), ("SMb2", "I want to die"), ("SMb1", "1"), ("SMb3", "x"))]

    arrivals = run_committed(engine, take_in_many, batch, CATALOG, lambda crisis: crisis)

    assert [a.new for a in arrivals] == [True, False, True, False, True]
    assert arrivals[1].id == earlier.id and arrivals[3].id == arrivals[0].id
    assert [(a.crisis, a.status) for a in (arrivals[0], arrivals[2], arrivals[4])] == [
        (False, "pending"), (True, "queued"), (False, "pending")]  # handed off: the crisis text only
    with Session(engine) as db:
        assert db.execute(select(func.count()).select_from(InboundText)).scalar_one() == 4


def test_a_stored_text_is_applied_once_as_received(pathway: WorkflowStore, engine: Engine) -> None:
    workflow_id = pathway.start(referral(), T0).workflow_id
    arrival = store_text(engine, "SMapplied", "hello", at=T0 + timedelta(minutes=1))
    later = T0 + timedelta(minutes=5)  # applied four minutes after it arrived (a backlog, a broker outage)

    applied = apply_text(pathway, arrival.id, later)
    again = apply_text(pathway, arrival.id, later + timedelta(seconds=1))

    assert applied.status == "applied" and applied.workflow_id == workflow_id and again is None
    [event] = [e for e in event_rows(engine, workflow_id) if e.type == "sms.received"]
    assert event.idempotency_key == "twilio:SMapplied" and event.actor_role == "patient"
    assert (event.occurred_at, event.recorded_at) == (T0 + timedelta(minutes=1), later)  # received, then applied
    row = text_row(engine, arrival.id)
    assert (row.status, row.workflow_id, row.event_id, row.reading, row.attempts) == (
        "applied", workflow_id, event.id, "unreadable", 1)


def test_a_text_from_an_unknown_number_is_kept_unassigned(pathway: WorkflowStore, engine: Engine) -> None:
    arrival = store_text(engine, "SMunknown", "who is this", phone="+15555550177")
    assert apply_text(pathway, arrival.id, T0).status == "unassigned"
    row = text_row(engine, arrival.id)
    assert (row.status, row.note, row.workflow_id) == ("unassigned", "unknown_number", None)


def test_a_text_from_something_that_is_not_a_phone_number_is_kept_but_never_applied(engine: Engine) -> None:
    arrival = store_text(engine, "SMshort", "STOP", phone="22395")
    row = text_row(engine, arrival.id)
    assert (row.status, row.note) == ("ignored", "invalid from")
    assert run_committed(engine, hand_off_waiting_texts, T0) == []


def test_crisis_language_is_read_on_arrival_and_handed_out_first(pathway: WorkflowStore, engine: Engine) -> None:
    ordinary = [store_text(engine, f"SMo{i}", "see you tuesday", at=T0 + timedelta(seconds=i)) for i in range(3)]
    crisis = store_text(engine, "SMcrisis", "I want to die", at=T0 + timedelta(seconds=10))

    assert crisis.crisis and not any(a.crisis for a in ordinary)
    handed = run_committed(engine, hand_off_waiting_texts, T0 + timedelta(minutes=1))
    assert handed[0] == (crisis.id, True)
    assert [inbox_id for inbox_id, _ in handed[1:]] == [a.id for a in ordinary]


def test_a_text_whose_task_was_lost_is_handed_out_again_after_the_grace(engine: Engine) -> None:
    arrival = store_text(engine, "SMlost", handed_off=True)  # the webhook handed it to a worker that never ran it
    assert text_row(engine, arrival.id).status == "queued"
    assert run_committed(engine, hand_off_waiting_texts, T0) == []

    assert run_committed(engine, sweep_texts, T0 + timedelta(seconds=30), 60) == 0  # still within the grace
    assert run_committed(engine, sweep_texts, T0 + timedelta(seconds=61), 60) == 1
    assert run_committed(engine, hand_off_waiting_texts, T0 + timedelta(seconds=62)) == [(arrival.id, False)]
    # The broker refused the hand-off: back at once, for the next tick; a worker that gives up does the same.
    assert run_committed(engine, return_unhanded_texts, [arrival.id], T0 + timedelta(seconds=62)) == 1
    run_committed(engine, hand_off_waiting_texts, T0 + timedelta(seconds=63))
    run_committed(engine, release_text, arrival.id)
    assert text_row(engine, arrival.id).status == "pending" and run_committed(engine, waiting_texts) == 1


def test_receive_sms_stores_and_applies_at_once(pathway: WorkflowStore, engine: Engine) -> None:
    workflow_id = pathway.start(referral(), T0).workflow_id
    applied = receive_sms(pathway, PHONE, "HELP", T0, sid="SMinline")
    assert applied.status == "applied" and receive_sms(pathway, PHONE, "HELP", T0, sid="SMinline") is None
    assert [e.type for e in event_rows(engine, workflow_id)].count("sms.received") == 1


@pytest.mark.postgres
def test_texts_posted_in_parallel_to_a_busy_workflow_are_each_applied_once(fresh_postgres_url: str) -> None:
    """The issue's failure: 20 texts to one patient at once, applied from 8 threads while its timers fire."""
    migrate(fresh_postgres_url)
    engine = make_engine(fresh_postgres_url)
    try:
        store = WorkflowStore(engine, PROTOCOLS, CLINIC)
        workflow_id = store.start(referral(), T0).workflow_id
        store.apply(workflow_id, ev("evaluation.scheduled", {"start": T0 + timedelta(days=4)}), T0)
        arrivals = [store_text(engine, f"SMpar{i}", str(i % 10), at=T0 + timedelta(hours=1)) for i in range(20)]
        start = threading.Barrier(8)

        def apply_all(worker: int) -> None:
            start.wait()
            for arrival in arrivals[worker::4] + arrivals[::-1][worker::4]:  # two workers try each text
                apply_text(store, arrival.id, T0 + timedelta(hours=1), retries=20)
            if worker == 0:  # and the workflow's own timers fire meanwhile
                state = WorkflowState.model_validate(workflow_row(engine, workflow_id).state)
                for key, timer in state.timers.items():
                    store.apply(workflow_id, timer_event(key, timer), timer.due_at, retries=20)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(apply_all, range(8)))

        texts = [e for e in event_rows(engine, workflow_id) if e.type == "sms.received"]
        assert sorted(e.idempotency_key for e in texts) == sorted(f"twilio:SMpar{i}" for i in range(20))
        assert {text_row(engine, a.id).status for a in arrivals} == {"applied"}
    finally:
        engine.dispose()


def celery_services(engine: Engine, database_url: str) -> Services:
    settings = Settings(_env_file=None, environment="test", database_url=database_url, tasks="celery")
    return Services(settings=settings, engine=engine, store=WorkflowStore(engine, PROTOCOLS, CLINIC))


def test_the_webhook_hands_a_crisis_text_to_the_crisis_queue_before_answering(
        engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[tuple, dict]] = []
    monkeypatch.setattr(tasks.apply_inbound_text, "apply_async", lambda args, **kw: sent.append((args, kw)))
    svc = celery_services(engine, database_url)

    crisis = accept_text(svc, "SMc", PHONE, None, "I want to kill myself", T0)
    ordinary = accept_text(svc, "SMo", PHONE, None, "running late", T0)
    repeat = accept_text(svc, "SMo", PHONE, None, "running late", T0)

    assert [(args, kw["queue"]) for args, kw in sent] == [((crisis.id,), "crisis"), ((ordinary.id,), "texts")]
    assert not repeat.new and repeat.id == ordinary.id
    assert {text_row(engine, a.id).status for a in (crisis, ordinary)} == {"queued"}


def test_when_the_broker_refuses_the_text_waits_in_the_inbox(engine: Engine, database_url: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def refuse(args, **kw):
        calls.append(args[0])
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.apply_inbound_text, "apply_async", refuse)
    monkeypatch.setattr(inbound, "_broker_failed_at", None)
    svc = celery_services(engine, database_url)

    first = accept_text(svc, "SMr1", PHONE, None, "1", T0)
    second = accept_text(svc, "SMr2", PHONE, None, "2", T0)  # the broker is resting: not even tried

    assert calls == [first.id]
    assert [text_row(engine, a.id).status for a in (first, second)] == ["pending", "pending"]
    assert [i for i, _ in run_committed(engine, hand_off_waiting_texts, T0)] == [first.id, second.id]


def test_the_webhook_waits_out_a_short_database_outage(engine: Engine, database_url: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    svc = celery_services(engine, database_url)
    monkeypatch.setattr(tasks.apply_inbound_text, "apply_async", lambda args, **kw: None)
    real_run, failures = Services.run, iter([True, True])

    def flaky_run(self, operation, *args, **kwargs):
        if operation is take_in_many and next(failures, False):
            raise OperationalError("INSERT", {}, ConnectionError("the server closed the connection"))
        return real_run(self, operation, *args, **kwargs)

    monkeypatch.setattr(Services, "run", flaky_run)
    arrival = accept_text(svc, "SMwait", PHONE, None, "1", T0)
    assert arrival.new and text_row(engine, arrival.id).status == "queued"
