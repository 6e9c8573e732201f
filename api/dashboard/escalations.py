"""Acknowledging and resolving escalations from the dashboard's worklist table, and that table's rows (the console's
patient page and worklist draw the same rows)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from api import policy
from api.dashboard.access import SignedIn, page_router
from api.deps import ServicesDep
from api.identity import user_event
from api.ids import EscalationId
from api.scope import visible_escalation
from api.views import allowed
from models import unattached
from models.tables import EscalationRecord, PatientRow, User
from workers.runtime import Services
from workflows.errors import Rejected

log = logging.getLogger("carepath.dashboard")
router = page_router()
NOTE_MAX = 2000
NOTICES = {
    "acknowledged": "Escalation acknowledged.",
    "resolved": "Escalation resolved.",
    "rejected": "That change was refused: the escalation may already have been acknowledged or resolved.",
    "unknown": "That escalation no longer exists.",
    "forbidden": "Your role may not change escalations.",
    "bad-note": "The note is too long (at most 2000 characters).",
}
Back = Annotated[str, Form(max_length=200)]


def notice(msg: str | None) -> str | None:
    """The sentence for a `?msg=` an escalation form redirected with."""
    return NOTICES.get(msg or "")


# A worklist row as ops see it (minimum necessary, see `api.views`): ids, codes, counts, times and statuses; not the
# resolution note, not the patient's name.
OPS_ROW = ("id", "workflow_id", "inbox_id", "reason", "severity", "tier", "owner_role", "status", "count", "raised_at",
           "age_seconds", "ack_deadline", "acknowledged_by", "resolved_by", "overdue")


def escalation_row(record: EscalationRecord, patient: PatientRow | None, now: datetime, show: bool) -> dict[str, Any]:
    """One worklist row; for roles that do not see patients (`show` False) only the fields of `OPS_ROW`. No patient:
    an emergency from an unknown number, with the id of the text that raised it."""
    row = {"id": record.id, "workflow_id": record.workflow_id, "reason": record.reason, "severity": record.severity,
           "tier": record.tier, "owner_role": record.owner_role, "status": record.status, "count": record.count,
           "raised_at": record.raised_at, "age_seconds": (now - record.raised_at).total_seconds(),
           "ack_deadline": record.ack_deadline, "acknowledged_by": record.acknowledged_by,
           "resolved_by": record.resolved_by, "overdue": record.status == "open" and record.ack_deadline < now,
           "inbox_id": record.inbox_id}
    if not show:
        return allowed(row, OPS_ROW)
    return {**row, "note": record.note, "patient_name": patient.name if patient else None, "session": record.session_key}


@router.post("/dashboard/escalations/{escalation_id}/acknowledge")
def acknowledge(user: SignedIn, escalation_id: EscalationId, request: Request, svc: ServicesDep,
                back: Back = "/dashboard") -> Response:
    """Take an escalation: `escalation.acknowledged` by the signed-in user."""
    return act(request, svc, user, escalation_id, "escalation.acknowledged", {}, back)


@router.post("/dashboard/escalations/{escalation_id}/resolve")
def resolve(user: SignedIn, escalation_id: EscalationId, request: Request, svc: ServicesDep,
            note: Annotated[str, Form()] = "", back: Back = "/dashboard") -> Response:
    """Close an escalation, with an optional note: `escalation.resolved` by the signed-in user."""
    note = note.strip()
    if len(note) > NOTE_MAX:
        return after(back, "bad-note")
    return act(request, svc, user, escalation_id, "escalation.resolved", {"note": note} if note else {}, back)


def act(request: Request, svc: Services, user: User, escalation_id: str, event_type: str, extra: dict,
        back: str) -> Response:
    if not policy.allows(policy.ACTS_ON_ESCALATIONS, user):
        return after(back, "forbidden")
    found = visible_escalation(svc, user, escalation_id)
    if found is None:
        return after(back, "unknown")
    record, _patient = found
    try:
        event = user_event(user, event_type, {"escalation": record.id, **extra})
        if record.workflow_id is None:  # an unknown number's emergency: no history, its row is the record
            unattached.settle(svc.store, record.id, event, request.app.state.clock())
        else:
            svc.store.apply(record.workflow_id, event, request.app.state.clock(), retries=2)
    except Rejected as exc:
        log.info("dashboard: %s refused for escalation %s (%s)", event_type, record.id, exc.code)
        return after(back, "rejected")
    return after(back, "acknowledged" if event_type == "escalation.acknowledged" else "resolved")


def after(back: str, outcome: str) -> RedirectResponse:
    """Back to the page the form was on (only a dashboard page: never an open redirect), saying what happened."""
    if not back.startswith("/dashboard") or "//" in back or "\\" in back:
        back = "/dashboard"
    back = back.split("?", 1)[0].split("#", 1)[0]
    return RedirectResponse(f"{back}?msg={outcome}#worklist", status_code=303)
