"""Concurrent writers on real PostgreSQL: optimistic versions, idempotent starts, SKIP LOCKED timer claims."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from pathway_support import (
    CLINIC,
    DAY,
    PHQ9_MILD,
    T0,
    assert_projections_match,
    count_events,
    ev,
    event_rows,
    referral,
    row_counts,
    timer_rows,
    to_treatment_planned,
    workflow_row,
)
from sqlalchemy import Engine, select, text, update
from sqlmodel import Session

import models.timer_batch
from config.protocol import ProtocolBook, shipped_book
from models.db import make_engine, migrate
from models.store import ConcurrencyConflict, Outcome, WorkflowStore
from models.tables import AssessmentRecord, TimerRecord
from models.timer_batch import by_workflow, fire_claimed_batch, fire_due_timers
from models.timers import claim_due_timers, fire
from models.unit_of_work import run_committed
from workflows.protocol import Protocol

pytestmark = pytest.mark.postgres

GAD7_MILD = [1, 1, 1, 1, 1, 0, 0]
JOIN_SECONDS = 30


class BarrierBook(ProtocolBook):
    """The shipped protocols, plus a hook: the next `parties` lookups wait for each other at a barrier.

    The unit of work looks the protocol up after it has read the workflow (or, to start one, after it has checked the
    idempotency key) and before it decides and writes. Holding the callers there makes every one of them read the same
    version before any of them writes: the race the version guard exists for, every time.
    """

    def __init__(self) -> None:
        shipped = shipped_book()
        self._lock = threading.Lock()
        self._barrier: threading.Barrier | None = None
        self._waits_left = 0
        super().__init__(shipped.current)

    @property
    def current(self) -> Protocol:
        self._wait()
        return self._current

    @current.setter
    def current(self, protocol: Protocol) -> None:
        self._current = protocol

    def get(self, version: str) -> Protocol:
        self._wait()
        return super().get(version)

    def arm(self, parties: int) -> None:
        with self._lock:
            self._barrier = threading.Barrier(parties, timeout=JOIN_SECONDS)
            self._waits_left = parties

    def _wait(self) -> None:
        with self._lock:
            barrier = self._barrier
            if barrier is None or self._waits_left == 0:
                return
            self._waits_left -= 1
        barrier.wait()


def run_together(*calls: Callable[[], Any]) -> list[Any]:
    """Run each call in its own thread, started together; returns each result, or the exception it raised."""
    results: list[Any] = [None] * len(calls)
    go = threading.Barrier(len(calls), timeout=JOIN_SECONDS)

    def worker(index: int, call: Callable[[], Any]) -> None:
        go.wait()
        try:
            results[index] = call()
        except Exception as exc:  # noqa: BLE001 - handed back to the test to inspect
            results[index] = exc

    threads = [threading.Thread(target=worker, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_SECONDS)
        assert not thread.is_alive(), "a worker hung"
    return results


@pytest.fixture
def engine(fresh_postgres_url: str) -> Iterator[Engine]:
    migrate(fresh_postgres_url)
    engine = make_engine(fresh_postgres_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def book() -> BarrierBook:
    return BarrierBook()


@pytest.fixture
def pathway(engine: Engine, book: BarrierBook) -> WorkflowStore:
    return WorkflowStore(engine, book, CLINIC)


def booked_workflow(pathway: WorkflowStore) -> str:
    workflow_id = to_treatment_planned(pathway)
    pathway.apply(workflow_id, ev("session.scheduled", {"session": "s1", "start": T0 + 5 * DAY}), T0 + DAY)
    return workflow_id


# --- two writers, one workflow ----------------------------------------------------------------------------------------


def test_concurrent_events_on_one_version_one_wins_the_other_conflicts(engine: Engine, book: BarrierBook,
                                                                       pathway: WorkflowStore) -> None:
    workflow_id = booked_workflow(pathway)
    now = T0 + 2 * DAY
    for round_number in range(4):
        version = workflow_row(engine, workflow_id).version
        before = row_counts(engine)
        assessment = ev("assessment.submitted", {"instrument": "phq9", "answers": PHQ9_MILD}, key=f"a{round_number}")
        confirm = ev("session.confirmed", {"session": "s1"}, key=f"c{round_number}")
        book.arm(2)

        results = run_together(lambda e=assessment: pathway.apply(workflow_id, e, now),
                               lambda e=confirm: pathway.apply(workflow_id, e, now))

        [winner] = [r for r in results if isinstance(r, Outcome)]
        [loser] = [r for r in results if isinstance(r, ConcurrencyConflict)]
        assert not winner.duplicate
        assert loser.workflow_id == workflow_id
        assert str(loser) == (f"workflow {workflow_id} changed while this event was being applied"
                              f" (expected version {version}); reload and try again")
        lost_event = confirm if results[0] is winner else assessment
        won_event = assessment if lost_event is confirm else confirm

        # Nothing of the loser: one event more, and it is the winner's.
        workflow = workflow_row(engine, workflow_id)
        events = event_rows(engine, workflow_id)
        assert workflow.version == version + 1 == len(events)
        assert (events[-1].id, events[-1].type, events[-1].idempotency_key) == (
            winner.event_id, won_event.type, won_event.idempotency_key)
        assert lost_event.idempotency_key not in {e.idempotency_key for e in events}
        after = row_counts(engine)
        assert after["events"] == before["events"] + 1
        assert after["assessments"] == before["assessments"] + (won_event is assessment)
        state = assert_projections_match(engine, workflow_id)
        assert (state.sessions["s1"].confirmed_at is not None) == any(e.type == "session.confirmed" for e in events)


def test_retry_after_a_conflict_re_decides_on_the_winners_state(engine: Engine, book: BarrierBook,
                                                                 pathway: WorkflowStore) -> None:
    workflow_id = booked_workflow(pathway)
    version = workflow_row(engine, workflow_id).version
    phq9 = ev("assessment.submitted", {"instrument": "phq9", "answers": PHQ9_MILD})
    gad7 = ev("assessment.submitted", {"instrument": "gad7", "answers": GAD7_MILD})
    book.arm(2)

    results = run_together(lambda: pathway.apply(workflow_id, phq9, T0 + 2 * DAY, retries=1),
                           lambda: pathway.apply(workflow_id, gad7, T0 + 2 * DAY, retries=1))

    assert all(isinstance(r, Outcome) and not r.duplicate for r in results)
    assert workflow_row(engine, workflow_id).version == version + 2
    state = assert_projections_match(engine, workflow_id)
    assert sorted(a.instrument for a in state.assessments) == ["gad7", "phq9"]  # neither overwrote the other
    with Session(engine) as db:
        assert len(db.execute(select(AssessmentRecord)).all()) == 2


def test_same_event_posted_twice_at_once_is_applied_once(engine: Engine, book: BarrierBook, pathway: WorkflowStore) -> None:
    workflow_id = booked_workflow(pathway)
    version = workflow_row(engine, workflow_id).version
    event = ev("assessment.submitted", {"instrument": "phq9", "answers": PHQ9_MILD}, key="tablet-42")
    book.arm(2)

    first, second = run_together(lambda: pathway.apply(workflow_id, event, T0 + 2 * DAY, retries=1),
                                 lambda: pathway.apply(workflow_id, event, T0 + 2 * DAY, retries=1))

    assert isinstance(first, Outcome) and isinstance(second, Outcome)
    assert sorted([first.duplicate, second.duplicate]) == [False, True]
    assert first.event_id == second.event_id
    assert workflow_row(engine, workflow_id).version == version + 1
    assert_projections_match(engine, workflow_id)


def test_same_referral_started_twice_at_once_starts_one_workflow(engine: Engine, book: BarrierBook,
                                                                  pathway: WorkflowStore) -> None:
    book.arm(2)  # both have checked the start key, found nothing, and go on to insert

    first, second = run_together(lambda: pathway.start(referral(key="ref-dup"), T0),
                                 lambda: pathway.start(referral(key="ref-dup"), T0))

    assert isinstance(first, Outcome), first
    assert isinstance(second, Outcome), second
    assert sorted([first.duplicate, second.duplicate]) == [False, True]
    assert (first.workflow_id, first.patient_id, first.event_id) == (second.workflow_id, second.patient_id,
                                                                      second.event_id)
    counts = row_counts(engine)
    assert (counts["patients"], counts["workflows"], counts["events"]) == (1, 1, 1)
    assert_projections_match(engine, first.workflow_id)


def test_timers_of_one_workflow_fired_at_once_both_apply(engine: Engine, book: BarrierBook, pathway: WorkflowStore) -> None:
    workflow_id = pathway.start(referral(prior_treatments=1), T0).workflow_id  # two escalations, two deadlines
    now = T0 + 10 * DAY
    first, second = run_committed(engine, claim_due_timers, now)
    book.arm(2)

    results = run_together(lambda: fire(pathway, first, now), lambda: fire(pathway, second, now))

    assert results == [None, None]
    assert workflow_row(engine, workflow_id).version == 3
    assert count_events(engine, "escalation.deadline_passed") == 2
    assert {t.status for t in timer_rows(engine)} == {"fired"}
    state = assert_projections_match(engine, workflow_id)
    assert {e.tier for e in state.escalations.values()} == {2}


# --- two schedulers, many timers --------------------------------------------------------------------------------------


def start_workflows(pathway: WorkflowStore, count: int, prior_treatments: int) -> list[str]:
    return [pathway.start(referral(prior_treatments=prior_treatments, phone=f"+1555555{i:04d}"), T0).workflow_id
            for i in range(count)]


def insert_due_timers(engine: Engine, workflow_ids: list[str], count: int) -> set[str]:
    """`count` pending timer rows spread over the workflows, due one minute apart from T0 + 1 day."""
    rows = [
        TimerRecord(id=str(uuid.uuid4()), workflow_id=workflow_ids[i % len(workflow_ids)], key=f"bulk:{i}",
                    kind="confirmation_check", session_key="s1", due_at=T0 + DAY + timedelta(minutes=i % 37),
                    status="pending", data={}, created_at=T0)
        for i in range(count)
    ]
    ids = {row.id for row in rows}
    with Session(engine) as db:
        db.add_all(rows)
        db.commit()
    return ids


def test_claims_skip_rows_another_claimer_has_locked(engine: Engine, pathway: WorkflowStore) -> None:
    all_ids = insert_due_timers(engine, start_workflows(pathway, 4, prior_treatments=3), 200)
    all_ids |= {t.id for t in timer_rows(engine) if t.key.startswith("escalation:")}
    assert len(all_ids) == 204
    now = T0 + 10 * DAY

    with engine.connect() as holder:  # another scheduler, mid-claim, holding 50 rows
        held = set(holder.execute(text("SELECT id FROM timers ORDER BY due_at, id LIMIT 50 FOR UPDATE")).scalars())
        [claimed] = run_together(lambda: run_committed(engine, claim_due_timers, now))  # must not wait for the held rows
        assert isinstance(claimed, list)
        assert {c.id for c in claimed} == all_ids - held
        holder.rollback()

    rest = run_committed(engine, claim_due_timers, now)
    assert {c.id for c in rest} == held
    assert run_committed(engine, claim_due_timers, now) == []


def test_two_claimers_never_claim_the_same_timer(engine: Engine, pathway: WorkflowStore) -> None:
    workflow_ids = start_workflows(pathway, 4, prior_treatments=3)
    with Session(engine) as db:  # only the 200 bulk timers are due
        db.execute(update(TimerRecord).values(status="cancelled"))
        db.commit()
    all_ids = insert_due_timers(engine, workflow_ids, 200)
    now = T0 + 10 * DAY

    def claim_all() -> list[str]:
        mine: list[str] = []
        while batch := run_committed(engine, claim_due_timers, now, limit=7):
            assert len(batch) <= 7, f"one claim took {len(batch)} timers, over its limit"
            mine.extend(c.id for c in batch)
        return mine

    first, second = run_together(claim_all, claim_all)

    assert isinstance(first, list) and isinstance(second, list)
    assert len(first) + len(second) == 200
    assert set(first).isdisjoint(second)
    assert set(first) | set(second) == all_ids
    with Session(engine) as db:
        assert Counter(db.execute(select(TimerRecord.status)).scalars()) == {"claimed": 200, "cancelled": 4}


def test_two_schedulers_fire_each_timer_exactly_once(engine: Engine, pathway: WorkflowStore,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    workflow_ids = start_workflows(pathway, 40, prior_treatments=1)  # two escalation deadlines each
    assert len(timer_rows(engine)) == 80
    monkeypatch.setattr(models.timer_batch, "CLAIM_BATCH", 9)  # small batches, so both schedulers get work
    now = T0 + 10 * DAY

    first, second = run_together(lambda: fire_due_timers(pathway, now), lambda: fire_due_timers(pathway, now))

    assert isinstance(first, int) and isinstance(second, int)
    assert first + second == 80
    assert count_events(engine, "escalation.deadline_passed") == 80
    timers = timer_rows(engine)
    assert Counter(t.status for t in timers) == {"fired": 80}
    assert all(t.fired_at == now for t in timers)
    with Session(engine) as db:
        keys = db.execute(text("SELECT workflow_id, idempotency_key, count(*) FROM events"
                               " WHERE type = 'escalation.deadline_passed' GROUP BY 1, 2")).all()
    assert len(keys) == 80 and all(n == 1 for *_, n in keys)
    for workflow_id in workflow_ids[:10]:
        state = assert_projections_match(engine, workflow_id)
        assert workflow_row(engine, workflow_id).version == 3
        assert {e.tier for e in state.escalations.values()} == {2}
    assert fire_due_timers(pathway, now) == 0


def test_a_person_writing_to_one_workflow_of_a_timer_batch_holds_up_only_that_workflow(
        engine: Engine, pathway: WorkflowStore, book: BarrierBook) -> None:
    """A worker fires one batch of timers for three patients while a coordinator records a PHQ-9 for the first of them,
    both having read the same version. The batch commits the other two; the first patient's timers are decided again
    on fresh state. Every timer fires once, the PHQ-9 is kept, and each history stays one event per version."""
    workflow_ids = start_workflows(pathway, 3, prior_treatments=1)  # two escalation deadlines each
    now = T0 + 10 * DAY
    claimed = run_committed(engine, claim_due_timers, now)
    assert len(claimed) == 6
    first = next(iter(by_workflow(claimed)))
    assessment = ev("assessment.submitted", {"instrument": "phq9", "answers": PHQ9_MILD}, key="phq9-during-batch")
    book.arm(2)  # the batch's first decision and the coordinator's meet: both read the first patient's version

    batch, person = run_together(lambda: fire_claimed_batch(pathway, [c.id for c in claimed], now),
                                 lambda: pathway.apply(first, assessment, now, retries=3))

    assert batch == 6 and isinstance(person, Outcome), (batch, person)
    assert Counter(t.status for t in timer_rows(engine)) == {"fired": 6}
    assert count_events(engine, "escalation.deadline_passed") == 6
    assert count_events(engine, "assessment.submitted") == 1
    for workflow_id in workflow_ids:
        assert_projections_match(engine, workflow_id)
    assert workflow_row(engine, first).version == 4  # referral, the PHQ-9 and two deadlines, in whichever order
    assert fire_claimed_batch(pathway, [c.id for c in claimed], now) == 0, "a repeated batch task changes nothing"
