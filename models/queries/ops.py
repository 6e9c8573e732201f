"""What ops watch, read from the database: whether it answers, timers, messages, escalations, workflows by stage.

The contract the dashboard and `/metrics` share. Counts only: no patient data ever leaves this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, case, func, select, text

from models.tables import EscalationRecord, OutboxMessage, TimerRecord, WorkflowRow


@dataclass(frozen=True)
class TimerStats:
    pending: int  # waiting for their due time
    due_unclaimed: int  # due now but not yet claimed by a scheduler: should be ~0
    oldest_due_lag_seconds: float | None  # how late the oldest due, unclaimed timer is: the number ops page on
    fired_last_minute: int


@dataclass(frozen=True)
class MessageStats:
    today: dict[tuple[str, str], int]  # (kind, status) → count, for the clinic's current local day
    failure_codes: dict[str, int]  # error code → count, today
    drop_reasons: dict[str, int]  # drop reason → count, today
    pending: int
    sending: int


@dataclass(frozen=True)
class EscalationStats:
    open_by_severity: dict[str, int]
    overdue: int  # open past their acknowledgement deadline
    oldest_open_age_seconds: float | None


@dataclass(frozen=True)
class DatabaseSnapshot:
    at: datetime
    timers: TimerStats
    messages: MessageStats
    escalations: EscalationStats
    workflows_by_stage: dict[str, int] = field(default_factory=dict)


# How many workflows are in each stage: a panel of the dashboard and a gauge of /metrics.
_STAGE_COUNTS = select(WorkflowRow.stage, func.count()).group_by(WorkflowRow.stage)


def ping(engine: Engine) -> None:
    """Ask the database for `SELECT 1`; raises when it does not answer (readiness)."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def workflows_by_stage(engine: Engine) -> dict[str, int]:
    """stage → number of workflows in it (stages nobody is in are absent)."""
    with engine.connect() as connection:
        return dict(connection.execute(_STAGE_COUNTS).all())


def _local_day(now: datetime, clinic_timezone: str) -> tuple[datetime, datetime]:
    """The clinic's current local day as a UTC half-open interval [start, end)."""
    zone = ZoneInfo(clinic_timezone)
    local = now.astimezone(zone)
    start = datetime(local.year, local.month, local.day, tzinfo=zone)
    following = start.date() + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def database_snapshot(engine: Engine, now: datetime, clinic_timezone: str) -> DatabaseSnapshot:
    """Counts ops watch, in a handful of aggregate queries (one read transaction), on SQLite and PostgreSQL.

    A message counts towards today when its latest step (sent, else claimed, else created) falls on the clinic's
    current local day. Escalations are "open" until acknowledged; overdue = open past the acknowledgement deadline.
    """
    now = _as_utc(now) or datetime.now(UTC)
    day_start, day_end = _local_day(now, clinic_timezone)
    t, m, e = TimerRecord, OutboxMessage, EscalationRecord
    with engine.connect() as conn:
        # Pending timers: served by the partial index ix_timers_pending_due (status = 'pending', due_at).
        pending, due_unclaimed, oldest_due = conn.execute(
            select(func.count(), func.sum(case((t.due_at <= now, 1), else_=0)),
                   func.min(case((t.due_at <= now, t.due_at), else_=None)))
            .where(t.status == "pending")).one()
        fired = conn.execute(select(func.count()).where(t.status == "fired", t.fired_at > now - timedelta(minutes=1))
                             ).scalar_one()

        outbox_open = dict(conn.execute(select(m.status, func.count()).where(m.status.in_(("pending", "sending")))
                                        .group_by(m.status)).all())
        moment = func.coalesce(m.sent_at, m.claimed_at, m.created_at)
        today_filter = (moment >= day_start, moment < day_end)
        today = {(kind, status): count for kind, status, count in conn.execute(
            select(m.kind, m.status, func.count()).where(*today_filter).group_by(m.kind, m.status)).all()}
        failure_codes = {code or "unknown": count for code, count in conn.execute(
            select(m.error_code, func.count()).where(*today_filter, m.status == "failed").group_by(m.error_code)).all()}
        drop_reasons = {reason or "unknown": count for reason, count in conn.execute(
            select(m.drop_reason, func.count()).where(*today_filter, m.status == "dropped")
            .group_by(m.drop_reason)).all()}

        open_by_severity = dict(conn.execute(select(e.severity, func.count()).where(e.status == "open")
                                             .group_by(e.severity)).all())
        overdue, oldest_raised = conn.execute(
            select(func.sum(case((e.ack_deadline < now, 1), else_=0)), func.min(e.raised_at))
            .where(e.status == "open")).one()

        stages = dict(conn.execute(_STAGE_COUNTS).all())

    oldest_due, oldest_raised = _as_utc(oldest_due), _as_utc(oldest_raised)
    return DatabaseSnapshot(
        at=now,
        timers=TimerStats(pending=int(pending or 0), due_unclaimed=int(due_unclaimed or 0),
                          oldest_due_lag_seconds=(now - oldest_due).total_seconds() if oldest_due else None,
                          fired_last_minute=int(fired or 0)),
        messages=MessageStats(today=today, failure_codes=failure_codes, drop_reasons=drop_reasons,
                              pending=int(outbox_open.get("pending", 0)), sending=int(outbox_open.get("sending", 0))),
        escalations=EscalationStats(open_by_severity=open_by_severity, overdue=int(overdue or 0),
                                    oldest_open_age_seconds=(now - oldest_raised).total_seconds() if oldest_raised
                                    else None),
        workflows_by_stage=stages,
    )
