"""`GET /v1/ops/network`: the network overview as JSON, for ops and admin tokens (what `/dashboard/network` shows)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import Now, OpsUser, ServicesDep
from api.network_view import network_rows
from api.schemas import error_responses

router = APIRouter(tags=["ops"])


@router.get("/v1/ops/network", responses=error_responses(401, 403),
            summary="Per clinic: queues, timer lag, deliveries, open escalations, rota cover")
def network(svc: ServicesDep, now: Now, user: OpsUser) -> dict[str, Any]:
    """One row per clinic, keys, counts and times only: `queue` (messages waiting or leaving), `timer_lag_seconds`
    (the oldest due timer's lateness; null: none due), `delivered_24h`, `failed_24h`, `texts_waiting` (for staff to
    assign), `open_escalations` (by severity), `workflows_in_care`, and `rota`: for each role a page goes to,
    whether someone holds it now and the next stretch in 7 days nobody does (UTC)."""
    return {"at": now, "clinics": network_rows(svc, now)}
