"""Staff of one clinic see nothing of another (issue #15 item 8): patient data is planted at the west clinic (a marker
in every free-text field, texts to west's own number) and at main, then every route of the app is walked — GET with
each query variant, POST with an empty body, path parameters filled with both clinics' real ids — as a coordinator and
as a clinician who work at main only. No west marker and no west id may appear in any answer, except an id the request
itself carried; main's own records must be seen, so the walk is known to have looked."""

from __future__ import annotations

import html
import re
from datetime import date

import pytest
from api_support import ApiServer
from signin_support import sign_in
from sqlalchemy import func, select
from sqlmodel import Session
from walk_support import NOT_WALKED, Planted, check, every_route, path_values, plant, requests_for, send

from models import accounts
from models.tables import EscalationRecord, EventRecord, InboundText

WEST = {"key": "west", "name": "Westside Care Clinic", "phone": "+15555550200", "timezone": "America/Los_Angeles"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture(scope="module")
def network(postgres_server_url):
    from api_support import fresh_database, serve

    with fresh_database(postgres_server_url) as url, serve(url, clinics=(WEST,)) as server:
        yield server


def main_only(api: ApiServer, role: str):
    """A new account of `role` that works at main only, with an API token."""
    staff = api.new_staff(role, token=True)
    with api.services.unit_of_work() as uow:
        accounts.set_clinics(uow, staff.id, ["main"])
        uow.commit()
    return staff


def west_ids_shown(text: str, west: Planted, asked: str) -> set[str]:
    """West's record ids in an answer, leaving out any the request carried (a 404 may name what was asked for)."""
    ids = {*west.workflows, *west.escalations, *west.texts}
    return {found for found in UUID.findall(text) if found in ids and found not in asked}


@pytest.mark.parametrize("role", ["coordinator", "clinician"])
def test_staff_of_one_clinic_find_nothing_of_another_on_any_route(network: ApiServer, role: str) -> None:
    west = plant(network, clinic="west", to=WEST["phone"], date_of_birth=date(1923, 3, 17))
    own = plant(network, clinic="main")
    staff = main_only(network, role)
    values = path_values(own, staff.id)
    for name, ids in path_values(west, staff.id).items():  # west's ids on every door too
        values[name] = sorted({*values[name], *ids})
    west_history = history_of(network, west)
    routes = [r for r in every_route(network.app) if r.path not in NOT_WALKED]
    walked, seen_own = 0, False
    with network.browser() as client:
        sign_in(client, staff)  # pages: the session cookie (and its form token)
        client.headers["Authorization"] = f"Bearer {staff.token}"  # the API: the token
        for method in ("GET", "POST", "GET"):
            for route in (r for r in routes if r.method == method):
                for path, params in requests_for(route, values, own):
                    response = send(client, method, path, params)
                    where = f"{method} {path} {params or ''}"
                    check(response, west, where)
                    asked = f"{path} {params}"
                    shown = west_ids_shown(response.text, west, asked) | west_ids_shown(
                        "\n".join(response.headers.values()), west, asked)
                    assert not shown, f"{where} ({response.status_code}) shows a main-only {role} west's {shown}"
                    seen_own = seen_own or (response.status_code == 200 and own.workflows[0] in response.text)
                    walked += 1
        assert client.get("/console/worklist").status_code == 200, "still signed in: the walk saw the pages as staff"
    assert walked > 300 and seen_own, (walked, "the walk saw main's own records")
    assert history_of(network, west) == west_history, "a main-only user's requests changed a west record"


def history_of(api: ApiServer, planted: Planted) -> dict[str, object]:
    """What the walk could have changed at a clinic: its workflows' events, its escalations' and texts' states."""
    with Session(api.services.engine) as db:
        events = db.execute(select(EventRecord.workflow_id, func.count()).where(
            EventRecord.workflow_id.in_(planted.workflows)).group_by(EventRecord.workflow_id)).all()
        escalations = db.execute(select(EscalationRecord.id, EscalationRecord.status).where(
            EscalationRecord.id.in_(planted.escalations))).all()
        texts = db.execute(select(InboundText.id, InboundText.status).where(InboundText.id.in_(planted.texts))).all()
    return {"events": sorted(events), "escalations": sorted(escalations), "texts": sorted(texts)}


def test_a_one_clinic_coordinator_cannot_move_or_cancel_another_clinics_session(network: ApiServer) -> None:
    west = plant(network, clinic="west", to=WEST["phone"], date_of_birth=date(1923, 3, 17))
    in_treatment = west.workflows[0]  # its session s1 is booked
    before = history_of(network, west)
    staff = main_only(network, "coordinator")
    with network.browser() as client:
        sign_in(client, staff)
        moved = client.post(f"/console/calendar/{in_treatment}/session/s1/move",
                            data={"start": "2030-01-15T10:00", "view": "day"})
        cancelled = client.post(f"/console/calendar/{in_treatment}/session/s1/cancel", data={"reason": "no"})
    for answer in (moved, cancelled):
        assert answer.status_code == 404, answer.text[:300]
        assert "There is no such patient in your clinics' calendar" in html.unescape(answer.text)
    assert history_of(network, west) == before
