"""Workflows: the list, one workflow, its history, and posting an event to it."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from api import policy
from api.audit_trail import record_list_view
from api.checks import clinic_local, storable
from api.deps import CurrentUser, Now, ServicesDep
from api.errors import ApiError
from api.identity import user_event
from api.ids import WorkflowId
from api.policy import sees_patients
from api.schemas import EventApplied, EventIn, error_responses, links_to_workflow
from api.scope import visible_workflow
from api.views import EventView, WorkflowDetail, WorkflowSummary, event_view, workflow_detail, workflow_summary
from models.queries import listing
from models.tables import User
from workflows.errors import Rejected
from workflows.events import localize_times
from workflows.stages import EVENT_RULES, Role, Stage, role_may_post

router = APIRouter(prefix="/v1/workflows", tags=["workflows"])
Item = TypeVar("Item")
Limit = Annotated[int, Query(ge=1, le=200, description="Page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip")]
FlagName = Annotated[str | None, Query(pattern=r"^[a-z0-9_]{1,40}$", description="Only workflows with this flag active")]
# Read routes answer these errors besides their own.
READ_ERRORS = error_responses(401, 404, 422)


class Page(BaseModel, Generic[Item]):
    items: list[Item]
    total: int
    limit: int
    offset: int
    next_offset: int | None


def page_of(items: list, total: int, limit: int, offset: int) -> dict:
    following = offset + limit
    return {"items": items, "total": total, "limit": limit, "offset": offset,
            "next_offset": following if following < total else None}


@router.get("", response_model=Page[WorkflowSummary], responses=READ_ERRORS, operation_id="listWorkflows")
def list_workflows(user: CurrentUser, request: Request, svc: ServicesDep, now: Now, stage: Stage | None = None,
                   flag: FlagName = None, limit: Limit = 50, offset: Offset = 0) -> dict:
    """Workflows, most recently changed first; filter by stage and by active flag."""
    found = listing.workflows_page(svc.engine, now=now, stage=stage, flag=flag, limit=limit, offset=offset,
                                   clinics=policy.clinic_scope(user))
    items = [workflow_summary(workflow, patient, now, sees_patients(user)) for workflow, patient in found.rows]
    if sees_patients(user):
        record_list_view(request, svc, user, "api workflows", [(w.id, p.id) for w, p in found.rows], found.total,
                         f"offset {offset}; stage={stage or 'any'}; flag={flag or 'any'}")
    return page_of(items, found.total, limit, offset)


@router.get("/{workflow_id}", response_model=WorkflowDetail, responses=READ_ERRORS, operation_id="getWorkflow")
def get_workflow(user: CurrentUser, workflow_id: WorkflowId, svc: ServicesDep, now: Now) -> WorkflowDetail:
    """One workflow: stage, route, sessions, open escalations, pending timers, scores and flags."""
    workflow, patient = _load(svc, user, workflow_id)
    return workflow_detail(workflow, patient, now, sees_patients(user))


@router.get("/{workflow_id}/events", response_model=Page[EventView], responses=READ_ERRORS, operation_id="listWorkflowEvents")
def workflow_history(user: CurrentUser, workflow_id: WorkflowId, svc: ServicesDep, limit: Limit = 50,
                     offset: Offset = 0) -> dict:
    """The workflow's history in order, each event with its actor and times."""
    workflow, _patient = _load(svc, user, workflow_id)
    found = listing.events_page(svc.engine, workflow.id, limit=limit, offset=offset)
    return page_of([event_view(record, sees_patients(user)) for record in found.rows], found.total, limit, offset)


@router.post("/{workflow_id}/events", response_model=EventApplied, operation_id="postWorkflowEvent",
             responses={200: {"description": "Applied (or the first outcome of a repeated key)",
                              "links": links_to_workflow("workflow_id")},
                        **error_responses(400, 401, 403, 404, 409, 413, 422)})
def post_event(user: CurrentUser, workflow_id: WorkflowId, body: EventIn, svc: ServicesDep, now: Now) -> EventApplied:
    """Apply one event as the calling user: 409 when not allowed now or a rule refuses it, 422 for invalid data.

    The caller is the actor (role, name, user id). `by` and `clinician` are the caller too: left out, they are filled
    with the caller's name; naming anyone else is refused with 403 and nothing is written."""
    if not role_may_post(Role(user.role), body.type):
        roles = ", ".join(sorted(EVENT_RULES[body.type].roles))
        raise Rejected(f"role {user.role} may not post {body.type} (allowed roles: {roles}, admin)", code="forbidden",
                       rule="role_may_post")
    workflow, _patient = _load(svc, user, workflow_id)
    storable(body.data, "data")
    storable(body.idempotency_key, "idempotency_key")
    zone = svc.store.clinic_named(workflow.clinic_id).timezone  # naive times are the patient's clinic's
    event = user_event(user, body.type, localize_times(body.data, zone),
                       idempotency_key=body.idempotency_key, occurred_at=clinic_local(body.occurred_at, zone))
    outcome = svc.store.apply(workflow.id, event, now, retries=2)
    return EventApplied(workflow_id=outcome.workflow_id, stage=outcome.stage, event_id=outcome.event_id,
                        duplicate=outcome.duplicate)


def _load(svc, user: User, workflow_id: str):
    found = visible_workflow(svc, user, workflow_id)  # another clinic's workflow is unknown here
    if found is None:
        raise ApiError(404, "unknown workflow", details={"rule": "workflow_exists"})
    return found
