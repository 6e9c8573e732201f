"""`POST /v1/referrals`: a referral starts a workflow."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api import policy
from api.checks import storable
from api.deps import Now, ServicesDep, StaffUser
from api.identity import user_event
from api.schemas import ReferralCreated, ReferralIn, error_responses, links_to_workflow
from api.scope import referral_for_scope
from api.views import number_warnings

router = APIRouter(prefix="/v1/referrals", tags=["referrals"])


@router.post("", status_code=201, response_model=ReferralCreated, operation_id="createReferral",
             responses={201: {"description": "The workflow started", "links": links_to_workflow("workflow_id")},
                        **error_responses(400, 401, 403, 409, 413, 422)})
def create_referral(body: ReferralIn, user: StaffUser, svc: ServicesDep, now: Now, response: Response) -> ReferralCreated:
    """Start a workflow from a referral (coordinator or clinician); a repeated idempotency key returns the first one.

    A number already on file for another patient, or one that replied STOP, is accepted with a warning."""
    data = body.model_dump(mode="json", exclude={"idempotency_key"}, exclude_none=True)
    storable(data, "")
    storable(body.idempotency_key, "idempotency_key")
    event = user_event(user, "referral.received", referral_for_scope(user, data), idempotency_key=body.idempotency_key)
    outcome = svc.store.start(event, now)
    response.headers["Location"] = f"/v1/workflows/{outcome.workflow_id}"
    return ReferralCreated(workflow_id=outcome.workflow_id, patient_id=outcome.patient_id, stage=outcome.stage,
                           duplicate=outcome.duplicate,
                           warnings=number_warnings(svc.engine, event.data.patient.phone, outcome.patient_id,
                                                    policy.clinic_scope(user)))

