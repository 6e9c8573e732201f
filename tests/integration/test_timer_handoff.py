"""The post-commit hand-off of a timer batch, on real SQLite and PostgreSQL: the reminders a worker's batch of timers
writes that are due at once are taken (`queued`) in the batch's own transaction, for the task to hand to the workers
right after the commit; a reminder deferred past quiet hours stays `pending` for the scheduler, and a repeated batch
takes nothing twice."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from pathway_support import ev, to_treatment_planned
from sqlalchemy import Engine, select
from sqlmodel import Session

from models.outbox import return_unhanded
from models.store import WorkflowStore
from models.tables import OutboxMessage, TimerRecord
from models.timer_batch import DueNow, fire_claimed_batch
from models.timers import claim_due_timers, claimed_among, insert_timers, mark_fired
from models.unit_of_work import run_committed

NY = ZoneInfo("America/New_York")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=NY)


def reminders(engine: Engine, workflow_id: str) -> dict[str, OutboxMessage]:
    with Session(engine) as db:
        rows = list(db.execute(select(OutboxMessage).where(OutboxMessage.workflow_id == workflow_id,
                                                           OutboxMessage.kind == "session_reminder")).scalars())
        db.expunge_all()
    return {row.subject: row for row in rows}


def two_reminders_due(pathway: WorkflowStore) -> str:
    """s2's 72-hour reminder falls due on Tuesday at 12:00 and goes at once; s1's on Tuesday at 21:30, inside quiet
    hours, and waits for Wednesday 08:00."""
    workflow_id = to_treatment_planned(pathway)
    pathway.apply(workflow_id, ev("rems.enrolled", {"enrollment_id": "R-1"}), at(3, 9, 30))
    pathway.apply(workflow_id, ev("session.scheduled", {"session": "s1", "start": at(6, 21, 30), "dose_mg": 56}),
                  at(3, 10))
    pathway.apply(workflow_id, ev("session.scheduled", {"session": "s2", "start": at(6, 12), "dose_mg": 56}),
                  at(3, 10, 5))
    return workflow_id


def fire_batch_at(engine: Engine, pathway: WorkflowStore, now: datetime) -> tuple[list[str], DueNow]:
    """What the scheduler claims at `now`, fired as one worker's task with its post-commit hand-off."""
    claimed = [timer.id for timer in run_committed(engine, claim_due_timers, now)]
    due_now = DueNow()
    assert fire_claimed_batch(pathway, claimed, now, due_now) == len(claimed) >= 1
    return claimed, due_now


def test_a_timer_batch_takes_the_reminders_it_made_due_for_the_hand_off_after_its_commit(
        engine: Engine, pathway: WorkflowStore) -> None:
    workflow_id = two_reminders_due(pathway)

    claimed, due_now = fire_batch_at(engine, pathway, at(3, 12))  # s2's reminder: due, and may go now

    s2 = reminders(engine, workflow_id)["session:s2"]
    assert due_now.message_ids == [s2.id]
    assert (s2.status, s2.claimed_at) == ("queued", at(3, 12))  # committed with the batch, ready for a worker
    assert due_now.timers == []  # the reminder's event wrote no timer due already
    with Session(engine) as db:
        assert set(db.execute(select(TimerRecord.status).where(TimerRecord.id.in_(claimed))).scalars()) == {"fired"}
    again = DueNow()
    assert fire_claimed_batch(pathway, claimed, at(3, 12), again) == 0, "a repeated batch task changes nothing"
    assert again.message_ids == [] and again.timers == []

    _, later = fire_batch_at(engine, pathway, at(3, 21, 31))  # s1's reminder: due inside quiet hours

    s1 = reminders(engine, workflow_id)["session:s1"]
    assert later.message_ids == []
    assert (s1.status, s1.not_before) == ("pending", at(4, 8))  # the scheduler hands it out on Wednesday morning


def test_reminders_a_batch_could_not_hand_off_go_back_to_pending_for_the_tick(engine: Engine,
                                                                             pathway: WorkflowStore) -> None:
    workflow_id = two_reminders_due(pathway)
    _, due_now = fire_batch_at(engine, pathway, at(3, 12))

    # What `workers/handoff.py` does when the broker refuses the publish.
    assert run_committed(engine, return_unhanded, due_now.message_ids, at(3, 12)) == 1

    s2 = reminders(engine, workflow_id)["session:s2"]
    assert (s2.status, s2.claimed_at) == ("pending", None)


def test_the_machinery_inserts_reads_and_marks_timers_in_one_statement_each(engine: Engine,
                                                                            pathway: WorkflowStore) -> None:
    """`insert_timers`, `claimed_among` and `mark_fired` (a worker's batch around its events, and figure b's
    machinery) on both backends: only claimed timers are read and marked, and a second mark changes nothing."""
    workflow_id = two_reminders_due(pathway)
    due = at(3, 8)
    rows = [{"id": f"t{n}", "clinic_id": "main", "workflow_id": workflow_id, "key": f"machinery:{n}", "kind": "reminder",
             "session_key": None, "due_at": due, "status": "pending", "data": {"n": n}, "created_at": due,
             "event_id": None} for n in range(3)]
    run_committed(engine, insert_timers, rows)
    claimed = [t.id for t in run_committed(engine, claim_due_timers, due) if t.key.startswith("machinery:")]
    assert sorted(claimed) == ["t0", "t1", "t2"]

    with pathway.unit_of_work() as uow:
        among = claimed_among(uow, ["t0", "t1", "unknown"])
        marked = mark_fired(uow, [t.id for t in among], due)
        uow.commit()

    assert sorted(t.id for t in among) == ["t0", "t1"] and {t.timer.data["n"] for t in among} == {0, 1}
    assert marked == 2
    assert run_committed(engine, mark_fired, ["t0", "t1"], due) == 0  # fired already: not `claimed`
    with Session(engine) as db:
        statuses = dict(db.execute(select(TimerRecord.id, TimerRecord.status).where(TimerRecord.id.in_(claimed))).all())
    assert statuses == {"t0": "fired", "t1": "fired", "t2": "claimed"}
