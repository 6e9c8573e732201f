"""Checking `X-Twilio-Signature` with the SDK's own `RequestValidator`, against the public URL Twilio called."""

from __future__ import annotations

import logging

from fastapi import Request
from starlette.datastructures import FormData
from twilio.request_validator import SIGNATURE_HEADER, SIGNATURE_SETTINGS_HEADER, RequestValidator, get_signature_algorithm

from api.errors import ApiError
from workers.settings import Settings

log = logging.getLogger("carepath.webhooks")


def public_url(settings: Settings, request: Request) -> str:
    """The URL Twilio signed: CAREPATH_PUBLIC_URL, then this request's path and query exactly as received."""
    path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    url = settings.public_url.rstrip("/") + path.decode("latin-1")
    return f"{url}?{query.decode('latin-1')}" if query else url


async def verified_form(request: Request, settings: Settings) -> FormData:
    """The webhook's form parameters, once its signature checks out; 403 (and nothing done) otherwise."""
    signature = request.headers.get(SIGNATURE_HEADER)
    if not settings.twilio_auth_token:
        log.warning("Twilio webhook refused: TWILIO_AUTH_TOKEN is not set, so no signature can be checked")
        raise ApiError(403, "webhook signatures cannot be checked on this server")
    if not signature:
        raise ApiError(403, f"missing {SIGNATURE_HEADER} header")
    form = await request.form()
    if any(not isinstance(value, str) for _name, value in form.multi_items()):
        raise ApiError(400, "Twilio webhooks carry form fields, not files")
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    if not RequestValidator(settings.twilio_auth_token).validate(public_url(settings, request), form, signature,
                                                                 algorithm):
        log.warning("Twilio webhook with an invalid signature refused (%s)", request.url.path)
        raise ApiError(403, "the webhook signature is not valid")
    return form
