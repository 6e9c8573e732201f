"""The patient page's upcoming messages and "why did this happen" links in a real browser (Playwright on Debian's
Chromium) against `carepath standalone --demo` (SQLite, migrated to head): a booked session's reminders are listed
with when and why; a reminder's "Why" link lands on the booking in the history, whose "Caused" list links back; the
rule opens in its toggle; axe-core finds nothing on the page."""

from __future__ import annotations

import re

from browser_support import axe_violations
from test_console_chair_browser import Api, clinic_time, log_in, new_user, planned_patient
from test_dashboard_browser import chromium, standalone  # noqa: F401

NAME, PHONE = "Browser Why Patient", "+15555550179"


def test_upcoming_messages_and_why_links_on_the_patient_page(chromium, standalone) -> None:  # noqa: F811
    from playwright.sync_api import expect

    base, _admin, log = standalone
    coordinator_token = new_user(log, "Wren Coordinator", "coordinator")
    coordinator = Api(base, coordinator_token)
    clinician = Api(base, new_user(log, "Dr. Haddad", "clinician"))
    workflow_id = planned_patient(coordinator, clinician, NAME, PHONE)
    coordinator.post(workflow_id, "session.scheduled", {"session": "s1", "start": clinic_time(60 * 24 * 4),
                                                        "dose_mg": 56})

    context, page = log_in(chromium, base, coordinator_token)
    try:
        page.goto(f"/console/patients/{workflow_id}")
        upcoming = page.locator("#upcoming")
        expect(upcoming.get_by_role("heading", name="Upcoming messages")).to_be_visible()
        reminders = upcoming.locator("tr.upcoming")
        expect(reminders).to_have_count(4)
        first = reminders.first
        expect(first).to_contain_text(re.compile(r"Reminder of the dosing session on \w{3} \d\d \w{3} \d\d:\d\d"))
        expect(first).to_contain_text("Why: Dosing session booked for")

        first.get_by_role("link", name=re.compile("^Dosing session booked for")).click()
        assert re.search(r"#event-\d+$", page.url)
        booking = page.locator(page.url[page.url.index("#"):])
        expect(booking).to_contain_text("Caused: 3 reminders scheduled")
        booking.get_by_role("link", name="3 reminders scheduled").click()
        assert re.search(r"#timer-[0-9a-f-]{36}$", page.url)
        expect(page.locator(page.url[page.url.index("#"):])).to_contain_text("Reminder of the dosing session")

        rule = first.locator("details.why-rule")
        rule.locator("summary").click()
        expect(rule).to_contain_text("PROTOCOL.md §5 Messages to patients")
        assert axe_violations(page) == [], "the patient page with its upcoming messages and why links"

        # From the worklist, an item's "Why was this raised?" lands on its row on the patient page.
        page.goto("/console/worklist")
        assert axe_violations(page) == [], "the worklist with its why links"
        page.locator("a.why-link").first.click()  # the demo clinic's patients have open items
        assert re.search(r"/console/patients/[0-9a-f-]{36}#escalation-[0-9a-f-]{36}$", page.url)
        expect(page.locator(page.url[page.url.index("#"):])).to_contain_text("Why: ")
    finally:
        context.close()
    assert NAME not in log.read_text() and PHONE not in log.read_text(), "no patient data in the logs"
