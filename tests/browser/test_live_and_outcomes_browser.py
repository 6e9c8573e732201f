"""Live panels and the outcomes page in a real browser (Playwright on Debian's Chromium) against
`carepath standalone --demo`, its dashboard updating every 2 seconds.

The overview keeps itself up to date without reloading: a resolution note being typed survives the updates while the
other panels show what changed meanwhile; without JavaScript a Refresh link does the same by hand. The outcomes page
and the larger trend pass axe-core.
"""

from __future__ import annotations

import re

import httpx
from browser_support import axe_violations, new_staff, sign_in
from test_dashboard_browser import LAPTOP, chromium, standalone  # noqa: F401

STANDALONE_ENV = {"CAREPATH_DASHBOARD_REFRESH_SECONDS": "2"}
NOTE = "Called the patient back; they are safe at home"


def test_a_note_being_typed_survives_the_live_updates(chromium, standalone) -> None:  # noqa: F811
    from playwright.sync_api import expect

    base, admin, log = standalone
    coordinator = new_staff(log, "Live Coordinator", "coordinator", token=True)
    context = chromium.new_context(viewport=LAPTOP, base_url=base)
    try:
        page = context.new_page()
        sign_in(page, admin)
        page.goto("/dashboard")
        page.evaluate("window.stillTheSamePage = true")  # gone if the page reloads
        row = page.locator("#worklist tr[data-escalation]", has_text="phq9 item9")
        note = row.get_by_label("Resolution note")
        note.fill(NOTE)
        page.get_by_role("heading", name="Clinic operations").click()  # focus elsewhere: the text alone holds the panel

        # Meanwhile a referral arrives: the recently-changed panel shows it within a few updates, without a reload.
        referral = {"patient": {"name": "Live Update Patient", "phone": "+15555550177", "sms_consent": True},
                    "referrer": "Dr. Demo", "reason": "synthetic test referral", "prior_treatments": 3}
        answer = httpx.post(f"{base}/v1/referrals", json=referral,
                            headers={"Authorization": f"Bearer {coordinator.token}"})
        assert answer.status_code == 201, answer.text
        expect(page.locator("#recent")).to_contain_text("Live Update Patient", timeout=10_000)
        page.wait_for_timeout(2_500)  # and one more update after that

        assert page.evaluate("window.stillTheSamePage") is True, "the page was not reloaded"
        expect(note).to_have_value(NOTE)  # the worklist waited for the note
        assert axe_violations(page) == [], "the overview after live updates"

        row.get_by_role("button", name=re.compile("^Resolve")).click()
        expect(page.get_by_role("status")).to_have_text("Escalation resolved.")
    finally:
        context.close()


def test_without_javascript_the_refresh_link_updates_the_overview(chromium, standalone) -> None:  # noqa: F811
    from playwright.sync_api import expect

    base, admin, log = standalone
    context = chromium.new_context(viewport=LAPTOP, base_url=base, java_script_enabled=False)
    try:
        page = context.new_page()
        staff = new_staff(log, "No Script Ops", "ops")
        sign_in(page, staff)
        page.goto("/dashboard")
        page.get_by_role("link", name="Refresh").click()
        expect(page).to_have_url(f"{base}/dashboard")
        expect(page.get_by_role("heading", name="Clinic operations")).to_be_visible()
        expect(page.get_by_role("link", name="Outcomes")).to_have_count(0)  # ops: not theirs
    finally:
        context.close()


def test_the_outcomes_page_and_the_larger_trend_pass_axe(chromium, standalone) -> None:  # noqa: F811
    from playwright.sync_api import expect

    base, _admin, log = standalone
    clinician = new_staff(log, "Outcomes Clinician", "clinician")
    context = chromium.new_context(viewport=LAPTOP, base_url=base)
    try:
        page = context.new_page()
        sign_in(page, clinician)
        page.get_by_role("link", name="Outcomes").click()
        expect(page.get_by_role("heading", name="Outcomes", level=1)).to_be_visible()
        expect(page.get_by_role("img", name="Patients by stage")).to_be_visible()
        assert axe_violations(page) == [], "the outcomes page"

        page.get_by_label("Route", exact=True).select_option("esketamine")
        page.get_by_role("button", name="Show outcomes").click()
        expect(page).to_have_url(re.compile(r"/console/outcomes\?.*route=esketamine"))
        with page.expect_download() as download:
            page.get_by_role("link", name="Download as CSV").click()
        assert download.value.suggested_filename.startswith("outcomes-")

        page.goto("/console/patients")
        page.get_by_role("link", name="Demo Patient Three").click()
        chart = page.get_by_role("img", name="PCL-5 and PHQ-9 scores over time")
        expect(chart).to_be_visible()
        assert chart.bounding_box()["width"] > 700, "the trend is drawn large (it was 560 px wide)"
        expect(page.locator("svg.trend desc")).to_contain_text("remission: below")
        assert axe_violations(page) == [], "the patient's page with the larger trend"
    finally:
        context.close()
