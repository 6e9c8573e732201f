"""The chair board over HTTP: who is in the clinic now, at what stage, the reading due next (and an alert once it is
overdue), the countdown to the earliest discharge, the gates still open; discharged patients and other clinics'
patients are not on it; ops are refused; the live refresh gets the board's main part alone."""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from accounts_support import entries
from api_support import ApiServer, local_time, new_phone
from console_rooms_support import at_the_chair, form_key, minutes_ago, post_ok, refusal
from console_support import unlabelled_controls
from signin_support import sign_in

from models import accounts, queries

WEST = {"key": "west", "name": "Westside Care Clinic", "phone": "+15555550201", "timezone": "America/New_York"}
NORMAL = {"systolic": "122", "diastolic": "78", "heart_rate": "72", "spo2": "98"}
ZONE = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def network(postgres_server_url) -> Iterator[ApiServer]:
    """A network of two clinics (main and west), both in New York time."""
    from api_support import fresh_database, serve

    with fresh_database(postgres_server_url) as url, serve(url, clinics=(WEST,)) as server:
        yield server


@contextmanager
def staff_of(api: ApiServer, role: str, clinic: str | None = "main") -> Iterator[httpx.Client]:
    """A browser-like client signed in as a new account of `role` working at `clinic` only (None: every clinic)."""
    staff = api.new_staff(role)
    if clinic is not None:
        with api.services.unit_of_work() as uow:
            accounts.set_clinics(uow, staff.id, [clinic])
            uow.commit()
    with api.browser() as client:
        sign_in(client, staff)
        yield client


def chart(client: httpx.Client, workflow_id: str, action: str, data: dict) -> None:
    """Fill one form of the chair page the way a browser does, and check it was recorded."""
    url = f"/console/chair/{workflow_id}/s1"
    response = client.post(f"{url}/{action}", data={"key": form_key(client.get(url).text), **data})
    assert response.status_code == 303, refusal(response.text)


def dosed(api: ApiServer, client: httpx.Client, dose_minutes_ago: float, *, post_dose: float | None = None) -> tuple[str, str]:
    """A patient checked in, pre-dose BP normal, dosed `dose_minutes_ago` (post-dose BP that many minutes ago)."""
    workflow_id, name = at_the_chair(api, arrived=False)
    chart(client, workflow_id, "arrived", {"at": minutes_ago(dose_minutes_ago + 5)})
    chart(client, workflow_id, "vitals", {"phase": "pre_dose", **NORMAL, "at": minutes_ago(dose_minutes_ago + 3)})
    at = {"at": minutes_ago(dose_minutes_ago)} if dose_minutes_ago else {}
    chart(client, workflow_id, "dose", {"dose": "56", "ride_confirmed": "yes", "fasting_confirmed": "yes", **at})
    if post_dose is not None:
        chart(client, workflow_id, "vitals", {"phase": "post_dose", **NORMAL, "at": minutes_ago(post_dose)})
    return workflow_id, name


def row_of(html: str, workflow_id: str) -> dict[str, str] | None:
    """The board's row for session s1 of this workflow: its stage, whether overdue, and each cell's text."""
    found = re.search(rf'<tr data-session="{workflow_id}/s1" data-stage="(\w+)"\s+data-overdue="(\w+)"[^>]*>(.*?)</tr>',
                      html, re.S)
    if found is None:
        return None
    cells = [text_of(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", found.group(3), re.S)]
    return {"stage": found.group(1), "overdue": found.group(2), "row": found.group(3),
            **dict(zip(("patient", "chair", "stage_text", "reading", "discharge", "gates"), cells, strict=True))}


def text_of(fragment: str) -> str:
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def alerts(html: str) -> str:
    return text_of(re.search(r'<div id="board-alerts"[^>]*>(.*?)</div>', html, re.S).group(1))


def hm(moment: datetime) -> str:
    return moment.astimezone(ZONE).strftime("%H:%M")


def test_ops_are_refused_the_board_and_staff_who_see_patients_find_it_in_the_menu(network: ApiServer) -> None:
    workflow_id, name = at_the_chair(network)
    with staff_of(network, "ops", clinic=None) as ops:
        refused = ops.get("/console/board")
        assert refused.status_code == 403 and name not in refused.text
        assert ops.get("/console/board?live=1&auto=1").status_code == 403
    for role in ("clinician", "coordinator"):
        with staff_of(network, role) as client:
            page = client.get("/dashboard")
            assert '<a href="/console/board">Chair board</a>' in page.text
            board = client.get("/console/board")
            assert board.status_code == 200 and row_of(board.text, workflow_id) is not None, role


def test_a_patient_checked_in_shows_with_the_pre_dose_reading_due_and_the_dose_gates_open(network: ApiServer) -> None:
    workflow_id, name = at_the_chair(network)
    with staff_of(network, "clinician") as client:
        page = client.get("/console/board")
    row = row_of(page.text, workflow_id)
    assert row["stage"] == "arrived" and row["overdue"] == "no"
    assert name in row["patient"] and f'href="/console/chair/{workflow_id}/s1"' in row["row"]
    assert row["stage_text"] == "Arrived, waiting for the dose" and row["chair"] == "not set"
    assert row["reading"] == "Pre-dose BP: due now , before the dose"
    assert row["gates"] == ("Pre-dose BP: not recorded yet Ride home: to confirm with the dose "
                            "Fasting: to confirm with the dose")
    assert row["discharge"] == "counted from the dose"
    assert 'http-equiv="refresh"' not in page.text and unlabelled_controls(page.text) == []


def test_a_dosed_patient_shows_the_countdown_and_the_post_dose_reading_due(network: ApiServer) -> None:
    with staff_of(network, "clinician") as client:
        workflow_id, _ = dosed(network, client, 0)
        page = client.get("/console/board")
    session = queries.load_state(network.services.engine, workflow_id).sessions["s1"]
    row = row_of(page.text, workflow_id)
    assert row["stage"] == "dosed" and row["overdue"] == "no"
    # Esketamine: post-dose BP 35-50 min after the dose, discharge 2 h after it at the earliest.
    window = f"{hm(session.dosed_at + timedelta(minutes=35))}–{hm(session.dosed_at + timedelta(minutes=50))}"
    assert row["reading"] == f"Post-dose BP: due {window}"
    assert re.fullmatch(rf"{hm(session.dosed_at + timedelta(hours=2))}: in (1h 5\dm|2h 0m)", row["discharge"])
    assert 'data-deadline="' in row["row"]  # the script's countdown starts from here
    earliest = hm(session.dosed_at + timedelta(hours=2))
    assert f"Minimum monitoring time: until {earliest}" in row["gates"]
    assert "Post-dose BP: not recorded yet" in row["gates"]
    assert alerts(page.text) == ""


def test_an_overdue_post_dose_reading_raises_the_alert_until_it_is_recorded(network: ApiServer) -> None:
    with staff_of(network, "clinician") as client:
        workflow_id, name = dosed(network, client, 60)
        page = client.get("/console/board")
        session = queries.load_state(network.services.engine, workflow_id).sessions["s1"]
        due_by = hm(session.dosed_at + timedelta(minutes=50))
        row = row_of(page.text, workflow_id)
        assert row["overdue"] == "yes" and 'class="overdue"' in page.text
        assert row["reading"] == f"Overdue Post-dose BP: was due by {due_by}"
        assert f"Post-dose BP for {name}, due by {due_by}" in alerts(page.text)
        assert re.search(r'<div id="board-alerts" class="board-alerts" role="alert"', page.text)

        chart(client, workflow_id, "vitals", {"phase": "post_dose", **NORMAL})
        page = client.get("/console/board")
    row = row_of(page.text, workflow_id)
    assert row["overdue"] == "no" and row["stage"] == "monitoring" and name not in alerts(page.text)
    assert row["reading"].startswith("Pre-discharge BP: before discharge, from ")


def test_a_patient_ready_for_discharge_leaves_the_board_once_discharged(network: ApiServer) -> None:
    with staff_of(network, "clinician") as client:
        workflow_id, name = dosed(network, client, 125, post_dose=85)
        chart(client, workflow_id, "vitals", {"phase": "pre_discharge", **NORMAL})
        row = row_of(client.get("/console/board").text, workflow_id)
        assert row["stage"] == "ready" and row["stage_text"].startswith("Ready for discharge dose at ")
        assert row["reading"] == "None due" and row["discharge"].endswith(": reached")
        assert row["gates"] == "Sedation resolved: to confirm at discharge Dissociation resolved: to confirm at discharge"

        chart(client, workflow_id, "discharge", {"sedation_resolved": "yes", "dissociation_resolved": "yes"})
        page = client.get("/console/board")
    assert row_of(page.text, workflow_id) is None and name not in page.text


def test_each_clinic_sees_its_own_patients_only(network: ApiServer) -> None:
    main_id, main_name = at_the_chair(network)
    west_id, west_name = west_at_the_chair(network)
    with staff_of(network, "clinician", "main") as main:
        seen = main.get("/console/board").text
    assert main_name in seen and west_name not in seen and west_id not in seen
    with staff_of(network, "coordinator", "west") as west:
        seen = west.get("/console/board").text
    assert west_name in seen and main_name not in seen and main_id not in seen
    with staff_of(network, "clinician", None) as everywhere:  # a network clinician, narrowed by the clinic switcher
        both = everywhere.get("/console/board").text
        everywhere.cookies.set("carepath_clinic", "west")
        narrowed = everywhere.get("/console/board").text
    assert main_name in both and west_name in both
    assert west_name in narrowed and main_name not in narrowed


def test_the_live_refresh_gets_the_boards_main_part_alone_and_only_the_first_view_is_audited(
        network: ApiServer) -> None:
    workflow_id, _ = at_the_chair(network)
    staff = network.new_staff("clinician")
    with network.browser() as client:
        sign_in(client, staff)
        page = client.get("/console/board")
        fragment = client.get("/console/board?auto=1&live=1")
        client.get("/console/board?auto=1&live=1")
    assert 'data-live-url="/console/board?auto=1&amp;live=1"' in page.text
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert row_of(fragment.text, workflow_id) is not None and 'id="board-alerts"' in fragment.text
    mine = [e for e in entries(network, user_id=staff.id) if e.route == "/console/board"]
    assert [e.action for e in mine if e.action == "list_viewed"] == ["list_viewed"]  # the updates are the same view
    assert workflow_id in {e.workflow_id for e in mine if e.action == "listed"}


def west_at_the_chair(api: ApiServer) -> tuple[str, str]:
    """A patient of the west clinic, checked in for session s1 now."""
    name = f"West Patient {new_phone()[-4:]}"
    body = api.referral(clinic="west", patient={"name": name, "phone": new_phone(), "timezone": "America/New_York",
                                                "sms_consent": True})
    workflow_id = body["workflow_id"]
    post_ok(api, workflow_id, "evaluation.scheduled", {"start": local_time(1)})
    post_ok(api, workflow_id, "evaluation.completed", {"eligible": True, "route": "esketamine", "weight_kg": 80,
                                                       "brought_forward": "seen early"}, "clinician")
    post_ok(api, workflow_id, "rems.enrolled", {"enrollment_id": "REMS-WEST"})
    post_ok(api, workflow_id, "session.scheduled", {"session": "s1", "start": local_time(0.02), "dose_mg": 56})
    post_ok(api, workflow_id, "session.arrived", {"session": "s1"})
    return workflow_id, name
