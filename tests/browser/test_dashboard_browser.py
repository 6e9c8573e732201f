"""The dashboard in a real browser: Playwright driving Debian's Chromium against `carepath standalone --demo`.

Never `playwright install`: the browser is the distribution's `/usr/bin/chromium` (`.ci/run` installs it). Without it
these tests skip with the reason, except under CI=true, where a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from browser_support import demo_accounts, sign_in
from process_support import free_port, wait_for
from signin_support import Staff

ROOT = Path(__file__).resolve().parents[2]
CAREPATH = str(Path(sys.executable).parent / "carepath")
CHROMIUM = Path(os.environ.get("CAREPATH_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# The committed screenshot is refreshed only on request (CAREPATH_UPDATE_SCREENSHOTS=1), so a test run leaves the
# tree clean; otherwise the screenshot is still taken, into the test's temporary folder.
UPDATE_SCREENSHOTS = os.environ.get("CAREPATH_UPDATE_SCREENSHOTS") == "1"
DOCS_SCREENSHOT = ROOT / "docs" / "dashboard.png"
LAPTOP = {"width": 1440, "height": 900}


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"{reason} (CI=true: the browser tests must run; .ci/run installs the chromium package)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    if not CHROMIUM.exists():
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory,
               request: pytest.FixtureRequest) -> Iterator[tuple[str, Staff, Path]]:
    """`carepath standalone --demo` on a free port: (base URL, the demo admin it printed, log file). A test module's
    `STANDALONE_ENV` adds settings (the live tests' short refresh)."""
    extra = getattr(request.module, "STANDALONE_ENV", {})
    with running_standalone(tmp_path_factory.mktemp("standalone"), lambda base: extra) as (base, log):
        yield base, wait_for(lambda: demo_accounts(log).get("admin"), 10, "the demo accounts"), log


@contextmanager
def running_standalone(workdir: Path, settings: Callable[[str], dict[str, str]]) -> Iterator[tuple[str, Path]]:
    """`carepath standalone --demo` on a free port with these extra settings (given its base URL, which some name):
    (base URL, log file), until the block ends."""
    port, log = free_port(), workdir / "standalone.log"
    base = f"http://127.0.0.1:{port}"
    # The demo's simulated patients stay silent unless a module asks: their answers would change what a test sees.
    env = {**os.environ, "CAREPATH_DATABASE_URL": f"sqlite:///{workdir / 'carepath.db'}",
           "CAREPATH_DEMO_REPLIES": "false", **settings(base)}
    with log.open("w") as out:
        process = subprocess.Popen([CAREPATH, "standalone", "--demo", "--port", str(port)], cwd=workdir, env=env,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"standalone exited:\n{log.read_text()}")
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(healthy, 60, "the standalone server")
        yield base, log
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def test_log_in_see_the_seeded_escalation_and_acknowledge_it(chromium, standalone, tmp_path) -> None:
    from playwright.sync_api import expect

    base, admin, log = standalone
    context = chromium.new_context(viewport=LAPTOP, base_url=base)
    try:
        page = context.new_page()
        page.goto("/dashboard")
        expect(page).to_have_url(f"{base}/login")  # no session: the login form

        sign_in(page, admin)  # email and password, then the authenticator app: enrolled by QR code the first time
        expect(page).to_have_url(f"{base}/dashboard")
        expect(page.get_by_role("heading", name="Clinic operations")).to_be_visible()
        for panel in ("Workers and queues", "Timers", "Messages today", "Escalations worklist", "Workflows by stage"):
            expect(page.get_by_role("heading", name=panel)).to_be_visible()

        cookie = next(c for c in context.cookies() if c["name"] == "carepath_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert page.evaluate("document.cookie") == "", "page scripts cannot read the session"

        # The demo's PHQ-9 with a positive item 9 raised an escalation: it is on the worklist, open.
        row = page.locator("#worklist tr[data-escalation]", has_text="phq9 item9")
        expect(row).to_have_count(1)
        expect(row).to_have_attribute("data-status", "open")
        expect(row.get_by_role("button", name=re.compile("^Acknowledge"))).to_be_visible()
        expect(row.get_by_label("Resolution note")).to_be_visible()

        screenshot = DOCS_SCREENSHOT if UPDATE_SCREENSHOTS else tmp_path / "dashboard.png"
        page.screenshot(path=str(screenshot), full_page=True)
        assert screenshot.stat().st_size > 10_000

        # Keyboard: the acknowledge button takes focus and Enter submits it.
        row.get_by_role("button", name=re.compile("^Acknowledge")).focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("status")).to_have_text("Escalation acknowledged.")
        row = page.locator("#worklist tr[data-escalation]", has_text="phq9 item9")
        expect(row).to_have_attribute("data-status", "acknowledged")
        expect(row).to_contain_text("by standalone admin")
        expect(row.get_by_role("button", name=re.compile("^Acknowledge"))).to_have_count(0)
        expect(row.get_by_role("button", name=re.compile("^Resolve"))).to_be_visible()

        # The patient's page: the trend is an inline SVG with its text alternative.
        row.get_by_role("link").click()
        expect(page.get_by_role("heading", name="PCL-5 and PHQ-9 trend")).to_be_visible()
        chart = page.get_by_role("img", name="PCL-5 and PHQ-9 scores over time")
        expect(chart).to_be_visible()
        expect(page.locator("svg.trend desc")).to_contain_text("PHQ-9: 11")

        page.get_by_role("button", name="Log out").click()
        expect(page).to_have_url(f"{base}/login")
        page.goto("/dashboard")
        expect(page).to_have_url(f"{base}/login")
    finally:
        context.close()
    assert "Demo Patient" not in log.read_text(), "no patient names in the logs"
