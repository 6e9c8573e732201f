"""Signing in, in Chromium against `carepath standalone --demo` (sessions idle for 5 s end, for this module only):
the second factor enrolled by QR code and asked for after; the idle timeout; signing out ending the session in every
browser; a disabled user thrown out at the next click; axe-core finding nothing on the sign-in, enrolment, account and
admin pages; /docs drawn from the app's own files under its CSP."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from browser_support import axe_violations, carepath, demo_accounts, new_staff, sign_in
from process_support import free_port, wait_for
from signin_support import Staff, code_for
from test_dashboard_browser import CAREPATH, LAPTOP, ROOT, UPDATE_SCREENSHOTS, chromium  # noqa: F401

IDLE_SECONDS = 5


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Staff], Path]]:
    """`carepath standalone --demo` whose sessions end after 5 idle seconds: (base URL, demo accounts, log)."""
    workdir = tmp_path_factory.mktemp("signin")
    port, log = free_port(), workdir / "standalone.log"
    env = {**os.environ, "CAREPATH_DATABASE_URL": f"sqlite:///{workdir / 'carepath.db'}",
           "CAREPATH_SESSION_IDLE_SECONDS": str(IDLE_SECONDS)}
    with log.open("w") as out:
        process = subprocess.Popen([CAREPATH, "standalone", "--demo", "--port", str(port)], cwd=workdir, env=env,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"standalone exited:\n{log.read_text()}")
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(healthy, 60, "the standalone server")
        accounts = wait_for(lambda: demo_accounts(log) if len(demo_accounts(log)) == 4 else None, 10, "demo accounts")
        yield base, accounts, log
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def no_violations(page, where: str) -> None:
    assert axe_violations(page) == [], where


def test_a_new_clinician_enrols_by_qr_code_chooses_a_password_then_signs_in_with_a_code(chromium, clinic) -> None:  # noqa: F811
    from playwright.sync_api import expect

    base, _accounts, log = clinic
    staff = new_staff(log, "Dr. Enrolling", "clinician")
    context = chromium.new_context(viewport=LAPTOP, base_url=base)
    try:
        page = context.new_page()
        page.goto("/login")
        no_violations(page, "the sign-in page")
        page.get_by_label("Email").fill(staff.email)
        page.get_by_label("Password").fill(staff.password)
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page).to_have_url(f"{base}/login/enrol")
        expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
        no_violations(page, "the enrolment page")
        page.get_by_label("6-digit code from the app").fill("000000")
        page.get_by_role("button", name="Confirm and sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("That code is not right")
        staff.secret = page.locator("#totp-key").inner_text().replace(" ", "")
        page.get_by_label("6-digit code from the app").fill(code_for(staff.secret))
        page.get_by_role("button", name="Confirm and sign in").click()
        expect(page).to_have_url(f"{base}/login/new-password")
        no_violations(page, "the new-password page")
        staff.password = "a passphrase of my own"
        page.get_by_label("New password", exact=True).fill(staff.password)
        page.get_by_label("New password again").fill(staff.password)
        page.get_by_role("button", name="Save password and sign in").click()
        expect(page).to_have_url(f"{base}/console/patients")
        page.goto("/account/password")
        no_violations(page, "the password page")
    finally:
        context.close()

    context = chromium.new_context(viewport=LAPTOP, base_url=base)  # another day: password, then the code
    try:
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("Email").fill(staff.email)
        page.get_by_label("Password").fill(staff.password)
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page).to_have_url(f"{base}/login/code")
        no_violations(page, "the code page")
        page.get_by_label("6-digit code").fill(code_for(staff.secret))
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{base}/console/patients")
    finally:
        context.close()


def test_the_admin_pages_pass_axe(chromium, clinic) -> None:  # noqa: F811
    from playwright.sync_api import expect

    base, accounts, _log = clinic
    context = chromium.new_context(viewport=LAPTOP, base_url=base)
    try:
        page = context.new_page()
        sign_in(page, accounts["admin"])
        page.get_by_role("link", name="Accounts").click()
        expect(page.get_by_role("heading", name="Staff accounts")).to_be_visible()
        no_violations(page, "the accounts page")
        page.get_by_label("Name").fill("Robin Ops")
        page.get_by_label("Email").fill("robin@clinic.example.test")
        page.get_by_label("Role").select_option("ops")
        page.get_by_role("button", name="Add account").click()
        expect(page.locator("#secret")).to_have_text(re.compile(r"^[a-z2-9]{4}(-[a-z2-9]{4}){4}$"))
        no_violations(page, "the shown-once page")
        page.get_by_role("link", name="Back to the account").click()
        page.get_by_label("What it is for").fill("prometheus")
        page.get_by_role("button", name="Make token").click()
        expect(page.get_by_role("heading", name=re.compile("API token"))).to_be_visible()
        page.get_by_role("link", name="Back to the account").click()
        expect(page.locator("tr[data-token]")).to_have_count(1)
        no_violations(page, "an account's page")
        page.get_by_role("link", name="Audit trail").click()
        no_violations(page, "the audit trail")
        page.get_by_label("Account").select_option(label="Robin Ops (ops)")
        page.get_by_role("button", name="Search").click()
        expect(page.locator("tr[data-action]")).to_have_count(0)
        page.get_by_label("Account").select_option(label="standalone admin (admin)")
        page.get_by_role("button", name="Search").click()
        expect(page.locator("tr[data-action=user_created]")).to_have_count(1)
        no_violations(page, "the audit search's answer")
    finally:
        context.close()


def test_a_network_admin_adds_a_clinic_from_the_clinics_page_and_it_passes_axe(chromium, clinic,  # noqa: F811
                                                                                 tmp_path) -> None:
    from playwright.sync_api import expect

    base, accounts, _log = clinic
    context = chromium.new_context(viewport=LAPTOP, base_url=base)
    try:
        page = context.new_page()
        sign_in(page, accounts["admin"])
        page.get_by_role("link", name="Clinics").click()
        expect(page.get_by_role("heading", name="The network's clinics")).to_be_visible()
        no_violations(page, "the clinics page")
        page.get_by_role("link", name="Add a clinic").click()
        page.get_by_label("Name", exact=True).fill("Harbor Care Clinic")
        page.get_by_label("Short name").fill("harbor")
        page.get_by_label("Time zone").fill("Europe/Atlantis")
        page.get_by_label("Main number").fill("+15555550700")
        page.get_by_label("Sat").check()
        page.get_by_label("Chairs or rooms (one per line)").fill("Chair 1\nChair 2")
        page.get_by_role("button", name="Add clinic").click()
        expect(page.get_by_role("alert")).to_contain_text("Time zone")
        no_violations(page, "the clinic form with a refusal")
        page.get_by_label("Time zone").fill("America/Chicago")
        page.get_by_role("button", name="Add clinic").click()
        expect(page.get_by_role("status")).to_contain_text("Clinic added.")
        expect(page.locator("tr[data-clinic=harbor]")).to_contain_text("Harbor Care Clinic")
        page.get_by_role("link", name="Harbor Care Clinic").click()
        expect(page.get_by_label("Sat")).to_be_checked()
        no_violations(page, "a clinic's form")
        page.goto("/admin/clinics")
        shot = ROOT / "docs" / "admin-clinics.png" if UPDATE_SCREENSHOTS else tmp_path / "admin-clinics.png"
        page.screenshot(path=str(shot), full_page=True)
    finally:
        context.close()


def test_an_idle_session_ends(chromium, clinic) -> None:  # noqa: F811
    from playwright.sync_api import expect

    base, accounts, _log = clinic
    context = chromium.new_context(viewport=LAPTOP, base_url=base)
    try:
        page = context.new_page()
        sign_in(page, accounts["ops"])
        page.get_by_role("link", name="Worklist").click()
        expect(page).to_have_url(f"{base}/console/worklist")
        time.sleep(IDLE_SECONDS + 1)
        page.get_by_role("link", name="Overview").click()
        expect(page).to_have_url(f"{base}/login?msg=idle")
        expect(page.get_by_role("status")).to_contain_text("signed out because the page was left unused")
    finally:
        context.close()


def test_signing_out_ends_the_session_in_the_other_browser_too(chromium, clinic) -> None:  # noqa: F811
    from playwright.sync_api import expect

    base, accounts, _log = clinic
    laptop, tablet = (chromium.new_context(viewport=LAPTOP, base_url=base) for _ in range(2))
    try:
        on_laptop, on_tablet = laptop.new_page(), tablet.new_page()
        sign_in(on_laptop, accounts["ops"])
        sign_in(on_tablet, accounts["ops"])
        on_laptop.get_by_role("button", name="Log out").click()
        expect(on_laptop).to_have_url(f"{base}/login")
        on_tablet.get_by_role("link", name="Worklist").click()
        expect(on_tablet).to_have_url(f"{base}/login")
    finally:
        laptop.close()
        tablet.close()


def test_a_disabled_user_is_thrown_out_at_the_next_click(chromium, clinic) -> None:  # noqa: F811
    from playwright.sync_api import expect

    base, _accounts, log = clinic
    staff = new_staff(log, "Leaving Ops", "ops")
    context = chromium.new_context(viewport=LAPTOP, base_url=base)
    try:
        page = context.new_page()
        sign_in(page, staff)
        expect(page).to_have_url(f"{base}/dashboard")
        carepath(log, "users", "disable", staff.email)
        page.get_by_role("link", name="Worklist").click()
        expect(page).to_have_url(f"{base}/login")
        page.get_by_label("Email").fill(staff.email)
        page.get_by_label("Password").fill(staff.password)
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page.get_by_role("alert")).to_contain_text("This account is disabled")
    finally:
        context.close()


def test_the_docs_load_from_the_app_under_its_csp(chromium, clinic) -> None:  # noqa: F811
    from playwright.sync_api import expect

    base, _accounts, _log = clinic
    context = chromium.new_context(viewport=LAPTOP, base_url=base)
    refused: list[str] = []
    outside: list[str] = []
    try:
        page = context.new_page()
        page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text
                else None)
        page.on("request", lambda request: outside.append(request.url) if not request.url.startswith(base) else None)
        page.goto("/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("carepath")
        expect(page.locator(".opblock-summary-path", has_text="/v1/referrals").first).to_be_visible()
    finally:
        context.close()
    assert refused == [] and [url for url in outside if not url.startswith("data:")] == []
