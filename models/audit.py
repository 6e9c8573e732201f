"""Writing the audit trail: sign-ins and their failures, sign-outs, account changes, views of patients' data.

Append-only. This module adds rows and has no other operation, and the database itself refuses UPDATE and DELETE on
the table (migration 0006); reading is `models.queries.audit`. Entries carry ids, routes and addresses: never a
password, a patient's name, phone or text.
"""

from __future__ import annotations

from datetime import datetime

from models.tables import AuditEntry
from models.unit_of_work import UnitOfWork

# What an entry records. Sign-in: sign_in (finished, detail says how), sign_in_failed (detail says why),
# sign_in_refused (paused after too many failures), sign_out (detail: by the user, idle, or ended by an admin).
# Patients: view (a page or API read; a text in the staff inbox too), change (a form or API call that posts to a
# patient), export, list_viewed (a list or search of patients drawn: which list, how many, the page and filters, never
# what was searched for) and listed (one per patient that list showed).
# Accounts: user_created, user_disabled, user_enabled, password_reset, password_changed, second_factor_enrolled,
# second_factor_reset, sessions_ended, token_created, token_revoked, clinics_changed (where the account works).
# Clinics: clinic_added, clinic_changed (by a network admin, from the admin pages; the detail names the clinic's key).
# The trail itself: audit_searched, audit_exported.
ACTIONS = frozenset({
    "sign_in", "sign_in_failed", "sign_in_refused", "sign_out",
    "view", "change", "export", "list_viewed", "listed",
    "user_created", "user_disabled", "user_enabled", "password_reset", "password_changed", "second_factor_enrolled",
    "second_factor_reset", "sessions_ended", "token_created", "token_revoked", "clinics_changed",
    "clinic_added", "clinic_changed",
    "audit_searched", "audit_exported",
})


def record(uow: UnitOfWork, action: str, at: datetime, *, user_id: str | None = None, patient_id: str | None = None,
           workflow_id: str | None = None, target_id: str | None = None, route: str | None = None,
           method: str | None = None, address: str | None = None, detail: str | None = None) -> AuditEntry:
    """Add one entry to the trail (in the caller's unit of work, which commits it)."""
    entry = AuditEntry(**_fields(action, at, user_id=user_id, patient_id=patient_id, workflow_id=workflow_id,
                                 target_id=target_id, route=route, method=method, address=address, detail=detail))
    uow.db.add(entry)
    return entry


def record_each(uow: UnitOfWork, action: str, at: datetime, patients: list[tuple[str, str]], **common: str | None) -> None:
    """One entry per (workflow id, patient id), the rest alike, in one multi-row INSERT (a list's 200 `listed` rows
    without building 200 objects)."""
    if patients:
        rows = [_fields(action, at, workflow_id=workflow_id, patient_id=patient_id, **common)
                for workflow_id, patient_id in patients]
        uow.db.bulk_insert_mappings(AuditEntry, rows)


def _fields(action: str, at: datetime, *, route: str | None = None, address: str | None = None,
            detail: str | None = None, **ids: str | None) -> dict:
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    return {"at": at, "action": action, "route": (route or None) and route[:200],
            "address": (address or None) and address[:64], "detail": (detail or None) and detail[:200],
            "user_id": None, "patient_id": None, "workflow_id": None, "target_id": None, "method": None, **ids}
