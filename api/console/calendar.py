"""Calendar: a day or a week of evaluations, dosing sessions and therapy appointments in clinic time, with their status;
book, move and cancel from it.

Every change is an event posted through the same unit of work as the API, as the signed-in user, with a fresh
idempotency key per rendered form (a double click books once). A refusal re-renders the calendar with the engine's
reason, and nothing is written.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlmodel import Session

from api.console import agenda, web
from api.console.charting import FormProblem, dose_amount
from api.deps import ServicesDep, actor_of
from config.wiring import Services
from models import listing
from models.tables import EventRecord, User
from workflows.errors import Rejected
from workflows.events import make_event
from workflows.stages import Role, role_may_post
from workflows.state import WorkflowState

log = logging.getLogger("carepath.console")
router = APIRouter(include_in_schema=False)
KINDS = {"session": ("session.scheduled", "dosing session"), "evaluation": ("evaluation.scheduled", "evaluation"),
         "therapy": ("therapy.scheduled", "therapy appointment")}
NOTICES = {"scheduled": "Booked.", "rescheduled": "Moved to the new time.", "cancelled": "Session cancelled."}
STATUS_OF_CODE = {"invalid_data": 422, "forbidden": 403, "not_found": 404}


@router.get("/console/calendar")
def calendar(request: Request, svc: ServicesDep, view: str = "day", date: str = "", msg: str = "") -> Response:
    """A day (or the week around it) of everything booked, with the forms to book, move and cancel."""
    user = web.staff_only(request, svc)
    if isinstance(user, Response):
        return user
    span, problem = _span(svc, request, view, date)
    return _page(request, svc, user, span, notice=NOTICES.get(msg), error=problem, status=422 if problem else 200)


@router.post("/console/calendar/book")
async def book(request: Request, svc: ServicesDep) -> Response:
    """Book a session, an evaluation or a therapy appointment for a patient."""
    user = web.staff_only(request, svc)
    if isinstance(user, Response):
        return user
    form = await _form(request)
    span, _ = _span(svc, request, form.get("view", "day"), form.get("date", ""))
    kind = form.get("kind", "")
    found = _workflow(svc, form.get("workflow", ""))
    try:
        if found is None:
            raise FormProblem("Choose a patient from the list")
        if kind not in KINDS:
            raise FormProblem("Choose what to book: a dosing session, an evaluation or a therapy appointment")
        start = _start(svc, form.get("start", ""))
        if not _already_booked(svc, found[0], web.form_key(form, "key")):
            event_type, data = _booking(kind, found[1], start, form)
            _post(request, svc, user, found[0], event_type, data, form)
    except (FormProblem, Rejected) as problem:
        return _refused(request, svc, user, span, problem, form, "book")
    return _after(span.view, start.date(), "scheduled")


@router.post("/console/calendar/{workflow_id}/{kind}/{item_id}/move")
async def move(workflow_id: str, kind: str, item_id: str, request: Request, svc: ServicesDep) -> Response:
    """Move a session (`session.rescheduled`) or an evaluation (`evaluation.rescheduled`) to a new time."""
    user = web.staff_only(request, svc)
    if isinstance(user, Response):
        return user
    form = await _form(request)
    span, _ = _span(svc, request, form.get("view", "day"), form.get("date", ""))
    try:
        start = _start(svc, form.get("start", ""))
        if kind == "session":
            event_type, data = "session.rescheduled", {"session": item_id, "start": start}
        elif kind == "evaluation":
            event_type, data = "evaluation.rescheduled", {"start": start}
        else:
            raise FormProblem("Only dosing sessions and evaluations can be moved")
        _post(request, svc, user, workflow_id, event_type, data, form)
    except (FormProblem, Rejected) as problem:
        return _refused(request, svc, user, span, problem, form, f"move:{workflow_id}:{item_id}")
    return _after(span.view, start.date(), "rescheduled")


@router.post("/console/calendar/{workflow_id}/session/{item_id}/cancel")
async def cancel(workflow_id: str, item_id: str, request: Request, svc: ServicesDep) -> Response:
    """Cancel a dosing session, with the reason."""
    user = web.staff_only(request, svc)
    if isinstance(user, Response):
        return user
    form = await _form(request)
    span, _ = _span(svc, request, form.get("view", "day"), form.get("date", ""))
    reason = form.get("reason", "").strip()
    try:
        _post(request, svc, user, workflow_id, "session.cancelled",
              {"session": item_id, **({"reason": reason} if reason else {})}, form)
    except (FormProblem, Rejected) as problem:
        return _refused(request, svc, user, span, problem, form, f"cancel:{workflow_id}:{item_id}")
    return _after(span.view, span.day, "cancelled")


# --- the pieces ----------------------------------------------------------------------------------------------------

class Span:
    """The days a page shows: one, or Monday to Sunday around `day`."""

    def __init__(self, view: str, day: date, zone: ZoneInfo) -> None:
        self.view, self.day, self.zone = view, day, zone
        self.first = day if view == "day" else day - timedelta(days=day.weekday())
        self.days = [self.first + timedelta(days=n) for n in range(1 if view == "day" else 7)]
        self.step = timedelta(days=1 if view == "day" else 7)

    def bounds(self) -> tuple[datetime, datetime]:
        start = datetime.combine(self.first, time(0), self.zone)
        end = datetime.combine(self.days[-1] + timedelta(days=1), time(0), self.zone)
        return start, end


def _span(svc: Services, request: Request, view: str, raw_date: str) -> tuple[Span, str | None]:
    zone = ZoneInfo(svc.settings.clinic_timezone)
    today = web.now_of(request).astimezone(zone).date()
    problem = None
    if view not in ("day", "week"):
        view, problem = "day", "The view is either day or week; showing the day."
    day = today
    if raw_date:
        try:
            day = date.fromisoformat(raw_date)
        except ValueError:
            problem = "The date must be written YYYY-MM-DD; showing today."
    return Span(view, day, zone), problem


async def _form(request: Request) -> dict[str, str]:
    return {key: value for key, value in (await request.form()).items() if isinstance(value, str)}


def _workflow(svc: Services, raw_id: str) -> tuple[str, WorkflowState] | None:
    try:
        workflow_id = str(uuid.UUID(raw_id))
    except ValueError:
        return None
    found = listing.workflow_with_patient(svc.engine, workflow_id)
    return (found[0].id, WorkflowState.model_validate(found[0].state)) if found else None


def _start(svc: Services, raw: str) -> datetime:
    """A clinic-local start from a datetime-local field; the engine judges whether it is in the future."""
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise FormProblem("Starts must be a date and time, like 2026-03-02T09:30") from None
    return moment.replace(tzinfo=ZoneInfo(svc.settings.clinic_timezone)) if moment.tzinfo is None else moment


def _booking(kind: str, state: WorkflowState, start: datetime, form: dict[str, str]) -> tuple[str, dict]:
    """The booking event for a kind, with an id the workflow has not used (or the one typed)."""
    item_id = form.get("item_id", "").strip()
    if kind == "session":
        taken = set(state.sessions)
        item_id = item_id or next(f"s{n}" for n in range(len(taken) + 1, len(taken) + 1000) if f"s{n}" not in taken)
        data: dict[str, Any] = {"session": item_id, "start": start}
        amount = form.get("dose", "").strip()
        if amount:
            data.update(dose_amount(amount, per_kg=form.get("unit") == "mg/kg"))
        return "session.scheduled", data
    if kind == "evaluation":
        return "evaluation.scheduled", {"start": start, **({"appointment": item_id} if item_id else {})}
    taken = set(state.appointments)
    item_id = item_id or next(f"therapy{n}" for n in range(1, len(taken) + 1000) if f"therapy{n}" not in taken)
    return "therapy.scheduled", {"appointment": item_id, "start": start}


def _already_booked(svc: Services, workflow_id: str, key: str | None) -> bool:
    """This very form was applied already (a double click): its automatic id would now differ, so do not ask again."""
    if key is None:
        return False
    with Session(svc.engine) as db:
        found = db.execute(select(EventRecord.id).where(EventRecord.workflow_id == workflow_id,
                                                        EventRecord.idempotency_key == key))
        return found.first() is not None


def _post(request: Request, svc: Services, user: User, workflow_id: str, event_type: str, data: dict,
          form: dict[str, str]) -> None:
    try:
        workflow_id = str(uuid.UUID(workflow_id))
    except ValueError:
        raise FormProblem("That patient does not exist") from None
    event = make_event(event_type, data, actor=actor_of(user), idempotency_key=web.form_key(form, "key"))
    svc.pathway.apply(workflow_id, event, web.now_of(request), retries=2)


def _refused(request: Request, svc: Services, user: User, span: Span, problem: Exception, form: dict[str, str],
             where: str) -> Response:
    if isinstance(problem, Rejected):
        log.info("console calendar: refused (%s, rule %s)", where.split(":")[0], problem.rule)
        status, reason, rule = STATUS_OF_CODE.get(problem.code, 409), problem.message, problem.rule
    else:
        status, reason, rule = 422, str(problem), None
    return _page(request, svc, user, span, error=reason, rule=rule, failed=where, values=form, status=status)


def _after(view: str, day: date, notice: str) -> RedirectResponse:
    """Back to the calendar on the day (or week) of the item just changed."""
    query = urlencode({"view": view, "date": day.isoformat(), "msg": notice})
    return RedirectResponse(f"/console/calendar?{query}", status_code=303)


def default_start(day: date, local_now: datetime) -> datetime:
    """The booking form's preset: 09:00 on the day shown, or, once that has passed, the next whole hour (then the
    engine's "start is not in the future" is not the first thing a coordinator meets)."""
    nine = datetime.combine(day, time(9))
    upcoming = (local_now.replace(tzinfo=None, minute=0, second=0, microsecond=0) + timedelta(hours=1))
    return max(nine, upcoming)


def _page(request: Request, svc: Services, user: User, span: Span, *, notice: str | None = None,
          error: str | None = None, rule: str | None = None, failed: str | None = None,
          values: dict[str, str] | None = None, status: int = 200) -> Response:
    now = web.now_of(request)
    start, end = span.bounds()
    items = agenda.items_between(svc.engine, start, end)
    by_day = {day: [item for item in items if item.start.astimezone(span.zone).date() == day] for day in span.days}
    role = Role(user.role)
    context = {
        "user": user, "now": now, "notice": notice, "span": span, "by_day": by_day, "error": error, "rule": rule,
        "failed": failed, "values": values or {}, "key": str(uuid.uuid4()),
        "today": now.astimezone(span.zone).date(), "kinds": KINDS,
        "patients": agenda.bookable_patients(svc.engine),
        "may_book": role_may_post(role, "session.scheduled"), "may_move": role_may_post(role, "session.rescheduled"),
        "may_cancel": role_may_post(role, "session.cancelled"),
        "default_start": default_start(span.day, now.astimezone(span.zone)).strftime("%Y-%m-%dT%H:%M"),
    }
    return web.render(request, svc, "calendar.html", context, status_code=status)
