"""A clinic day, click by click in Chromium against `carepath standalone --demo`, as the README's walk-through tells it.

A coordinator books an esketamine session from a free slot of the schedule grid. A clinician charts the visit at the
chair from the flowsheet (it began about two hours ago), watches the chair board count down to the earliest discharge,
records the readings to discharge, prints the REMS Patient Monitoring Form (and its PDF) and marks it submitted, then
reads the outcomes, where the patient now counts. Time is real: the dose is charted just under two hours ago, so the
board's countdown has a minute or so left, and the discharge is recorded once it has run out.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from browser_support import axe_violations
from test_console_chair_browser import CLINIC, Api, clinic_time, log_in, new_user, planned_patient
from test_dashboard_browser import chromium, standalone  # noqa: F401
from test_rems_form_browser import record

NAME, PHONE = "Clinic Day Patient", "+15555550186"
PCL5_BASELINE = [3] * 16 + [2] * 4  # 56
PHQ9_BASELINE = [2, 2, 2, 2, 2, 1, 1, 1, 0]


def dosed_just_under_two_hours_ago() -> str:
    """A datetime-local value (whole minutes, as the field holds) about two hours ago in clinic time, such that the
    earliest discharge, two hours after it, is 45 to 105 seconds away: long enough to see the board count down."""
    moment = (datetime.now(UTC) - timedelta(minutes=120) + timedelta(seconds=105)).astimezone(CLINIC)
    return moment.strftime("%Y-%m-%dT%H:%M")


def free_slot(page):
    """The first free half hour in Chair 2 still to come: today's grid, or the next day's late in the evening."""
    today = datetime.now(UTC).astimezone(ZoneInfo(str(CLINIC))).date()
    for day in (today, today + timedelta(days=1)):
        page.goto(f"/console/schedule?view=day&date={day.isoformat()}")
        slots = page.get_by_role("link", name=re.compile(r"^Book Chair 2, "))
        if slots.count():
            return slots.first
    raise AssertionError("no free half hour in Chair 2 today or tomorrow")


def test_a_clinic_day_grid_dose_board_discharge_rems_form_and_outcomes(chromium, standalone) -> None:  # noqa: F811
    from playwright.sync_api import expect

    base, _admin, log = standalone
    coordinator_staff, clinician_staff = new_user(log, "Day Coordinator", "coordinator"), new_user(log, "Dr. Day",
                                                                                                   "clinician")
    coordinator, clinician = Api(base, coordinator_staff), Api(base, clinician_staff)
    workflow_id = planned_patient(coordinator, clinician, NAME, PHONE)
    clinician.post(workflow_id, "assessment.submitted", {"instrument": "pcl5", "answers": PCL5_BASELINE})
    clinician.post(workflow_id, "assessment.submitted", {"instrument": "phq9", "answers": PHQ9_BASELINE})

    # 1. The coordinator books a free slot of the grid.
    context, page = log_in(chromium, base, coordinator_staff)
    try:
        page.get_by_role("link", name="Schedule", exact=True).click()
        free_slot(page).click()
        page.get_by_label("Name or id").fill(NAME)
        page.get_by_role("button", name="Find", exact=True).click()
        expect(page.get_by_label("Patient", exact=True)).to_have_value(workflow_id)
        page.get_by_label("Provider", exact=True).select_option(label="Dr. Rivera")
        page.get_by_label("Planned dose").fill("56")
        page.get_by_role("button", name="Book", exact=True).click()
        expect(page.get_by_role("status")).to_have_text("Booked.")
        booking = page.locator(f'.booking[data-workflow="{workflow_id}"]')
        expect(booking).to_have_attribute("data-chair", "Chair 2")
        chair_url = booking.get_by_role("link", name=re.compile("^At the chair")).get_attribute("href")
    finally:
        context.close()

    # 2. The clinician charts arrival, the pre-dose reading and the dose, then watches the board count down.
    context, page = log_in(chromium, base, clinician_staff)
    try:
        page.goto(chair_url)
        page.get_by_label("Time arrived").fill(clinic_time(-130))
        page.get_by_role("button", name="Record arrival").click()
        expect(page.get_by_role("status")).to_have_text("Arrival recorded.")
        record(page, "pre dose", "124", "80", "98", clinic_time(-128))
        page.get_by_label("Ride home confirmed").check()
        page.get_by_label("Fasting confirmed").check()
        dosed_at = dosed_just_under_two_hours_ago()
        page.get_by_label("Time given").fill(dosed_at)
        page.get_by_role("button", name="Record dose").click()
        expect(page.get_by_role("status")).to_have_text("Dose recorded.")
        post_dose = (datetime.fromisoformat(dosed_at) + timedelta(minutes=40)).strftime("%Y-%m-%dT%H:%M")
        record(page, "post dose", "130", "84", "97", post_dose, breathing="Normal", sedation="Present",
               dissociation="Present")

        page.get_by_role("link", name="Chair board").click()
        row = page.locator(f'tr[data-session="{chair_url.removeprefix("/console/chair/")}"]')
        expect(row).to_contain_text(NAME)
        expect(row).to_contain_text("Chair 2")
        left = row.locator(".countdown-left")
        expect(left).to_have_class(re.compile(r"\bopen\b"))
        shown = left.inner_text()
        expect(left).not_to_have_text(shown, timeout=5_000)  # it ticks, without a reload
        assert axe_violations(page) == [], "the chair board counting down"
        expect(left).to_have_text("reached", timeout=120_000)  # the two hours are up

        # 3. Readings to discharge, then the REMS form: printed, downloaded, marked submitted.
        row.get_by_role("link", name=NAME).click()
        record(page, "pre discharge", "118", "76", "98", "", breathing="Normal", sedation="None seen",
               dissociation="None seen")
        page.get_by_label("Sedation resolved").check()
        page.get_by_label("Dissociation resolved").check()
        page.get_by_role("button", name="Discharge", exact=True).click()
        expect(page.get_by_role("status")).to_have_text("Patient discharged.")

        page.get_by_role("link", name="REMS monitoring form").click()
        expect(page.locator("#field-dose")).to_have_text("56 mg")
        expect(page.locator("#field-clinician")).to_have_text("Dr. Day")
        pdf = page.request.get(page.get_by_role("link", name="Download the PDF").get_attribute("href"))
        assert pdf.ok and pdf.headers["content-type"] == "application/pdf" and pdf.body().startswith(b"%PDF")
        page.emulate_media(media="print")
        assert not page.get_by_role("button", name="Mark submitted").is_visible(), "on paper, the form alone"
        page.emulate_media(media="screen")
        page.get_by_role("button", name="Mark submitted").click()
        expect(page.locator("#deadline")).to_contain_text("Submitted.")

        # 4. The outcomes: the patient counts in the esketamine cohort (scores count from a second one on).
        page.get_by_role("link", name="Outcomes").click()
        page.get_by_label("Route", exact=True).select_option("esketamine")
        page.get_by_role("button", name="Show outcomes").click()
        cohort = page.locator("table.outcomes tbody tr").filter(has_text=re.compile("esketamine", re.I)).first
        expect(cohort).to_contain_text(re.compile(r"Esketamine nasal spray\s+1\s"))  # one patient, this one
        assert axe_violations(page) == [], "the outcomes of the day"
    finally:
        context.close()
    assert NAME not in log.read_text() and PHONE not in log.read_text(), "no patient data in the logs"
