"""The monitoring record and the REMS form in a real browser (Playwright on Debian's Chromium), against
`carepath standalone --demo`.

A clinician charts an esketamine visit at the chair from the flowsheet (it began a little over two hours ago, so the
minimum monitoring time has really passed): SpO₂ with every reading, one of them low, breathing, sedation and
dissociation after the dose, adverse events at discharge. Then the REMS form page shows what was charted, passes
axe-core, and "Mark submitted" closes the form's worklist item.
"""

from __future__ import annotations

import re

from browser_support import axe_violations
from test_console_chair_browser import Api, clinic_time, log_in, new_user, planned_patient, shot
from test_dashboard_browser import chromium, standalone  # noqa: F401

NAME, PHONE = "Browser Rems Patient", "+15555550179"
PORTRAIT_TABLET = {"width": 768, "height": 1024}  # at the chairside


def fits_a_portrait_tablet(page) -> bool:
    """Nothing scrolls sideways at 768 px (a wide table scrolls inside its own region instead)."""
    size = page.viewport_size
    page.set_viewport_size(PORTRAIT_TABLET)
    fits = page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1")
    page.set_viewport_size(size)
    return fits


def record(page, phase: str, systolic: str, diastolic: str, spo2: str, at: str, **seen: str) -> None:
    """One reading in the chair's vitals form; `seen` picks Breathing / Sedation / Dissociation by their labels."""
    from playwright.sync_api import expect

    page.get_by_label("Phase").select_option(label=phase)
    page.get_by_label("Systolic").fill(systolic)
    page.get_by_label("Diastolic").fill(diastolic)
    page.get_by_label("SpO₂").fill(spo2)
    for label, option in seen.items():
        page.get_by_label(label.capitalize(), exact=True).select_option(label=option)
    if at:
        page.get_by_label("Time taken").fill(at)
    page.get_by_role("button", name="Record vitals").click()
    expect(page.get_by_role("status")).to_have_text("Vitals recorded.")


def test_vitals_with_spo2_at_the_chair_fill_the_rems_form_which_is_marked_submitted(chromium, standalone,  # noqa: F811
                                                                                     tmp_path) -> None:
    from playwright.sync_api import expect

    base, _admin, log = standalone
    coordinator = Api(base, new_user(log, "Robin Coordinator", "coordinator"))
    clinician_token = new_user(log, "Dr. Nakamura", "clinician")
    workflow_id = planned_patient(coordinator, Api(base, clinician_token), NAME, PHONE)
    coordinator.post(workflow_id, "session.scheduled", {"session": "s1", "start": clinic_time(10), "dose_mg": 56})

    context, page = log_in(chromium, base, clinician_token)
    try:
        page.goto(f"/console/chair/{workflow_id}/s1")
        page.get_by_label("Time arrived").fill(clinic_time(-130))
        page.get_by_role("button", name="Record arrival").click()
        record(page, "pre dose", "124", "80", "98", clinic_time(-128))
        page.get_by_label("SpO₂").fill("49")  # not a pulse oximetry reading: refused in words, nothing recorded
        page.get_by_label("Systolic").fill("120")
        page.get_by_label("Diastolic").fill("80")
        page.get_by_role("button", name="Record vitals").click()
        expect(page.get_by_role("alert")).to_contain_text("SpO₂ (%): 49% is not a pulse oximetry reading: give a whole"
                                                          " percentage from 50 to 100")
        page.get_by_label("Ride home confirmed").check()
        page.get_by_label("Fasting confirmed").check()
        page.get_by_label("Time given").fill(clinic_time(-125))
        page.get_by_role("button", name="Record dose").click()
        expect(page.get_by_role("status")).to_have_text("Dose recorded.")
        record(page, "post dose", "132", "84", "88", clinic_time(-85), breathing="Normal", sedation="Present",
               dissociation="Present")
        record(page, "pre discharge", "118", "76", "97", "", breathing="Normal", sedation="None seen",
               dissociation="None seen")
        assert axe_violations(page) == [], "the chair with the monitoring record"
        assert fits_a_portrait_tablet(page), "the chair with three readings"
        page.get_by_label("Sedation resolved").check()
        page.get_by_label("Dissociation resolved").check()
        page.get_by_label("Adverse events").fill("mild nausea, settled")
        page.get_by_role("button", name="Discharge", exact=True).click()
        expect(page.get_by_role("status")).to_have_text("Patient discharged.")

        page.get_by_role("link", name="REMS monitoring form").click()
        expect(page.get_by_role("heading", name="SPRAVATO REMS Patient Monitoring Form")).to_be_visible()
        expect(page.locator("#field-enrollment")).to_have_text("REMS-BROWSER")
        expect(page.locator("#field-dose")).to_have_text("56 mg")
        expect(page.locator("#field-bp-post_dose")).to_contain_text("132/84 mmHg at ")
        expect(page.locator("#field-spo2")).to_have_text("88%")
        expect(page.locator("#field-sedation")).to_have_text("yes")
        expect(page.locator("#field-respiratory")).to_have_text("no")
        expect(page.locator("#field-adverse")).to_have_text("mild nausea, settled")
        expect(page.locator("#field-clinician")).to_have_text("Dr. Nakamura")
        deadline = re.compile(r"send it by the end of \w{3} \d{4}-\d\d-\d\d \(overdue from \d{4}-\d\d-\d\d 00:00, clinic time\)")
        expect(page.locator("#deadline")).to_contain_text(deadline)
        assert axe_violations(page) == [], "the REMS form page"
        assert fits_a_portrait_tablet(page), "the REMS form page"
        page.screenshot(path=str(shot(tmp_path, "console-rems-form.png")), full_page=True)
        page.emulate_media(media="print")  # on paper: the form alone, without the navigation or the buttons
        assert not page.get_by_role("button", name="Mark submitted").is_visible()
        assert page.locator("#field-dose").is_visible()
        page.emulate_media(media="screen")
        page.get_by_role("button", name="Mark submitted").click()
        expect(page.get_by_role("status")).to_have_text("The REMS form is marked submitted.")
        expect(page.locator("#deadline")).to_contain_text("Submitted.")
        assert axe_violations(page) == [], "the REMS form page once submitted"

        # The low reading is on the clinicians' worklist, linking to the chair; the form's own item closed.
        page.goto("/console/worklist")
        items = page.locator(f'li.item:has(a[href="/console/patients/{workflow_id}"])')
        expect(items).to_have_count(1)
        expect(items.locator(".reason")).to_have_text("spo2 low")
        expect(items.get_by_role("link", name="at the chair")).to_have_attribute("href", f"/console/chair/{workflow_id}/s1")
        assert axe_violations(page) == [], "the worklist"
    finally:
        context.close()
    assert NAME not in log.read_text() and PHONE not in log.read_text(), "no patient data in the logs"
