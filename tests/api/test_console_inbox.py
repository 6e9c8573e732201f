"""Shared numbers and the staff SMS inbox over HTTP: a referral on a number already on file is accepted with a warning
(ids only in the API; names in the console, ids for ops); a text from a shared number that staff must assign is listed
in the inbox and assigned once; the reply box refuses without consent or after STOP, says when quiet hours hold a text,
and asks for confirmation before a text that names a drug goes."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from api_support import ApiServer, new_phone, referral_body
from console_support import console, unlabelled_controls

from api.console.reply import reply_box
from models import queries
from models.queries import inbox, listing

SMS_PATH = "/v1/webhooks/twilio/sms"


def form_fields(html: str, action: str) -> dict[str, str]:
    """The hidden fields (idempotency key, form token) of the form posting to `action`."""
    form = html.split(f'action="{action}"', 1)[1].split("</form>", 1)[0]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))


def patient_with(api: ApiServer, name: str, phone: str, consent: bool = True) -> dict:
    with api.client("coordinator") as client:
        response = client.post("/v1/referrals", json=referral_body(phone=phone, patient={
            "name": name, "phone": phone, "timezone": "America/New_York", "sms_consent": consent}))
    assert response.status_code == 201, response.text
    return response.json()


def text_from(api: ApiServer, phone: str, body: str) -> str:
    """A signed inbound text (applied at once: the test server runs tasks inline); returns its inbox id."""
    sid = f"SM{uuid.uuid4().hex}"
    params = {"From": phone, "To": "+15555550100", "Body": body, "MessageSid": sid}
    with api.client() as client:
        assert client.post(SMS_PATH, data=params, headers={"X-Twilio-Signature": api.sign(SMS_PATH, params)}
                           ).status_code == 200
    [row] = [r.text for r in inbox.inbox_page(api.services.engine, limit=200).rows if r.text.provider_id == sid]
    return row.id


def test_a_referral_on_a_number_already_on_file_is_accepted_with_a_warning(api: ApiServer) -> None:
    phone = new_phone()
    first = patient_with(api, "Ana Onfile", phone)
    second = patient_with(api, "Ben Onfile", phone)

    assert first["warnings"] == []
    [warning] = second["warnings"]
    assert warning["code"] == "shared_phone" and warning["patients"] == [first["patient_id"]]
    assert "Ana" not in str(warning), "ids only"

    with console(api, "coordinator") as client:
        page = client.get(f"/console/patients/{second['workflow_id']}?recorded=referral.received&check=number").text
        other = client.get(f"/console/patients/{first['workflow_id']}").text
    assert "Check the phone number" in page and "Ana Onfile" in page
    assert "shared</strong> with\n      1 other patient" in other and "Ben Onfile" in other
    with console(api, "ops") as client:
        ops_page = client.get(f"/dashboard/patients/{first['workflow_id']}").text
    assert "Phone number shared with" in ops_page and f"workflow {second['workflow_id'][:8]}" in ops_page
    assert "Ben Onfile" not in ops_page, "ops see ids only"


def test_the_intake_form_opens_the_new_patients_page_with_the_shared_number_warning(api: ApiServer) -> None:
    phone = new_phone()
    patient_with(api, "Cy Intake", phone)
    with console(api, "coordinator") as client:
        html = client.get("/console/referrals/new").text
        form = {**form_fields(html, "/console/referrals"), "patient.name": "Dee Intake", "patient.phone": phone,
                "patient.sms_consent": "yes", "referrer": "Dr. Alvarez", "prior_treatments": "3", "urgency": "routine"}
        response = client.post("/console/referrals", data=form)
        assert response.status_code == 303 and response.headers["location"].endswith("&check=number")
        page = client.get(response.headers["location"]).text
    assert 'role="alert"><strong>Check the phone number:</strong>' in page and "Cy Intake" in page


def test_a_text_staff_must_assign_is_in_the_inbox_and_assigning_it_applies_it_once(api: ApiServer) -> None:
    phone = new_phone()
    first = patient_with(api, "Eve Inbox", phone)
    patient_with(api, "Fay Inbox", phone)
    inbox_id = text_from(api, phone, "running late, sorry")
    acks = [m for m in queries.messages(api.services.engine) if m.to_phone == phone and m.workflow_id is None]
    assert [m.kind for m in acks] == ["reply_ack"]

    with console(api, "coordinator") as client:
        listed = client.get("/console/inbox").text
        assert f'data-text="{inbox_id}" data-status="unassigned"' in listed and "running late, sorry" in listed
        page = client.get(f"/console/inbox/{inbox_id}").text
        assert "Eve Inbox" in page and "Fay Inbox" in page and unlabelled_controls(page) == []
        found = client.post(f"/console/inbox/{inbox_id}/find",
                            data={**form_fields(page, f"/console/inbox/{inbox_id}/find"), "q": "Eve Inbox"})
        assert found.status_code == 200 and "Eve Inbox" in found.text
        fields = form_fields(page, f"/console/inbox/{inbox_id}/assign")
        done = client.post(f"/console/inbox/{inbox_id}/assign", data={**fields, "workflow_id": first["workflow_id"]})
        again = client.post(f"/console/inbox/{inbox_id}/assign", data={**fields, "workflow_id": first["workflow_id"]})
        assert done.status_code == again.status_code == 303
        assert done.headers["location"] == f"/console/inbox/{inbox_id}?done=assigned", "ids only in the URL"
        assigned = client.get(done.headers["location"]).text
        assert "Assigned: the text is on the patient" in assigned and 'id="reply"' in assigned
    history = [e for e in queries.events(api.services.engine, first["workflow_id"]) if e.type == "sms.received"]
    assert len(history) == 1 and history[0].data["body"] == "running late, sorry"
    assert inbox.inbound_text(api.services.engine, inbox_id).status == "applied"

    with console(api, "ops") as client:
        assert client.get("/console/inbox").status_code == 403, "ops see nothing of the inbox"
        assert client.get(f"/console/inbox/{inbox_id}").status_code == 403


def test_the_reply_box_refuses_without_consent_or_after_stop_and_confirms_a_drug_name(api: ApiServer) -> None:
    texted = patient_with(api, "Gus Reply", new_phone())
    no_consent = patient_with(api, "Hal Noconsent", new_phone(), consent=False)
    stopped_phone = new_phone()
    stopped = patient_with(api, "Ida Stopped", stopped_phone)
    text_from(api, stopped_phone, "STOP")

    with console(api, "coordinator") as client:
        for created, reason in ((no_consent, "has not agreed to texts"), (stopped, "replied STOP")):
            url = f"/console/patients/{created['workflow_id']}"
            page = client.get(url).text
            assert reason in page and 'id="reply-body"' not in page
            refused = client.post(f"{url}/message", data={**form_fields(page, "/logout"), "body": "hello"})
            assert refused.status_code == 409 and reason in refused.text

        url = f"/console/patients/{texted['workflow_id']}"
        page = client.get(url).text
        fields = form_fields(page, f"{url}/message")
        body = "Your ketamine visit moved to 3pm."
        warned = client.post(f"{url}/message", data={**fields, "body": body})
        assert warned.status_code == 409 and "names ketamine" in warned.text
        assert 'name="send_anyway"' in warned.text and body in warned.text, "the text is kept, the confirmation offered"
        sent = client.post(f"{url}/message", data={**form_fields(warned.text, f"{url}/message"), "body": body,
                                                   "send_anyway": "yes"})
        assert sent.status_code == 303 and "texted=" in sent.headers["location"]
    [message] = [m for m in listing.messages_of(api.services.engine, texted["workflow_id"]) if m.kind == "staff_message"]
    assert message.body.endswith(body) and message.status in ("pending", "sent")


def test_the_reply_box_says_when_quiet_hours_hold_a_text(api: ApiServer) -> None:
    created = patient_with(api, "Jo Night", new_phone())
    workflow, patient = listing.workflow_with_patient(api.services.engine, created["workflow_id"])
    state = queries.load_state(api.services.engine, workflow.id)
    night = datetime(2030, 1, 8, 23, 30, tzinfo=ZoneInfo("America/New_York"))
    day = datetime(2030, 1, 8, 11, 30, tzinfo=ZoneInfo("America/New_York"))
    assert reply_box(api.services, state, patient, night).quiet_until == "08:00"
    assert reply_box(api.services, state, patient, day).quiet_until is None


def test_an_unknown_numbers_emergency_is_on_the_worklist_as_unknown_number(api: ApiServer) -> None:
    phone = new_phone()
    inbox_id = text_from(api, phone, "I want to end my life")
    with console(api, "clinician") as client:
        page = client.get("/console/worklist").text
    item = page.split(f'href="/console/inbox/{inbox_id}"', 1)
    assert len(item) == 2 and "unknown number" in item[0][-400:] and "I want to end my life" in item[1][:800]
    with console(api, "ops") as client:
        ops = client.get("/console/worklist").text
        overview = client.get("/dashboard").text
    assert "unknown number" in ops and "I want to end my life" not in ops and f"/console/inbox/{inbox_id}" not in ops
    assert "unknown number" in overview and "I want to end my life" not in overview
    with api.client("clinician") as client:
        listed = client.get("/v1/escalations", params={"severity": "emergency"}).json()["items"]
        [mine] = [e for e in listed if e.get("inbox_id") == inbox_id]
        assert mine["workflow_id"] is None and mine["patient_id"] is None
        acked = client.post(f"/v1/escalations/{mine['id']}/acknowledge", json={})
    assert acked.status_code == 200, acked.text
    assert acked.json()["escalation"]["status"] == "acknowledged" and acked.json()["workflow_id"] is None

