"""The network's clinics as rows: each clinic's key, name and definition document. The caller validates a definition
(`config.clinics`) before it is written here, and commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, inspect, select

from models.tables import ClinicRow
from models.unit_of_work import UnitOfWork


def all_definitions(uow: UnitOfWork) -> list[dict]:
    """Every stored clinic's definition, in the order they were added; none before migration 0011 ran."""
    if not inspect(uow.db.connection()).has_table(ClinicRow.__tablename__):
        return []  # a database not yet migrated: the settings' clinic alone, until `carepath migrate`
    rows = uow.db.execute(select(ClinicRow).order_by(ClinicRow.created_at, ClinicRow.key)).scalars()
    return [{**row.definition, "key": row.key} for row in rows]


def fingerprint(uow: UnitOfWork) -> tuple[int, datetime | None]:
    """(how many clinics are stored, when one last changed): what tells a running process the network changed."""
    if not inspect(uow.db.connection()).has_table(ClinicRow.__tablename__):
        return 0, None
    count, latest = uow.db.execute(select(func.count(), func.max(ClinicRow.updated_at))).one()
    return count, latest


def save(uow: UnitOfWork, key: str, name: str, definition: dict, now: datetime) -> bool:
    """Add the clinic or replace its definition; True when it is new."""
    row = uow.db.get(ClinicRow, key)
    if row is None:
        uow.db.add(ClinicRow(key=key, name=name, definition=definition, created_at=now, updated_at=now))
        return True
    row.name, row.definition, row.updated_at = name, definition, now
    uow.db.add(row)
    return False
