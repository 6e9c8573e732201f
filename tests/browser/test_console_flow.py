"""The console in a real browser (Playwright on Debian's Chromium) against `carepath standalone --demo`.

A coordinator takes a referral through the intake form (a phone without its country code is refused with the likely
number) and books the evaluation through the action form the pathway offers; a clinician sees an incomplete evaluation
refused with the engine's reason, completes it, and scores a PHQ-9 whose item 9 raises an escalation; the worklist
shows it, the clinician claims it from the keyboard and resolves it with a note (a blank note is refused first).
"""

from __future__ import annotations

import re
from pathlib import Path

from browser_support import axe_violations, new_staff, sign_in
from signin_support import Staff
from test_dashboard_browser import LAPTOP, ROOT, UPDATE_SCREENSHOTS, chromium, standalone  # noqa: F401

TABLET = {"width": 1024, "height": 768}
NAME, DIGITS = "Browser Intake Patient", "5555550188"


def shot(tmp_path: Path, name: str) -> Path:
    return ROOT / "docs" / name if UPDATE_SCREENSHOTS else tmp_path / name


def new_user(log: Path, name: str, role: str) -> Staff:
    """An account made with `carepath users create` on the standalone's database, as an admin would."""
    return new_staff(log, name, role)


def log_in(page, staff: Staff) -> None:
    """Every page of signing in: email and password, a new password, the authenticator app (enrolled the first time)."""
    sign_in(page, staff)


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def test_referral_evaluation_escalation_and_worklist(chromium, standalone, tmp_path) -> None:  # noqa: F811
    from playwright.sync_api import expect

    base, _admin, log = standalone
    coordinator_token = new_user(log, "Casey Coordinator", "coordinator")
    clinician_token = new_user(log, "Dr. Rivera", "clinician")

    # --- the coordinator takes the referral ---------------------------------------------------------------------
    context = chromium.new_context(viewport=LAPTOP, base_url=base)
    page = context.new_page()
    log_in(page, coordinator_token)
    expect(page).to_have_url(f"{base}/console/patients")
    expect(page.get_by_role("heading", name="Patients", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Demo Patient Three")).to_be_visible()
    page.screenshot(path=str(shot(tmp_path, "console-patients.png")), full_page=True)

    page.get_by_role("link", name="New referral").first.click()
    expect(page).to_have_url(f"{base}/console/referrals/new")
    page.get_by_label(re.compile("^Name")).fill(NAME)
    page.get_by_label(re.compile("^Mobile phone")).fill(f"({DIGITS[:3]}) {DIGITS[3:6]}-{DIGITS[6:]}")
    page.get_by_label("Consents to SMS").check()
    page.get_by_label(re.compile("^Referrer")).fill("Dr. Alvarez")
    page.get_by_label(re.compile("^Prior treatments")).fill("3")
    page.get_by_label("Urgency").select_option("urgent")
    page.get_by_role("button", name="Save referral and start the pathway").click()
    expect(page.get_by_role("alert")).to_contain_text(f"Did you mean +1{DIGITS}?")
    expect(page.get_by_label(re.compile("^Name"))).to_have_value(NAME)  # what was typed is kept
    page.screenshot(path=str(shot(tmp_path, "console-intake.png")), full_page=True)

    page.get_by_label(re.compile("^Mobile phone")).fill(f"+1{DIGITS}")
    page.get_by_role("button", name="Save referral and start the pathway").click()
    expect(page.get_by_role("heading", name=NAME, level=1)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Referral saved: the pathway has started")
    workflow_url = page.url.split("?")[0]

    # The actions are the pathway's: in `referred` the coordinator may book the evaluation, not complete it.
    actions = page.locator("#actions details.action")
    offered = actions.evaluate_all("nodes => nodes.map(n => n.dataset.event)")
    assert "evaluation.scheduled" in offered and "evaluation.completed" not in offered
    book = page.locator('details[data-event="evaluation.scheduled"]')
    book.locator("summary").click()
    book.get_by_label(re.compile("^Starts")).fill("2030-01-07T10:00")
    book.get_by_role("button", name="Book the evaluation").click()
    expect(page.get_by_role("status")).to_contain_text("Recorded: book the evaluation")
    expect(page.locator(".stage-pill")).to_have_text("evaluation scheduled")
    expect(page.locator("#sessions")).to_contain_text("2030-01-07 10:00")
    page.get_by_role("button", name="Log out").click()
    context.close()

    # --- the clinician completes the evaluation and scores a PHQ-9 ---------------------------------------------------
    context = chromium.new_context(viewport=LAPTOP, base_url=base)
    page = context.new_page()
    log_in(page, clinician_token)
    page.get_by_label("Search").fill(DIGITS[-4:])
    page.get_by_role("button", name="Find").click()
    page.get_by_role("link", name=NAME).click()
    expect(page).to_have_url(workflow_url)

    complete = page.locator('details[data-event="evaluation.completed"]')
    complete.locator("summary").click()
    complete.get_by_label(re.compile("^Eligible")).select_option("yes")
    complete.get_by_label(re.compile("^Weight")).fill("72")
    expect(complete.locator(".signed-as")).to_contain_text("Recorded as Dr. Rivera")  # never a typed name
    complete.get_by_role("button", name="Eligibility and route").click()
    refused = page.locator('details[data-event="evaluation.completed"]')
    expect(refused.get_by_role("alert")).to_contain_text("Route is required when eligible")
    expect(page.locator(".stage-pill")).to_have_text("evaluation scheduled")  # nothing was recorded
    expect(refused.get_by_label(re.compile("^Weight"))).to_have_value("72")
    refused.get_by_label(re.compile("^Route")).select_option("esketamine")
    refused.get_by_role("button", name="Eligibility and route").click()
    # Booked for 2030: not done yet, says the refusal, in clinic time; seen early, it is recorded with the reason.
    early = page.locator('details[data-event="evaluation.completed"]')
    expect(early.get_by_role("alert")).to_contain_text("The evaluation is booked for 2030-01-07 10:00")
    expect(page.locator(".stage-pill")).to_have_text("evaluation scheduled")
    early.locator("details.refusal-details summary").click()  # the codes, for support, behind a toggle
    expect(early.locator("details.refusal-details")).to_contain_text("evaluation_not_before_booked")
    assert axe_violations(page) == [], "the patient page with a refusal and its details open"
    early.get_by_label(re.compile("^Brought forward")).fill("A slot opened this morning")
    early.get_by_role("button", name="Eligibility and route").click()
    expect(page.get_by_role("status")).to_contain_text("Recorded: eligibility and route")
    expect(page.locator(".stage-pill")).to_have_text("treatment planned")

    score = page.locator('details[data-event="assessment.submitted"]')
    score.locator("summary").click()
    score.get_by_label(re.compile("^Instrument")).select_option("phq9")
    score.get_by_label(re.compile("^Answers")).fill("1, 1, 1, 1, 1, 1, 1, 1, 2")
    score.get_by_role("button", name="Score an instrument").click()
    expect(page.get_by_role("status")).to_contain_text("Recorded: score an instrument")
    expect(page.locator("#escalations")).to_contain_text("phq9 item9")
    expect(page.get_by_role("img", name="PCL-5 and PHQ-9 scores over time")).to_be_visible()
    expect(page.locator(".timeline li").first.locator(".what")).to_have_text("PHQ-9 answers recorded.")
    expect(page.locator(".timeline li").first.locator("details.data")).not_to_have_attribute("open", "")
    page.locator(".timeline li").first.locator("details.data summary").click()
    expect(page.locator(".timeline li").first.locator("details.data")).to_contain_text("assessment.submitted")
    assert axe_violations(page) == [], "the patient page, its history's recorded data open"
    page.screenshot(path=str(shot(tmp_path, "console-patient.png")), full_page=True)

    page.set_viewport_size(TABLET)  # a tablet at the chairside: one column, nothing scrolls sideways
    assert no_horizontal_scroll(page)
    page.set_viewport_size(LAPTOP)

    # --- the worklist: claim from the keyboard, resolve with a note ------------------------------------------------
    page.get_by_role("link", name="Worklist").first.click()
    item = page.locator("li.item", has_text=NAME).filter(has_text="phq9 item9")
    expect(item).to_have_count(1)
    expect(item).to_have_attribute("data-status", "open")
    # A staff alert's link (`/worklist/{item id}`): the worklist with that item marked, and scrolled to it.
    page.goto(f"/worklist/{item.get_attribute('data-escalation')}")
    item = page.locator("li.item.marked")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("From your alert")
    expect(item).to_contain_text(NAME)
    expect(item).to_be_in_viewport()
    assert axe_violations(page) == [], "the worklist with an item marked"
    claim = item.get_by_role("button", name=re.compile("^Claim phq9 item9"))
    claim.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("Claimed: the escalation is acknowledged in your name.")
    item = page.locator("li.item", has_text=NAME).filter(has_text="phq9 item9")
    expect(item).to_have_attribute("data-status", "acknowledged")
    expect(item).to_contain_text("claimed by Dr. Rivera (you)")
    note = item.get_by_label(re.compile("^Resolution note"))
    note.focus()
    outline = note.evaluate("el => getComputedStyle(el).outlineStyle + ' ' + getComputedStyle(el).outlineWidth")
    assert outline == "solid 3px", "a visible focus ring"
    page.screenshot(path=str(shot(tmp_path, "console-worklist.png")), full_page=True)

    item.get_by_role("button", name=re.compile("^Resolve phq9 item9")).click()
    item = page.locator("li.item", has_text=NAME).filter(has_text="phq9 item9")
    expect(item.get_by_role("alert")).to_contain_text("Write a note to resolve")
    item.get_by_label(re.compile("^Resolution note")).fill("Called the patient; safety plan reviewed, seen tomorrow.")
    item.get_by_role("button", name=re.compile("^Resolve phq9 item9")).click()
    expect(page.get_by_role("status")).to_have_text("Resolved, with your note.")
    expect(page.locator("li.item", has_text=NAME).filter(has_text="phq9 item9")).to_have_count(0)

    page.goto(workflow_url)
    expect(page.locator(".timeline li").first).to_contain_text(
        "Closed “phq9 item9”: Called the patient; safety plan reviewed, seen tomorrow.")
    expect(page.locator("#escalations")).to_contain_text("safety plan reviewed")

    page.set_viewport_size(TABLET)  # every console page fits a tablet's width: tables scroll inside their panels
    for path in ("/console/patients", "/console/referrals/new", workflow_url, "/console/worklist"):
        page.goto(path)
        assert no_horizontal_scroll(page), path
    context.close()
    assert NAME not in log.read_text() and DIGITS not in log.read_text(), "no patient data in the server's log"
