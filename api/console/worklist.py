"""The worklist: escalations past their acknowledgement deadline first, then by severity, then by age; claim one, and
resolve it with a note.

Claiming is the engine's own `escalation.acknowledged` with `by` = the signed-in user: acknowledging is how the pathway
records that someone has taken an item (it stops the ladder), so "claimed by" is the acknowledging person and the
history says who and when. No second claim record exists beside it. Ops may work the list too, by ids only.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api import policy
from api.audit_trail import record_list_view
from api.console import refusals
from api.console.web import form_key, render
from api.dashboard.access import AUTO_REFRESH, SignedIn, page_router
from api.dashboard.escalations import escalation_row
from api.deps import ServicesDep
from api.errors import status_of
from api.identity import user_event
from api.ids import EscalationId, parse_id
from api.scope import visible_escalation
from models import unattached
from models.queries import inbox, listing
from models.store import ConcurrencyConflict
from models.tables import User
from workers.runtime import Services
from workflows.errors import Rejected

log = logging.getLogger("carepath.console")
router = page_router()
SEVERITIES = ("emergency", "urgent", "routine")
OWNERS = ("coordinator", "clinician", "medical_director", "clinic_manager")
NOTE_MAX = 2000
DONE = {"claimed": "Claimed: the escalation is acknowledged in your name.", "resolved": "Resolved, with your note."}


@router.get("/console/worklist")
def worklist(user: SignedIn, request: Request, svc: ServicesDep, severity: str = "", owner: str = "", mine: str = "",
             done: str = "", item: str = "") -> Response:
    """Unresolved escalations in the order to work them; `item` (a staff alert's link) is marked."""
    return page(request, svc, user, filters_of(severity, owner, mine), notice=DONE.get(done),
                item=parse_id(item) if item else None)


def filters_of(severity: str, owner: str, mine: str) -> dict[str, str]:
    """The list's filters, each one of its choices or empty (no filter)."""
    return {"severity": severity if severity in SEVERITIES else "", "owner": owner if owner in OWNERS else "",
            "mine": "1" if mine == "1" else ""}


def page(request: Request, svc: Services, user: User, filters: dict[str, str], *, notice: str | None = None,
         failed: dict[str, Any] | None = None, status_code: int = 200, item: str | None = None) -> Response:
    now = request.app.state.clock()
    show = policy.sees_patients(user)
    found = listing.worklist_page(svc.engine, now=now, clinics=policy.clinic_scope(user), severity=filters["severity"] or None,
                                  owner_role=filters["owner"] or None,
                                  acknowledged_by=user.name if filters["mine"] else None, limit=200)
    rows = []
    # An unknown number's emergency has no patient: roles that see patients read the text that raised it instead.
    texts = inbox.texts_by_id(svc.engine, [r.inbox_id for r, _ in found.rows if r.inbox_id]) if show else {}
    for record, patient in found.rows:
        row = escalation_row(record, patient, now, show)
        row["text"] = texts[record.inbox_id].body if record.inbox_id in texts else None
        row["mine"] = record.acknowledged_by == user.name
        row["marked"] = record.id == item
        if failed and failed["id"] == record.id:
            row["error"], row["typed_note"] = failed["message"], failed["note"]
        rows.append(row)
    if show and request.query_params.get(AUTO_REFRESH) != "1":  # a page reloading itself is the same view
        shown = [(record.workflow_id, patient.id) for record, patient in found.rows if patient is not None]
        record_list_view(request, svc, user, "worklist", shown, found.total,
                         "filters " + (",".join(f"{k}={v}" for k, v in filters.items() if v) or "none"))
    context = {"user": user, "now": now, "rows": rows, "item": item, "item_note": _item_note(svc, user, item, rows),
               "total": found.total, "filters": filters, "notice": notice,
               "show_patients": show, "can_act": policy.allows(policy.ACTS_ON_ESCALATIONS, user),
               "severities": SEVERITIES, "owners": OWNERS, "overdue": sum(1 for row in rows if row["overdue"]), "refused": failed}
    return render(request, svc, "worklist.html", context, status_code=status_code)


def _item_note(svc: Services, user: User, item: str | None, rows: list[dict[str, Any]]) -> str | None:
    """What became of the item a staff alert links to, when it is not on the list drawn."""
    if item is None or any(row["marked"] for row in rows):
        return None
    found = visible_escalation(svc, user, item)
    if found is None:
        return "The item your alert links to is not on the worklist: there is no such item."
    if found[0].status == "resolved":
        who = f" by {found[0].resolved_by}" if found[0].resolved_by else ""
        return f"The item your alert links to is no longer on the worklist: it was resolved{who}."
    return "The item your alert links to is not shown with these filters."


@router.post("/console/worklist/{escalation_id}/claim")
async def claim(user: SignedIn, escalation_id: EscalationId, request: Request, svc: ServicesDep) -> Response:
    """Take an item: `escalation.acknowledged` by the signed-in user."""
    form = await request.form()
    return await run_in_threadpool(_act, request, svc, user, escalation_id, "escalation.acknowledged", form)


@router.post("/console/worklist/{escalation_id}/resolve")
async def resolve(user: SignedIn, escalation_id: EscalationId, request: Request, svc: ServicesDep) -> Response:
    """Close an item with a note: `escalation.resolved` by the signed-in user."""
    form = await request.form()
    return await run_in_threadpool(_act, request, svc, user, escalation_id, "escalation.resolved", form)


def _act(request: Request, svc: Services, user: User, escalation_id: str, event_type: str, form: Any) -> Response:
    filters = filters_of(*(str(form.get(name, "")) for name in ("severity", "owner", "mine")))
    note = str(form.get("note", "")).strip()
    key = form_key(form)

    def refused(message: str, status: int) -> Response:
        failed = {"id": escalation_id, "message": message, "note": note[:NOTE_MAX]}
        return page(request, svc, user, filters, failed=failed, status_code=status)

    if not policy.allows(policy.ACTS_ON_ESCALATIONS, user):
        return refused("Your role may not change escalations.", 403)
    found = visible_escalation(svc, user, escalation_id)
    if found is None:
        return refused("That escalation no longer exists.", 404)
    record, _patient = found
    data: dict[str, Any] = {"escalation": record.id}
    if event_type == "escalation.resolved":
        if not note:
            return refused("Write a note to resolve: what was done, for whoever reads the history next.", 422)
        if len(note) > NOTE_MAX or "\x00" in note:
            return refused(f"The note is at most {NOTE_MAX} characters of text.", 422)
        data["note"] = note
    try:
        event = user_event(user, event_type, data, idempotency_key=key)
        if record.workflow_id is None:  # an unknown number's emergency: no history, its row is the record
            unattached.settle(svc.store, record.id, event, request.app.state.clock())
        else:
            svc.store.apply(record.workflow_id, event, request.app.state.clock(), retries=2)
    except Rejected as exc:
        log.info("console: %s refused for escalation %s (%s)", event_type, record.id, exc.code)
        return refused(refusals.as_text(refusals.from_rejected(exc, event_type)), status_of(exc))
    except ConcurrencyConflict:
        return refused("The item changed while this was being recorded; nothing was written. Try again.", 409)
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    done = "claimed" if event_type == "escalation.acknowledged" else "resolved"
    return RedirectResponse(f"/console/worklist?done={done}{'&' + query if query else ''}", status_code=303)
