"""Telling the clinic manager about gaps in the on-call rota: one staff SMS per gap, once, however many schedulers run.

The gaps come from each clinic's rota (`workflows.coverage.upcoming_gaps`); each becomes an outbox row of that
clinic, with no workflow, whose dedupe key names the role, the gap's start and (beyond the default) the clinic,
inserted with ON CONFLICT DO NOTHING, so a second tick or a second scheduler writes nothing. With no clinic manager
on the rota or in the settings at that moment nothing is written, and the gap is told when one is (the dashboard
shows it meanwhile).
"""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.dialects import postgresql, sqlite

from models.store import WorkflowStore
from models.tables import OutboxMessage
from models.unit_of_work import UnitOfWork
from workflows.clinic import DEFAULT_CLINIC, Clinic
from workflows.coverage import gap_alert, gap_key, upcoming_gaps
from workflows.protocol import MessagingRules
from workflows.rota import Gap


def announce_gaps(uow: UnitOfWork, store: WorkflowStore, now: datetime, hours: int) -> int:
    """Queue a `rota_gap` text to each clinic's manager for each gap in that clinic's rota under way or starting
    within `hours` not told yet; returns how many were queued now."""
    return sum(announce_clinic_gaps(uow, store, clinic, now, hours) for clinic in store.network.clinics)


def announce_clinic_gaps(uow: UnitOfWork, store: WorkflowStore, clinic: Clinic, now: datetime, hours: int) -> int:
    manager = clinic.staff_number("clinic_manager", now)
    if manager is None:
        return 0
    rules = store.protocols.current.messaging
    queued = 0
    for gap in upcoming_gaps(clinic, now, hours):
        body = gap_alert(clinic, gap, now)
        queued += _queue_once(uow, clinic_gap_key(clinic, gap), clinic.key, manager, body, now,
                              send_at(gap, now, clinic.timezone, rules))
    return queued


def clinic_gap_key(clinic: Clinic, gap: Gap) -> str:
    """The gap's dedupe key within the network: the default clinic keeps the single-clinic key, so a gap told before
    the network existed is not told again; another clinic's carries its key, so two clinics' equal gaps are both told."""
    key = gap_key(gap)
    return key if clinic.key == DEFAULT_CLINIC else f"{key}:{clinic.key}"


def send_at(gap: Gap, now: datetime, zone: str, rules: MessagingRules) -> datetime:
    """Now, unless it is the middle of the night and the gap starts after the manager's morning: then that morning.
    A gap found 72 h ahead is found at whatever hour its start falls; nobody needs waking three days early."""
    wall = now.astimezone(ZoneInfo(zone))
    start, end = rules.quiet_start_hour, rules.quiet_end_hour
    quiet = (wall.hour >= start or wall.hour < end) if start > end else start <= wall.hour < end
    if not quiet:
        return now
    morning_day = wall.date() + timedelta(days=1) if wall.hour >= end else wall.date()
    morning = datetime.combine(morning_day, time(end), tzinfo=ZoneInfo(zone))
    return morning if morning < gap.start else now


def _queue_once(uow: UnitOfWork, key: str, clinic: str, to: str, body: str, now: datetime,
                not_before: datetime) -> int:
    dialect = postgresql if uow.db.get_bind().dialect.name == "postgresql" else sqlite
    inserted = uow.db.execute(
        dialect.insert(OutboxMessage)
        .values(id=str(uuid.uuid4()), workflow_id=None, clinic_id=clinic, kind="rota_gap", recipient="clinic_manager",
                to_phone=to, body=body, status="pending", urgent=True, automated=False, dedupe_key=key, not_before=not_before,
                created_at=now, attempts=0)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(OutboxMessage.id)  # a row back only if it was written (rowcount is not reliable on psycopg)
    )
    return 1 if inserted.first() is not None else 0
