"""Live panels and the outcomes page in a real browser (Playwright on Debian's Chromium) against
`carepath standalone --demo`, its dashboard updating every 2 seconds.

The overview keeps itself up to date without reloading: a resolution note being typed survives the updates while the
other panels show what changed meanwhile; without JavaScript a Refresh link does the same by hand. The outcomes page
and the larger trend pass axe-core.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from browser_support import axe_violations, new_staff, sign_in
from test_dashboard_browser import LAPTOP, ROOT, UPDATE_SCREENSHOTS, chromium, standalone  # noqa: F401

STANDALONE_ENV = {"CAREPATH_DASHBOARD_REFRESH_SECONDS": "2"}
NOTE = "Called the patient back; they are safe at home"


def shot(tmp_path: Path, name: str) -> Path:
    return ROOT / "docs" / name if UPDATE_SCREENSHOTS else tmp_path / name


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


def treated(base: str, coordinator: str, clinician: str, phone: str, pcl5: tuple[int, int], phq9: tuple[int, int]) -> None:
    """A synthetic patient through the API: evaluated for IV ketamine, baseline scores, a first session booked and
    attended, then later scores (`pcl5`, `phq9`: baseline and latest totals)."""
    def post(token: str, path: str, body: dict) -> dict:
        answer = httpx.post(f"{base}{path}", json=body, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code in (200, 201), answer.text
        return answer.json()

    soon = (datetime.now(UTC) + timedelta(hours=2)).isoformat(timespec="seconds")
    workflow = post(coordinator, "/v1/referrals", {"patient": {"name": f"Outcome Patient {phone[-2:]}", "phone": phone,
                                                               "sms_consent": True},
                                                   "referrer": "Dr. Demo", "prior_treatments": 3})["workflow_id"]
    events = f"/v1/workflows/{workflow}/events"

    def score(instrument: str, total: int, items: int, top: int) -> None:
        answers = [min(top, max(0, total - top * i)) for i in range(items)] + [0] * (instrument == "phq9")  # item 9: 0
        post(clinician, events, {"type": "assessment.submitted", "data": {"instrument": instrument, "answers": answers}})

    post(coordinator, events, {"type": "evaluation.scheduled", "data": {"start": soon}})
    post(clinician, events, {"type": "evaluation.completed",
                             "data": {"eligible": True, "route": "iv_ketamine", "weight_kg": 70,
                                      "brought_forward": "test cohort"}})
    score("pcl5", pcl5[0], 20, 4)
    score("phq9", phq9[0], 8, 3)
    post(coordinator, events, {"type": "session.scheduled", "data": {"session": "iv1", "start": soon}})
    post(coordinator, events, {"type": "session.arrived", "data": {"session": "iv1"}})
    score("pcl5", pcl5[1], 20, 4)
    score("phq9", phq9[1], 8, 3)


def test_the_outcomes_page_and_the_larger_trend_pass_axe(chromium, standalone, tmp_path) -> None:  # noqa: F811
    from playwright.sync_api import expect

    base, _admin, log = standalone
    coordinator = new_staff(log, "Outcomes Coordinator", "coordinator", token=True)
    clinician = new_staff(log, "Outcomes Clinician", "clinician", token=True)
    # PCL-5 response for the first two (40 %, 30 %), remission for the first (28 < 33); PHQ-9 response for the first.
    for phone, pcl5, phq9 in (("+15555550181", (47, 28), (18, 8)), ("+15555550182", (50, 35), (12, 9)),
                              ("+15555550183", (52, 50), (15, 14))):
        treated(base, coordinator.token, clinician.token, phone, pcl5, phq9)
    context = chromium.new_context(viewport=LAPTOP, base_url=base)
    try:
        page = context.new_page()
        sign_in(page, clinician)
        page.get_by_role("link", name="Outcomes").click()
        expect(page.get_by_role("heading", name="Outcomes", level=1)).to_be_visible()
        expect(page.get_by_role("img", name="Patients by stage")).to_be_visible()
        expect(page.get_by_role("img", name="Response, remission and missed sessions")).to_contain_text(
            "PCL-5 response: 67 %")
        page.screenshot(path=str(shot(tmp_path, "console-outcomes.png")), full_page=True)
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
