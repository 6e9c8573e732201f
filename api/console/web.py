"""What every console page shares: the template environment (console templates over the dashboard's), the signed-in
user with the roles a page admits, and rendering with the dashboard's security headers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
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


def signed_in(request: Request, svc: Services) -> User | None:
    """The user of the session cookie (any dashboard role), or None."""
    return dashboard.session_user(request, svc)


def render(request: Request, svc: Services, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    """A console page with the dashboard's headers (no-store, strict CSP) and the clinic's time zone."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(svc.settings.clinic_timezone)
    context = {"zone": zone, "zone_name": svc.settings.clinic_timezone, "refresh": None, **context}
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    for header, value in dashboard_headers().items():
        response.headers[header] = value
    return response


def dashboard_headers() -> dict[str, str]:
    return {"Cache-Control": "no-store",
            "Content-Security-Policy": ("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
                                        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
            "X-Content-Type-Options": "nosniff"}


def to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)
