"""At the chair: one dosing session for clinicians. Arrival, vitals, the dose and the discharge, beside the gates that
are still open and a countdown to the earliest allowed discharge.

The gates come from `workflows.gates`, the engine's own copy, so the panel shows what the engine would refuse. Forms post
through the same unit of work as the API, as the signed-in user, with a fresh idempotency key per rendered form; a
refusal is shown on the page with the engine's reason and nothing is written. Coordinators may check a patient in (the
engine lets them post `session.arrived`) and see the rest read-only.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from api.console import refusals, web
from api.console.charting import ACTIONS, Charted, FormProblem, parse
from api.console.fields import LABELS
from api.console.web import Staff
from api.dashboard.access import page_router
from api.dashboard.headers import static_file
from api.deps import ServicesDep
from api.errors import status_of
from api.identity import user_event
from api.ids import WorkflowId
from api.scope import visible_workflow
from models.tables import User
from workers.runtime import Services
from workflows.errors import Rejected
from workflows.gates import chair_gates
from workflows.protocol import Route
from workflows.rems import OBSERVED
from workflows.stages import Role, role_may_post
from workflows.state import OPEN_SESSION, SessionStatus, WorkflowState

log = logging.getLogger("carepath.console")
router = page_router()
STATIC = Path(__file__).parent / "static"
NOTICES = {"arrived": "Arrival recorded.", "vitals": "Vitals recorded.", "dose": "Dose recorded.",
           "discharge": "Patient discharged."}


@router.get("/console/static/chair.js")
def chair_script() -> FileResponse:
    """The countdown's script (the page works without it; the console's CSP allows same-origin scripts)."""
    return static_file(STATIC / "chair.js", "text/javascript")


@router.get("/console/chair/{workflow_id}/{session_id}")
def chair(user: Staff, workflow_id: WorkflowId, session_id: str, request: Request, svc: ServicesDep,
          msg: str = "") -> Response:
    """The session at the chair: status, dose plan, gates, countdown, vitals, and the forms the role may use."""
    found = load_session(svc, user, workflow_id, session_id)
    if found is None:
        return _missing(request, svc, user)
    return _page(request, svc, user, *found, session_id, notice=NOTICES.get(msg))


@router.post("/console/chair/{workflow_id}/{session_id}/{action}")
async def chart(user: Staff, workflow_id: WorkflowId, session_id: str, action: str, request: Request,
                svc: ServicesDep) -> Response:
    """Post one chair form as the signed-in user; a refusal re-renders the page with the reason."""
    found = load_session(svc, user, workflow_id, session_id)
    if found is None or action not in ACTIONS:
        return _missing(request, svc, user)
    workflow, patient, state = found
    form = {key: value for key, value in (await request.form()).items() if isinstance(value, str)}
    now = web.now_of(request)
    session = state.sessions[session_id]
    try:
        charted: Charted = parse(action, form, session, ZoneInfo(svc.store.clinic_named(workflow.clinic_id).timezone),
                                 now)
        event = user_event(user, charted.event_type, charted.data, occurred_at=charted.occurred_at,
                           idempotency_key=web.form_key(form, "key"))
        svc.store.apply(workflow.id, event, now, retries=2)
    except FormProblem as problem:
        failed = (action, refusals.from_form(str(problem), ACTIONS[action]), form)
        return _page(request, svc, user, workflow, patient, state, session.id, failed=failed,
                     status=422)
    except Rejected as refused:
        # Ids and the rule only: the reason itself is shown to the clinician, not logged.
        log.info("console chair: %s refused for workflow %s session %s (%s)", ACTIONS[action], workflow.id, session.id,
                 refused.rule)
        failed = (action, refusals.from_rejected(refused, ACTIONS[action], LABELS), form)
        return _page(request, svc, user, workflow, patient, state, session.id, failed=failed,
                     status=status_of(refused))
    return RedirectResponse(f"/console/chair/{workflow.id}/{quote(session.id)}?msg={action}", status_code=303)


def _missing(request: Request, svc: Services, user: User) -> Response:
    return web.render(request, svc, "chair.html", {"user": user, "missing": True}, status_code=404)


def load_session(svc: Services, user: User, workflow_id: str, session_id: str):
    """The workflow, its patient and its state, when it has this session; else None."""
    found = visible_workflow(svc, user, workflow_id)
    if found is None:
        return None
    workflow, patient = found
    state = WorkflowState.model_validate(workflow.state)
    if session_id not in state.sessions:
        return None
    return workflow, patient, state


def _page(request: Request, svc: Services, user: User, workflow, patient, state: WorkflowState, session_id: str, *,
          notice: str | None = None, failed: tuple | None = None, status: int = 200) -> Response:
    now = web.now_of(request)
    session = state.sessions[session_id]
    protocol = svc.store.protocols.get(workflow.protocol_version)
    route = protocol.route(session.route)
    role = Role(user.role)
    action, refusal, values = failed or (None, None, {})
    zone = svc.store.clinic_named(workflow.clinic_id).timezone
    context: dict[str, Any] = {
        "user": user, "missing": False, "notice": notice, "now": now, "workflow": workflow, "state": state,
        "patient": patient, "session": session, "route": route,
        "gates": chair_gates(state, session, route, protocol.sessions, now, zone=zone),
        "zone": ZoneInfo(zone), "zone_name": zone,  # the chair works in its own clinic's time
        "forms": _forms(session), "may": {name: role_may_post(role, event) for name, event in ACTIONS.items()},
        "failed": {"action": action, "refusal": refusal}, "values": values,
        "key": str(uuid.uuid4()), "per_kg": not route.allowed_doses_mg, "observed": OBSERVED,
        "rems_form": session.route == Route.ESKETAMINE,
    }
    return web.render(request, svc, "chair.html", context, status_code=status)


def _forms(session) -> list[str]:
    """The chair forms this session's status allows, in the order they are used; the role decides which are live."""
    if session.status in OPEN_SESSION:
        return ["arrived"]
    if session.status == SessionStatus.ARRIVED:
        return ["vitals", "dose"]
    if session.status == SessionStatus.DOSED:
        return ["vitals", "discharge"]
    return []
