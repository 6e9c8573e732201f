"""Request bodies, the error body and the small outcome bodies of the API (response views live in `api.views`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from workflows.events import ReferralReceived
from workflows.stages import EVENT_RULES

# Every time in a response: ISO 8601 in UTC with an explicit offset ("+00:00").
Instant = Annotated[datetime, PlainSerializer(lambda moment: moment.astimezone(UTC).isoformat(), return_type=str)]
IdempotencyKey = Annotated[str, Field(min_length=1, max_length=200, description="Repeat a call with the same key: "
                                                                                "the first outcome is returned")]
PostableEvent = Literal[tuple(sorted(EVENT_RULES))]  # type: ignore[valid-type]


class ErrorDetail(BaseModel):
    code: str = Field(description="unauthorized, forbidden, not_found, invalid_data, not_allowed, rule, conflict, "
                                  "payload_too_large, method_not_allowed, internal_error, unavailable, …")
    message: str
    details: dict[str, Any] = {}


class ErrorBody(BaseModel):
    """The one shape of every 4xx and 5xx answer."""

    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error answers a route gives (all in the `ErrorBody` shape)."""
    described = {400: "Malformed request", 401: "No or bad token", 403: "Role not allowed", 404: "Unknown id",
                 409: "Not allowed now, or a rule refused it", 413: "Request body too large",
                 422: "Invalid data (names the field)", 500: "Internal error", 503: "Not ready"}
    return {status: {"model": ErrorBody, "description": described[status]} for status in statuses}


# OpenAPI links: how an answer's ids feed the next call (clients and schemathesis' stateful tests follow them).
def links_to_workflow(pointer: str) -> dict[str, Any]:
    """Links from an answer holding a workflow id (JSON pointer into the body) to what can be done with it."""
    workflow_id = {"workflow_id": f"$response.body#/{pointer}"}
    return {
        "GetWorkflow": {"operationId": "getWorkflow", "parameters": workflow_id},
        "ListWorkflowEvents": {"operationId": "listWorkflowEvents", "parameters": workflow_id},
        "PostWorkflowEvent": {"operationId": "postWorkflowEvent", "parameters": workflow_id},
        "ListWorkflowEscalations": {"operationId": "listEscalations", "parameters": workflow_id},
    }


def links_to_escalation(pointer: str) -> dict[str, Any]:
    """Links from an answer holding an escalation id to acknowledging and resolving it."""
    escalation_id = {"escalation_id": f"$response.body#/{pointer}"}
    return {
        "AcknowledgeEscalation": {"operationId": "acknowledgeEscalation", "parameters": escalation_id},
        "ResolveEscalation": {"operationId": "resolveEscalation", "parameters": escalation_id},
    }


class ReferralIn(ReferralReceived):
    """The `referral.received` data of EVENTS.md, and an optional idempotency key."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [{
        "patient": {"name": "Test Patient One", "phone": "+15555550101", "timezone": "America/New_York",
                    "sms_consent": True, "language": "es"},
        "referrer": "Dr. Alvarez", "reason": "treatment-resistant depression", "prior_treatments": 3,
        "urgency": "routine", "idempotency_key": "referral-2026-0001",
    }]})
    idempotency_key: IdempotencyKey | None = None


class EventIn(BaseModel):
    """One event for a workflow: its type and data as EVENTS.md lists them; times without offset are clinic-local.

    There is no actor here: the caller's token says who. `by`/`clinician` in the data may be left out (filled with
    the caller's name) and may not name anyone else."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"type": "evaluation.scheduled", "data": {"start": "2026-03-04T10:00:00"}, "idempotency_key": "eval-1"},
    ]})
    type: PostableEvent
    data: dict[str, Any] = {}
    idempotency_key: IdempotencyKey | None = None
    occurred_at: datetime | None = Field(default=None, description="When it happened, if not now (clinic-local "
                                                                   "when without offset)")


class AcknowledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    idempotency_key: IdempotencyKey | None = None


class ResolveIn(AcknowledgeIn):
    note: Annotated[str, Field(max_length=2000)] | None = None


class ReferralWarning(BaseModel):
    """Accepted, but someone should look: `shared_phone` (other patients are on this number; their ids) or
    `number_opted_out` (the number replied STOP: no text will go to it)."""

    code: Literal["shared_phone", "number_opted_out"]
    message: str
    patients: list[str] = Field([], description="Patient ids only")


class ReferralCreated(BaseModel):
    workflow_id: str
    patient_id: str
    stage: str
    duplicate: bool = Field(False, description="The idempotency key was seen before: this is the first outcome")
    warnings: list[ReferralWarning] = []


class EventApplied(BaseModel):
    workflow_id: str
    stage: str
    event_id: int
    duplicate: bool = False
