"""The REMS Patient Monitoring Form of one esketamine session: a printable page, a PDF, and "Mark submitted".

The fields come from `workflows.rems.fill`, the session's record as charted at the chair; a field with nothing recorded
reads "not recorded". The form is sent to the REMS by staff (its portal or fax); carepath records that it was sent with
`rems.form_submitted`, through the store like every change, which closes the session's due and overdue items.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from api.console import refusals, web
from api.console.chair import load_session
from api.console.rems_pdf import render_pdf
from api.console.web import Staff
from api.dashboard.access import page_router
from api.deps import ServicesDep
from api.errors import status_of
from api.identity import user_event
from api.ids import WorkflowId
from models.tables import User
from workers.runtime import Services
from workflows.errors import Rejected
from workflows.protocol import Route
from workflows.rems import PHASE_WORDS, fill
from workflows.stages import Role, role_may_post
from workflows.state import SessionStatus, WorkflowState

log = logging.getLogger("carepath.console")
router = page_router()
SUBMITTED = "rems.form_submitted"


def form_url(workflow_id: str, session_id: str) -> str:
    return f"/console/chair/{workflow_id}/{quote(session_id)}/rems-form"


@router.get("/console/chair/{workflow_id}/{session_id}/rems-form")
def rems_form(user: Staff, workflow_id: WorkflowId, session_id: str, request: Request, svc: ServicesDep,
              msg: str = "") -> Response:
    """The form's fields as a printable page, with its deadline in clinic time and "Mark submitted"."""
    found = _load(svc, user, workflow_id, session_id)
    if found is None:
        return _missing(request, svc, user)
    notice = "The REMS form is marked submitted." if msg == "submitted" else None
    return _page(request, svc, user, *found, session_id, notice=notice)


@router.get("/console/chair/{workflow_id}/{session_id}/rems-form.pdf")
def rems_form_pdf(user: Staff, workflow_id: WorkflowId, session_id: str, request: Request,
                  svc: ServicesDep) -> Response:
    """The same fields as a PDF to print, sign or send; its file name carries ids only."""
    found = _load(svc, user, workflow_id, session_id)
    if found is None:
        return _missing(request, svc, user)
    workflow, patient, state = found
    zone = ZoneInfo(svc.store.clinic_named(workflow.clinic_id).timezone)
    clinic = svc.store.clinic_named(workflow.clinic_id).name
    rules = svc.store.protocols.get(workflow.protocol_version).sessions
    body = render_pdf(fill(state, state.sessions[session_id], rules), patient.name, clinic, zone)
    name = f"rems-form-{workflow.id}-{session_id}.pdf"
    return Response(body, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "no-store"})


@router.post("/console/chair/{workflow_id}/{session_id}/rems-form/submitted")
async def mark_submitted(user: Staff, workflow_id: WorkflowId, session_id: str, request: Request,
                         svc: ServicesDep) -> Response:
    """Record that the form was sent to the REMS, as the signed-in user; a refusal is shown on the form page."""
    found = _load(svc, user, workflow_id, session_id)
    if found is None:
        return _missing(request, svc, user)
    workflow, patient, state = found
    form = {key: value for key, value in (await request.form()).items() if isinstance(value, str)}
    now = web.now_of(request)
    try:
        event = user_event(user, SUBMITTED, {"session": session_id}, idempotency_key=web.form_key(form, "key"))
        svc.store.apply(workflow.id, event, now, retries=2)
    except Rejected as refused:
        log.info("console rems form: refused for workflow %s session %s (%s)", workflow.id, session_id, refused.rule)
        return _page(request, svc, user, workflow, patient, state, session_id,
                     refusal=refusals.from_rejected(refused, SUBMITTED), status=status_of(refused))
    return RedirectResponse(f"{form_url(workflow.id, session_id)}?msg=submitted", status_code=303)


def _load(svc: Services, user: User, workflow_id: str, session_id: str):
    """As at the chair (`chair.load_session`), and only for an esketamine session; else None."""
    found = load_session(svc, user, workflow_id, session_id)
    if found is None or found[2].sessions[session_id].route != Route.ESKETAMINE:
        return None  # the REMS form is esketamine's alone
    return found


def _missing(request: Request, svc: Services, user: User) -> Response:
    return web.render(request, svc, "rems_form.html", {"user": user, "missing": True}, status_code=404)


def _page(request: Request, svc: Services, user: User, workflow, patient, state: WorkflowState, session_id: str, *,
          notice: str | None = None, refusal: refusals.Refusal | None = None, status: int = 200) -> Response:
    session = state.sessions[session_id]
    clinic = svc.store.clinic_named(workflow.clinic_id)
    rules = svc.store.protocols.get(workflow.protocol_version).sessions
    form = fill(state, session, rules)
    # The last day to send it, in clinic time: the deadline is the midnight that ends it.
    last_day = (form.deadline.astimezone(ZoneInfo(clinic.timezone)) - timedelta(minutes=1)).date() if form.deadline else None
    context: dict[str, Any] = {
        "user": user, "missing": False, "notice": notice, "refusal": refusal, "workflow": workflow,
        "patient": patient, "session": session, "form": form, "clinic": clinic, "last_day": last_day,
        "zone": ZoneInfo(clinic.timezone), "zone_name": clinic.timezone, "phases": PHASE_WORDS,
        "now": web.now_of(request), "due_days": rules.rems_form_due_days,
        "discharged": session.status == SessionStatus.DISCHARGED,
        "may_submit": role_may_post(Role(user.role), SUBMITTED),
        "pdf_url": f"{form_url(workflow.id, session_id)}.pdf", "submit_url": f"{form_url(workflow.id, session_id)}/submitted",
    }
    return web.render(request, svc, "rems_form.html", context, status_code=status)
