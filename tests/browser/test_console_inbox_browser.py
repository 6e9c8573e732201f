"""The staff SMS inbox in Chromium against `carepath standalone --demo`, every page checked with axe-core.

Two patients share a phone; a text from it that answers nobody's question waits in the inbox. A coordinator opens it,
assigns it to one of them, and replies from the text's page: a reply that names a drug is held for confirmation, then
sent. The inbox, the text's page and the patient page pass axe-core with no violations.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from browser_support import axe_violations, new_staff, sign_in
from test_console_flow import no_horizontal_scroll
from test_dashboard_browser import LAPTOP, chromium, standalone  # noqa: F401

PHONE = "+15555550177"
TEXT = "Running late, sorry! Be there soon"
TABLET = {"width": 1024, "height": 768}


def no_axe_violations(page, where: str) -> None:
    assert axe_violations(page) == [], where


def two_patients_and_a_text(database: str) -> dict[str, str]:
    """Two referrals on one phone, then a text from it, written through the store and the inbox (as the intake form and
    the webhook do) into the standalone's database."""
    from config.wiring import build_services
    from models.inbox import receive_sms
    from workers.settings import Settings
    from workflows.events import make_event

    svc = build_services(Settings(_env_file=None, environment="test", database_url=database))
    try:
        ids = {}
        for name in ("Ana Sharedphone", "Ben Sharedphone"):
            data = {"patient": {"name": name, "phone": PHONE, "sms_consent": True}, "referrer": "Dr. Alvarez",
                    "prior_treatments": 3}
            event = make_event("referral.received", data, actor={"role": "coordinator", "name": "Casey Inbox"})
            ids[name] = svc.store.start(event, datetime.now(UTC)).workflow_id
        applied = receive_sms(svc.store, PHONE, TEXT, datetime.now(UTC), sid="SMbrowserinbox")
    finally:
        svc.engine.dispose()
    assert applied.status == "unassigned"
    return ids


def test_assign_a_waiting_text_and_reply_from_the_inbox(chromium, standalone) -> None:  # noqa: F811
    from playwright.sync_api import expect

    base, _admin, log = standalone
    ids = two_patients_and_a_text(f"sqlite:///{log.parent / 'carepath.db'}")
    context = chromium.new_context(viewport=LAPTOP, base_url=base)
    page = context.new_page()
    sign_in(page, new_staff(log, "Casey Inbox", "coordinator"))

    page.get_by_role("link", name="Inbox").first.click()
    expect(page.get_by_role("heading", name="Inbox", level=1)).to_be_visible()
    row = page.locator("table.inbox tr[data-status='unassigned']", has_text=TEXT)
    expect(row).to_have_count(1)
    no_axe_violations(page, "the inbox")

    row.get_by_role("link", name=re.compile("^Assign")).click()
    expect(page.get_by_role("heading", name=f"Text from {PHONE}")).to_be_visible()
    expect(page.locator("main")).to_contain_text("several patients in care share this number")
    assign = page.locator("#assign")
    no_axe_violations(page, "a text waiting for staff")
    assign.get_by_label(re.compile("^Ana Sharedphone")).check()
    assign.get_by_role("button", name="Assign the text").click()
    expect(page.get_by_role("status")).to_contain_text("Assigned: the text is on the patient's record")
    expect(page.get_by_role("link", name="Ana Sharedphone")).to_be_visible()

    reply = page.locator("#reply")
    reply.get_by_label(re.compile("^Text")).fill("Your ketamine visit can wait 15 minutes.")
    reply.get_by_role("button", name="Send text").click()
    reply = page.locator("#reply")
    expect(reply.get_by_role("alert")).to_contain_text("names ketamine")
    expect(reply.get_by_label(re.compile("^Text"))).to_have_value("Your ketamine visit can wait 15 minutes.")
    no_axe_violations(page, "a reply held for confirmation")
    reply.get_by_label("Send anyway, as written").check()
    reply.get_by_role("button", name="Send text").click()
    expect(page.get_by_role("status")).to_contain_text(re.compile("Text (sent to the outbox|saved: it is quiet hours)"))

    page.get_by_role("link", name="Ana Sharedphone").click()
    expect(page.locator(".timeline li[data-type='message.sent_by_staff']")).to_have_count(1)
    expect(page.locator(".shared-number")).to_contain_text("Ben Sharedphone")
    no_axe_violations(page, "the patient page")
    page.goto(f"/console/patients/{ids['Ben Sharedphone']}")
    expect(page.locator(".shared-number")).to_contain_text("Ana Sharedphone")

    page.set_viewport_size(TABLET)
    for path in ("/console/inbox?show=all", page.url):
        page.goto(path)
        assert no_horizontal_scroll(page), path
    context.close()
    assert TEXT not in log.read_text() and PHONE not in log.read_text(), "no patient data in the server's log"
