"""Issue #18 items 6 and 7 on the patient's page: the messages the patient will get (what, when in clinic time, why)
beside the sent ones, and "why did this happen": each text, timer and worklist item names the event that caused it,
linked to its place in the history, and each event lists what it caused."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

from api_support import ApiServer, local_time
from console_support import console, unlabelled_controls
from sqlmodel import Session, select

from models.outbox import deliver_due
from models.tables import OutboxMessage
from models.timer_batch import fire_due_timers


def page_of(api: ApiServer, workflow_id: str) -> str:
    with console(api, "coordinator") as client:
        response = client.get(f"/console/patients/{workflow_id}")
    assert response.status_code == 200, response.text
    return response.text


def section(html: str, section_id: str) -> str:
    start = html.index(f'id="{section_id}"')
    return html[start:html.index("</section>", start)]


def rows(html: str, row_class: str) -> list[str]:
    return re.findall(rf'<tr id="[^"]+" class="{row_class}">(.*?)</tr>', html, re.S)


def text_of(fragment: str) -> str:
    words = " ".join(unescape(re.sub(r"<[^>]+>", " ", fragment)).split())
    return re.sub(r" ([,.;])", r"\1", words)


def booked(api: ApiServer, days: float) -> tuple[str, str]:
    """A patient with a dosing session `days` ahead; returns the workflow id and the session's clinic-local start."""
    workflow_id = api.workflow_in("treatment_planned")
    start = local_time(days)
    response = api.post_event(workflow_id, "session.scheduled", {"session": "s1", "start": start, "dose_mg": 56})
    assert response.status_code == 200, response.text
    return workflow_id, start


def clinic_words(start: str) -> str:
    """The session's start as the upcoming list words it ("Tue 10 Mar 10:00")."""
    return datetime.fromisoformat(start).strftime("%a %d %b %H:%M")


def test_a_booked_session_shows_its_reminders_as_upcoming_with_their_times_and_why(api: ApiServer) -> None:
    workflow_id, start = booked(api, 4)
    upcoming = section(page_of(api, workflow_id), "upcoming")
    reminders = [text_of(r) for r in rows(upcoming, "upcoming")]
    assert len(reminders) == 4  # 72 h, 24 h and 2 h before, and the "we missed you" text if the patient does not come
    assert all(f"the dosing session on {clinic_words(start)}" in r for r in reminders)
    when = datetime.fromisoformat(start) - timedelta(hours=72)
    first = reminders[0]
    assert first.startswith(f"Reminder of the dosing session on {clinic_words(start)}")
    assert when.strftime("%Y-%m-%d %H:%M") in first  # when it is due, in clinic time
    assert "ride-home and fasting" in reminders[1]  # the day-before reminder says what it adds
    assert "Why: Dosing session booked for" in first
    assert "Reminders 72 h, 24 h and 2 h before a visit (PROTOCOL.md §5 Messages to patients)" in first
    assert "reply 1" not in first.lower()  # a plain description, never the body
    # Other timers are listed as checks, not as texts
    checks = text_of(upcoming[upcoming.index('id="checks-h"'):])
    assert f"A worklist item, if the dosing session on {clinic_words(start)} is still unconfirmed" in checks


def test_a_sent_reminder_moves_from_upcoming_to_sent(api: ApiServer) -> None:
    workflow_id, start = booked(api, 3.2)
    before = rows(section(page_of(api, workflow_id), "upcoming"), "upcoming")
    # The scheduler's work: the 72 h reminder falls due (in about 5 hours), then the sender delivers it.
    fire_due_timers(api.services.store, datetime.now(UTC) + timedelta(hours=6))
    with Session(api.services.engine) as db:
        reminder = db.execute(select(OutboxMessage).where(OutboxMessage.workflow_id == workflow_id,
                                                          OutboxMessage.kind == "session_reminder")).scalar_one()
    waiting = text_of(section(page_of(api, workflow_id), "upcoming"))
    assert "(waiting to be sent)" in waiting
    deliver_due(api.services.store, api.services.gateway, reminder.not_before)

    html = page_of(api, workflow_id)
    after = rows(section(html, "upcoming"), "upcoming")
    assert len(after) == len(before) - 1
    assert "waiting to be sent" not in text_of(section(html, "upcoming"))
    sent = re.search(rf'<tr id="message-{reminder.id}" data-status="sent">(.*?)</tr>', section(html, "messages"), re.S)
    assert sent is not None
    why = text_of(sent.group(1))
    # The text was caused by the reminder falling due, which the booking had set.
    assert "Why: Timer fell due: reminder of the dosing session on" in why
    assert "set by dosing session booked for" in why


def test_a_cancelled_sessions_reminders_disappear(api: ApiServer) -> None:
    workflow_id, _ = booked(api, 4)
    assert rows(section(page_of(api, workflow_id), "upcoming"), "upcoming")
    response = api.post_event(workflow_id, "session.cancelled", {"session": "s1", "reason": "patient asked"})
    assert response.status_code == 200, response.text
    upcoming = section(page_of(api, workflow_id), "upcoming")
    assert rows(upcoming, "upcoming") == []
    assert "No messages planned." in upcoming


def test_why_links_name_the_causing_event_and_the_event_lists_what_it_caused(api: ApiServer) -> None:
    workflow_id, _ = booked(api, 4)
    html = page_of(api, workflow_id)
    history = section(html, "history")
    booking = re.search(r'<li id="event-(\d+)"[^>]*data-type="session.scheduled">(.*?)</li>', history, re.S)
    assert booking is not None
    seq, entry = booking.groups()
    caused = text_of(re.search(r'<span class="caused">(.*?)</span>', entry, re.S).group(1))
    assert caused == "Caused: 3 reminders scheduled, 3 checks scheduled."  # 3 reminders; no-show, confirm, REMS checks
    # Each caused group links to a row on the page, and that row's "why" links back to this event.
    for href in re.findall(r'<a href="#([^"]+)">', entry):
        row = re.search(rf'<tr id="{href}"[^>]*>(.*?)</tr>', html, re.S)
        assert row is not None, href
        assert f'<a href="#event-{seq}">Dosing session booked for' in row.group(1)
    # The referral's worklist item ("contact the referral") names the referral as its cause, and the referral says so.
    referral = re.search(r'<li id="event-1"[^>]*>(.*?)</li>', history, re.S).group(1)
    assert "worklist item" in text_of(referral)
    item = re.search(r'<tr id="escalation-[^"]+" data-escalation[^>]*>(.*?)</tr>', section(html, "escalations"), re.S)
    assert item is not None and '<a href="#event-1">Referral received from' in item.group(1)
    assert "PROTOCOL.md §2" in item.group(1)
    assert unlabelled_controls(html) == []


def test_ids_only_in_the_why_links(api: ApiServer) -> None:
    """The anchors name events by their number and rows by their id: no name, phone or body in any link."""
    workflow_id, _ = booked(api, 4)
    html = page_of(api, workflow_id)
    links = re.findall(r'href="#([^"]+)"', html)
    assert links and all(re.fullmatch(r"(event-\d+|timer-[0-9a-f-]{36}|message-[0-9a-f-]{36}|escalation-[\w-]+)", link)
                         for link in links if link.startswith(("event-", "timer-", "message-", "escalation-")))


def test_a_patient_without_sms_consent_sees_that_the_reminders_will_not_go_by_text(api: ApiServer) -> None:
    from console_support import named_referral

    workflow_id, _ = named_referral(api, "No Texts Patient", sms_consent=False)
    for event, data, role in [("evaluation.scheduled", {"start": local_time(1)}, "coordinator"),
                              ("evaluation.completed", {"eligible": True, "route": "iv_ketamine", "weight_kg": 70,
                                                        "brought_forward": "seen early"}, "clinician"),
                              ("session.scheduled", {"session": "s1", "start": local_time(4)}, "coordinator")]:
        assert api.post_event(workflow_id, event, data, role).status_code == 200
    reminders = [text_of(r) for r in rows(section(page_of(api, workflow_id), "upcoming"), "upcoming")]
    assert reminders and all("Will not go by text: no SMS consent (a coordinator calls instead)." in r
                             for r in reminders)


def test_a_worklist_item_links_to_its_why_on_the_patient_page(api: ApiServer) -> None:
    workflow_id = api.workflow_in("referred")  # a referral: the "contact the patient" item is open
    with console(api, "coordinator") as client:
        worklist = client.get("/console/worklist").text
    link = re.search(rf'href="/console/patients/{workflow_id}#(escalation-[0-9a-f-]{{36}})">Why was this raised\?</a>',
                     worklist)
    assert link is not None
    row = re.search(rf'<tr id="{link.group(1)}"[^>]*>(.*?)</tr>', page_of(api, workflow_id), re.S)
    assert row is not None and "Why: Referral received from" in text_of(row.group(1))
