"""The pages' templates: the dashboard's environment, the filters and globals every page uses, and rendering a page.

The console's environment sits over this one (its own templates first) and gets the same filters via `configure`.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment

from api import policy
from api.dashboard import clinic_choice
from api.dashboard.csrf import FormsCarryTheToken, csrf_field
from api.dashboard.headers import secured
from workers.runtime import Services

TEMPLATES = Path(__file__).parent / "templates"
# The overview, the network and the patient page keep themselves up to date (ops leave them open on a screen): every
# `settings.dashboard_refresh_seconds` `static/live.js` fetches the page's main part and swaps in its live panels.
LIVE = "live"  # `?live=1`: the main part of the page only, for the live-update script

templates = Jinja2Templates(directory=str(TEMPLATES))


def page(request: Request, svc: Services, name: str, context: dict[str, Any], status_code: int = 200,
         forms_to: tuple[str, ...] = ()) -> Response:
    """A dashboard page in the clinic's time zone, with the security headers (`forms_to`:
    origins a form's answer may send the browser on to). A page that keeps itself up to date (`refresh`) loads the
    live-update script, and answers its `?live=1` requests with its main part alone."""
    zone = ZoneInfo(svc.settings.clinic_timezone)
    live = bool(context.get("refresh"))
    fragment = live and request.query_params.get(LIVE) == "1"
    context = {"zone": zone, "zone_name": svc.settings.clinic_timezone, "fragment": fragment, **context}
    return secured(templates.TemplateResponse(request, name, context, status_code=status_code), fetches=live,
                   forms_to=forms_to)


def local(value: datetime | None, zone: ZoneInfo) -> str:
    if value is None:
        return "—"
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def duration(seconds: float | None) -> str:
    """A span as its two largest units: `2d 3h`, `4h 10m`, `5m 2s`, `9s` (negative when overdue)."""
    if seconds is None:
        return "—"
    seconds = int(seconds)
    sign = "-" if seconds < 0 else ""
    days, rest = divmod(abs(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes}m"
    if minutes:
        return f"{sign}{minutes}m {secs}s"
    return f"{sign}{secs}s"


def compact(data: dict) -> str:
    """Event data on one line, cut at 300 characters (the history table is for scanning)."""
    text = json.dumps(data, default=str, separators=(", ", ": "), ensure_ascii=False)
    return text if len(text) <= 300 else text[:297] + "…"


def manual_refresh_url(request: Request) -> str:
    """This page's address as someone would open it (the live-update marks left out): the "Refresh" link."""
    query = [(key, value) for key, value in request.query_params.multi_items() if key not in ("auto", LIVE)]
    return f"{request.url.path}?{urlencode(query)}" if query else request.url.path


def live_url(request: Request) -> str:
    """What the live-update script fetches: this page's main part (`?live=1`), marked as the page updating itself
    (`?auto=1`), which neither keeps a session awake nor counts as someone viewing a patient again."""
    query = [(key, value) for key, value in request.query_params.multi_items() if key not in ("auto", LIVE)]
    return f"{request.url.path}?{urlencode([*query, ('auto', '1'), (LIVE, '1')])}"


def clinic_switcher(request: Request) -> dict | None:
    """What the clinic switcher shows a signed-in page's user: their clinics and the one chosen; None for one clinic."""
    user = getattr(request.state, "full_user", None)
    if user is None:
        return None
    svc = request.app.state.services
    options = clinic_choice.choices(svc, user)
    if not options:
        return None
    return {"options": options, "chosen": clinic_choice.chosen(request, svc, user), "back": request.url.path,
            "all": clinic_choice.offers_all(user)}


def configure(env: Environment) -> None:
    """Give a template environment the pages' filters, the policy's answers the navigation asks (who sees patients,
    who administers), and the form token in every POST form (`api.dashboard.csrf`)."""
    env.filters["local"] = local
    env.filters["duration"] = duration
    env.filters["compact"] = compact
    env.filters["label"] = lambda value: str(value).replace("_", " ")
    env.globals["sees_patients"] = policy.sees_patients
    env.globals["administers"] = policy.administers
    env.globals["manages_network"] = policy.manages_network
    env.globals["reads_metrics"] = lambda user: policy.allows(policy.READS_METRICS, user)
    env.globals["zone_of"] = ZoneInfo
    env.globals["csrf_field"] = csrf_field
    env.globals["live_url"] = live_url
    env.globals["manual_refresh_url"] = manual_refresh_url
    env.globals["clinic_switcher"] = clinic_switcher
    env.add_extension(FormsCarryTheToken)


configure(templates.env)
