"""The schedule grid over HTTP, on a clinic with chairs and providers: bookings show in their chair's column for their
length; a free slot opens the booking form filled in; booking, moving and cancelling from the grid work; a clash is
refused in plain words with nothing written; bad addresses answer 400 with the reason."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from api_support import CLINIC_ZONE, ApiServer, fresh_database, serve
from console_rooms_support import form_key, history, logged_in, patient, post_ok, refusal, session_of
from console_support import unlabelled_controls

CHAIRS, PROVIDERS = ("Chair 1", "Chair 2", "Quiet room"), ("Dr. Rivera", "Dr. Okafor")


@pytest.fixture(scope="module")
def clinic_api(postgres_server_url: str) -> Iterator[ApiServer]:
    with fresh_database(postgres_server_url) as url, serve(url, clinic_chairs=CHAIRS,
                                                           clinic_providers=PROVIDERS) as server:
        yield server


def day_ahead(days: int) -> date:
    return (datetime.now(UTC).astimezone(CLINIC_ZONE) + timedelta(days=days)).date()


def grid(client, day: date, **params):
    page = client.get("/console/schedule", params={"date": day.isoformat(), **params})
    assert page.status_code == 200, page.text
    return page.text


def bookings(html: str) -> dict[str, tuple[str, str, str]]:
    """workflow id → (chair, provider, start) of each booking block on the grid."""
    found = re.findall(r'data-workflow="([\w-]+)" data-kind="\w+" data-chair="([^"]*)" data-provider="([^"]*)" '
                       r'data-start="([\d:T-]+)"', html)
    return {workflow_id: (chair, provider, start) for workflow_id, chair, provider, start in found}


def shown_reason(html: str) -> str:
    """What a refusal says is wrong, as staff read it (without the details for support)."""
    return re.search(r'<span class="what">(.*?)</span>', html, re.S).group(1).replace("&#39;", "'")


def rowspan_of(html: str, workflow_id: str) -> int:
    cell = re.search(rf'<td class="booked" rowspan="(\d+)">\s*<div class="booking[^"]*" data-item="\w+" '
                     rf'data-workflow="{workflow_id}"', html)
    return int(cell.group(1))


def book(client, day: date, workflow_id: str, start: str, chair: str = "Chair 1", provider: str = "Dr. Rivera",
         kind: str = "session", dose: str = "56"):
    key = form_key(grid(client, day))
    return client.post("/console/schedule/book", data={
        "key": key, "view": "day", "date": day.isoformat(), "by": "chair", "workflow": workflow_id, "kind": kind,
        "start": start, "chair": chair, "provider": provider, "dose": dose, "unit": "mg"})


def test_a_session_booked_on_the_grid_sits_in_its_chair_for_its_routes_length(clinic_api: ApiServer) -> None:
    esketamine, _ = patient(clinic_api)
    iv, _ = patient(clinic_api, route="iv_ketamine")
    day = day_ahead(3)
    with logged_in(clinic_api, "coordinator") as client:
        booked = book(client, day, esketamine, f"{day}T09:00")
        assert booked.status_code == 303, booked.text
        assert booked.headers["location"].startswith(f"/console/schedule?view=day&date={day}&by=chair")
        assert book(client, day, iv, f"{day}T09:00", chair="Chair 2", provider="", dose="").status_code == 303
        html = grid(client, day)
    assert bookings(html)[esketamine] == ("Chair 1", "Dr. Rivera", f"{day}T09:00")
    assert rowspan_of(html, esketamine) == 4  # esketamine: 2 h of monitoring, four half hours
    assert rowspan_of(html, iv) == 3  # IV: 40-minute infusion + 30 min = 70 min, three half-hour rows
    assert "09:00–11:00" in html and "09:00–10:10" in html
    assert re.findall(r'<th scope="col">([^<]+)</th>', html) == ["Time", *CHAIRS]
    assert unlabelled_controls(html) == []
    api_view = session_of(clinic_api, esketamine)  # the API tells the same place and length
    assert (api_view["chair"], api_view["provider"], api_view["minutes"]) == ("Chair 1", "Dr. Rivera", 120)


def test_a_free_slot_is_a_link_that_opens_the_booking_form_filled_in(clinic_api: ApiServer) -> None:
    day = day_ahead(4)
    with logged_in(clinic_api, "coordinator") as client:
        html = grid(client, day)
        link = re.search(r'<a class="slot" href="([^"]+)"><span class="sr-only">Book Quiet room, \w+ 14:30</span>',
                         html)
        assert link is not None
        opened = client.get(link.group(1).replace("&amp;", "&"))
    assert opened.status_code == 200
    assert re.search(rf'id="book-start" name="start" required value="{day}T14:30"', opened.text)
    assert re.search(r'<option value="Quiet room" selected>Quiet room</option>', opened.text)
    assert 'id="book-find" name="find" type="search"' in opened.text and "autofocus" in opened.text


def test_the_grid_by_provider_and_the_week_of_one_chair(clinic_api: ApiServer) -> None:
    workflow_id, _ = patient(clinic_api)
    day = day_ahead(5)
    with logged_in(clinic_api, "coordinator") as client:
        assert book(client, day, workflow_id, f"{day}T13:00", chair="Chair 2", provider="Dr. Okafor").status_code == 303
        by_provider = grid(client, day, by="provider")
        week = grid(client, day, view="week", resource="Chair 2")
    assert re.findall(r'<th scope="col">([^<]+)</th>', by_provider)[1:3] == list(PROVIDERS)
    assert workflow_id in bookings(by_provider)
    assert len(re.findall(r'<th scope="col">', week)) == 8  # time + seven days
    assert bookings(week)[workflow_id] == ("Chair 2", "Dr. Okafor", f"{day}T13:00")


def test_a_clash_in_a_chair_is_refused_in_plain_words_and_nothing_is_written(clinic_api: ApiServer) -> None:
    first, _ = patient(clinic_api)
    second, name = patient(clinic_api)
    day = day_ahead(6)
    with logged_in(clinic_api, "coordinator") as client:
        assert book(client, day, first, f"{day}T10:00").status_code == 303
        before = len(history(clinic_api, second))
        refused = book(client, day, second, f"{day}T11:30")
        assert refused.status_code == 409
        what = shown_reason(refused.text)
        assert "Chair 1 is taken" in what and "10:00–12:00" in what
        assert "a chair or room holds one patient at a time" in what and "a time from 12:00" in what
        assert "chair_one_patient" not in what  # the rule id is for support, in the details toggle
        assert "chair_one_patient" in refusal(refused.text)  # … which is there
        assert "Pick a free slot on the grid" in refusal(refused.text)
        assert len(history(clinic_api, second)) == before
        assert second not in bookings(grid(client, day))
        assert book(client, day, second, f"{day}T12:00").status_code == 303  # back-to-back


def test_moving_and_cancelling_from_the_grid(clinic_api: ApiServer) -> None:
    workflow_id, _ = patient(clinic_api)
    day = day_ahead(7)
    with logged_in(clinic_api, "coordinator") as client:
        assert book(client, day, workflow_id, f"{day}T09:00").status_code == 303
        html = grid(client, day)
        change = re.search(r'class="change-link" href="([^"]+)">Move or cancel', html).group(1).replace("&amp;", "&")
        panel = client.get(change).text
        assert 'id="move-start"' in panel
        slot = re.search(r'<a class="slot" href="([^"]+)"><span class="sr-only">Move here: Chair 2, 15:00', panel)
        chosen = client.get(slot.group(1).replace("&amp;", "&")).text
        assert re.search(rf'id="move-start" name="start" required autofocus\s+value="{day}T15:00"', chosen)
        data = {"key": form_key(chosen), "view": "day", "date": day.isoformat(), "by": "chair",
                "start": f"{day}T15:00", "chair": "Chair 2", "provider": ""}
        moved = client.post(f"/console/schedule/{workflow_id}/session/s1/move", data=data)
        assert moved.status_code == 303, moved.text
        assert bookings(grid(client, day))[workflow_id] == ("Chair 2", "Dr. Rivera", f"{day}T15:00")
        cancelled = client.post(f"/console/schedule/{workflow_id}/session/s1/cancel",
                                data={"key": form_key(grid(client, day)), "view": "day", "date": day.isoformat(),
                                      "reason": "patient asked"})
        assert cancelled.status_code == 303
        assert workflow_id not in bookings(grid(client, day))
    assert [e["type"] for e in history(clinic_api, workflow_id)][-3:] == [
        "session.scheduled", "session.rescheduled", "session.cancelled"]


def test_a_chair_the_clinic_does_not_list_is_refused_naming_the_ones_it_does(clinic_api: ApiServer) -> None:
    workflow_id, _ = patient(clinic_api)
    day = day_ahead(8)
    with logged_in(clinic_api, "coordinator") as client:
        refused = book(client, day, workflow_id, f"{day}T09:00", chair="Chair 9")
    assert refused.status_code == 422
    assert "Chair 9 is not one of this clinic's chairs or rooms (Chair 1, Chair 2, Quiet room)." in refusal(refused.text)


def test_bad_addresses_answer_400_with_the_reason(clinic_api: ApiServer) -> None:
    with logged_in(clinic_api, "coordinator") as client:
        for params, reason in (({"date": "9999-12-31"}, "The calendar shows the years"),
                               ({"date": "tomorrow"}, "The date must be written YYYY-MM-DD"),
                               ({"by": "room"}, "by chair or by provider")):
            page = client.get("/console/schedule", params=params)
            assert page.status_code == 400 and reason in page.text


def test_the_grid_needs_a_staff_login_and_ops_do_not_see_patients(clinic_api: ApiServer) -> None:
    workflow_id, name = patient(clinic_api)
    post_ok(clinic_api, workflow_id, "session.scheduled", {"session": "s1", "start": f"{day_ahead(9)}T10:00:00",
                                                           "chair": "Chair 1", "provider": "Dr. Rivera"})
    with logged_in(clinic_api, "ops") as ops:
        page = ops.get("/console/schedule", params={"date": day_ahead(9).isoformat()})
        assert page.status_code == 403 and name not in page.text
    with logged_in(clinic_api, "coordinator") as client:
        assert name in grid(client, day_ahead(9))


def test_the_api_refuses_a_clash_with_the_rule_and_the_reason(clinic_api: ApiServer) -> None:
    first, _ = patient(clinic_api)
    second, _ = patient(clinic_api)
    start = f"{day_ahead(10)}T09:00:00"
    post_ok(clinic_api, first, "session.scheduled", {"session": "s1", "start": start, "chair": "Quiet room",
                                                     "provider": "Dr. Okafor"})
    refused = clinic_api.post_event(second, "session.scheduled", {"session": "s1", "start": start,
                                                                  "chair": "Quiet room", "provider": "Dr. Okafor"})
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert "Quiet room is taken" in error["message"] and "chair_one_patient" in str(error)
