"""The console's worklist: overdue first, then severity, then age; claim (the engine's acknowledgement in my name),
resolve with a required note; refusals shown on the item with nothing written; ops work it by ids."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from api_support import SSL_CONTEXT, ApiServer, new_phone, referral_body, running
from console_support import console, history, named_referral, unlabelled_controls
from signin_support import sign_in

from api.app import create_app
from models.queries import load_state

PHQ9_WITH_ITEM9 = {"instrument": "phq9", "answers": [2, 2, 1, 1, 1, 1, 1, 1, 1]}


def items(html: str) -> list[tuple[str, str]]:
    """(escalation id, status) in the order the worklist shows them."""
    return re.findall(r'<li class="item [^"]*" id="esc-[^"]+" data-escalation="([0-9a-f-]{36})" data-status="(\w+)">', html)


def open_escalation(api: ApiServer, workflow_id: str, reason: str) -> str:
    state = load_state(api.services.engine, workflow_id)
    return next(e.id for e in state.escalations.values() if e.reason == reason and e.status != "resolved")


@contextmanager
def clinic_at(api: ApiServer, now: list[datetime]) -> Iterator[str]:
    """The same app and database, served with a clock the test moves (`now[0]`): deadlines pass without waiting."""
    with running(create_app(api.services, clock=lambda: now[0])) as base_url:
        yield base_url


def start(base_url: str, token: str, name: str, *events: tuple[str, dict]) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, verify=SSL_CONTEXT, timeout=30) as client:
        body = referral_body(new_phone())
        body["patient"]["name"] = name
        workflow_id = client.post("/v1/referrals", json=body).json()["workflow_id"]
        for event_type, data in events:
            response = client.post(f"/v1/workflows/{workflow_id}/events", json={"type": event_type, "data": data})
            assert response.status_code == 200, response.text
    return workflow_id


def test_overdue_items_come_first_then_severity_then_age(api: ApiServer) -> None:
    now = [datetime.now(UTC)]
    admin = api.tokens["admin"]
    with clinic_at(api, now) as base:
        old_routine = start(base, admin, "Worklist Old Routine")
        now[0] += timedelta(minutes=1)  # a frozen clock would tie the two referral tasks' ages
        old_urgent = start(base, admin, "Worklist Old Urgent", ("assessment.submitted", PHQ9_WITH_ITEM9))
        now[0] += timedelta(days=5)  # every deadline above has passed
        new_urgent = start(base, admin, "Worklist New Urgent", ("assessment.submitted", PHQ9_WITH_ITEM9))
        now[0] += timedelta(minutes=5)
        new_routine = start(base, admin, "Worklist New Routine")
        with httpx.Client(base_url=base, verify=SSL_CONTEXT, follow_redirects=False) as client:
            sign_in(client, api.new_staff("coordinator"))
            html = client.get("/console/worklist").text
    expected = [open_escalation(api, old_urgent, "phq9_item9"),  # overdue, urgent
                open_escalation(api, old_routine, "referral_contact"),  # overdue, routine, raised first
                open_escalation(api, old_urgent, "referral_contact"),
                open_escalation(api, new_urgent, "phq9_item9"),  # not overdue, urgent
                open_escalation(api, new_urgent, "referral_contact"),  # not overdue, routine, oldest first
                open_escalation(api, new_routine, "referral_contact")]
    shown = [escalation_id for escalation_id, _ in items(html) if escalation_id in expected]
    assert shown == expected
    assert html.count("OVERDUE") >= 3 and "past the acknowledgement deadline" in html
    assert unlabelled_controls(html) == []


def test_claim_records_my_acknowledgement_and_a_second_claim_is_refused_on_the_item(api: ApiServer) -> None:
    workflow_id, _ = named_referral(api, "Worklist Claim Patient")
    task = open_escalation(api, workflow_id, "referral_contact")
    with console(api, "coordinator") as client:
        html = client.get("/console/worklist").text
        key = re.search(rf'/console/worklist/{task}/claim">\s*<input type="hidden" name="idempotency_key" value="([^"]+)"',
                        html).group(1)
        claimed = client.post(f"/console/worklist/{task}/claim", data={"idempotency_key": key})
        assert claimed.status_code == 303 and claimed.headers["location"] == "/console/worklist?done=claimed"
        again = client.post(f"/console/worklist/{task}/claim", data={"idempotency_key": key})  # double click
        assert again.status_code == 303
        page = client.get(claimed.headers["location"]).text
        mine = client.get("/console/worklist", params={"mine": "1"}).text
    assert "Claimed: the escalation is acknowledged in your name." in page
    assert dict(items(page))[task] == "acknowledged" and "claimed by Test Coordinator (you)" in page
    assert task in dict(items(mine))
    assert history(api, workflow_id).count("escalation.acknowledged") == 1, "the double click applied once"

    with console(api, "clinician") as client:
        refused = client.post(f"/console/worklist/{task}/claim", data={"idempotency_key": "another-claim"})
    assert refused.status_code == 409
    item = refused.text.split(f'data-escalation="{task}"', 1)[1].split("</li>", 1)[0]
    assert 'role="alert"' in item and "is acknowledged, not open" in item
    assert history(api, workflow_id).count("escalation.acknowledged") == 1


def test_resolving_needs_a_note_and_records_it(api: ApiServer) -> None:
    workflow_id, _ = named_referral(api, "Worklist Resolve Patient")
    task = open_escalation(api, workflow_id, "referral_contact")
    with console(api, "clinician") as client:
        blank = client.post(f"/console/worklist/{task}/resolve", data={"note": "   "})
        assert blank.status_code == 422 and "Write a note to resolve" in blank.text
        assert history(api, workflow_id) == ["referral.received"]
        done = client.post(f"/console/worklist/{task}/resolve", data={"note": "called, booked for Tuesday"})
        assert done.status_code == 303 and done.headers["location"] == "/console/worklist?done=resolved"
        assert task not in dict(items(client.get("/console/worklist").text))
    with api.client("clinician") as client:
        [resolved] = [e for e in client.get(f"/v1/workflows/{workflow_id}/events").json()["items"]
                      if e["type"] == "escalation.resolved"]
    assert resolved["data"] == {"escalation": task, "by": api.names["clinician"], "note": "called, booked for Tuesday"}
    assert resolved["actor"]["role"] == "clinician"


def test_filters_by_severity(api: ApiServer) -> None:
    workflow_id, _ = named_referral(api, "Worklist Severity Patient")
    assert api.post_event(workflow_id, "assessment.submitted", PHQ9_WITH_ITEM9, "clinician").status_code == 200
    urgent, routine = (open_escalation(api, workflow_id, r) for r in ("phq9_item9", "referral_contact"))
    with console(api, "clinician") as client:
        shown = dict(items(client.get("/console/worklist", params={"severity": "urgent"}).text))
    assert urgent in shown and routine not in shown


def test_ops_work_the_list_by_ids(api: ApiServer) -> None:
    workflow_id, phone = named_referral(api, "Worklist Ops Privacy Patient")
    task = open_escalation(api, workflow_id, "referral_contact")
    with console(api, "ops") as client:
        html = client.get("/console/worklist").text
        assert "Worklist Ops Privacy Patient" not in html and phone not in html
        assert f'<a href="/dashboard/patients/{workflow_id}">workflow {workflow_id[:8]}</a>' in html
        assert client.post(f"/console/worklist/{task}/claim", data={}).status_code == 303
    assert history(api, workflow_id)[-1] == "escalation.acknowledged"


@pytest.mark.parametrize("path", ["/console/worklist", "/console/worklist/x/claim", "/console/worklist/x/resolve"])
def test_the_worklist_needs_a_login(api: ApiServer, path: str) -> None:
    with httpx.Client(base_url=api.base_url, verify=SSL_CONTEXT, follow_redirects=False) as client:
        response = client.get(path) if path.endswith("worklist") else client.post(path, data={"note": "x"})
    assert response.status_code == 303 and response.headers["location"] == "/login"


def test_a_staff_alert_links_to_its_item_which_the_worklist_marks(start_api) -> None:
    """Issue #14 item 7: the alert's link names the item, by id only, and the worklist marks it (it used to be the
    worklist's address alone); once resolved, the same link says so."""
    clinic = start_api(staff_on_call="+15555550190", staff_medical_director="+15555550191")
    name, phone = "Alert Link Patient", new_phone()
    workflow_id = clinic.referral(patient={"name": name, "phone": phone, "timezone": "America/New_York",
                                           "sms_consent": True})["workflow_id"]
    assert clinic.post_event(workflow_id, "assessment.submitted", PHQ9_WITH_ITEM9, "clinician").status_code == 200
    item = open_escalation(clinic, workflow_id, "phq9_item9")
    with clinic.services.engine.connect() as db:
        [body] = db.exec_driver_sql("SELECT body FROM outbox WHERE kind = 'staff_alert' AND escalation_id = %s",
                                    (item,)).scalars().all()
    link = f"{clinic.services.settings.public_url}/worklist/{item}"
    assert body.endswith(f"Worklist: {link}") and name not in body and phone not in body
    path = link.removeprefix(clinic.services.settings.public_url)
    with console(clinic, "clinician") as client:
        onward = client.get(path)
        assert onward.status_code == 303 and onward.headers["location"] == f"/console/worklist?item={item}#esc-{item}"
        html = client.get(onward.headers["location"]).text
        marked = re.findall(r'<li class="item [^"]*\bmarked\b[^"]*" id="esc-([0-9a-f-]{36})"[^>]*aria-current="true"', html)
        assert marked == [item] and "The item your alert links to is marked below" in html
        assert client.get("/worklist/not-an-id").headers["location"] == "/console/worklist"
        key = re.search(rf'/console/worklist/{item}/resolve" class="resolve">\s*<input type="hidden" '
                        r'name="idempotency_key" value="([^"]+)"', html).group(1)
        assert client.post(f"/console/worklist/{item}/resolve",
                           data={"note": "called, safe", "idempotency_key": key}).status_code == 303
        after = client.get(f"/console/worklist?item={item}").text
        assert "no longer on the worklist: it was resolved by" in after and 'aria-current="true"' not in after

    text = {"From": new_phone(), "To": "+15555550100", "Body": "i want to end my life", "MessageSid": "SMalertlink1"}
    with clinic.client() as twilio:  # an unknown number's emergency: both numbers texted, each with the item's link
        signed = {"X-Twilio-Signature": clinic.sign("/v1/webhooks/twilio/sms", text)}
        assert twilio.post("/v1/webhooks/twilio/sms", data=text, headers=signed).status_code == 200
    with clinic.services.engine.connect() as db:
        alerts = db.exec_driver_sql("SELECT body, escalation_id FROM outbox WHERE kind = 'staff_alert' "
                                    "AND workflow_id IS NULL").all()
    assert len(alerts) == 2 and all(body == "carepath: an unknown number needs follow-up (safety emergency). "
                                    f"Worklist: {clinic.services.settings.public_url}/worklist/{escalation}"
                                    for body, escalation in alerts)
