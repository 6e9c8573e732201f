"""Malformed and oversized Twilio webhooks against the real server: any form fields (unicode, right-to-left, emoji, NUL,
10,000 characters, unknown names), any raw bytes under any content type, any delivery status. No answer is a 5xx, and
nothing is half-written: a refused webhook writes nothing, and an accepted text adds at most its one `sms.received`.
"""

from __future__ import annotations

import itertools

from api_support import ApiServer, new_phone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlmodel import Session

from models import queries
from models.tables import EventRecord, OutboxMessage

SMS_PATH = "/v1/webhooks/twilio/sms"
STATUS_PATH = "/v1/webhooks/twilio/status"
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
ANSWERS = {200, 204, 400, 403, 413, 422}
KNOWN_STATUSES = {"pending", "sending", "sent", "delivered", "failed", "dropped", "unknown"}

# Any text a form can carry: every Unicode category but lone surrogates (which no client can encode), weighted
# towards the awkward ones.
awkward = st.sampled_from(["\x00", "\u202e", "\u200f", "👩🏽‍⚕️", "🙂", "STOP", "1", "%", "%zz", "&", "=", "+", "\r\n"])
any_text = st.lists(st.one_of(awkward, st.text(st.characters(exclude_categories=("Cs",)), max_size=40)),
                    max_size=30).map("".join)
long_text = st.integers(min_value=1, max_value=10_000).flatmap(
    lambda n: st.sampled_from(["a", "é", "🙂", "\u202e", "\x00"]).map(lambda c: c * n))
_sids = itertools.count()


def _event_count(api: ApiServer) -> int:
    with Session(api.services.engine) as db:
        return db.execute(select(func.count()).select_from(EventRecord)).scalar_one()


def _post(api: ApiServer, path: str, params: dict[str, str], signed: bool = True) -> int:
    headers = {"X-Twilio-Signature": api.sign(path, params) if signed else "forged"}
    with api.client() as client:
        return client.post(path, data=params, headers=headers).status_code


def test_any_signed_text_is_answered_without_a_server_error_or_a_half_write(api: ApiServer) -> None:
    phone = new_phone()
    workflow_id = api.referral(phone=phone)["workflow_id"]

    @FUZZ
    @given(sender=st.one_of(st.just(phone), st.just(new_phone()), any_text), body=st.one_of(any_text, long_text),
           sid=st.one_of(st.none(), any_text), extra=st.dictionaries(any_text, any_text, max_size=3))
    def one(sender: str, body: str, sid: str | None, extra: dict[str, str]) -> None:
        params = {**extra, "From": sender, "Body": body, "To": "+15555550100"}
        params["MessageSid"] = sid if sid is not None else f"SMfuzz{next(_sids)}"
        before_all, before = _event_count(api), [r.type for r in queries.events(api.services.engine, workflow_id)]

        status = _post(api, SMS_PATH, params)

        assert status in ANSWERS, f"answered {status}"
        after = [r.type for r in queries.events(api.services.engine, workflow_id)]
        added = after[len(before):]
        assert after[:len(before)] == before, "the history was rewritten"
        if status != 200 or sender != phone:
            assert _event_count(api) == before_all, f"a refused or unroutable text ({status}) wrote events"
        else:
            assert added in ([], ["sms.received"]), f"one text added {added}"

    one()


@FUZZ
@given(body=st.binary(max_size=4096),
       content_type=st.sampled_from(["application/x-www-form-urlencoded", "application/json", "text/plain",
                                     "multipart/form-data", "multipart/form-data; boundary=x", "application/xml", ""]),
       path=st.sampled_from([SMS_PATH, STATUS_PATH, f"{STATUS_PATH}?message_id=abc"]),
       signature=st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9+/=]{1,60}", fullmatch=True)))
def test_raw_garbage_bodies_are_refused_and_write_nothing(api: ApiServer, body: bytes, content_type: str, path: str,
                                                         signature: str | None) -> None:
    before = _event_count(api)
    headers = {"Content-Type": content_type} if content_type else {}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    with api.client() as client:
        response = client.post(path, content=body, headers=headers)
    assert response.status_code in ANSWERS - {200, 204}, f"answered {response.status_code}"
    assert response.json()["error"]["message"], f"an error without a message: {response.status_code} {response.text!r}"
    assert _event_count(api) == before


def test_any_signed_delivery_receipt_is_answered_without_a_server_error(api: ApiServer) -> None:
    phone = new_phone()
    workflow_id = api.referral(phone=phone)["workflow_id"]
    assert _post(api, SMS_PATH, {"From": phone, "Body": "HELP", "MessageSid": "SMfuzzhelp"}) == 200
    with Session(api.services.engine) as db:
        message_ids = [m.id for m in db.execute(select(OutboxMessage).where(
            OutboxMessage.workflow_id == workflow_id)).scalars()]
    assert message_ids, "a HELP text queues a reply"

    @FUZZ
    @given(message_id=st.one_of(st.sampled_from(message_ids), any_text), status=st.one_of(
               st.sampled_from(["queued", "sent", "delivered", "undelivered", "failed", "read", "canceled"]), any_text),
           error_code=st.one_of(st.none(), st.sampled_from(["30003", "21610", "30007"]), any_text),
           sid=st.one_of(st.none(), any_text))
    def one(message_id: str, status: str, error_code: str | None, sid: str | None) -> None:
        params = {"MessageStatus": status, **({"ErrorCode": error_code} if error_code is not None else {}),
                  **({"MessageSid": sid} if sid is not None else {})}
        from urllib.parse import quote

        answer = _post(api, f"{STATUS_PATH}?message_id={quote(message_id, safe='')}", params)
        assert answer in ANSWERS, f"answered {answer}"
        with Session(api.services.engine) as db:
            statuses = {m.status for m in db.execute(select(OutboxMessage).where(
                OutboxMessage.workflow_id == workflow_id)).scalars()}
        assert statuses <= KNOWN_STATUSES, f"a receipt left a message in status {statuses - KNOWN_STATUSES}"

    one()
