"""The escalation worklist, and acknowledging or resolving an escalation as the calling user."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from api import policy
from api.audit_trail import record_list_view
from api.checks import storable
from api.deps import CurrentUser, Now, ServicesDep, WorklistUser
from api.errors import ApiError
from api.identity import user_event
from api.ids import EscalationId
from api.policy import sees_patients
from api.routes.workflows import Limit, Offset, Page, page_of
from api.schemas import AcknowledgeIn, ResolveIn, error_responses, links_to_escalation
from api.scope import visible_escalation
from api.views import EscalationView, escalation_view
from models import unattached
from models.queries import listing
from models.tables import User

router = APIRouter(prefix="/v1/escalations", tags=["escalations"])
Status = Literal["open", "acknowledged", "resolved"]
Severity = Literal["routine", "urgent", "emergency"]
OwnerRole = Literal["coordinator", "clinician", "medical_director", "clinic_manager"]


class EscalationActed(BaseModel):
    escalation: EscalationView
    workflow_id: str | None = None  # None (and no stage, no event): an unknown number's emergency, changed in place
    stage: str | None = None
    event_id: int | None = None
    duplicate: bool = False


@router.get("", response_model=Page[EscalationView], operation_id="listEscalations",
            responses={200: {"description": "A page of the worklist", "links": links_to_escalation("items/0/id")},
                       **error_responses(401, 422)})
def worklist(user: CurrentUser, request: Request, svc: ServicesDep,
             status: Annotated[list[Status] | None, Query(description="Default: open and acknowledged")] = None,
             severity: Severity | None = None, owner_role: OwnerRole | None = None,
             workflow_id: Annotated[str | None, Query(max_length=36)] = None,
             limit: Limit = 50, offset: Offset = 0) -> dict:
    """The worklist: most severe first, then oldest; filter by status, severity, owner role or workflow."""
    statuses = status or list(listing.UNRESOLVED)
    if workflow_id is not None:
        storable(workflow_id, "workflow_id")
    found = listing.escalations_page(svc.engine, clinics=policy.clinic_scope(user), statuses=statuses,
                                     severity=severity, owner_role=owner_role,
                                     workflow_id=workflow_id, limit=limit, offset=offset)
    items = [escalation_view(record, patient, sees_patients(user)) for record, patient in found.rows]
    if sees_patients(user):
        shown = [(record.workflow_id, patient.id) for record, patient in found.rows if patient is not None]
        record_list_view(request, svc, user, "api escalations", shown, found.total,
                         f"offset {offset}; status={','.join(statuses)}; severity={severity or 'any'}")
    return page_of(items, found.total, limit, offset)


@router.post("/{escalation_id}/acknowledge", response_model=EscalationActed, operation_id="acknowledgeEscalation",
             responses={200: {"description": "Acknowledged", "links": links_to_escalation("escalation/id")},
                        **error_responses(400, 401, 403, 404, 409, 413, 422)})
def acknowledge(user: WorklistUser, escalation_id: EscalationId, svc: ServicesDep, now: Now,
                body: AcknowledgeIn | None = None) -> EscalationActed:
    """Take an escalation: records `escalation.acknowledged` by the calling user."""
    key = body.idempotency_key if body else None
    return _act(svc, user, now, escalation_id, "escalation.acknowledged", {}, key)


@router.post("/{escalation_id}/resolve", response_model=EscalationActed, operation_id="resolveEscalation",
             responses=error_responses(400, 401, 403, 404, 409, 413, 422))
def resolve(user: WorklistUser, escalation_id: EscalationId, svc: ServicesDep, now: Now,
            body: ResolveIn | None = None) -> EscalationActed:
    """Close an escalation with an optional note: records `escalation.resolved` by the calling user."""
    extra = {"note": body.note} if body and body.note is not None else {}
    return _act(svc, user, now, escalation_id, "escalation.resolved", extra, body.idempotency_key if body else None)


def _act(svc, user: User, now, escalation_id: str, event_type: str, extra: dict, key: str | None) -> EscalationActed:
    found = visible_escalation(svc, user, escalation_id)
    if found is None:
        raise ApiError(404, "unknown escalation")
    record, _patient = found
    data = {"escalation": record.id, **extra}
    storable(data, "")
    storable(key, "idempotency_key")
    event = user_event(user, event_type, data, idempotency_key=key)
    if record.workflow_id is None:  # an unknown number's emergency: no history, its row is the record
        settled = unattached.settle(svc.store, record.id, event, now)
        return EscalationActed(escalation=escalation_view(settled.record, None, sees_patients(user)),
                               duplicate=settled.duplicate)
    outcome = svc.store.apply(record.workflow_id, event, now, retries=2)
    record, patient = listing.escalation(svc.engine, record.id)
    return EscalationActed(escalation=escalation_view(record, patient, sees_patients(user)),
                           workflow_id=outcome.workflow_id, stage=outcome.stage, event_id=outcome.event_id,
                           duplicate=outcome.duplicate)
