"""What every console page shares: the template environment (console templates over the dashboard's), the user a
staff page admits, the idempotency key of a form, rendering, and the console's stylesheet."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import FileResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader

from api import policy
from api.dashboard import templating
from api.dashboard.access import page_router, page_user
from api.dashboard.headers import secured, static_file
from models.tables import User
from workers.runtime import Services

HERE = Path(__file__).parent
router = page_router()

templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.loader = ChoiceLoader([FileSystemLoader(str(HERE / "templates")), templating.templates.env.loader])
templating.configure(templates.env)
# Jinja's `capitalize` lowercases the rest ("Rems ..."); this only raises the first letter ("REMS ...").
templates.env.filters["sentence"] = lambda text: str(text)[:1].upper() + str(text)[1:]
# The second part of a sentence ("set by dosing session booked ..."), leaving names and acronyms ("REMS", "PCL-5").
templates.env.filters["lower_first"] = lambda text: str(text) if str(text)[1:2].isupper() else \
    str(text)[:1].lower() + str(text)[1:]
# A fresh idempotency key per form drawn: submitting the same form twice applies it once.
templates.env.globals["new_key"] = lambda: str(uuid.uuid4())

# Console pages show who patients are: only roles that see patients open them. Ops work by ids (overview, worklist).
Staff = Annotated[User, Depends(page_user(policy.SEES_PATIENTS))]


@router.get("/console/static/console.css")
def stylesheet() -> FileResponse:
    """The console's stylesheet (loaded after the dashboard's)."""
    return static_file(HERE / "static" / "console.css", "text/css")


def form_key(form: Any, field: str = "idempotency_key") -> str | None:
    """The idempotency key a form was drawn with (a fresh one per page), if it is one the database can store."""
    key = str(form.get(field, ""))[:200]
    return key if key and key.isprintable() else None


def now_of(request: Request) -> datetime:
    return request.app.state.clock()


def render(request: Request, svc: Services, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    """A console page with the pages' headers (no-store, strict CSP, the console's own scripts) in clinic time. A page
    that keeps itself up to date (`refresh`) may fetch its own live panels, and answers `?live=1` with its main part."""
    zone = ZoneInfo(svc.settings.clinic_timezone)
    live = bool(context.get("refresh"))
    fragment = live and request.query_params.get(templating.LIVE) == "1"
    context = {"zone": zone, "zone_name": svc.settings.clinic_timezone, "refresh": None, "notice": None,
               "fragment": fragment, **context}
    return secured(templates.TemplateResponse(request, name, context, status_code=status_code), fetches=live)
