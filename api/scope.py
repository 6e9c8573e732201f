"""Records a user may see, by clinic: every door that loads one record by id asks here, so a record of a clinic the
user does not work at is "not found" to them — the same answer as an id that does not exist, so an id tells nothing.

Lists narrow the same way with `clinics=policy.clinic_scope(user)` on their queries.
"""

from __future__ import annotations

from api import policy
from models.queries import inbox, listing
from models.tables import EscalationRecord, InboundText, PatientRow, User, WorkflowRow
from workers.runtime import Services
from workflows.errors import Rejected


def visible_workflow(svc: Services, user: User, workflow_id: str) -> tuple[WorkflowRow, PatientRow] | None:
    found = listing.workflow_with_patient(svc.engine, workflow_id)
    return found if found is not None and policy.sees_clinic(user, found[0].clinic_id) else None


def visible_escalation(svc: Services, user: User,
                       escalation_id: str) -> tuple[EscalationRecord, PatientRow | None] | None:
    found = listing.escalation(svc.engine, escalation_id)
    return found if found is not None and policy.sees_clinic(user, found[0].clinic_id) else None


def visible_text(svc: Services, user: User, inbox_id: str) -> InboundText | None:
    text = inbox.inbound_text(svc.engine, inbox_id)
    return text if text is not None and policy.sees_clinic(user, text.clinic_id) else None


def referral_for_scope(user: User, data: dict) -> dict:
    """A referral's data with its clinic: the user's own when they work at one clinic and named none; refused (403,
    nothing written) when it names a clinic they do not work at."""
    scope = policy.clinic_scope(user)
    if scope is None:
        return data
    clinic = data.get("clinic")
    if clinic in (None, ""):
        return {**data, "clinic": sorted(scope)[0]}
    if clinic not in scope:
        raise Rejected(f"clinic: you work at {', '.join(sorted(scope))}; a referral to {clinic} is for its own staff",
                       code="forbidden", rule="clinic_scope", field="clinic", allowed=sorted(scope))
    return data
