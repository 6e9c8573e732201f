"""Twilio webhooks: a patient's text, and delivery receipts. Both are signed; unsigned or forged → 403, nothing done."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import Now, ServicesDep
from api.errors import ApiError
from api.schemas import error_responses
from api.twilio_signature import verified_form
from models.inbox import Incoming
from workers.inbound import ANSWER_TIMEOUT_SECONDS, applies_here, apply_now, submit_text
from workers.status_callbacks import handle_status_callback

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


@router.post("/sms", response_class=Response, openapi_extra=_form_body("From", "To", "Body", "MessageSid"),
             responses={200: {"description": "Empty TwiML: the text is stored", "content": {"application/xml": {}}},
                        **error_responses(400, 403, 413, 422)})
async def inbound_sms(request: Request, svc: ServicesDep, now: Now) -> Response:
    """A patient's text: stored in the inbox (once per MessageSid) and answered at once; applied to the workflow after."""
    form = await verified_form(request, svc.settings)
    phone, body = _clean(form.get("From")), _clean(form.get("Body"))
    sid = _clean(form.get("MessageSid") or form.get("SmsSid"))
    if not phone:
        raise ApiError(422, "invalid request: From: required", details={"field": "From"})
    if not sid or len(sid) > MAX_ID_LENGTH:
        raise ApiError(422, "invalid request: MessageSid: required, up to 64 characters", details={"field": "MessageSid"})
    # Stored by this process's inbox writer (with the other texts arriving now), then handed to a worker.
    stored = submit_text(svc, Incoming(sid, phone, _clean(form.get("To")) or None, body, now))
    async with asyncio.timeout(ANSWER_TIMEOUT_SECONDS):
        arrival = await asyncio.wrap_future(stored)
    if applies_here(svc, arrival):  # the inline mode (standalone): applied before answering
        await run_in_threadpool(apply_now, svc, arrival, now)
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
