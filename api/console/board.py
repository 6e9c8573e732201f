"""The chair board: everyone in the clinic now (checked in, dosed, in monitoring, ready for discharge), with the
reading due next, an alert when one is overdue, the countdown to the earliest discharge and the gates still open.

It reads the sessions projection once for the sessions of the staff member's clinics (the clinic switcher narrows them)
with their patients in the clinic, then judges each from its own workflow's state. It keeps itself up to date with the
pages' live refresh (`?live=1` fragments swapped in by `live.js`), and its countdowns tick in `board.js`; without
scripts it shows the times and its "Refresh" link.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from fastapi import Request
from fastapi.responses import FileResponse, Response

from api import policy
from api.audit_trail import record_list_view
from api.console import web
from api.console.board_rows import STAGES, BoardRow, board_row
from api.console.web import Staff
from api.dashboard.access import AUTO_REFRESH, page_router
from api.dashboard.headers import static_file
from api.deps import ServicesDep
from models.queries.board import InTheClinic, in_the_clinic
from workers.runtime import Services
from workflows.gates import chair_gates
from workflows.state import WorkflowState

router = page_router()
STATIC = Path(__file__).parent / "static"
# Sessions booked this long either side of now count: a monitored visit lasts a few hours, and a session still checked
# in half a day after its booked time is a chart left open, not a patient in the chair.
BOOKED_WITHIN = timedelta(hours=12)


@router.get("/console/static/board.js")
def board_script() -> FileResponse:
    """The board's countdowns (the board works without it: the server writes the time left and the time)."""
    return static_file(STATIC / "board.js", "text/javascript")


@router.get("/console/board")
def board(user: Staff, request: Request, svc: ServicesDep) -> Response:
    """Everyone in the clinic now, keeping itself up to date."""
    now = web.now_of(request)
    found = in_the_clinic(svc.engine, now - BOOKED_WITHIN, now + BOOKED_WITHIN, policy.clinic_scope(user))
    rows = rows_of(svc, found, now)
    if request.query_params.get(AUTO_REFRESH) != "1":  # the board updating itself is the same view, not a new one
        shown = list(dict.fromkeys((item.workflow_id, item.patient_id) for item in found))
        record_list_view(request, svc, user, "chair board", shown, len(shown), "patients in the clinic now")
    counts = {stage: sum(1 for row in rows if row.stage == stage) for stage in STAGES}
    context = {"user": user, "now": now, "rows": rows, "counts": counts, "stages": STAGES,
               "overdue": [row for row in rows if row.overdue], "refresh": svc.settings.dashboard_refresh_seconds}
    return web.render(request, svc, "board.html", context)


def rows_of(svc: Services, found: list[InTheClinic], now: datetime) -> list[BoardRow]:
    """The board's lines, longest in the clinic first (by arrival time, then name)."""
    rows = []
    for item in found:
        state = WorkflowState.model_validate(item.state)
        session = state.sessions.get(item.session_id)
        if session is None:  # the projection and the state are written together; this only guards a stale read
            continue
        protocol = svc.store.protocols.get(item.protocol_version)
        route = protocol.route(session.route)
        zone = svc.store.clinic_named(item.clinic_id).timezone
        gates = chair_gates(state, session, route, protocol.sessions, now, zone=zone)
        rows.append(board_row(item.workflow_id, item.patient_name, session, route, protocol.sessions, gates, now, zone))
    return sorted(rows, key=lambda row: (row.arrived_at or now, row.patient_name, row.session_id))
