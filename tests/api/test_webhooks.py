"""Twilio webhooks signed by the SDK's real `RequestValidator`: valid → processed; unsigned, tampered body or URL → 403."""

from __future__ import annotations

import uuid

import httpx
from api_support import AUTH_TOKEN, PUBLIC_URL, ApiServer, new_phone
from sqlalchemy import select
from sqlmodel import Session
from twilio.request_validator import RequestValidator

from models import queries
from models.inbox import receive_sms
from models.tables import InboundText, OutboxMessage, PatientRow

SMS_PATH = "/v1/webhooks/twilio/sms"
STATUS_PATH = "/v1/webhooks/twilio/status"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def validator() -> RequestValidator:
    return RequestValidator(AUTH_TOKEN)


def inbound(phone: str, body: str, sid: str | None = None) -> dict[str, str]:
    return {"From": phone, "To": "+15555550100", "Body": body, "MessageSid": sid or f"SM{uuid.uuid4().hex}",
            "AccountSid": "AC" + "0" * 32, "NumMedia": "0"}


def post_form(api: ApiServer, path: str, params: dict[str, str], signature: str | None) -> httpx.Response:
    headers = {"X-Twilio-Signature": signature} if signature is not None else {}
    with api.client() as client:
        return client.post(path, data=params, headers=headers)


def history(api: ApiServer, workflow_id: str) -> list[str]:
    return [record.type for record in queries.events(api.services.engine, workflow_id)]


def inbox_rows(api: ApiServer, *sids: str) -> list[InboundText]:
    with Session(api.services.engine) as db:
        rows = {r.provider_id: r for r in db.execute(select(InboundText).where(InboundText.provider_id.in_(sids)))
                .scalars()}
        db.expunge_all()
    return [rows[sid] for sid in sids if sid in rows]


def opted_out(api: ApiServer, patient_id: str) -> bool:
    with Session(api.services.engine) as db:
        return db.get(PatientRow, patient_id).opted_out


def test_a_signed_stop_opts_the_patient_out_once(api: ApiServer) -> None:
    phone = new_phone()
    created = api.referral(phone=phone)
    params = inbound(phone, "STOP")
    response = post_form(api, SMS_PATH, params, api.sign(SMS_PATH, params))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert response.text == EMPTY_TWIML
    assert opted_out(api, created["patient_id"])
    [received] = [r for r in queries.events(api.services.engine, created["workflow_id"]) if r.type == "sms.received"]
    assert received.idempotency_key == f"twilio:{params['MessageSid']}" and received.actor_role == "patient"

    again = post_form(api, SMS_PATH, params, api.sign(SMS_PATH, params))  # Twilio retried: nothing new
    assert again.status_code == 200
    assert history(api, created["workflow_id"]).count("sms.received") == 1


def test_unsigned_or_forged_texts_are_403_and_nothing_is_recorded(api: ApiServer) -> None:
    phone = new_phone()
    created = api.referral(phone=phone)
    before = history(api, created["workflow_id"])
    stop = inbound(phone, "STOP")
    signed_help = inbound(phone, "HELP")
    forgeries = {
        "unsigned": (stop, None),
        "garbage signature": (stop, "bm90LWEtc2lnbmF0dXJl"),
        "tampered body": ({**signed_help, "Body": "STOP"}, api.sign(SMS_PATH, signed_help)),
        "extra parameter": ({**signed_help, "Extra": "1"}, api.sign(SMS_PATH, signed_help)),
        "signed for another path": (stop, api.sign(STATUS_PATH, stop)),
        "signed for another query": (stop, api.sign(SMS_PATH + "?x=1", stop)),
        "signed for another host": (stop, validator().compute_signature("https://attacker.example" + SMS_PATH, stop)),
        "signed with another token": (stop, RequestValidator("not-our-token").compute_signature(PUBLIC_URL + SMS_PATH,
                                                                                                 stop)),
    }
    for name, (params, signature) in forgeries.items():
        response = post_form(api, SMS_PATH, params, signature)
        assert response.status_code == 403, name
        assert response.json()["error"]["code"] == "forbidden", name
    assert history(api, created["workflow_id"]) == before
    assert not opted_out(api, created["patient_id"])


def test_a_text_from_an_unknown_number_is_answered_and_ignored(api: ApiServer) -> None:
    params = inbound(new_phone(), "hello?")
    response = post_form(api, SMS_PATH, params, api.sign(SMS_PATH, params))
    assert response.status_code == 200 and response.text == EMPTY_TWIML
    short_code = inbound("22395", "STOP")
    assert post_form(api, SMS_PATH, short_code, api.sign(SMS_PATH, short_code)).text == EMPTY_TWIML
    # Both kept for staff, neither applied to anyone: the unknown number unassigned, the short code ignored.
    unknown, short = inbox_rows(api, params["MessageSid"], short_code["MessageSid"])
    assert (unknown.status, unknown.note, unknown.workflow_id) == ("unassigned", "unknown_number", None)
    assert (short.status, short.note) == ("ignored", "invalid from")


def help_message(api: ApiServer) -> str:
    """A real outbox message: a patient texts HELP and the reply is queued."""
    phone = new_phone()
    workflow_id = api.referral(phone=phone)["workflow_id"]
    params = inbound(phone, "HELP")
    assert post_form(api, SMS_PATH, params, api.sign(SMS_PATH, params)).status_code == 200
    [message] = [m for m in queries.messages(api.services.engine) if m.workflow_id == workflow_id]
    assert message.kind == "help"
    return message.id


def message(api: ApiServer, message_id: str) -> OutboxMessage:
    with Session(api.services.engine) as db:
        return db.get(OutboxMessage, message_id)


def test_a_signed_status_callback_marks_the_message_delivered(api: ApiServer) -> None:
    message_id = help_message(api)
    path = f"{STATUS_PATH}?message_id={message_id}"
    params = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered", "AccountSid": "AC" + "0" * 32}
    response = post_form(api, path, params, api.sign(path, params))
    assert response.status_code == 204
    delivered = message(api, message_id)
    assert (delivered.status, delivered.provider_id) == ("delivered", params["MessageSid"])
    assert delivered.delivered_at is not None


def test_a_forged_status_callback_is_403_and_changes_nothing(api: ApiServer) -> None:
    message_id, other_id = help_message(api), help_message(api)
    params = {"MessageSid": "SM" + "b" * 32, "MessageStatus": "delivered"}
    signed_for_other = api.sign(f"{STATUS_PATH}?message_id={other_id}", params)
    path = f"{STATUS_PATH}?message_id={message_id}"
    for params_sent, signature in (
        (params, signed_for_other),  # the URL's query was changed
        ({**params, "MessageStatus": "failed"}, api.sign(path, params)),  # the body was changed
        (params, None),  # unsigned
    ):
        response = post_form(api, path, params_sent, signature)
        assert response.status_code == 403
    assert message(api, message_id).status == "pending"
    assert message(api, message_id).provider_id is None


def test_the_signed_url_is_the_public_one_not_the_address_the_server_listens_on(api: ApiServer) -> None:
    phone = new_phone()
    api.referral(phone=phone)
    params = inbound(phone, "HELP")
    signed_for_listener = validator().compute_signature(api.base_url + SMS_PATH, params)
    assert api.base_url != PUBLIC_URL
    assert post_form(api, SMS_PATH, params, signed_for_listener).status_code == 403


def test_the_webhook_stores_the_text_then_applies_it_once(api: ApiServer) -> None:
    """Inbox first: the raw text is kept by MessageSid; the event says when it was received and when applied."""
    phone = new_phone()
    workflow_id = api.referral(phone=phone)["workflow_id"]
    params = inbound(phone, "1")
    assert post_form(api, SMS_PATH, params, api.sign(SMS_PATH, params)).status_code == 200

    [row] = inbox_rows(api, params["MessageSid"])
    assert (row.status, row.workflow_id, row.from_phone, row.to_phone, row.body, row.crisis) == (
        "applied", workflow_id, phone, "+15555550100", "1", False)
    [event] = [e for e in queries.events(api.services.engine, workflow_id) if e.type == "sms.received"]
    assert row.event_id == event.id and event.occurred_at == row.received_at and row.reading == "number"
    # The same text again, by webhook or in-process: nothing new.
    assert post_form(api, SMS_PATH, params, api.sign(SMS_PATH, params)).status_code == 200
    assert receive_sms(api.services.store, phone, "1", api.app.state.clock(), sid=params["MessageSid"]) is None
    assert history(api, workflow_id).count("sms.received") == 1 and len(inbox_rows(api, params["MessageSid"])) == 1


def test_crisis_language_is_marked_on_arrival(api: ApiServer) -> None:
    phone = new_phone()
    workflow_id = api.referral(phone=phone)["workflow_id"]
    params = inbound(phone, "i want to   END MY LIFE")
    assert post_form(api, SMS_PATH, params, api.sign(SMS_PATH, params)).status_code == 200
    [row] = inbox_rows(api, params["MessageSid"])
    assert (row.crisis, row.status, row.reading) == (True, "applied", "crisis")
    assert any(m.kind == "crisis" for m in queries.messages(api.services.engine) if m.workflow_id == workflow_id)


def test_a_text_without_a_message_sid_is_refused(api: ApiServer) -> None:
    phone = new_phone()
    created = api.referral(phone=phone)
    params = {k: v for k, v in inbound(phone, "STOP").items() if k != "MessageSid"}
    response = post_form(api, SMS_PATH, params, api.sign(SMS_PATH, params))
    assert response.status_code == 422 and response.json()["error"]["details"] == {"field": "MessageSid"}
    assert "sms.received" not in history(api, created["workflow_id"])


def test_a_multipart_upload_is_refused_before_anything_is_recorded(api: ApiServer) -> None:
    phone = new_phone()
    created = api.referral(phone=phone)
    params = inbound(phone, "STOP")
    with api.client() as client:
        response = client.post(SMS_PATH, data=params, files={"MediaUrl0": ("a.txt", b"hello")},
                               headers={"X-Twilio-Signature": api.sign(SMS_PATH, params)})
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request"
    assert "sms.received" not in history(api, created["workflow_id"])
