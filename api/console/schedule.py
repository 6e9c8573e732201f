"""The schedule grid: a day by chair or room (or by provider), or a week of one chair or provider, as a time grid of
one clinic, in its own time. Every free half hour is a link (reachable by Tab) that opens the booking form filled in
with its time and chair; every booking opens a panel to move it (to a time and chair typed, or a free slot chosen on
the grid) or cancel it.

Changes are the calendar's events through the same unit of work (`api.console.calendar`); the engine checks the chair
and provider against the clinic's lists and refuses a clash with the reason (`workflows.schedule`). A refusal redraws
the grid with the reason and the form as it was sent, and nothing is written.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from api import policy
from api.console import agenda, refusals, web
from api.console.booking import KINDS, Span, booking_event, place_of, span_of, start_of
from api.console.bookings import SEARCH_MAX, already_booked, bookable_patients, chosen_workflow, form_of, post_booking
from api.console.charting import FormProblem
from api.console.grid import Column, layout
from api.console.web import Staff
from api.dashboard.access import page_router
from api.deps import ServicesDep
from api.errors import status_of
from api.ids import WorkflowId
from models.tables import User
from workers.runtime import Services
from workflows.clinic import Clinic
from workflows.errors import Rejected
from workflows.schedule import length_minutes
from workflows.stages import Role, role_may_post

log = logging.getLogger("carepath.console")
router = page_router()
NOTICES = {"scheduled": "Booked.", "rescheduled": "Moved.", "cancelled": "Session cancelled."}
# Shown on the grid: what still holds its chair, and what was done there today (cancelled, missed and held ones leave).
SHOWN = frozenset({"scheduled", "confirmed", "arrived", "dosed", "discharged", "completed"})


@dataclass(frozen=True)
class View:
    span: Span
    by: str  # chair or provider
    clinic: Clinic
    resource: str  # the week view's chair or provider
    names: tuple[str, ...]  # the clinic's chairs (by chair) or providers (by provider)

    def query(self, **more: str) -> str:
        values = {"view": self.span.view, "date": self.span.day.isoformat(), "by": self.by, "clinic": self.clinic.key,
                  **({"resource": self.resource} if self.span.view == "week" else {}), **more}
        return urlencode({key: value for key, value in values.items() if value})


@router.get("/console/schedule")
def schedule(user: Staff, request: Request, svc: ServicesDep, view: str = "day", date: str = "", by: str = "chair",
             clinic: str = "", resource: str = "", slot: str = "", at: str = "", change: str = "",
             msg: str = "") -> Response:
    """The grid, with the booking form filled in from a chosen slot, or a booking's panel to move or cancel it."""
    grid, problem = _view(svc, request, user, view, date, by, clinic, resource)
    values = _prefill(grid, slot, at) if slot else {}
    return _page(request, svc, user, grid, notice=NOTICES.get(msg), error=problem, values=values,
                 chosen=bool(slot), change=change, status=400 if problem else 200)


@router.post("/console/schedule/find")
async def find_patient(user: Staff, request: Request, svc: ServicesDep) -> Response:
    """The booking form's patient search (a name travels in the body, never the address); the chosen slot stays."""
    form = await form_of(request)
    grid, _ = _view_of_form(svc, request, user, form)
    search = form.get("find", "").strip()[:SEARCH_MAX]
    values = {name: form.get(name, "") for name in ("kind", "start", "chair", "provider", "dose", "unit")}
    return _page(request, svc, user, grid, values=values, chosen=True, search=search)


@router.post("/console/schedule/book")
async def book(user: Staff, request: Request, svc: ServicesDep) -> Response:
    form = await form_of(request)
    grid, _ = _view_of_form(svc, request, user, form)
    kind = form.get("kind", "")
    found = chosen_workflow(svc, user, form.get("workflow", ""))
    try:
        if found is None:
            raise FormProblem("Choose a patient: find them by name, then pick them from the list")
        if kind not in KINDS:
            raise FormProblem("Choose what to book: a dosing session, an evaluation or a therapy appointment")
        start = start_of(form.get("start", ""), ZoneInfo(grid.clinic.timezone))
        if not already_booked(svc, found[0], web.form_key(form, "key")):
            event_type, data = booking_event(kind, found[1], start, form)
            post_booking(request, svc, user, found[0], event_type, data, form)
    except (FormProblem, Rejected) as problem:
        return _refused(request, svc, user, grid, problem, form, "book", KINDS.get(kind, ("",))[0])
    return _after(grid, start, "scheduled")


@router.post("/console/schedule/{workflow_id}/{kind}/{item_id}/move")
async def move(user: Staff, workflow_id: WorkflowId, kind: str, item_id: str, request: Request,
               svc: ServicesDep) -> Response:
    """Move a session or an evaluation to another time, chair or provider."""
    form = await form_of(request)
    grid, _ = _view_of_form(svc, request, user, form)
    change = f"{workflow_id}:{kind}:{item_id}"
    event_type = {"session": "session.rescheduled", "evaluation": "evaluation.rescheduled"}.get(kind)
    try:
        if event_type is None:
            raise FormProblem("Only dosing sessions and evaluations can be moved")
        start = start_of(form.get("start", ""), ZoneInfo(grid.clinic.timezone))
        data = {"start": start, **place_of(form), **({"session": item_id} if kind == "session" else {})}
        post_booking(request, svc, user, workflow_id, event_type, data, form)
    except (FormProblem, Rejected) as problem:
        return _refused(request, svc, user, grid, problem, form, change, event_type)
    return _after(grid, start, "rescheduled")


@router.post("/console/schedule/{workflow_id}/session/{item_id}/cancel")
async def cancel(user: Staff, workflow_id: WorkflowId, item_id: str, request: Request, svc: ServicesDep) -> Response:
    form = await form_of(request)
    grid, _ = _view_of_form(svc, request, user, form)
    reason = form.get("reason", "").strip()
    try:
        post_booking(request, svc, user, workflow_id, "session.cancelled",
              {"session": item_id, **({"reason": reason} if reason else {})}, form)
    except (FormProblem, Rejected) as problem:
        return _refused(request, svc, user, grid, problem, form, f"{workflow_id}:session:{item_id}",
                        "session.cancelled")
    return RedirectResponse(f"/console/schedule?{grid.query(msg='cancelled')}", status_code=303)


# --- the pieces ----------------------------------------------------------------------------------------------------

def _clinics(svc: Services, user: User) -> list[Clinic]:
    scope = policy.clinic_scope(user)
    return [clinic for clinic in svc.store.network.clinics if scope is None or clinic.key in scope]


def _view(svc: Services, request: Request, user: User, view: str, raw_date: str, by: str, clinic_key: str,
          resource: str) -> tuple[View, str | None]:
    """What the address asks to see, and what was wrong with it (then the nearest sensible view is shown)."""
    clinics = _clinics(svc, user) or [svc.store.clinic]
    clinic = next((c for c in clinics if c.key == clinic_key), clinics[0])
    zone = ZoneInfo(clinic.timezone)
    span, problem = span_of(view, raw_date, web.now_of(request).astimezone(zone).date(), zone)
    if by not in ("chair", "provider"):
        by, problem = "chair", problem or "The grid is by chair or by provider; showing it by chair."
    names = clinic.chairs if by == "chair" else clinic.providers
    if resource not in (*names, ""):
        resource = ""
    return View(span, by, clinic, resource or (names[0] if names else ""), names), problem


def _view_of_form(svc: Services, request: Request, user: User, form: dict[str, str]) -> tuple[View, str | None]:
    return _view(svc, request, user, form.get("view") or "day", form.get("date", ""), form.get("by") or "chair",
                 form.get("clinic", ""), form.get("resource", ""))


def _prefill(grid: View, slot: str, at: str) -> dict[str, str]:
    """The booking form as a free slot fills it in: its start, and its chair or provider."""
    return {"start": slot, grid.by: at, "kind": "session"}


def _after(grid: View, start: datetime, notice: str) -> RedirectResponse:
    """Back to the grid on the day (or week) of the booking just changed."""
    day = start.astimezone(ZoneInfo(grid.clinic.timezone)).date().isoformat()
    return RedirectResponse(f"/console/schedule?{grid.query(date=day, msg=notice)}", status_code=303)


def _refused(request: Request, svc: Services, user: User, grid: View, problem: Exception, form: dict[str, str],
             where: str, event_type: str | None) -> Response:
    if isinstance(problem, Rejected):
        log.info("console schedule: refused (%s, rule %s)", "book" if where == "book" else "change", problem.rule)
        status, refusal = status_of(problem), refusals.from_rejected(problem, event_type)
    else:
        status, refusal = 422, refusals.from_form(str(problem), event_type or None)
    change = "" if where == "book" else where
    return _page(request, svc, user, grid, refusal=refusal, values=form, chosen=where == "book", change=change,
                 status=status)


def _columns(grid: View, items: list[agenda.Item]) -> list[Column]:
    """A day: a column per chair (or provider), and "none yet" when something has none or the clinic lists none.
    A week: a column per day, of the one chair or provider chosen."""
    attr = grid.by
    if grid.span.view == "week":
        return [Column(day, grid.resource, day.strftime("%a %d %b")) for day in grid.span.days]
    day = grid.span.day
    columns = [Column(day, name, name) for name in grid.names]
    if not grid.names or any(getattr(item, attr) not in grid.names for item in items):
        columns.append(Column(day, "", f"No {attr} yet"))
    return columns


def _placed(grid: View, columns: list[Column], items: list[agenda.Item],
            zone: ZoneInfo) -> dict[Column, list[agenda.Item]]:
    """Each column's bookings: by its day and its chair (or provider); one the clinic does not list is "none yet"."""
    by_key = {(column.day, column.name): column for column in columns}
    placed: dict[Column, list[agenda.Item]] = {}
    for item in items:
        name = getattr(item, grid.by)
        column = by_key.get((item.start.astimezone(zone).date(), name if name in grid.names else ""))
        if column is not None:
            placed.setdefault(column, []).append(item)
    return placed


def _page(request: Request, svc: Services, user: User, grid: View, *, notice: str | None = None,
          error: str | None = None, refusal: refusals.Refusal | None = None, values: dict[str, str] | None = None,
          chosen: bool = False, change: str = "", status: int = 200, search: str | None = None) -> Response:
    now = web.now_of(request)
    clinic, span = grid.clinic, grid.span
    zone = ZoneInfo(clinic.timezone)
    start, end = span.bounds()
    items = [item for item in agenda.items_between(svc.engine, start, end, policy.clinic_scope(user))
             if item.clinic == clinic.key and item.status in SHOWN]
    columns = _columns(grid, items)
    placed = _placed(grid, columns, items, zone)
    protocol = svc.store.protocols.current

    def length(item: agenda.Item) -> int:
        return item.minutes or length_minutes(item.kind, item.route, protocol, clinic)

    last_hour = clinic.hours_under(protocol.clinic_hours).day_ends_at_hour
    changing = next((item for item in items if f"{item.workflow_id}:{item.kind}:{item.item_id}" == change), None)
    role = Role(user.role)
    values = values or {}
    context = {
        "user": user, "now": now, "notice": notice, "error": error, "refusal": refusal, "grid": grid, "span": span,
        "clinic": clinic, "clinics": _clinics(svc, user), "zone": zone, "zone_name": clinic.timezone,
        "columns": columns, "rows": layout(columns, placed, zone, last_hour, length),
        "end_of": lambda item: item.start + timedelta(minutes=length(item)),
        "today": now.astimezone(zone).date(), "kinds": KINDS, "values": values, "chosen": chosen,
        "changing": changing, "change": change, "key": str(uuid.uuid4()),
        "patients": bookable_patients(svc, user, search, values.get("workflow", "")), "search": search,
        "picker_limit": agenda.PICKER_LIMIT, "may_book": role_may_post(role, "session.scheduled"),
        "may_move": role_may_post(role, "session.rescheduled"), "may_cancel": role_may_post(role, "session.cancelled"),
        "default_start": now.astimezone(zone).replace(minute=0, second=0, microsecond=0, tzinfo=None).isoformat(
            timespec="minutes"),
    }
    return web.render(request, svc, "schedule.html", context, status_code=status)
