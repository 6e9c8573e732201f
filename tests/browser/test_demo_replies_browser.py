"""A newcomer's first minutes of `carepath standalone --demo` in Chromium: the demo's patients text back.

With the demo's simulated patients on (as `make run` has them), Demo Patient One asks the front desk a question a few
seconds after the start, Demo Patient Two answers the check-in after yesterday's session, and Demo Patient Three the
reminder of the session booked later today. The texts are in the staff inbox and on the patient's page, which pass
axe-core, and the server's log names no patient.
"""

from __future__ import annotations

import time

from browser_support import axe_violations, new_staff, sign_in
from process_support import zone_where_it_is_midday
from test_dashboard_browser import LAPTOP, chromium, standalone  # noqa: F401

# About noon in the clinic, so the seeded reminders are not held for quiet hours; answers a second after each text.
STANDALONE_ENV = {"CAREPATH_DEMO_REPLIES": "true", "CAREPATH_DEMO_REPLY_SECONDS": "1",
                  "CAREPATH_CLINIC_TIMEZONE": zone_where_it_is_midday()}
QUESTION = "do I need to bring anything to my first appointment?"
FIRST_REMINDER_WAIT = 150  # seconds: the seed's reminder leaves 45 s after the start, then two answers


def reload_until(page, locator, seconds: float) -> None:
    """The inbox is a plain page: reload it until `locator` shows (the patients answer on their own time)."""
    deadline = time.monotonic() + seconds
    while locator.count() == 0:
        assert time.monotonic() < deadline, f"not in the inbox after {seconds} s"
        time.sleep(2)
        page.reload()


def test_the_demo_patients_text_back_into_the_inbox(chromium, standalone) -> None:  # noqa: F811
    from playwright.sync_api import expect

    base, _admin, log = standalone
    context = chromium.new_context(viewport=LAPTOP, base_url=base)
    try:
        page = context.new_page()
        sign_in(page, new_staff(log, "Casey Demo Inbox", "coordinator"))
        page.goto("/console/inbox?show=all")
        question = page.locator("table.inbox tbody tr", has_text=QUESTION)
        reload_until(page, question, 60)
        expect(question).to_contain_text("Demo Patient One")
        expect(question).to_contain_text("could not be read as an answer")
        checkin = page.locator("table.inbox tbody tr", has_text="Demo Patient Two").filter(
            has_text="a number answering the open question")
        reload_until(page, checkin, 60)

        confirmed = page.locator("table.inbox tbody tr", has_text="Demo Patient Three").filter(
            has_text="a number answering the open question")
        reload_until(page, confirmed, FIRST_REMINDER_WAIT)
        assert axe_violations(page) == [], "the inbox with the demo's texts"

        confirmed.get_by_role("link", name="Demo Patient Three").click()
        expect(page.locator(".timeline li[data-type='sms.received']").first).to_be_visible()
        expect(page.locator("tr[data-session='iv1']")).to_contain_text("confirmed")  # the patient's 1, read as such
        expect(page.locator("#messages")).to_contain_text("is confirmed")  # and the clinic's thanks went out
        assert axe_violations(page) == [], "the patient's page with the answers"
    finally:
        context.close()
    text = log.read_text()
    assert "Demo Patient" not in text and "+15555550103" not in text, "no patient names or numbers in the log"
    assert "sms received from a simulated phone" in text, "the console shows the answers, by id"
