"""The schedule's side of the store: one lock for every booking, and the bookings near a time, read inside the unit of
work that is writing a booking (`models.store._refuse_clash`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, text
from sqlmodel import Session

from models.tables import CalendarItemRecord, WorkflowRow
from workflows.schedule import HOLDING, Booking, booking_of

# pg_advisory_xact_lock's key for "the schedule": any 64-bit number no other lock of carepath uses.
SCHEDULE_LOCK = 0x63617265_0018


def lock_schedule(db: Session) -> None:
    """Hold the schedule until this transaction ends. One lock for the whole network: a provider's clash crosses
    clinics, and bookings are few enough a minute that waiting for one another costs nothing."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEDULE_LOCK})


def bookings_near(db: Session, start: datetime, end: datetime) -> list[Booking]:
    """Every booking holding a chair or provider that starts in [start, end), at any clinic."""
    query = (select(CalendarItemRecord.workflow_id, CalendarItemRecord.kind, WorkflowRow.clinic_id,
                    CalendarItemRecord.item)
             .join(WorkflowRow, WorkflowRow.id == CalendarItemRecord.workflow_id)
             .where(CalendarItemRecord.start >= start, CalendarItemRecord.start < end,
                    CalendarItemRecord.status.in_(sorted(HOLDING))))
    found = (booking_of(workflow_id, kind, clinic, item) for workflow_id, kind, clinic, item in db.execute(query))
    return [booking for booking in found if booking is not None]
