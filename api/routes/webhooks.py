"""Twilio webhooks: a patient's text, and delivery receipts. Both are signed; unsigned or forged → 403, nothing done."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import Now, ServicesDep
from api.errors import ApiError
from api.schemas import error_responses
from api.twilio_signature import verified_form
from models.inbox import receive_sms
from workers.status_callbacks import handle_status_callback
from workflows.errors import Rejected

log = logging.getLogger("carepath.webhooks")
router = APIRouter(prefix="/v1/webhooks/twilio", tags=["webhooks"])

# Replies go out through the outbox (policy, quiet hours, delivery receipts), never inline in the TwiML answer.
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
MAX_ID_LENGTH = 64


def _form_body(*fields: str) -> dict:
    properties = {name: {"type": "string"} for name in fields}
    return {"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {
        "schema": {"type": "object", "properties": properties}}}}}


def _clean(value: str | None) -> str:
    return (value or "").replace("\x00", "")


@router.post("/sms", response_class=Response, openapi_extra=_form_body("From", "Body", "MessageSid"),
             responses={200: {"description": "Empty TwiML", "content": {"application/xml": {}}},
                        **error_responses(400, 403, 413, 422)})
async def inbound_sms(request: Request, svc: ServicesDep, now: Now) -> Response:
    """A patient's text: applied as `sms.received` to their workflow (idempotent on Twilio's MessageSid)."""
    form = await verified_form(request, svc.settings)
    phone, body, sid = _clean(form.get("From")), _clean(form.get("Body")), _clean(form.get("MessageSid"))
    if not phone:
        raise ApiError(422, "invalid request: From: required", details={"field": "From"})
    key = f"twilio:{sid}" if sid and len(sid) <= MAX_ID_LENGTH else None
    try:
        outcome = await run_in_threadpool(receive_sms, svc.store, phone, body, now, key)
    except Rejected as exc:
        # Not a patient's number we can use (a short code, a malformed number): answered, not retried.
        log.info("inbound sms %s not applied: %s/%s", sid or "-", exc.code, exc.rule or exc.field or "-")
        outcome = None
    if outcome is not None:
        log.info("inbound sms %s applied to workflow %s (event %s)", sid or "-", outcome.workflow_id, outcome.event_id)
    return Response(EMPTY_TWIML, media_type="application/xml")


@router.post("/status", status_code=204, response_class=Response,
             openapi_extra=_form_body("MessageSid", "MessageStatus", "ErrorCode"),
             responses={204: {"description": "Recorded (or ignored for an unknown message)"},
                        **error_responses(400, 403, 413, 422)})
async def status_callback(request: Request, svc: ServicesDep, now: Now,
                          message_id: Annotated[str | None, Query(description="Our outbox message id")] = None) -> Response:
    """A delivery receipt for one of our messages: queued, sent, delivered, undelivered or failed."""
    form = await verified_form(request, svc.settings)
    if not message_id or len(message_id) > MAX_ID_LENGTH or "\x00" in message_id:
        raise ApiError(422, "invalid request: message_id: required, up to 64 characters", details={"field": "message_id"})
    params = {key: _clean(value) for key, value in form.items() if isinstance(value, str)}
    if len(params.get("ErrorCode") or "") > 16 or len(params.get("MessageSid") or "") > MAX_ID_LENGTH:
        raise ApiError(422, "invalid request: ErrorCode or MessageSid too long", details={"field": "ErrorCode"})
    await run_in_threadpool(handle_status_callback, svc, message_id, params, now)
    return Response(status_code=204)
