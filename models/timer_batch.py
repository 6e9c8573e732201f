"""Firing claimed timers in batches: one transaction for many workflows, a savepoint each.

One timer at a time costs a task, a unit of work, a BEGIN and a COMMIT per timer; a network's busy morning is tens of
thousands of them within minutes. Here one SELECT reads the batch's claimed timers, one SELECT their workflows, each
workflow's timers are decided in (due, key) order inside a savepoint of its own, and one COMMIT ends the batch.

A workflow whose savepoint fails (another writer changed it meanwhile, or anything else) is rolled back alone and its
timers are fired one by one after the commit, with the single path's re-reads (`models.timers.fire`). Every guarantee
of the single path holds: the event's idempotency key makes a repeat change nothing, the version check catches a
concurrent writer, and a timer stays `claimed` (the sweep brings it back) until its event is committed.

On SQLite (the embedded default, one writer) a savepoint opened before any write starts the transaction itself, so
each workflow is committed when its savepoint is released: still all of a workflow or none of it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, select

from models.outbox import queue_written_messages
from models.store import WorkflowStore
from models.tables import EventRecord, WorkflowRow
from models.timers import (
    CLAIM_BATCH,
    ClaimedTimer,
    claim_due_timers,
    claim_written_timers,
    claimed_among,
    fire,
    mark_fired,
)
from models.unit_of_work import UnitOfWork
from workflows.events import Event
from workflows.pathway import timer_event

log = logging.getLogger("carepath.timers")

# Workflows per transaction: enough that BEGIN/COMMIT and the two reads are shared widely, few enough that a commit
# comes often (locks held briefly, and little to redo if the process dies).
BATCH_WORKFLOWS = 50


@dataclass
class DueNow:
    """What a batch's events wrote that is due already, taken for a hand-off right after the batch's commit (`queued`
    messages, `claimed` timers), so it goes to a worker at once instead of at the scheduler's next tick."""

    message_ids: list[str] = field(default_factory=list)
    timers: list[ClaimedTimer] = field(default_factory=list)


def by_workflow(claimed: list[ClaimedTimer]) -> dict[str, list[ClaimedTimer]]:
    """Each workflow's timers in (due, key) order, the workflows in the order of their first due timer."""
    grouped: dict[str, list[ClaimedTimer]] = defaultdict(list)
    for timer in sorted(claimed, key=lambda c: (c.timer.due_at, c.key)):
        grouped[timer.workflow_id].append(timer)
    return dict(grouped)


def chunks_of_workflows(claimed: list[ClaimedTimer], size: int = BATCH_WORKFLOWS) -> list[list[ClaimedTimer]]:
    """The timers cut into batches of at most `size` workflows, a workflow's timers never split between two (two
    workers deciding one workflow at once would only conflict)."""
    grouped = list(by_workflow(claimed).values())
    return [[timer for timers in grouped[start:start + size] for timer in timers] for start in range(0, len(grouped), size)]


def fire_claimed_batch(store: WorkflowStore, timer_ids: list[str], now: datetime, due_now: DueNow | None = None) -> int:
    """Fire the timers among `timer_ids` still `claimed` (a worker's batch task); returns how many were fired here.

    With `due_now`, the messages and timers the batch's events wrote that are due at `now` are taken in the batch's
    transaction and listed there, for the caller to hand out once this returns (the commit is done)."""
    with store.unit_of_work() as uow:
        return _fire_in(store, uow, claimed_among(uow, timer_ids), now, due_now)


def fire_due_timers(store: WorkflowStore, now: datetime, limit: int | None = None) -> int:
    """Fire every timer due at `now`, including ones that firing makes due; returns how many fired."""
    fired = 0
    while limit is None or fired < limit:
        with store.unit_of_work() as uow:
            batch = claim_due_timers(uow, now, CLAIM_BATCH if limit is None else min(CLAIM_BATCH, limit - fired))
            uow.commit()
        if not batch:
            break
        fire_batch(store, batch, now)
        fired += len(batch)
    return fired


def fire_batch(store: WorkflowStore, claimed: list[ClaimedTimer], now: datetime) -> int:
    """Fire timers claimed by this caller (the simulator, `fire_due_timers`), `BATCH_WORKFLOWS` workflows per commit."""
    fired = 0
    for chunk in chunks_of_workflows(claimed):
        with store.unit_of_work() as uow:
            fired += _fire_in(store, uow, chunk, now)
    return fired


def _fire_in(store: WorkflowStore, uow: UnitOfWork, claimed: list[ClaimedTimer], now: datetime,
             due_now: DueNow | None = None) -> int:
    grouped = by_workflow(claimed)
    if not grouped:
        return 0
    events = {timer.id: timer_event(timer.key, timer.timer) for timer in claimed}  # each built once
    # The session's identity map keeps the workflows: each apply below finds its own there instead of reading it again.
    # The map holds rows weakly, so the list is kept until the batch is done.
    workflows, fired_before = _workflows_and_keys_fired_before(uow, list(grouped), events)
    left: list[ClaimedTimer] = []
    written: list[int] = []  # the events this batch appended, whose due messages and timers `due_now` takes
    for workflow_id, timers in grouped.items():
        try:
            with uow.db.begin_nested():
                applied = [store.apply_in(uow, workflow_id, events[timer.id], now, key_checked=True).event_id
                           for timer in timers
                           # The event's own writes mark the row fired (FireTimer); `mark_fired` below the rest.
                           if (workflow_id, events[timer.id].idempotency_key) not in fired_before]
            written.extend(applied)
        except Exception as exc:  # noqa: BLE001 - this workflow alone is retried below, the batch goes on
            log.info("timer batch: workflow %s left for one-by-one firing (%s)", workflow_id, type(exc).__name__)
            left.extend(timers)
    # One statement for the batch: every timer whose workflow's savepoint held, its event applied now or before.
    left_ids = {timer.id for timer in left}
    mark_fired(uow, [timer.id for timer in claimed if timer.id not in left_ids], now)
    if due_now is not None and written:
        workflow_ids = list(grouped)
        due_now.message_ids.extend(queue_written_messages(uow, workflow_ids, written, now))
        due_now.timers.extend(claim_written_timers(uow, workflow_ids, written, now))
    uow.commit()
    del workflows
    for timer in left:
        _fire_alone(store, timer, now)
    return len(claimed)


def _fire_alone(store: WorkflowStore, timer: ClaimedTimer, now: datetime) -> None:
    """The single path, with its re-reads. One that still fails stays `claimed`, as a failed one-timer task did: the
    stale-claim sweep hands it out again. The batch's other timers are not held up by it."""
    try:
        fire(store, timer, now)
    except Exception:
        log.exception("timer %s (workflow %s) not fired; the sweep hands it out again", timer.id, timer.workflow_id)


def _workflows_and_keys_fired_before(uow: UnitOfWork, workflow_ids: list[str], events: dict[str, Event]
                                     ) -> tuple[list[WorkflowRow], set[tuple[str, str]]]:
    """The batch's workflows, and (workflow, idempotency key) of its timer events already in a history (a batch task
    redelivered after its process died, or a timer fired by a task that died before marking its row): one SELECT, the
    events found by an outer join on their unique (workflow, key) index."""
    keys = {event.idempotency_key for event in events.values()}
    rows = uow.db.execute(
        select(WorkflowRow, EventRecord.idempotency_key)
        .outerjoin(EventRecord, and_(EventRecord.workflow_id == WorkflowRow.id, EventRecord.idempotency_key.in_(keys)))
        .where(WorkflowRow.id.in_(workflow_ids))).all()
    workflows = list({id(row[0]): row[0] for row in rows}.values())
    return workflows, {(row[0].id, row[1]) for row in rows if row[1] is not None}
