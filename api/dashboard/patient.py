"""A patient's dashboard page: stage, flags, sessions, the trend, escalations, messages and the history.

Ops see the workflow by id: no name, phone or texts. Coordinators and clinicians see the patient (and work from the
console's patient page, which adds the actions).
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from api import policy
from api.dashboard.access import SignedIn, page_router
from api.dashboard.chart import TRENDED, patient_trend
from api.dashboard.escalations import escalation_row, notice
from api.dashboard.templating import page
from api.deps import ServicesDep
from api.ids import UnknownId, WorkflowId
from api.scope import visible_workflow
from api.views import allowed, event_view
from models.queries import inbox, listing
from workflows.state import WorkflowState

router = page_router()
ALL_STATUSES = ("open", "acknowledged", "resolved")
# What the page draws, one list per part (ops get the OPS_ lists: ids, codes, times and statuses; see `api.views`).
FACTS = ("workflow_id", "patient_id", "stage", "paused_from", "route", "urgency")
APPOINTMENT = ("id", "kind", "start", "status")
SESSION = ("id", "series", "start", "status", "route", "dose_mg", "dose_mg_per_kg", "closed_reason")
OPS_SESSION = ("id", "series", "start", "status", "route")  # not why it closed: a cancellation reason is free text
MESSAGE = ("kind", "recipient", "status", "not_before", "sent_at", "delivered_at", "drop_reason", "error_code", "body")
OPS_MESSAGE = ("kind", "recipient", "status", "not_before", "sent_at", "delivered_at", "drop_reason", "error_code")


@router.get("/dashboard/patients/{workflow_id}", response_class=HTMLResponse)
def patient_page(user: SignedIn, workflow_id: WorkflowId, request: Request, svc: ServicesDep,
                 msg: str | None = None) -> Response:
    """One workflow, refreshing itself; names, phones and texts only for roles that see patients."""
    found = visible_workflow(svc, user, workflow_id)
    if found is None:
        raise UnknownId("workflow")
    workflow, patient = found
    now = request.app.state.clock()
    show = policy.sees_patients(user)
    state = WorkflowState.model_validate(workflow.state)
    history = listing.events_page(svc.engine, workflow.id, limit=1000)
    escalations = listing.escalations_page(svc.engine, statuses=ALL_STATUSES, workflow_id=workflow.id, limit=200)
    outbox = listing.messages_of(svc.engine, workflow.id)
    context = {
        "user": user, "now": now, "notice": notice(msg), "refresh": svc.settings.dashboard_refresh_seconds,
        "can_act": policy.allows(policy.ACTS_ON_ESCALATIONS, user), "show_patients": show,
        "facts": allowed({"workflow_id": workflow.id, "patient_id": workflow.patient_id, **state.model_dump()}, FACTS),
        "patient": patient if show else None,
        "language": state.patient.language,  # the language the patient's texts are written in
        "flags": state.active_flags(now),
        "sessions": [allowed({**s.model_dump(), "id": s.id}, SESSION if show else OPS_SESSION)
                     for s in sorted(state.sessions.values(), key=lambda s: s.start)],
        "appointments": [allowed(a.model_dump(), APPOINTMENT)
                         for a in sorted(state.appointments.values(), key=lambda a: a.start)],
        "events": [event_view(record, show) for record in history.rows],
        "escalations": [escalation_row(record, pat, now, show) for record, pat in escalations.rows],
        "messages": [allowed(m.model_dump(), MESSAGE if show else OPS_MESSAGE) for m in outbox],
        # Scores are clinical: for roles that see patients only.
        "scores": [a for a in state.assessments if a.instrument in TRENDED] if show else [],
        "trend_svg": patient_trend(svc.store.protocols, workflow.protocol_version, state) if show else "",
        # Others on the same phone number: by workflow id for ops, by name too for roles that see patients.
        "shared": [{"workflow_id": w.id, "name": p.name} if show else {"workflow_id": w.id}
                   for w, p in inbox.others_on_number(svc.engine, patient.phone, patient.id, policy.clinic_scope(user))],
    }
    return page(request, svc, "patient.html", context)
