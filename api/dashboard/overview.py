"""The ops overview: workers and queues, timers, the on-call rota, today's messages, the escalation worklist,
workflows by stage.

Ops see ids, never names, phones or texts; a panel whose source is down says so instead of failing the page.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from api import policy
from api.dashboard.access import SignedIn, page_router
from api.dashboard.escalations import escalation_row, notice
from api.dashboard.rota_panel import rota_panels
from api.dashboard.templating import page
from api.deps import ServicesDep
from models.queries import listing, ops
from models.queries.ops import DatabaseSnapshot
from workers.ops import WorkerStats, worker_snapshot
from workers.runtime import Services

log = logging.getLogger("carepath.dashboard")
router = page_router()
MESSAGE_COLUMNS = ("pending", "sending", "sent", "delivered", "failed", "dropped")


@router.get("/dashboard", response_class=HTMLResponse)
def overview(user: SignedIn, request: Request, svc: ServicesDep, msg: str | None = None) -> Response:
    """The overview, refreshing itself."""
    now = request.app.state.clock()
    show = policy.sees_patients(user)
    database, workers = ops_snapshots(svc, now)
    worklist = listing.escalations_page(svc.engine, limit=200, clinics=policy.clinic_scope(user))
    recent = listing.workflows_page(svc.engine, now=now, limit=25, clinics=policy.clinic_scope(user))
    context = {
        "user": user, "now": now, "notice": notice(msg), "refresh": svc.settings.dashboard_refresh_seconds,
        "can_act": policy.allows(policy.ACTS_ON_ESCALATIONS, user), "show_patients": show,
        "database": database, "workers": workers,
        "messages": message_table(database) if database else None,
        "escalations": [escalation_row(record, patient, now, show) for record, patient in worklist.rows],
        "escalations_total": worklist.total,
        "stages": workflows_by_stage(svc, database),
        # Ops: ids, stages and times only; the name for roles that see patients.
        "workflows": [{"id": w.id, "stage": w.stage, "updated_at": w.updated_at, **({"name": p.name} if show else {})}
                      for w, p in recent.rows],
        "workflows_total": recent.total,
        "rotas": rota_panels(svc, user, now),  # roles and times only: no phone numbers, for ops or anyone
    }
    return page(request, svc, "dashboard.html", context)


def ops_snapshots(svc: Services, now: datetime) -> tuple[DatabaseSnapshot | None, WorkerStats | None]:
    """The database and worker snapshots; None for a source that fails."""
    database = workers = None
    try:
        database = ops.database_snapshot(svc.engine, now, svc.settings.clinic_timezone)
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
    statuses = list(MESSAGE_COLUMNS) + sorted({s for _, s in today} - set(MESSAGE_COLUMNS))
    kinds = sorted({k for k, _ in today})
    rows = [{"kind": kind, "counts": [today.get((kind, status), 0) for status in statuses]} for kind in kinds]
    totals = [sum(today.get((kind, status), 0) for kind in kinds) for status in statuses]
    return {"statuses": statuses, "rows": rows, "totals": totals,
            "failure_codes": sorted(database.messages.failure_codes.items(), key=lambda kv: (-kv[1], kv[0])),
            "drop_reasons": sorted(database.messages.drop_reasons.items(), key=lambda kv: (-kv[1], kv[0]))}


def workflows_by_stage(svc: Services, database: DatabaseSnapshot | None) -> list[tuple[str, int]]:
    """(stage, count) by stage name: from the snapshot, or asked alone when the snapshot failed."""
    counts = database.workflows_by_stage if database else ops.workflows_by_stage(svc.engine)
    return sorted(counts.items())
