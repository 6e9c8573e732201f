"""Texting a patient from the console: the reply box's route (on the patient page, and on an assigned text's page).

The text is the engine's `message.sent_by_staff` (policy in `workflows.handlers.staff_sms`): refused without consent or
after STOP, with the reason in plain words; held to the patient's quiet hours unless marked urgent; refused when it
names a drug, a diagnosis or a score until the sender ticks "Send anyway". A number that said STOP for another patient
on it is refused here too: the number's record holds for everyone on it.
"""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.console import inbox as inbox_pages
from api.console import patients, web
from api.console.reply import ReplyBox, blocked_reason, reply_box
from api.console.web import Staff, form_key
from api.dashboard.access import page_router
from api.deps import ServicesDep
from api.errors import status_of
from api.identity import user_event
from api.ids import WorkflowId, parse_id
from api.scope import visible_workflow
from models.queries import inbox
from models.store import ConcurrencyConflict
from models.tables import User
from workers.runtime import Services
from workflows.effects import SendMessage
from workflows.errors import Rejected
from workflows.events import STAFF_MESSAGE_MAX
from workflows.handlers.staff_sms import KIND
from workflows.state import WorkflowState

log = logging.getLogger("carepath.console")
router = page_router()
EVENT = "message.sent_by_staff"


@router.post("/console/patients/{workflow_id}/message")
async def send_message(user: Staff, workflow_id: WorkflowId, request: Request, svc: ServicesDep) -> Response:
    """Text the patient as the signed-in user (`message.sent_by_staff`); refused: the page again, with why."""
    form = await request.form()
    return await run_in_threadpool(_send, request, svc, user, workflow_id, form)


def _send(request: Request, svc: Services, user: User, workflow_id: str, form: Any) -> Response:
    found = visible_workflow(svc, user, workflow_id)
    if found is None:
        return patients.not_found(request, svc, user)
    workflow, patient = found
    back = parse_id(str(form.get("back", ""))) or ""
    body = str(form.get("body", "")).replace("\x00", "").strip()
    typed = {"body": body, "urgent": form.get("urgent") == "yes", "send_anyway": form.get("send_anyway") == "yes"}
    state = WorkflowState.model_validate(workflow.state)
    now = web.now_of(request)

    def refused(message: str, status: int, content: bool = False) -> Response:
        box = reply_box(svc, state, patient, now, back)
        box.error, box.content_warning, box.key = message, content, form_key(form) or box.key
        box.typed = {**typed, "body": body[:STAFF_MESSAGE_MAX * 2]}
        return _page_again(request, svc, user, workflow.id, back, box, status)

    blocked = blocked_reason(state, inbox.number_record(svc.engine, patient.phone))
    if blocked:
        return refused(blocked, 409)
    if not body:
        return refused("Write the text to send.", 422)
    try:
        event = user_event(user, EVENT, typed, idempotency_key=form_key(form))
        outcome = svc.store.apply(workflow.id, event, now, retries=2)
    except Rejected as exc:
        log.info("console: staff text refused for workflow %s (%s, rule %s)", workflow.id, exc.code, exc.rule)
        message = exc.message.removeprefix(f"invalid {EVENT} data: ")
        return refused(message[:1].upper() + message[1:], status_of(exc), content=exc.rule == "sms_content")
    except ConcurrencyConflict:
        return refused("The record changed while this was being sent; nothing was sent. Try again.", 409)
    planned = [e for e in outcome.effects if isinstance(e, SendMessage) and e.kind == KIND]
    later = planned[0].not_before if planned and planned[0].not_before and planned[0].not_before > now else None
    when = "again" if outcome.duplicate else \
        f"{later.astimezone(ZoneInfo(state.patient.timezone)):%H%M}" if later else "now"
    target = f"/console/inbox/{back}" if back else f"/console/patients/{workflow.id}"
    return RedirectResponse(f"{target}?texted={when}#reply", status_code=303)


def _page_again(request: Request, svc: Services, user: User, workflow_id: str, back: str, box: ReplyBox,
                status: int) -> Response:
    if back:
        return inbox_pages.text_page(request, svc, user, back, box=box, status_code=status)
    return patients.patient_page(request, svc, user, workflow_id, box=box, status_code=status)
