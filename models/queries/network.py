"""The network overview's numbers, per clinic, in a few aggregate queries: counts and times only, never patient data.

Each row is grouped by `clinic_id`; a clinic with nothing to count is absent from a group and reads as zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, case, func, select

from models.tables import EscalationRecord, InboundText, OutboxMessage, TimerRecord, WorkflowRow

DAY = timedelta(hours=24)


@dataclass
class ClinicCounts:
    queue: int = 0  # messages waiting to leave or leaving (pending, sending)
    oldest_due_timer: datetime | None = None  # the oldest due, unclaimed timer (lag = now - this)
    delivered: int = 0  # sent or delivered, last 24 hours
    failed: int = 0  # failed, last 24 hours
    texts_waiting: int = 0  # inbound texts staff must assign
    open_by_severity: dict[str, int] = field(default_factory=dict)  # escalations not yet acknowledged
    workflows: int = 0  # patients' workflows in care at this clinic (not finished)


def per_clinic(engine: Engine, now: datetime, finished: tuple[str, ...]) -> dict[str, ClinicCounts]:
    """clinic key → its counts."""
    now = now.astimezone(UTC)
    counts: dict[str, ClinicCounts] = {}

    def of(key: str) -> ClinicCounts:
        return counts.setdefault(key, ClinicCounts())

    m, t, e = OutboxMessage, TimerRecord, EscalationRecord
    recent = func.coalesce(m.sent_at, m.claimed_at, m.created_at) >= now - DAY
    with engine.connect() as conn:
        for key, queue, delivered, failed in conn.execute(
                select(m.clinic_id, func.sum(case((m.status.in_(("pending", "sending")), 1), else_=0)),
                       func.sum(case((recent & m.status.in_(("sent", "delivered")), 1), else_=0)),
                       func.sum(case((recent & (m.status == "failed"), 1), else_=0)))
                .where(m.status.in_(("pending", "sending")) | recent).group_by(m.clinic_id)):
            of(key).queue, of(key).delivered, of(key).failed = int(queue or 0), int(delivered or 0), int(failed or 0)
        for key, oldest in conn.execute(select(t.clinic_id, func.min(t.due_at))
                                        .where(t.status == "pending", t.due_at <= now).group_by(t.clinic_id)):
            of(key).oldest_due_timer = oldest if oldest is None or oldest.tzinfo else oldest.replace(tzinfo=UTC)
        for key, severity, count in conn.execute(select(e.clinic_id, e.severity, func.count())
                                                 .where(e.status == "open").group_by(e.clinic_id, e.severity)):
            of(key).open_by_severity[severity] = count
        for key, count in conn.execute(select(InboundText.clinic_id, func.count())
                                       .where(InboundText.status == "unassigned").group_by(InboundText.clinic_id)):
            of(key).texts_waiting = count
        for key, count in conn.execute(select(WorkflowRow.clinic_id, func.count())
                                       .where(WorkflowRow.stage.not_in(finished)).group_by(WorkflowRow.clinic_id)):
            of(key).workflows = count
    return counts
