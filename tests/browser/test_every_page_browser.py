"""Every page of the console, the dashboard and the admin pages in Chromium against `carepath standalone --demo`, as
each demo role reaches it: axe-core finds no violation, and nothing scrolls sideways, on a portrait tablet and on a
laptop. After a refused submit the focus is on the first thing to fix.

Pages are found by following the links a person would (the first patient, the first session at the chair ...), so a
new page joins the walk by being added to `PAGES`. All problems of a role are collected and reported together.
"""

from __future__ import annotations

import re

import pytest
from browser_support import axe_violations, demo_accounts, sign_in
from test_dashboard_browser import chromium, standalone  # noqa: F401

TABLET = {"width": 768, "height": 1024}  # portrait, at the chairside
LAPTOP = {"width": 1366, "height": 768}

# role → the pages that role works in: a fixed address, or ("via", page, link prefix) to follow the first such link.
PAGES: dict[str, list[str | tuple[str, str, str]]] = {
    "admin": ["/dashboard", "/dashboard/network", "/admin/users", ("via", "/admin/users", "/admin/users/"),
              "/admin/audit", "/admin/clinics", "/admin/clinics/new", ("via", "/admin/clinics", "/admin/clinics/"),
              "/account/password"],
    "coordinator": ["/console/patients", ("via", "/console/patients", "/console/patients/"), "/console/referrals/new",
                    "/console/calendar", "/console/calendar?view=week", "/console/schedule",
                    "/console/schedule?view=week", "/console/board", "/console/inbox", "/console/outcomes",
                    "/console/worklist"],
    "clinician": ["/dashboard", "/console/board", "/console/worklist", ("via", "/console/calendar?view=week", "/console/chair/"),
                  ("via", "/console/worklist", "/console/patients/")],
    "ops": ["/dashboard", "/console/worklist", ("via", "/dashboard", "/dashboard/patients/")],
}


@pytest.fixture(scope="module")
def staff(standalone) -> dict:  # noqa: F811
    """The demo accounts, once: an account enrolled in its second factor by one test signs in with it in the next."""
    return demo_accounts(standalone[2])


def _first_link(page, start: str, prefix: str) -> str | None:
    page.goto(start)
    for href in page.locator(f"main a[href^='{prefix}']").evaluate_all("links => links.map(a => a.getAttribute('href'))"):
        if href.rstrip("/") != prefix.rstrip("/") and not href.startswith(f"{prefix}new"):
            return href
    return None


def _address(page, entry: str | tuple[str, str, str]) -> str | None:
    if isinstance(entry, str):
        return entry
    _, start, prefix = entry
    return _first_link(page, start, prefix)


def _scrolls_sideways(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth + 1")


def _problems_on(page, address: str) -> list[str]:
    problems = []
    for name, viewport in (("tablet", TABLET), ("laptop", LAPTOP)):
        page.set_viewport_size(viewport)
        answer = page.goto(address)
        if answer is None or answer.status >= 400:
            problems.append(f"{address}: answered {answer.status if answer else 'nothing'}")
            break
        problems += [f"{address} ({name}): {v}" for v in axe_violations(page)]
        if _scrolls_sideways(page):
            problems.append(f"{address} ({name}): the page scrolls sideways")
    return problems


def _walk(chromium, base: str, staff: dict, role: str) -> list[str]:  # noqa: F811
    context = chromium.new_context(viewport=LAPTOP, base_url=base)
    try:
        page = context.new_page()
        sign_in(page, staff[role])
        problems = []
        for entry in PAGES[role]:
            address = _address(page, entry)
            if address is None:
                problems.append(f"{entry}: no link to follow (the demo clinic should have one)")
                continue
            problems += _problems_on(page, address)
        return problems
    finally:
        context.close()


def test_every_page_passes_axe_and_fits_a_tablet_and_a_laptop(chromium, standalone, staff) -> None:  # noqa: F811
    problems = [problem for role in PAGES for problem in _walk(chromium, standalone[0], staff, role)]
    assert problems == [], "\n".join(problems)


def test_after_a_refused_submit_the_focus_is_on_the_first_thing_to_fix(chromium, standalone, staff) -> None:  # noqa: F811
    from playwright.sync_api import expect

    context = chromium.new_context(viewport=LAPTOP, base_url=standalone[0])
    try:
        page = context.new_page()
        page.goto("/login")  # a wrong password: the refusal itself takes the focus (no one field is to blame)
        page.get_by_label("Email").fill("nobody@demo.carepath")
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page.locator("#login-error")).to_be_focused()

        sign_in(page, staff["coordinator"])
        page.goto("/console/referrals/new")  # a malformed phone: the focus lands in that field, its error read out
        page.get_by_label(re.compile("^Name")).fill("Focus Test Patient")
        page.get_by_label(re.compile("^Mobile phone")).fill("12")
        page.get_by_label("Consents to SMS").check()
        page.get_by_label(re.compile("^Referrer")).fill("Dr. Alvarez")
        page.get_by_label(re.compile("^Prior treatments")).fill("3")
        page.get_by_role("button", name="Save referral and start the pathway").click()
        focused = page.locator(":focus")
        expect(focused).to_have_attribute("aria-invalid", "true")
        expect(focused).to_have_attribute("name", "patient.phone")  # the field to fix, not the first of the form
        assert axe_violations(page) == [], "the refused referral"
    finally:
        context.close()
