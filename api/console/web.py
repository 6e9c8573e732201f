"""What every console page shares: the template environment (console templates over the dashboard's), the signed-in
user with the roles a page admits, and rendering with the dashboard's security headers."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import FileResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader

from api.dashboard import routes as dashboard
from config.wiring import Services
from models.tables import User
from models.users import UserRole

HERE = Path(__file__).parent
STAFF = frozenset({UserRole.COORDINATOR, UserRole.CLINICIAN, UserRole.ADMIN})  # who sees patients and acts on them

templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.loader = ChoiceLoader([FileSystemLoader(str(HERE / "templates")), dashboard.templates.env.loader])
templates.env.filters.update(dashboard.templates.env.filters)

def stylesheet() -> FileResponse:
    """The console's stylesheet (served by the patients room's router; loaded after the dashboard's)."""
    return FileResponse(HERE / "static" / "console.css", media_type="text/css", headers={"Cache-Control": "max-age=300"})


def signed_in(request: Request, svc: Services) -> User | None:
    """The user of the session cookie (any dashboard role), or None."""
    return dashboard.session_user(request, svc)


def staff_only(request: Request, svc: Services) -> User | Response:
    """The signed-in coordinator, clinician or admin; otherwise the login page, or a 403 page for ops.

    Ops work by ids on the dashboard and the worklist: console pages show who patients are, so they stay closed to them.
    """
    user = signed_in(request, svc)
    if user is None:
        return to_login()
    if user.role not in STAFF:
        return render(request, svc, "forbidden.html", {"user": user}, status_code=403)
    return user


def known_id(value: str) -> str:
    """Ids are UUIDs: anything else (a typo, a NUL the database cannot hold) matches nothing, without a query error."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return "00000000-0000-0000-0000-000000000000"


def form_key(form: Any, field: str = "idempotency_key") -> str | None:
    """The idempotency key a form was drawn with (a fresh one per page), if it is one the database can store."""
    key = str(form.get(field, ""))[:200]
    return key if key and key.isprintable() else None


def now_of(request: Request) -> datetime:
    return request.app.state.clock()


def render(request: Request, svc: Services, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    """A console page with the dashboard's headers (no-store, strict CSP) and the clinic's time zone."""
    zone = ZoneInfo(svc.settings.clinic_timezone)
    context = {"zone": zone, "zone_name": svc.settings.clinic_timezone, "refresh": None, "notice": None, **context}
    return dashboard.secured(templates.TemplateResponse(request, name, context, status_code=status_code), scripts=True)


to_login = dashboard.to_login


def local_input(value: datetime | None, zone: ZoneInfo) -> str:
    """A moment as a datetime-local input's value, in clinic time."""
    return value.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if value else ""


templates.env.filters["local_input"] = local_input
# Jinja's `capitalize` lowercases the rest ("Rems ..."); this only raises the first letter ("REMS ...").
templates.env.filters["sentence"] = lambda text: str(text)[:1].upper() + str(text)[1:]
# A fresh idempotency key per form drawn: submitting the same form twice applies it once.
templates.env.globals["new_key"] = lambda: str(uuid.uuid4())
