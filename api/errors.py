"""One JSON shape for every 4xx and 5xx: `{"error": {"code", "message", "details"}}`.

Messages name fields, stages and rules, never the values sent: a validation error does not echo a patient's name or
phone back, and nothing here logs a request body.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.ids import UnknownId
from models.store import ConcurrencyConflict
from workflows.errors import Rejected

CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         406: "not_acceptable", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
         422: "invalid_data", 429: "too_many_requests", 500: "internal_error", 503: "unavailable"}
# How the core's refusals answer over HTTP (workflows.errors.Rejected documents the codes); anything else is 409.
REJECTED_STATUS = {"invalid_data": 422, "not_allowed": 409, "rule": 409, "not_found": 404, "forbidden": 403}


def status_of(rejected: Rejected) -> int:
    """The HTTP status of a refusal, for the API's JSON and for every page that re-renders with the reason."""
    return REJECTED_STATUS.get(rejected.code, 409)


class ApiError(Exception):
    """An answer other than success, raised anywhere below a route."""

    def __init__(self, status: int, message: str, *, code: str | None = None, details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or CODES.get(status, "error")
        self.message = message
        self.details = details or {}
        self.headers = headers


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(status: int, message: str, *, code: str | None = None, details: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = error_body(code or CODES.get(status, "error"), message, details)
    return JSONResponse(body, status_code=status, headers=headers)


def field_of(loc: tuple | list) -> str | None:
    """`("body", "patient", "phone")` → `patient.phone`; query, path and header names keep their prefix."""
    parts = [str(part) for part in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or None


async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status, exc.message, code=exc.code, details=exc.details, headers=exc.headers)


async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    status = exc.status_code
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
    return error_response(status, message, headers=getattr(exc, "headers", None))


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = []
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            errors.append({"field": None, "message": "the request body is not valid JSON", "type": "json_invalid"})
            continue
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        # Only the location, message and type: pydantic's `input` would echo patient data back.
        errors.append({"field": field_of(error.get("loc", ())), "message": message, "type": error.get("type")})
    first = errors[0] if errors else {"field": None, "message": "invalid request"}
    where = f"{first['field']}: " if first["field"] else ""
    return error_response(422, f"invalid request: {where}{first['message']}",
                          details={"field": first["field"], "errors": errors})


async def _rejected(_request: Request, exc: Rejected) -> JSONResponse:
    details = {"stage": exc.stage, "rule": exc.rule, "allowed_events": list(exc.allowed), "field": exc.field}
    return error_response(status_of(exc), exc.describe(), code=exc.code, details=details)


async def _unknown_id(_request: Request, exc: UnknownId) -> JSONResponse:
    return error_response(404, str(exc))


async def _conflict(_request: Request, exc: ConcurrencyConflict) -> JSONResponse:
    return error_response(409, "the workflow changed while this request was applied; try again", code="conflict",
                          details={"workflow_id": exc.workflow_id})


def install_error_handlers(app: FastAPI) -> None:
    """Route every known failure to the one error shape; `api.middleware.Guard` turns the rest into a bare 500."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Rejected, _rejected)
    app.add_exception_handler(UnknownId, _unknown_id)
    app.add_exception_handler(ConcurrencyConflict, _conflict)
