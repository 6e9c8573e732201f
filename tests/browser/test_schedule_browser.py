"""The schedule grid in a real browser (Playwright on Debian's Chromium) against `carepath standalone --demo`, whose
clinic has chairs (Chair 1, Chair 2, Quiet room) and a provider (Dr. Rivera).

A coordinator books a slot with the keyboard alone: Tab to the free half hour in Chair 2, Enter opens the booking
form filled in with its time and chair, type the patient's name, choose the provider by typing, book. The grid then
shows the session in Chair 2 for its two hours. Then, by pointer, the session is moved to a free slot in Quiet room.
axe-core finds no violation on the day view, the move panel, the week view and the view by provider.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from browser_support import axe_violations
from test_console_chair_browser import Api, log_in, new_user, planned_patient, shot
from test_dashboard_browser import chromium, standalone  # noqa: F401

from api.console.schedule import NOTICES

NAME, PHONE = "Browser Grid Patient", "+15555550179"
MAX_TABS = 400


def booking_day() -> str:
    """Three days from now in clinic time (the demo's New York), so every slot of the day is in the future."""
    from zoneinfo import ZoneInfo

    return (datetime.now(UTC).astimezone(ZoneInfo("America/New_York")) + timedelta(days=3)).date().isoformat()


def tab_to(page, name: str) -> None:
    """Press Tab until the focused element's text is `name` (a link's or a button's name, as a screen reader reads it)."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        focused = page.evaluate("() => (document.activeElement.innerText || '').trim()")
        if focused == name:
            return
    raise AssertionError(f"no element named {name!r} is reachable by Tab")


def test_a_coordinator_books_a_grid_slot_by_keyboard_alone_and_the_grid_passes_axe(
        chromium, standalone, tmp_path: Path) -> None:  # noqa: F811
    base, _admin, log = standalone
    coordinator, clinician = new_user(log, "Grid Coordinator", "coordinator"), new_user(log, "Grid Clinician",
                                                                                          "clinician")
    workflow_id = planned_patient(Api(base, coordinator), Api(base, clinician), NAME, PHONE)
    day = booking_day()
    weekday = datetime.fromisoformat(day).strftime("%A")
    context, page = log_in(chromium, base, coordinator)
    try:
        page.goto(f"/console/schedule?view=day&date={day}")
        assert page.get_by_role("columnheader", name="Chair 2").is_visible()
        assert axe_violations(page) == []

        tab_to(page, f"Book Chair 2, {weekday} 10:00")
        page.keyboard.press("Enter")
        page.wait_for_url("**slot=*")
        assert page.get_by_label("Starts (clinic time)").input_value() == f"{day}T10:00"
        assert page.evaluate("() => document.activeElement.id") == "book-find"  # the form opens where typing starts
        page.keyboard.type(NAME)
        with page.expect_navigation():
            page.keyboard.press("Enter")  # Find
        assert page.evaluate("() => document.activeElement.id") == "book-workflow"
        assert page.get_by_label("Patient", exact=True).input_value() == workflow_id
        assert page.get_by_label("Chair or room", exact=True).input_value() == "Chair 2"
        tab_to_field(page, "book-provider")
        page.keyboard.type("Dr")  # a closed select picks the option its typed letters begin
        assert page.get_by_label("Provider", exact=True).input_value() == "Dr. Rivera"
        tab_to(page, "Book")
        page.keyboard.press("Enter")
        page.wait_for_url(f"**/console/schedule?view=day&date={day}**msg=scheduled")
        assert page.get_by_role("status").filter(has_text=NOTICES["scheduled"]).is_visible()
        booking = page.locator(f'.booking[data-workflow="{workflow_id}"]')
        assert booking.get_attribute("data-chair") == "Chair 2"
        assert "10:00–12:00" in booking.inner_text()  # esketamine: two hours of monitoring
        assert axe_violations(page) == []
        page.screenshot(path=str(shot(tmp_path, "console-schedule.png")), full_page=False)

        # Move by pointer: open the booking's panel, click a free half hour in Quiet room, Move.
        booking.get_by_role("link", name="Move or cancel").click()
        page.get_by_role("link", name="Move here: Quiet room, 14:00").click()
        assert page.get_by_label("New start (clinic time)").input_value() == f"{day}T14:00"
        assert axe_violations(page) == []
        with page.expect_navigation():
            page.get_by_role("button", name="Move").click()
        moved = page.locator(f'.booking[data-workflow="{workflow_id}"]')
        assert (moved.get_attribute("data-chair"), moved.get_attribute("data-start")) == ("Quiet room", f"{day}T14:00")

        page.goto(f"/console/schedule?view=week&date={day}&resource=Quiet+room")
        assert page.locator(f'.booking[data-workflow="{workflow_id}"]').is_visible()
        assert axe_violations(page) == []
        page.goto(f"/console/schedule?view=day&date={day}&by=provider")
        assert page.locator(f'.booking[data-workflow="{workflow_id}"]').is_visible()
        assert axe_violations(page) == []
    finally:
        context.close()


def tab_to_field(page, element_id: str) -> None:
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == element_id:
            return
    raise AssertionError(f"#{element_id} is not reachable by Tab")
