"""Calendar: a day or a week of evaluations, dosing sessions and therapy appointments in clinic time, with their status;
book, move and cancel from it.

Every change is an event posted through the same unit of work as the API, as the signed-in user, with a fresh
idempotency key per rendered form (a double click books once). A refusal re-renders the calendar with the engine's
reason, and nothing is written.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from api import policy
from api.console import agenda, refusals, web
from api.console.booking import KINDS, Span, booking_event, default_start, span_of, start_of
from api.console.bookings import SEARCH_MAX, already_booked, bookable_patients, chosen_workflow, form_of, post_booking
from api.console.charting import FormProblem
from api.console.web import Staff
from api.dashboard.access import page_router
from api.deps import ServicesDep
from api.errors import status_of
from api.ids import WorkflowId
from models.tables import User
from workers.runtime import Services
from workflows.errors import Rejected
from workflows.stages import Role, role_may_post

log = logging.getLogger("carepath.console")
router = page_router()
NOTICES = {"scheduled": "Booked.", "rescheduled": "Moved to the new time.", "cancelled": "Session cancelled."}


@router.get("/console/calendar")
def calendar(user: Staff, request: Request, svc: ServicesDep, view: str = "day", date: str = "",
             msg: str = "") -> Response:
    """A day (or the week around it) of everything booked, with the forms to book, move and cancel."""
    span, problem = _span(svc, request, view, date)
    # A malformed or out-of-range address is the asker's mistake (400), answered with today's page and why.
    return _page(request, svc, user, span, notice=NOTICES.get(msg), error=problem, status=400 if problem else 200)


@router.post("/console/calendar/find")
async def find_patient(user: Staff, request: Request, svc: ServicesDep) -> Response:
    """The booking form's patient picker: what was typed (a name) travels in the body, never in the address."""
    form = await form_of(request)
    span, _ = _span(svc, request, form.get("view", "day"), form.get("date", ""))
    search = form.get("find", "").strip()[:SEARCH_MAX]
    return _page(request, svc, user, span, search=search)


@router.post("/console/calendar/book")
async def book(user: Staff, request: Request, svc: ServicesDep) -> Response:
    """Book a session, an evaluation or a therapy appointment for a patient."""
    form = await form_of(request)
    span, _ = _span(svc, request, form.get("view", "day"), form.get("date", ""))
    kind = form.get("kind", "")
    found = chosen_workflow(svc, user, form.get("workflow", ""))
    try:
        if found is None:
            raise FormProblem("Choose a patient from the list")
        if kind not in KINDS:
            raise FormProblem("Choose what to book: a dosing session, an evaluation or a therapy appointment")
        start = _start(svc, form.get("start", ""))
        if not already_booked(svc, found[0], web.form_key(form, "key")):
            event_type, data = booking_event(kind, found[1], start, form)
            post_booking(request, svc, user, found[0], event_type, data, form)
    except (FormProblem, Rejected) as problem:
        return _refused(request, svc, user, span, problem, form, "book", KINDS.get(kind, ("",))[0])
    return _after(span.view, start.date(), "scheduled")


@router.post("/console/calendar/{workflow_id}/{kind}/{item_id}/move")
async def move(user: Staff, workflow_id: WorkflowId, kind: str, item_id: str, request: Request,
               svc: ServicesDep) -> Response:
    """Move a session (`session.rescheduled`) or an evaluation (`evaluation.rescheduled`) to a new time."""
    form = await form_of(request)
    span, _ = _span(svc, request, form.get("view", "day"), form.get("date", ""))
    try:
        start = _start(svc, form.get("start", ""))
        if kind == "session":
            event_type, data = "session.rescheduled", {"session": item_id, "start": start}
        elif kind == "evaluation":
            event_type, data = "evaluation.rescheduled", {"start": start}
        else:
            raise FormProblem("Only dosing sessions and evaluations can be moved")
        post_booking(request, svc, user, workflow_id, event_type, data, form)
    except (FormProblem, Rejected) as problem:
        moved = {"session": "session.rescheduled", "evaluation": "evaluation.rescheduled"}.get(kind)
        return _refused(request, svc, user, span, problem, form, f"move:{workflow_id}:{item_id}", moved)
    return _after(span.view, start.date(), "rescheduled")


@router.post("/console/calendar/{workflow_id}/session/{item_id}/cancel")
async def cancel(user: Staff, workflow_id: WorkflowId, item_id: str, request: Request, svc: ServicesDep) -> Response:
    """Cancel a dosing session, with the reason."""
    form = await form_of(request)
    span, _ = _span(svc, request, form.get("view", "day"), form.get("date", ""))
    reason = form.get("reason", "").strip()
    try:
        post_booking(request, svc, user, workflow_id, "session.cancelled",
              {"session": item_id, **({"reason": reason} if reason else {})}, form)
    except (FormProblem, Rejected) as problem:
        return _refused(request, svc, user, span, problem, form, f"cancel:{workflow_id}:{item_id}", "session.cancelled")
    return _after(span.view, span.day, "cancelled")


# --- the pieces ----------------------------------------------------------------------------------------------------

def _span(svc: Services, request: Request, view: str, raw_date: str) -> tuple[Span, str | None]:
    zone = ZoneInfo(svc.settings.clinic_timezone)
    return span_of(view, raw_date, web.now_of(request).astimezone(zone).date(), zone)


def _start(svc: Services, raw: str) -> datetime:
    return start_of(raw, ZoneInfo(svc.settings.clinic_timezone))





def _refused(request: Request, svc: Services, user: User, span: Span, problem: Exception, form: dict[str, str],
             where: str, event_type: str | None) -> Response:
    if isinstance(problem, Rejected):
        log.info("console calendar: refused (%s, rule %s)", where.split(":")[0], problem.rule)
        status, refusal = status_of(problem), refusals.from_rejected(problem, event_type)
    else:
        status, refusal = 422, refusals.from_form(str(problem), event_type or None)
    return _page(request, svc, user, span, refusal=refusal, failed=where, values=form, status=status)



def _after(view: str, day: date, notice: str) -> RedirectResponse:
    """Back to the calendar on the day (or week) of the item just changed."""
    query = urlencode({"view": view, "date": day.isoformat(), "msg": notice})
    return RedirectResponse(f"/console/calendar?{query}", status_code=303)


def _page(request: Request, svc: Services, user: User, span: Span, *, notice: str | None = None,
          error: str | None = None, refusal: refusals.Refusal | None = None, failed: str | None = None,
          values: dict[str, str] | None = None, status: int = 200, search: str | None = None) -> Response:
    now = web.now_of(request)
    start, end = span.bounds()
    items = agenda.items_between(svc.engine, start, end, policy.clinic_scope(user))
    by_day = {day: [item for item in items if item.start.astimezone(span.zone).date() == day] for day in span.days}
    role = Role(user.role)
    context = {
        "user": user, "now": now, "notice": notice, "span": span, "by_day": by_day, "error": error, "refusal": refusal,
        "failed": failed, "values": values or {}, "key": str(uuid.uuid4()),
        "today": now.astimezone(span.zone).date(), "kinds": KINDS,
        "patients": bookable_patients(svc, user, search, (values or {}).get("workflow", "") if failed == "book" else ""),
        "search": search, "picker_limit": agenda.PICKER_LIMIT,
        "may_book": role_may_post(role, "session.scheduled"), "may_move": role_may_post(role, "session.rescheduled"),
        "may_cancel": role_may_post(role, "session.cancelled"),
        "default_start": default_start(span.day, now.astimezone(span.zone)).strftime("%Y-%m-%dT%H:%M"),
    }
    return web.render(request, svc, "calendar.html", context, status_code=status)
