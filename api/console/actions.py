"""Actions from the pathway itself: an offered event's generated form, posted through the same unit of work as the API
(`WorkflowStore.apply`, actor = the signed-in user, the form's idempotency key). Accepted: back to the patient page with a
notice. Refused: the same page again, nothing written, the engine's reason beside the form and the input kept.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.console import patients, refusals
from api.console.fields import FormError, describe, parse
from api.console.offers import PEOPLE, Attempt, sources_for
from api.console.web import Staff, form_key
from api.dashboard.access import page_router
from api.deps import ServicesDep
from api.errors import status_of
from api.identity import user_event
from api.ids import WorkflowId
from api.scope import visible_workflow
from models.store import ConcurrencyConflict
from models.tables import User
from workers.runtime import Services
from workflows.errors import Rejected
from workflows.events import PAYLOADS, identity_fields
from workflows.stages import EVENT_RULES, Role, role_may_post
from workflows.state import WorkflowState

log = logging.getLogger("carepath.console")
router = page_router()


@router.post("/console/patients/{workflow_id}/actions/{event_type}")
async def post_action(user: Staff, workflow_id: WorkflowId, event_type: str, request: Request,
                      svc: ServicesDep) -> Response:
    """Apply one offered event from its generated form as the signed-in user; refused: the page again, with why."""
    form = await request.form()
    return await run_in_threadpool(_post_action, request, svc, user, workflow_id, event_type, form)


def _post_action(request: Request, svc: Services, user: User, workflow_id: str, event_type: str, form: Any) -> Response:
    found = visible_workflow(svc, user, workflow_id)
    if found is None or event_type not in EVENT_RULES or not EVENT_RULES[event_type].roles & PEOPLE:
        return patients.not_found(request, svc, user)
    workflow, _patient = found
    key = form_key(form)
    state = WorkflowState.model_validate(workflow.state)
    if not role_may_post(Role(user.role), event_type):
        refusal = refusals.not_for_role(user.role, event_type)
        return _refused(request, svc, user, workflow.id, Attempt(event_type, form, refusal, key=key or ""), 403)
    zone = svc.store.clinic_named(workflow.clinic_id).timezone  # the form's times are the patient's clinic's
    fields = describe(PAYLOADS[event_type], sources_for(event_type, state, user, zone))
    try:
        # The form never asks who did it; a crafted post that names someone is refused like the API's (api.identity).
        typed = {name: form[name] for name in identity_fields(event_type) if isinstance(form.get(name), str)}
        event = user_event(user, event_type, {**parse(fields, form, zone), **typed}, idempotency_key=key)
        outcome = svc.store.apply(workflow.id, event, request.app.state.clock(), retries=2)
    except FormError as exc:
        label = next((item.label for item in fields if item.name == exc.name), None)
        refusal = refusals.from_form(f"{label}: {exc.message}" if label else exc.message, event_type)
        attempt = Attempt(event_type, form, refusal, exc.name, key or "", field_message=exc.message)
        return _refused(request, svc, user, workflow.id, attempt, 422)
    except Rejected as exc:
        # Ids and codes only: the message may quote what was typed.
        log.info("console: %s refused for workflow %s (%s, rule %s)", event_type, workflow.id, exc.code, exc.rule)
        refusal = refusals.from_rejected(exc, event_type, {item.name: item.label for item in fields})
        return _refused(request, svc, user, workflow.id, Attempt(event_type, form, refusal, exc.field, key or ""),
                        status_of(exc))
    except ConcurrencyConflict:
        refusal = refusals.conflict(event_type)
        return _refused(request, svc, user, workflow.id, Attempt(event_type, form, refusal, key=key or ""), 409)
    done = "duplicate" if outcome.duplicate else "recorded"
    return RedirectResponse(f"/console/patients/{workflow.id}?{done}={event_type}#actions", status_code=303)


def _refused(request: Request, svc: Services, user: User, workflow_id: str, attempt: Attempt, status: int) -> Response:
    return patients.patient_page(request, svc, user, workflow_id, attempt=attempt, status_code=status)
