"""The audit trail, searched by an administrator: by account, patient id and clinic days; with a patient, the changes
their history holds (the events: who recorded what, when) beside who looked. Filters travel in the POST body, never in
the address. Every search is itself recorded."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response

from api.dashboard.access import Admin, page_router
from api.dashboard.signin import note
from api.dashboard.templating import page
from api.deps import ServicesDep
from api.ids import parse_id
from models.queries import accounts as account_queries
from models.queries import audit as audit_queries
from models.tables import User
from workers.runtime import Services

router = page_router()
RECENT = 100
Field = Annotated[str, Form(max_length=64)]


def day_start(value: str, zone: ZoneInfo) -> datetime | None:
    """The start of a clinic day given as YYYY-MM-DD; None when blank; ValueError when not a date."""
    return datetime.combine(date.fromisoformat(value), time(0), zone) if value else None


def audit_page(request: Request, svc: Services, admin: User, filters: dict, *, error: str | None = None,
               status_code: int = 200) -> Response:
    zone = ZoneInfo(svc.settings.clinic_timezone)
    entries, changes = [], None
    if error is None:
        since, until = day_start(filters["since"], zone), day_start(filters["until"], zone)
        until = until + timedelta(days=1) if until else None  # "to" includes that whole day
        entries = audit_queries.search(svc.engine, user_id=filters["user_id"] or None,
                                       patient_id=filters["patient_id"] or None, since=since, until=until,
                                       limit=RECENT if not any(filters.values()) else audit_queries.SEARCH_LIMIT)
        if filters["patient_id"]:
            changes = audit_queries.changes_of_patient(svc.engine, filters["patient_id"], since, until)
    context = {"user": admin, "filters": filters, "entries": entries, "changes": changes, "error": error,
               "accounts": account_queries.accounts(svc.engine, request.app.state.clock()), "refresh": None,
               "limit": audit_queries.SEARCH_LIMIT}
    return page(request, svc, "admin_audit.html", context, status_code=status_code)


@router.get("/admin/audit", response_class=HTMLResponse)
def recent(admin: Admin, request: Request, svc: ServicesDep) -> Response:
    """The newest entries, and the search form."""
    return audit_page(request, svc, admin, {"user_id": "", "patient_id": "", "since": "", "until": ""})


@router.post("/admin/audit", response_class=HTMLResponse)
def search(admin: Admin, request: Request, svc: ServicesDep, user_id: Field = "", patient_id: Field = "",
           since: Field = "", until: Field = "") -> Response:
    """Entries by account, patient id and clinic days (all optional, combined)."""
    filters = {"user_id": user_id.strip(), "patient_id": patient_id.strip(), "since": since.strip(),
               "until": until.strip()}
    for key in ("user_id", "patient_id"):
        if filters[key] and parse_id(filters[key]) is None:
            return audit_page(request, svc, admin, filters, error="An id looks like 3f2b8c1e-… (36 characters): "
                              "copy a patient's from their page.", status_code=422)
        filters[key] = parse_id(filters[key]) or ""
    try:
        for key in ("since", "until"):
            day_start(filters[key], ZoneInfo(svc.settings.clinic_timezone))
    except ValueError:
        return audit_page(request, svc, admin, filters, error="Dates are days, like 2026-03-02.", status_code=422)
    described = ", ".join(f"{key}={value}" for key, value in filters.items() if value) or "everything"
    note(request, svc, "audit_searched", user_id=admin.id, patient_id=filters["patient_id"] or None,
         detail=described[:200])
    return audit_page(request, svc, admin, filters)
