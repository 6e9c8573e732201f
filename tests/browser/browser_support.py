"""What the browser tests share about accounts: the demo accounts `carepath standalone --demo` printed, new accounts
made with `carepath users create` (and tokens with `users token create`) as an administrator would, signing in through
every page in Chromium (the authenticator code computed with pyotp, as the phone would), and axe-core's verdict on a
page."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

from signin_support import Staff, code_for

CAREPATH = str(Path(sys.executable).parent / "carepath")
DEMO_LINE = re.compile(r"^ {4}(admin|coordinator|clinician|ops) +(.+?) +(\S+@\S+) +(\S+)$", re.MULTILINE)


def carepath(log: Path, *args: str) -> str:
    """A `carepath` command on the standalone's database (its folder holds the log); its standard output."""
    env = {**os.environ, "CAREPATH_DATABASE_URL": f"sqlite:///{log.parent / 'carepath.db'}"}
    done = subprocess.run([CAREPATH, *args], env=env, cwd=log.parent, capture_output=True, text=True, timeout=60,
                          check=True)
    return done.stdout


def demo_accounts(log: Path) -> dict[str, Staff]:
    """role → the demo account standalone printed (with its password) when it made them."""
    return {role: Staff(email=email, password=password, name=name, role=role)
            for role, name, email, password in DEMO_LINE.findall(log.read_text())}


def new_staff(log: Path, name: str, role: str, token: bool = False) -> Staff:
    """`carepath users create` (the temporary password is the last line), and a token when asked."""
    email = f"{re.sub(r'[^a-z]+', '.', name.lower()).strip('.')}.{secrets.token_hex(3)}@clinic.example.test"
    password = carepath(log, "users", "create", "--email", email, "--name", name, "--role", role).strip().splitlines()[-1]
    staff = Staff(email=email, password=password, name=name, role=role)
    if token:
        staff.token = carepath(log, "users", "token", "create", email, "--name", "browser test").strip().splitlines()[-1]
    return staff


def _moved_on(page, path: str) -> None:
    page.wait_for_url(lambda url: urlparse(url).path != path)


def sign_in(page, staff: Staff) -> None:
    """From /login through the code (enrolling one the first time) and a new password after a temporary one."""
    page.goto("/login")
    page.get_by_label("Email").fill(staff.email)
    page.get_by_label("Password").fill(staff.password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    _moved_on(page, "/login")
    while (path := urlparse(page.url).path).startswith("/login/"):
        if path == "/login/enrol":
            staff.secret = page.locator("#totp-key").inner_text().replace(" ", "")
            page.get_by_label("6-digit code from the app").fill(code_for(staff.secret))
            page.get_by_role("button", name="Confirm and sign in").click()
        elif path == "/login/code":
            page.get_by_label("6-digit code").fill(code_for(staff.secret))
            page.get_by_role("button", name="Sign in").click()
        elif path == "/login/new-password":
            staff.password = f"{staff.password} chosen by me"
            page.get_by_label("New password", exact=True).fill(staff.password)
            page.get_by_label("New password again").fill(staff.password)
            page.get_by_role("button", name="Save password and sign in").click()
        else:
            raise AssertionError(f"signing in stopped at {page.url}")
        _moved_on(page, path)


def axe_violations(page) -> list[str]:
    """axe-core's violations on the page as it is now (rule id and the first offending element of each)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"{v['id']}: {v['help']} ({v['nodes'][0]['target']})" for v in results.response["violations"]]
