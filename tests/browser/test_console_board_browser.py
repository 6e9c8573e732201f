"""The chair board in a real browser (Playwright on Debian's Chromium) against `carepath standalone --demo`, its pages
updating every 2 seconds.

A clinician keeps the board open. A patient checked in earlier shows there waiting for the dose; a second one, dosed an
hour ago with no post-dose reading, shows the overdue alert. When the first patient's dose is recorded elsewhere (here
through the API, as a colleague at the chair would), the board shows them dosed with a ticking countdown to the earliest
discharge, without reloading the page and with the clinic switcher's unsent choice intact. The board passes axe-core.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from browser_support import axe_violations, new_staff, sign_in
from test_dashboard_browser import LAPTOP, ROOT, UPDATE_SCREENSHOTS, chromium, standalone  # noqa: F401

STANDALONE_ENV = {"CAREPATH_DASHBOARD_REFRESH_SECONDS": "2"}
WAITING, LATE, READY, JUST_IN = ("Board Waiting Patient", "Board Overdue Patient", "Board Ready Patient",
                                 "Board Arrival Patient")


def shot(tmp_path: Path, name: str) -> Path:
    return ROOT / "docs" / name if UPDATE_SCREENSHOTS else tmp_path / name


def ago(minutes: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat(timespec="seconds")


class Api:
    """The HTTP API with one user's token."""

    def __init__(self, base: str, token: str) -> None:
        self.client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def post(self, workflow_id: str, event_type: str, data: dict, at: str | None = None) -> None:
        body = {"type": event_type, "data": data, **({"occurred_at": at} if at else {})}
        response = self.client.post(f"/v1/workflows/{workflow_id}/events", json=body)
        assert response.status_code == 200, response.text


def checked_in(coordinator: Api, clinician: Api, name: str, phone: str, arrived_minutes_ago: float) -> str:
    """An esketamine patient through the API: evaluated, enrolled in REMS, session s1 booked now and checked in."""
    body = {"patient": {"name": name, "phone": phone, "sms_consent": True}, "referrer": "Dr. Demo",
            "prior_treatments": 3}
    answer = coordinator.client.post("/v1/referrals", json=body)
    assert answer.status_code == 201, answer.text
    workflow_id = answer.json()["workflow_id"]
    coordinator.post(workflow_id, "evaluation.scheduled", {"start": ago(-60 * 24)})
    clinician.post(workflow_id, "evaluation.completed", {"eligible": True, "route": "esketamine", "weight_kg": 75,
                                                         "brought_forward": "seen early"})
    coordinator.post(workflow_id, "rems.enrolled", {"enrollment_id": "REMS-BOARD"})
    # Booked for a few minutes from now (a booking is never in the past); the arrival is charted when it happened.
    coordinator.post(workflow_id, "session.scheduled", {"session": "s1", "start": ago(-5), "dose_mg": 56})
    coordinator.post(workflow_id, "session.arrived", {"session": "s1"}, at=ago(arrived_minutes_ago))
    clinician.post(workflow_id, "vitals.recorded", {"session": "s1", "phase": "pre_dose", "systolic": 124,
                                                    "diastolic": 80, "heart_rate": 70, "spo2": 98},
                   at=ago(arrived_minutes_ago - 2))
    return workflow_id


def dose(clinician: Api, workflow_id: str, minutes_ago: float | None = None) -> None:
    clinician.post(workflow_id, "dose.administered", {"session": "s1", "dose_mg": 56, "ride_confirmed": True,
                                                      "fasting_confirmed": True},
                   at=ago(minutes_ago) if minutes_ago else None)


def test_the_board_updates_live_when_a_dose_is_recorded_elsewhere(chromium, standalone, tmp_path) -> None:  # noqa: F811
    from playwright.sync_api import expect

    base, _admin, log = standalone
    coordinator = Api(base, new_staff(log, "Board Coordinator", "coordinator", token=True).token)
    colleague = Api(base, new_staff(log, "Board Colleague", "clinician", token=True).token)
    waiting = checked_in(coordinator, colleague, WAITING, "+15555550187", 10)
    late = checked_in(coordinator, colleague, LATE, "+15555550188", 70)
    dose(colleague, late, 60)  # no post-dose reading: it was due 35-50 min after the dose
    ready = checked_in(coordinator, colleague, READY, "+15555550186", 135)
    dose(colleague, ready, 125)
    for phase, minutes_ago in (("post_dose", 85), ("pre_discharge", 5)):
        colleague.post(ready, "vitals.recorded", {"session": "s1", "phase": phase, "systolic": 118, "diastolic": 76,
                                                  "heart_rate": 68, "spo2": 98}, at=ago(minutes_ago))
    checked_in(coordinator, colleague, JUST_IN, "+15555550185", 3)

    viewer = new_staff(log, "Board Clinician", "clinician")
    context = chromium.new_context(viewport=LAPTOP, base_url=base)
    try:
        page = context.new_page()
        sign_in(page, viewer)
        page.get_by_role("link", name="Chair board").click()
        expect(page.get_by_role("heading", name="Chair board", level=1)).to_be_visible()
        row = page.locator(f'tr[data-session="{waiting}/s1"]')
        expect(row).to_contain_text("Arrived, waiting for the dose")
        expect(row).to_contain_text("Ride home: to confirm with the dose")
        overdue = page.locator(f'tr[data-session="{late}/s1"]')
        expect(overdue).to_contain_text("Overdue")
        expect(page.get_by_role("alert")).to_contain_text(f"Post-dose BP for {LATE}")
        expect(page.locator(f'tr[data-session="{ready}/s1"]')).to_contain_text("Ready for discharge")
        assert axe_violations(page) == [], "the chair board"
        late_left = overdue.locator(".countdown-left")  # under an hour left: the countdown shows seconds, and moves
        expect(late_left).to_have_text(re.compile(r"^in \d+m \d+s$"))
        expect(late_left).not_to_have_text(late_left.inner_text(), timeout=5_000)

        page.evaluate("window.stillTheSamePage = true")  # gone if the page reloads
        switcher = page.get_by_label("Clinic", exact=True)
        shown = switcher.input_value()
        switcher.select_option(label="Westside demo clinic")  # chosen, not sent: a reload would undo it

        dose(colleague, waiting)  # a colleague records the dose at the chair
        expect(row).to_contain_text("Dosed", timeout=10_000)
        expect(row).to_contain_text("Post-dose BP: due")
        left = row.locator(".countdown-left")
        expect(left).to_have_text(re.compile(r"^in (1h 5\dm|2h 0m|1h 59m)$"))
        page.wait_for_timeout(2_500)  # one more update after that
        assert page.evaluate("window.stillTheSamePage") is True, "the page was not reloaded"
        expect(switcher).to_have_value("west")
        expect(page.get_by_role("alert")).to_contain_text(f"Post-dose BP for {LATE}")

        switcher.select_option(shown)  # as it was, for the screenshot
        page.get_by_role("link", name=WAITING).click()  # each row opens that patient's chair
        expect(page).to_have_url(f"{base}/console/chair/{waiting}/s1")
        page.go_back()
        expect(row).to_contain_text("Dosed")
        page.screenshot(path=str(shot(tmp_path, "console-board.png")), full_page=True)
        assert axe_violations(page) == [], "the chair board after live updates"
    finally:
        context.close()


def test_without_javascript_the_board_shows_the_time_left(chromium, standalone) -> None:  # noqa: F811
    from playwright.sync_api import expect

    base, _admin, log = standalone
    coordinator = Api(base, new_staff(log, "No Script Coordinator", "coordinator", token=True).token)
    colleague = Api(base, new_staff(log, "No Script Colleague", "clinician", token=True).token)
    workflow_id = checked_in(coordinator, colleague, "Board No Script Patient", "+15555550189", 30)
    dose(colleague, workflow_id, 20)
    viewer = new_staff(log, "Board No Script", "clinician")
    context = chromium.new_context(viewport=LAPTOP, base_url=base, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, viewer)
        page.goto("/console/board")
        row = page.locator(f'tr[data-session="{workflow_id}/s1"]')
        expect(row.locator(".countdown-left")).to_have_text(re.compile(r"^in 1h (3\d|4\d)m$"))  # 2 h after the dose
        page.get_by_role("link", name="Refresh").click()
        expect(page).to_have_url(f"{base}/console/board")
    finally:
        context.close()
