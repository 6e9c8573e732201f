"""Final means silent, on real SQLite and PostgreSQL: when the patient withdraws, the automated texts still waiting in
the outbox (pending, or handed to a worker) are dropped with `workflow_closed`; one a worker already claimed is refused
at send time; staff alerts and direct replies to the patient still go."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from pathway_support import PHQ9_ITEM9, ev, to_treatment_planned
from sqlalchemy import Engine, select
from sqlmodel import Session

from models.outbox import claim_message, deliver, hand_off_due_messages
from models.store import WorkflowStore
from models.tables import OutboxMessage
from models.timer_batch import fire_due_timers

NY = ZoneInfo("America/New_York")
PATIENT = {"role": "patient"}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in New York in March 2026 (the patient's zone)."""
    return datetime(2026, 3, day, hour, minute, tzinfo=NY)


class RecordingGateway:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, message_id: str, kind: str, to: str, body: str, sender: str | None = None) -> str:
        self.sent.append(message_id)
        return f"SM{len(self.sent)}"


def outbox(engine: Engine, workflow_id: str) -> list[OutboxMessage]:
    with Session(engine) as db:
        rows = list(db.execute(select(OutboxMessage).where(OutboxMessage.workflow_id == workflow_id)
                               .order_by(OutboxMessage.created_at, OutboxMessage.kind)).scalars())
        db.expunge_all()
        return rows


def test_withdrawal_drops_the_deferred_reminder_and_keeps_replies_and_staff_alerts(engine: Engine,
                                                                                   pathway: WorkflowStore) -> None:
    workflow_id = to_treatment_planned(pathway)  # evaluated eligible on Tuesday 3 March, 09:00 New York
    pathway.apply(workflow_id, ev("rems.enrolled", {"enrollment_id": "R-1"}), at(3, 9, 30))
    # s1 on Friday at 21:30: its 72-hour reminder falls due on Tuesday at 21:30, inside quiet hours, and waits for
    # Wednesday 08:00. s2 on Friday at 12:00: its 72-hour reminder is due on Tuesday at 12:00, at once.
    pathway.apply(workflow_id, ev("session.scheduled", {"session": "s1", "start": at(6, 21, 30), "dose_mg": 56}),
                  at(3, 10))
    pathway.apply(workflow_id, ev("session.scheduled", {"session": "s2", "start": at(6, 12), "dose_mg": 56}),
                  at(3, 10, 5))
    fire_due_timers(pathway, at(3, 12))
    with pathway.unit_of_work() as uow:  # the scheduler hands what is due to the workers; one claims s2's reminder
        handed = hand_off_due_messages(uow, at(3, 12))
        uow.commit()
    [s2_reminder] = [row.id for row in outbox(engine, workflow_id) if row.subject == "session:s2" and row.id in handed]
    with pathway.unit_of_work() as uow:
        claimed = claim_message(uow, s2_reminder, at(3, 12))
        uow.commit()
    fire_due_timers(pathway, at(3, 21, 31))
    pathway.apply(workflow_id, ev("assessment.submitted", {"instrument": "phq9", "answers": PHQ9_ITEM9}),
                  at(3, 21, 40))  # an urgent escalation: the on-call clinician is texted
    pathway.apply(workflow_id, ev("sms.received", {"from": "+15555550101", "body": "HELP"}, PATIENT), at(3, 21, 45))
    rows = {(row.kind, row.subject): row for row in outbox(engine, workflow_id)}
    deferred = rows[("session_reminder", "session:s1")]
    assert (deferred.status, deferred.automated, deferred.not_before) == ("pending", True, at(4, 8))
    with pathway.unit_of_work() as uow:  # another reminder handed off, not yet taken by a worker
        uow.db.execute(OutboxMessage.__table__.update().where(OutboxMessage.id == deferred.id)
                       .values(status="queued", claimed_at=at(3, 21, 50)))
        uow.commit()

    pathway.apply(workflow_id, ev("patient.withdrew", {"reason": "moving away"}), at(3, 22))

    after = {row.id: row for row in outbox(engine, workflow_id)}
    assert (after[deferred.id].status, after[deferred.id].drop_reason) == ("dropped", "workflow_closed")
    staff = [row for row in after.values() if row.kind == "staff_alert"]
    help_reply = [row for row in after.values() if row.kind == "help"]
    assert staff and help_reply
    assert all(row.status == "pending" and row.drop_reason is None for row in staff + help_reply), \
        "staff alerts and direct replies are not dropped"
    assert after[s2_reminder].status == "sending", "a claimed send is left to its worker"

    gateway = RecordingGateway()
    assert deliver(pathway, claimed, gateway, at(3, 22, 1)) == "dropped"
    final = {row.id: row for row in outbox(engine, workflow_id)}
    assert (final[s2_reminder].status, final[s2_reminder].drop_reason) == ("dropped", "workflow_closed")
    assert gateway.sent == []
    for row in help_reply:  # a direct reply still leaves after the workflow closed
        with pathway.unit_of_work() as uow:
            uow.db.execute(OutboxMessage.__table__.update().where(OutboxMessage.id == row.id)
                           .values(status="sending", claimed_at=at(3, 22, 2)))
            uow.commit()
        assert deliver(pathway, row, gateway, at(3, 22, 2)) == "sent"
    assert gateway.sent == [row.id for row in help_reply]
