"""What the API and the pages write to the audit trail about the patients a request showed.

A list or search shows many patients at once; the trail keeps one `list_viewed` entry for the request (what list, how
many, which page and filters: codes only, never what was searched for) and one `listed` entry per patient shown, so that
an admin searching the trail by patient finds every list that showed them."""

from __future__ import annotations

from fastapi import Request

from api.forwarded import client_address
from models import audit
from models.tables import User
from workers.runtime import Services


def record_list_view(request: Request, svc: Services, user: User, what: str, shown: list[tuple[str, str]], total: int,
                     described: str) -> None:
    """The list `what` drawn for `user`, showing `shown` (workflow id, patient id) of `total`, in one unit of work."""
    route = getattr(request.scope.get("route"), "path", None) or request.url.path
    at, address = request.app.state.clock(), client_address(request)
    common = {"user_id": user.id, "route": route, "method": request.method, "address": address}
    with svc.unit_of_work() as uow:
        audit.record(uow, "list_viewed", at, detail=f"{what}: {len(shown)} shown of {total}; {described}"[:200],
                     **common)
        audit.record_each(uow, "listed", at, shown, detail=what, **common)
        uow.commit()
