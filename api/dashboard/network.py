"""The network overview page for ops (rows from `api.network_view`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response

from api import policy
from api.dashboard.access import page_router, page_user
from api.dashboard.templating import page
from api.deps import ServicesDep
from api.network_view import ROLE_WORDS, network_rows
from models.tables import User

router = page_router()
OpsPage = Annotated[User, Depends(page_user(policy.READS_METRICS))]


@router.get("/dashboard/network", response_class=HTMLResponse)
def network_overview(user: OpsPage, request: Request, svc: ServicesDep) -> Response:
    now = request.app.state.clock()
    context = {"user": user, "now": now, "refresh": svc.settings.dashboard_refresh_seconds, "rows": network_rows(svc, now),
               "role_words": ROLE_WORDS, "zones": {c.key: c.timezone for c in svc.store.network.clinics}}
    return page(request, svc, "network.html", context)
