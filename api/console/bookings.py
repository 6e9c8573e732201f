"""What the calendar and the schedule grid share when a form books, moves or cancels: the form's fields, the patient
it chose, whether this very form was applied already (a double click), and posting the event as the signed-in user."""

from __future__ import annotations

from fastapi import Request

from api import policy
from api.console import agenda, web
from api.identity import user_event
from api.ids import parse_id
from api.scope import visible_workflow
from models import queries
from models.tables import User
from workers.runtime import Services
from workflows.errors import Rejected
from workflows.state import WorkflowState

SEARCH_MAX = 100  # characters of a patient search, as on the patient list


async def form_of(request: Request) -> dict[str, str]:
    return {key: value for key, value in (await request.form()).items() if isinstance(value, str)}


def chosen_workflow(svc: Services, user: User, raw_id: str) -> tuple[str, WorkflowState] | None:
    """The workflow the booking form chose (its id and state), if it exists."""
    workflow_id = parse_id(raw_id)
    found = visible_workflow(svc, user, workflow_id) if workflow_id else None
    return (found[0].id, WorkflowState.model_validate(found[0].state)) if found else None


def already_booked(svc: Services, workflow_id: str, key: str | None) -> bool:
    """This very form was applied already (a double click): its automatic id would now differ, so do not ask again."""
    return key is not None and queries.has_event_with_key(svc.engine, workflow_id, key)


def post_booking(request: Request, svc: Services, user: User, workflow_id: str, event_type: str, data: dict,
                 form: dict[str, str]) -> None:
    if visible_workflow(svc, user, workflow_id) is None:  # another clinic's patient is no patient here
        raise Rejected("There is no such patient in your clinics' calendar. Reload the calendar and choose the "
                       "session again.", code="not_found", rule="workflow_exists")
    event = user_event(user, event_type, data, idempotency_key=web.form_key(form, "key"))
    svc.store.apply(workflow_id, event, web.now_of(request), retries=2)


def bookable_patients(svc: Services, user: User, search: str | None, chosen: str) -> list[tuple[str, str, str]]:
    """The booking form's patients: those a search found, or the one a refused booking had chosen (kept selected)."""
    clinics = policy.clinic_scope(user)
    if search:
        return agenda.bookable_found(svc.engine, search, clinics)
    workflow_id = parse_id(chosen)
    found = visible_workflow(svc, user, workflow_id) if workflow_id else None
    return [(found[0].id, found[1].name, found[0].stage)] if found else []
