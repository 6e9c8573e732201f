"""The calendar and the chair in a real browser (Playwright on Debian's Chromium) against `carepath standalone --demo`.

A coordinator books a session from the calendar; a clinician, at the chair, records arrival, vitals and the dose, sees
a dose without a ride home refused, sees an early discharge refused with its reason, then discharges.

Time is real: the server's clock is not touched. The chair's forms take the time a thing happened (blank is now, never
in the future), because clinicians chart from the flowsheet after the fact; the clinician here charts a visit that began
a little over two hours ago, so the minimum monitoring time has really passed when the discharge is recorded.
A second patient, dosed just now, shows the countdown and a refusal at the real time (the committed screenshot).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from browser_support import axe_violations, new_staff, sign_in
from signin_support import Staff
from test_dashboard_browser import LAPTOP, ROOT, UPDATE_SCREENSHOTS, chromium, standalone  # noqa: F401

CLINIC = ZoneInfo(os.environ.get("CAREPATH_CLINIC_TIMEZONE", "America/New_York"))
TABLET = {"width": 1024, "height": 768}
NAME, PHONE = "Browser Chair Patient", "+15555550177"
SECOND, SECOND_PHONE = "Browser Countdown Patient", "+15555550178"


def shot(tmp_path: Path, name: str) -> Path:
    return ROOT / "docs" / name if UPDATE_SCREENSHOTS else tmp_path / name


def clinic_time(minutes_from_now: float) -> str:
    """A datetime-local value in clinic time (what a clinician types)."""
    moment = datetime.now(UTC) + timedelta(minutes=minutes_from_now)
    return moment.astimezone(CLINIC).strftime("%Y-%m-%dT%H:%M")


def new_user(log: Path, name: str, role: str) -> Staff:
    """An account made with `carepath users create` on the standalone's database, with an API token."""
    return new_staff(log, name, role, token=True)


class Api:
    """The HTTP API with one user's token: the steps that came before the calendar (referral, evaluation, REMS)."""

    def __init__(self, base: str, staff: Staff) -> None:
        self.client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {staff.token}"}, timeout=30)

    def referral(self, name: str, phone: str) -> str:
        body = {"patient": {"name": name, "phone": phone, "sms_consent": True}, "referrer": "Dr. Demo",
                "prior_treatments": 3}
        response = self.client.post("/v1/referrals", json=body)
        assert response.status_code == 201, response.text
        return response.json()["workflow_id"]

    def post(self, workflow_id: str, event_type: str, data: dict) -> None:
        response = self.client.post(f"/v1/workflows/{workflow_id}/events", json={"type": event_type, "data": data})
        assert response.status_code == 200, response.text


def planned_patient(coordinator: Api, clinician: Api, name: str, phone: str) -> str:
    """Referral, evaluation booked and completed (esketamine, eligible), REMS enrollment on file: treatment_planned."""
    workflow_id = coordinator.referral(name, phone)
    coordinator.post(workflow_id, "evaluation.scheduled", {"start": clinic_time(60 * 24)})
    clinician.post(workflow_id, "evaluation.completed", {"eligible": True, "route": "esketamine", "weight_kg": 80,
                                                          "brought_forward": "seen early"})
    coordinator.post(workflow_id, "rems.enrolled", {"enrollment_id": "REMS-BROWSER"})
    return workflow_id


def log_in(chromium, base: str, staff: Staff, viewport: dict = LAPTOP):  # noqa: F811
    context = chromium.new_context(viewport=viewport, base_url=base)
    page = context.new_page()
    sign_in(page, staff)
    return context, page


def test_book_from_the_calendar_then_dose_and_discharge_at_the_chair(chromium, standalone, tmp_path) -> None:  # noqa: F811
    from playwright.sync_api import expect

    base, _admin, log = standalone
    coordinator_token, clinician_token = new_user(log, "Casey Coordinator", "coordinator"), new_user(log, "Dr. Rivera",
                                                                                                     "clinician")
    coordinator, clinician = Api(base, coordinator_token), Api(base, clinician_token)
    workflow_id = planned_patient(coordinator, clinician, NAME, PHONE)

    # The coordinator books the first session from the calendar, a few minutes from now.
    context, page = log_in(chromium, base, coordinator_token)
    try:
        page.get_by_role("link", name="Calendar", exact=True).click()
        expect(page.get_by_role("heading", name=re.compile("^Calendar"))).to_be_visible()
        page.get_by_label("Name or id").fill(NAME.split()[-1])  # the picker: found by name, posted, never listed whole
        page.get_by_role("button", name="Find", exact=True).click()
        page.get_by_label("Patient", exact=True).select_option(label=f"{NAME} (treatment planned)")
        page.get_by_label("What").select_option(label="dosing session")
        page.get_by_label("Starts").fill(clinic_time(20))
        page.get_by_label("Planned dose").fill("30")  # not an esketamine dose: refused, in words
        page.get_by_role("button", name="Book", exact=True).click()
        expect(page.get_by_role("alert")).to_contain_text("Dose 30 mg is not allowed")
        assert axe_violations(page) == [], "the calendar with a refusal"
        page.get_by_label("Planned dose").fill("56")
        page.get_by_role("button", name="Book", exact=True).click()
        expect(page.get_by_role("status")).to_have_text("Booked.")
        item = page.locator(f'li[data-workflow="{workflow_id}"][data-kind="session"]')
        expect(item).to_have_attribute("data-status", "unconfirmed")
        expect(item).to_contain_text(NAME)
        expect(item).to_contain_text("esketamine, 56 mg")
        page.get_by_role("link", name="Week", exact=True).click()
        expect(item).to_have_count(1)
        page.screenshot(path=str(shot(tmp_path, "console-calendar.png")), full_page=True)
        page.set_viewport_size(TABLET)
        assert fits_the_width(page), "the week fits a tablet without scrolling sideways"
        # Coordinators see the chair, but vitals, doses and discharges are a clinician's to record.
        item.get_by_role("link", name="At the chair").click()
        expect(page.get_by_role("heading", name=re.compile("At the chair"))).to_be_visible()
        chair_url = page.url
    finally:
        context.close()

    # The clinician charts the visit from the flowsheet: arrived 130 minutes ago, dosed 125 minutes ago.
    context, page = log_in(chromium, base, clinician_token, viewport=TABLET)
    try:
        page.goto(chair_url)
        page.get_by_label("Time arrived").fill(clinic_time(-130))
        page.get_by_role("button", name="Record arrival").click()
        expect(page.get_by_role("status")).to_have_text("Arrival recorded.")
        record_vitals(page, "pre dose", "124", "80", clinic_time(-128))

        gate = page.locator('tr[data-gate="ride_home"]')
        expect(gate).to_have_attribute("data-state", "open")
        page.get_by_label("Fasting confirmed").check()
        dose_time = clinic_time(-125)
        page.get_by_label("Time given").fill(dose_time)
        page.get_by_role("button", name="Record dose").click()
        expect(page.get_by_role("alert")).to_contain_text("Ride home not confirmed")
        expect(page.locator('tr[data-gate="ride_home"]')).to_have_attribute("data-state", "open")
        expect(page.locator("#session-status")).to_have_text("arrived")

        page.get_by_label("Ride home confirmed").check()  # fasting stayed ticked; the time was kept too
        expect(page.get_by_label("Time given")).to_have_value(dose_time)
        page.get_by_role("button", name="Record dose").click()
        expect(page.get_by_role("status")).to_have_text("Dose recorded.")
        expect(page.locator("#session-status")).to_have_text("dosed")
        record_vitals(page, "post dose", "130", "84", clinic_time(-85))

        # Charting the discharge an hour after the dose: the engine refuses it, with the time it would be allowed.
        page.get_by_label("Sedation resolved").check()
        page.get_by_label("Dissociation resolved").check()
        page.get_by_label("Time of discharge").fill(clinic_time(-65))
        page.get_by_role("button", name="Discharge", exact=True).click()
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("Minimum monitoring time not reached")
        expect(alert).to_contain_text("rule: min_monitoring")
        assert axe_violations(page) == [], "the chair with a refusal"
        expect(page.locator("#session-status")).to_have_text("dosed")

        record_vitals(page, "pre discharge", "118", "76", "")
        expect(page.locator('tr[data-gate="min_monitoring"]')).to_have_attribute("data-state", "passed")
        page.get_by_label("Sedation resolved").check()
        page.get_by_label("Dissociation resolved").check()
        page.get_by_role("button", name="Discharge", exact=True).click()
        expect(page.get_by_role("status")).to_have_text("Patient discharged.")
        expect(page.locator("#session-status")).to_have_text("discharged")
        expect(page.locator("tr[data-state=open]")).to_have_count(0)
        assert fits_the_width(page), "the chair fits a tablet without scrolling sideways"
    finally:
        context.close()
    assert NAME not in log.read_text() and PHONE not in log.read_text(), "no patient data in the logs"


def test_a_patient_dosed_just_now_sees_the_countdown_and_an_early_discharge_refused(chromium, standalone,  # noqa: F811
                                                                                      tmp_path) -> None:
    from playwright.sync_api import expect

    base, _admin, log = standalone
    coordinator = Api(base, new_user(log, "Sam Coordinator", "coordinator"))
    clinician_token = new_user(log, "Dr. Okafor", "clinician")
    clinician = Api(base, clinician_token)
    workflow_id = planned_patient(coordinator, clinician, SECOND, SECOND_PHONE)
    coordinator.post(workflow_id, "session.scheduled", {"session": "s1", "start": clinic_time(10), "dose_mg": 56})
    coordinator.post(workflow_id, "session.arrived", {"session": "s1"})
    clinician.post(workflow_id, "vitals.recorded", {"session": "s1", "phase": "pre_dose", "systolic": 126,
                                                    "diastolic": 82, "heart_rate": 70, "spo2": 98})
    clinician.post(workflow_id, "dose.administered", {"session": "s1", "dose_mg": 56, "ride_confirmed": True,
                                                      "fasting_confirmed": True})

    context, page = log_in(chromium, base, clinician_token)
    try:
        page.goto(f"/console/chair/{workflow_id}/s1")
        expect(page.locator("#countdown-left")).to_have_text(re.compile(r"^in (1h 5\dm|2h 0m)$"))
        for gate in ("min_monitoring", "bp_post_dose", "bp_pre_discharge"):
            expect(page.locator(f'tr[data-gate="{gate}"]')).to_have_attribute("data-state", "open")
        page.get_by_label("Sedation resolved").check()
        page.get_by_label("Dissociation resolved").check()
        page.get_by_role("button", name="Discharge", exact=True).click()
        expect(page.get_by_role("alert")).to_contain_text("Minimum monitoring time not reached")
        expect(page.locator("#session-status")).to_have_text("dosed")
        page.screenshot(path=str(shot(tmp_path, "console-chair.png")), full_page=True)
    finally:
        context.close()


def fits_the_width(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def record_vitals(page, phase: str, systolic: str, diastolic: str, at: str) -> None:
    from playwright.sync_api import expect

    page.get_by_label("Phase").select_option(label=phase)
    page.get_by_label("Systolic").fill(systolic)
    page.get_by_label("Diastolic").fill(diastolic)
    page.get_by_label("Heart rate").fill("72")
    page.get_by_label("SpO₂").fill("98")
    if at:
        page.get_by_label("Time taken").fill(at)
    page.get_by_role("button", name="Record vitals").click()
    expect(page.get_by_role("status")).to_have_text("Vitals recorded.")
