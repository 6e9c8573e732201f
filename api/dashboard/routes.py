"""Dashboard pages: login into a session cookie, the ops overview with the escalation worklist, and a patient page.

The cookie holds the user's API token (HttpOnly, SameSite=Strict, so page scripts cannot read it and other sites cannot
send it); every request re-checks it, so disabling a user logs them out. Ops see ids, never names, phones or texts.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select
from sqlmodel import Session

from api.deps import ServicesDep, actor_of, sees_patients
from api.views import event_view
from config.wiring import Services
from models import listing
from models.ops import DatabaseSnapshot, database_snapshot
from models.tables import User, Workflow
from models.users import UserRole, authenticate
from workers.ops import WorkerStats, worker_snapshot
from workflows.errors import Rejected
from workflows.events import make_event
from workflows.state import WorkflowState

from .chart import TRENDED, score_trend

log = logging.getLogger("carepath.dashboard")
HERE = Path(__file__).parent
COOKIE = "carepath_session"
SESSION_SECONDS = 12 * 3600
REFRESH_SECONDS = 15
# Who may log in, and who may act on escalations (today the same four roles; kept apart on purpose).
DASHBOARD_ROLES = frozenset({UserRole.OPS, UserRole.COORDINATOR, UserRole.CLINICIAN, UserRole.ADMIN})
ACTING_ROLES = frozenset({UserRole.OPS, UserRole.COORDINATOR, UserRole.CLINICIAN, UserRole.ADMIN})
CONSOLE_FIRST = frozenset({UserRole.COORDINATOR, UserRole.CLINICIAN})
ALL_STATUSES = ("open", "acknowledged", "resolved")
MESSAGE_COLUMNS = ("pending", "sending", "sent", "delivered", "failed", "dropped")
NOTICES = {
    "acknowledged": "Escalation acknowledged.",
    "resolved": "Escalation resolved.",
    "rejected": "That change was refused: the escalation may already have been acknowledged or resolved.",
    "unknown": "That escalation no longer exists.",
    "forbidden": "Your role may not change escalations.",
    "bad-note": "The note is too long (at most 2000 characters).",
}

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(HERE / "templates"))


# --- sessions ---------------------------------------------------------------------------------------------------

def session_user(request: Request, svc: Services) -> User | None:
    user = authenticate(svc.engine, request.cookies.get(COOKIE))
    if user is None or user.role not in DASHBOARD_ROLES:
        return None
    request.state.user_id = user.id  # the request log line carries the id, never the name
    return user


def to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


def landing(user: User) -> str:
    """Where a login lands: coordinators and clinicians work from the console's patients, ops and admin the overview."""
    return "/console/patients" if user.role in CONSOLE_FIRST else "/dashboard"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, svc: ServicesDep) -> Response:
    if (user := session_user(request, svc)) is not None:
        return RedirectResponse(landing(user), status_code=303)
    return templates.TemplateResponse(request, "login.html", {"error": None})


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, svc: ServicesDep, token: Annotated[str, Form(max_length=500)] = "") -> Response:
    token = token.strip()
    user = authenticate(svc.engine, token)
    if user is None or user.role not in DASHBOARD_ROLES:
        return templates.TemplateResponse(request, "login.html", {"error": "That token is not valid for the dashboard."},
                                          status_code=401)
    request.state.user_id = user.id
    response = RedirectResponse(landing(user), status_code=303)
    response.set_cookie(COOKIE, token, max_age=SESSION_SECONDS, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")
    return response


@router.post("/logout")
def logout() -> Response:
    response = to_login()
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/dashboard/static/dashboard.css")
def stylesheet() -> FileResponse:
    return FileResponse(HERE / "static" / "dashboard.css", media_type="text/css",
                        headers={"Cache-Control": "max-age=300"})


# --- the overview -----------------------------------------------------------------------------------------------

@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, svc: ServicesDep, msg: str | None = None) -> Response:
    user = session_user(request, svc)
    if user is None:
        return to_login()
    now = request.app.state.clock()
    show = sees_patients(user)
    database, workers = ops_snapshots(svc, now)
    worklist = listing.escalations_page(svc.engine, limit=200)
    recent = listing.workflows_page(svc.engine, now=now, limit=25)
    context = {
        "user": user, "now": now, "notice": NOTICES.get(msg or ""), "refresh": REFRESH_SECONDS,
        "can_act": user.role in ACTING_ROLES, "show_patients": show,
        "database": database, "workers": workers,
        "messages": message_table(database) if database else None,
        "escalations": [escalation_row(record, patient, now, show) for record, patient in worklist.rows],
        "escalations_total": worklist.total,
        "stages": workflows_by_stage(svc, database),
        "workflows": [{"id": w.id, "stage": w.stage, "name": p.name if show else None, "updated_at": w.updated_at}
                      for w, p in recent.rows],
        "workflows_total": recent.total,
    }
    return page(request, svc, "dashboard.html", context)


def ops_snapshots(svc: Services, now: datetime) -> tuple[DatabaseSnapshot | None, WorkerStats | None]:
    """The database and worker snapshots; a panel whose source fails says so instead of failing the page."""
    database = workers = None
    try:
        database = database_snapshot(svc.engine, now, svc.settings.clinic_timezone)
    except Exception as exc:  # one panel down must not take the page with it
        log.warning("dashboard: database snapshot unavailable (%s)", type(exc).__name__)
    try:
        workers = worker_snapshot(svc)
    except Exception as exc:
        log.warning("dashboard: worker snapshot unavailable (%s)", type(exc).__name__)
    return database, workers


def message_table(database: DatabaseSnapshot) -> dict[str, Any]:
    """Today's messages as rows by kind and columns by status."""
    today: dict[tuple[str, str], int] = database.messages.today
    statuses = [s for s in MESSAGE_COLUMNS] + sorted({s for _, s in today} - set(MESSAGE_COLUMNS))
    kinds = sorted({k for k, _ in today})
    rows = [{"kind": kind, "counts": [today.get((kind, status), 0) for status in statuses]} for kind in kinds]
    totals = [sum(today.get((kind, status), 0) for kind in kinds) for status in statuses]
    return {"statuses": statuses, "rows": rows, "totals": totals,
            "failure_codes": sorted(database.messages.failure_codes.items(), key=lambda kv: (-kv[1], kv[0])),
            "drop_reasons": sorted(database.messages.drop_reasons.items(), key=lambda kv: (-kv[1], kv[0]))}


def workflows_by_stage(svc: Services, database: DatabaseSnapshot | None) -> list[tuple[str, int]]:
    counts = getattr(database, "workflows_by_stage", None)
    if not counts:
        with Session(svc.engine) as db:
            counts = dict(db.execute(select(Workflow.stage, func.count()).group_by(Workflow.stage)).all())
    return sorted(counts.items(), key=lambda kv: kv[0])


def escalation_row(record, patient, now: datetime, show: bool) -> dict[str, Any]:
    return {"id": record.id, "workflow_id": record.workflow_id, "reason": record.reason, "severity": record.severity,
            "tier": record.tier, "owner_role": record.owner_role, "status": record.status, "count": record.count,
            "raised_at": record.raised_at, "age_seconds": (now - record.raised_at).total_seconds(),
            "ack_deadline": record.ack_deadline, "acknowledged_by": record.acknowledged_by,
            "resolved_by": record.resolved_by, "note": record.note,
            "overdue": record.status == "open" and record.ack_deadline < now,
            "patient_name": patient.name if show else None}


# --- acting on escalations --------------------------------------------------------------------------------------

@router.post("/dashboard/escalations/{escalation_id}/acknowledge")
def acknowledge(escalation_id: str, request: Request, svc: ServicesDep,
                back: Annotated[str, Form(max_length=200)] = "/dashboard") -> Response:
    return act(request, svc, escalation_id, "escalation.acknowledged", {}, back)


@router.post("/dashboard/escalations/{escalation_id}/resolve")
def resolve(escalation_id: str, request: Request, svc: ServicesDep, note: Annotated[str, Form()] = "",
            back: Annotated[str, Form(max_length=200)] = "/dashboard") -> Response:
    note = note.strip()
    if len(note) > 2000:
        return after(back, "bad-note")
    return act(request, svc, escalation_id, "escalation.resolved", {"note": note} if note else {}, back)


def act(request: Request, svc: Services, escalation_id: str, event_type: str, extra: dict, back: str) -> Response:
    user = session_user(request, svc)
    if user is None:
        return to_login()
    if user.role not in ACTING_ROLES:
        return after(back, "forbidden")
    found = listing.escalation(svc.engine, escalation_id[:36])
    if found is None:
        return after(back, "unknown")
    record, _patient = found
    event = make_event(event_type, {"escalation": record.id, "by": user.name, **extra}, actor=actor_of(user))
    try:
        svc.pathway.apply(record.workflow_id, event, request.app.state.clock(), retries=2)
    except Rejected as exc:
        log.info("dashboard: %s refused for escalation %s (%s)", event_type, record.id, exc.code)
        return after(back, "rejected")
    return after(back, "acknowledged" if event_type == "escalation.acknowledged" else "resolved")


def after(back: str, notice: str) -> RedirectResponse:
    """Back to the page the form was on (only a dashboard page: never an open redirect)."""
    if not back.startswith("/dashboard") or "//" in back or "\\" in back:
        back = "/dashboard"
    back = back.split("?", 1)[0].split("#", 1)[0]
    return RedirectResponse(f"{back}?msg={notice}#worklist", status_code=303)


# --- a patient's page -------------------------------------------------------------------------------------------

@router.get("/dashboard/patients/{workflow_id}", response_class=HTMLResponse)
def patient_page(workflow_id: str, request: Request, svc: ServicesDep, msg: str | None = None) -> Response:
    user = session_user(request, svc)
    if user is None:
        return to_login()
    now = request.app.state.clock()
    show = sees_patients(user)
    found = listing.workflow_with_patient(svc.engine, workflow_id[:36])
    if found is None:
        return page(request, svc, "not_found.html", {"user": user, "refresh": None}, status_code=404)
    workflow, patient = found
    state = WorkflowState.model_validate(workflow.state)
    history = listing.events_page(svc.engine, workflow.id, limit=1000)
    escalations = listing.escalations_page(svc.engine, statuses=ALL_STATUSES, workflow_id=workflow.id, limit=200)
    outbox = listing.messages_of(svc.engine, workflow.id)
    context = {
        "user": user, "now": now, "notice": NOTICES.get(msg or ""), "refresh": REFRESH_SECONDS,
        "can_act": user.role in ACTING_ROLES, "show_patients": show,
        "workflow": workflow, "state": state, "patient": patient if show else None,
        "flags": state.active_flags(now),
        "sessions": sorted(state.sessions.values(), key=lambda s: s.start),
        "appointments": sorted(state.appointments.values(), key=lambda a: a.start),
        "events": [event_view(record, show) for record in history.rows],
        "escalations": [escalation_row(record, pat, now, show) for record, pat in escalations.rows],
        "messages": [{"kind": m.kind, "recipient": m.recipient, "status": m.status, "not_before": m.not_before,
                      "sent_at": m.sent_at, "delivered_at": m.delivered_at, "drop_reason": m.drop_reason,
                      "error_code": m.error_code, "body": m.body if show else None} for m in outbox],
        "scores": [a for a in state.assessments if a.instrument in TRENDED],
        "trend_svg": score_trend(state.assessments),
    }
    return page(request, svc, "patient.html", context)


# --- rendering --------------------------------------------------------------------------------------------------

def page(request: Request, svc: Services, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    zone = ZoneInfo(svc.settings.clinic_timezone)
    context = {"zone": zone, "zone_name": svc.settings.clinic_timezone, **context}
    return secured(templates.TemplateResponse(request, name, context, status_code=status_code))


def secured(response: Response, scripts: bool = False) -> Response:
    """No caching, a strict CSP (the app's own styles, and its own scripts only where a page has one), no sniffing."""
    script_src = "script-src 'self'; " if scripts else ""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (f"default-src 'none'; style-src 'self'; {script_src}img-src 'self' data:; "
                                                   "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _local(value: datetime | None, zone: ZoneInfo) -> str:
    if value is None:
        return "—"
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes}m"
    if minutes:
        return f"{sign}{minutes}m {secs}s"
    return f"{sign}{secs}s"


def _compact(data: dict) -> str:
    text = json.dumps(data, default=str, separators=(", ", ": "), ensure_ascii=False)
    return text if len(text) <= 300 else text[:297] + "…"


templates.env.filters["local"] = _local
templates.env.filters["duration"] = _duration
templates.env.filters["compact"] = _compact
templates.env.filters["label"] = lambda value: str(value).replace("_", " ")
