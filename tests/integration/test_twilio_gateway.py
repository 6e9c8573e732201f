"""The Twilio gateway with the real SDK against the fake Twilio server: sends, error mapping, signed status callbacks,
and the lookups that reconcile a send whose outcome is unknown."""

from __future__ import annotations

import logging
import re
import socket
import threading
import traceback
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fake_twilio import FakeTwilio
from twilio.request_validator import RequestValidator

from workers.sms_errors import (
    InvalidRecipient,
    PermanentSmsError,
    RecipientOptedOut,
    SendOutcomeUnknown,
    SmsError,
    TransientSmsError,
)
from workers.twilio_gateway import TwilioGateway

PHONE = "+15551234567"
BODY = "Hi Dana, your session is tomorrow at 9:00"
PUBLIC_URL = "https://carepath.example.org"
SERVICE_SID = "MG" + "ab" * 16


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


def make_gateway(fake: FakeTwilio, **overrides: object) -> TwilioGateway:
    kwargs: dict = {"from_number": FakeTwilio.FROM_NUMBER, "api_base_url": fake.base_url,
                    "status_callback_base": PUBLIC_URL, "timeout": 5}
    kwargs.update(overrides)
    token = kwargs.pop("auth_token", fake.auth_token)
    return TwilioGateway(fake.account_sid, token, **kwargs)


def assert_no_patient_data(exc: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    shown = "".join(traceback.format_exception(exc)) + repr(exc) + caplog.text
    assert PHONE not in shown and PHONE.lstrip("+") not in shown
    assert BODY not in shown
    assert exc.__cause__ is None and exc.__context__ is None  # no chained SDK error quoting Twilio's text


def test_send_records_the_message_and_returns_the_sid(fake: FakeTwilio) -> None:
    sid = make_gateway(fake).send("msg-42", "reminder", PHONE, BODY)

    assert re.fullmatch(r"SM[0-9a-f]{32}", sid)
    [message] = fake.messages
    assert (message.sid, message.to, message.body, message.from_) == (sid, PHONE, BODY, FakeTwilio.FROM_NUMBER)
    assert message.messaging_service_sid is None
    assert message.status_callback == f"{PUBLIC_URL}/v1/webhooks/twilio/status?message_id=msg-42"


def test_send_through_a_messaging_service(fake: FakeTwilio) -> None:
    gateway = make_gateway(fake, from_number=None, messaging_service_sid=SERVICE_SID)
    sid = gateway.send("msg-1", "check_in", PHONE, BODY)

    [message] = fake.messages
    assert (message.sid, message.from_, message.messaging_service_sid) == (sid, None, SERVICE_SID)


def test_exactly_one_sender_is_required() -> None:
    with pytest.raises(ValueError):
        TwilioGateway("AC" + "0" * 32, "token", api_base_url="http://127.0.0.1:1")
    with pytest.raises(ValueError):
        TwilioGateway("AC" + "0" * 32, "token", from_number="+15005550006", messaging_service_sid=SERVICE_SID)


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        (21610, 400, RecipientOptedOut),
        (21211, 400, InvalidRecipient),
        (21614, 400, InvalidRecipient),
        (None, 500, TransientSmsError),
        (None, 503, TransientSmsError),
        (None, 429, TransientSmsError),
        (21606, 400, PermanentSmsError),  # the From number cannot send: configuration, not worth retrying
    ],
)
def test_provider_errors_are_mapped(fake: FakeTwilio, caplog: pytest.LogCaptureFixture, code, status, error) -> None:
    caplog.set_level(logging.DEBUG)
    fake.fail_with(code, status=status) if code else fake.fail_next(1, status=status)

    with pytest.raises(SmsError) as raised:
        make_gateway(fake).send("msg-7", "reminder", PHONE, BODY)

    exc = raised.value
    assert type(exc) is error
    assert (exc.message_id, exc.status) == ("msg-7", status)
    assert exc.code == (code or {500: 20500, 503: 20500, 429: 20429}[status])
    assert isinstance(exc, TransientSmsError) is (error is TransientSmsError)  # what the task retries
    assert fake.messages == []
    assert_no_patient_data(exc, caplog)


def test_failures_apply_to_the_next_requests_only(fake: FakeTwilio) -> None:
    gateway = make_gateway(fake)
    fake.fail_next(2, status=500)
    for _ in range(2):
        with pytest.raises(TransientSmsError):
            gateway.send("msg-1", "reminder", PHONE, BODY)
    sid = gateway.send("msg-1", "reminder", PHONE, BODY)

    assert [a.http_status for a in fake.attempts] == [500, 500, 201]
    assert [m.sid for m in fake.messages] == [sid]


def test_a_dead_port_is_transient_and_safe_to_retry(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again on exit: nothing listens there
    gateway = TwilioGateway("AC" + "0" * 32, "token", from_number="+15005550006", api_base_url=f"http://127.0.0.1:{port}")

    with pytest.raises(TransientSmsError) as raised:
        gateway.send("msg-9", "reminder", PHONE, BODY)

    assert not isinstance(raised.value, SendOutcomeUnknown)  # the request never left: a resend cannot duplicate
    assert_no_patient_data(raised.value, caplog)


def test_a_timeout_after_twilio_accepted_is_an_unknown_outcome(fake: FakeTwilio, caplog: pytest.LogCaptureFixture) -> None:
    fake.delay(2)
    with pytest.raises(SendOutcomeUnknown) as raised:
        make_gateway(fake, timeout=0.3).send("msg-3", "reminder", PHONE, BODY)

    assert isinstance(raised.value, TransientSmsError)
    assert len(fake.messages) == 1  # recorded before the delay: "Twilio" has it, so the callback must reconcile
    assert_no_patient_data(raised.value, caplog)


def test_a_wrong_auth_token_is_permanent(fake: FakeTwilio, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(PermanentSmsError) as raised:
        make_gateway(fake, auth_token="not-the-token").send("msg-5", "reminder", PHONE, BODY)

    assert (raised.value.status, raised.value.code) == (401, 20003)
    assert fake.messages == [] and fake.attempts == []
    assert_no_patient_data(raised.value, caplog)


def test_a_send_logs_ids_only(fake: FakeTwilio, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sid = make_gateway(fake).send("msg-8", "reminder", PHONE, BODY)

    assert "msg-8" in caplog.text and sid in caplog.text
    assert PHONE not in caplog.text and BODY not in caplog.text


def test_the_edge_and_region_forms_are_redirected_too(fake: FakeTwilio, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_EDGE", "sydney")
    monkeypatch.setenv("TWILIO_REGION", "au1")  # the SDK then addresses api.sydney.au1.twilio.com
    make_gateway(fake).send("msg-1", "reminder", PHONE, BODY)

    assert len(fake.messages) == 1


class CallbackReceiver:
    """A stand-in for our webhook: records each POST's full URL, form and signature header."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], str]] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"])).decode()
                form = {k: v[-1] for k, v in urllib.parse.parse_qs(raw).items()}
                with receiver.arrived:
                    receiver.received.append((receiver.url + self.path, form, self.headers.get("X-Twilio-Signature", "")))
                    receiver.arrived.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def wait(self, count: int) -> list[tuple[str, dict[str, str], str]]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, timeout=10), self.received
            return list(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    receiver = CallbackReceiver()
    yield receiver
    receiver.close()


def test_status_callbacks_arrive_signed(fake: FakeTwilio, receiver: CallbackReceiver) -> None:
    fake.callbacks(True)
    gateway = make_gateway(fake, status_callback_base=receiver.url)
    sid = gateway.send("msg-11", "reminder", PHONE, BODY)

    received = receiver.wait(3)
    validator = RequestValidator(fake.auth_token)
    assert [form["MessageStatus"] for _, form, _ in received] == ["queued", "sent", "delivered"]
    for url, form, signature in received:
        assert url == f"{receiver.url}/v1/webhooks/twilio/status?message_id=msg-11"
        assert form["MessageSid"] == sid and form["AccountSid"] == fake.account_sid and form["To"] == PHONE
        assert "ErrorCode" not in form
        assert validator.validate(url, form, signature)
        assert not RequestValidator("another-token").validate(url, form, signature)
    fake.wait_for_callbacks(3)
    assert [r.http_status for r in fake.callback_results] == [204, 204, 204]
    assert gateway.fetch_status("msg-11", sid) == ("delivered", None)


def test_an_undelivered_callback_carries_the_error_code(fake: FakeTwilio, receiver: CallbackReceiver) -> None:
    fake.callbacks(True, outcome="undelivered", error_code=30005)
    gateway = make_gateway(fake, status_callback_base=receiver.url)
    sid = gateway.send("msg-12", "reminder", PHONE, BODY)

    *_, (url, form, signature) = receiver.wait(3)
    assert (form["MessageStatus"], form["ErrorCode"]) == ("undelivered", "30005")
    assert RequestValidator(fake.auth_token).validate(url, form, signature)
    assert gateway.fetch_status("msg-12", sid) == ("undelivered", 30005)


def test_callbacks_to_a_dead_receiver_are_swallowed(fake: FakeTwilio) -> None:
    fake.callbacks(True)
    make_gateway(fake, status_callback_base="http://127.0.0.1:9").send("msg-13", "reminder", PHONE, BODY)

    results = fake.wait_for_callbacks(3)
    assert all(r.http_status is None and r.error for r in results)


def test_fetching_an_unknown_message_is_permanent(fake: FakeTwilio) -> None:
    with pytest.raises(PermanentSmsError) as raised:
        make_gateway(fake).fetch_status("msg-1", "SM" + "0" * 32)
    assert (raised.value.status, raised.value.code) == (404, 20404)


# --- find_sent: was a send whose answer was lost accepted after all? ------------------------------------------------


def just_before() -> datetime:
    return datetime.now(UTC) - timedelta(seconds=1)


def test_find_sent_finds_the_accepted_message(fake: FakeTwilio) -> None:
    gateway = make_gateway(fake)
    since = just_before()
    sid = gateway.send("msg-20", "reminder", PHONE, BODY)

    assert gateway.find_sent("msg-20", PHONE, BODY, since) == sid


def test_find_sent_works_through_a_messaging_service(fake: FakeTwilio) -> None:
    gateway = make_gateway(fake, from_number=None, messaging_service_sid=SERVICE_SID)
    since = just_before()
    sid = gateway.send("msg-21", "reminder", PHONE, BODY)

    assert gateway.find_sent("msg-21", PHONE, BODY, since) == sid


def test_find_sent_is_none_when_twilio_never_got_it(fake: FakeTwilio) -> None:
    gateway = make_gateway(fake)
    fake.fail_next(1, status=500)  # refused: nothing recorded
    with pytest.raises(TransientSmsError):
        gateway.send("msg-22", "reminder", PHONE, BODY)

    assert gateway.find_sent("msg-22", PHONE, BODY, just_before()) is None


def test_find_sent_ignores_another_recipient_and_another_text(fake: FakeTwilio) -> None:
    gateway = make_gateway(fake)
    since = just_before()
    gateway.send("msg-23", "reminder", "+15557654321", BODY)
    gateway.send("msg-24", "reminder", PHONE, BODY + " (moved)")

    assert gateway.find_sent("msg-25", PHONE, BODY, since) is None
    assert gateway.find_sent("msg-25", PHONE, BODY[:-1], since) is None  # the body is compared exactly


def test_find_sent_ignores_messages_older_than_since(fake: FakeTwilio) -> None:
    gateway = make_gateway(fake)
    old = gateway.send("msg-26", "reminder", PHONE, BODY)
    fake.backdate(old, 120)  # the same text, two minutes before this send was claimed: another message
    since = just_before()

    assert gateway.find_sent("msg-27", PHONE, BODY, since) is None
    assert gateway.find_sent("msg-27", PHONE, BODY, since - timedelta(minutes=5)) == old


def test_find_sent_reads_whole_days_from_twilio_and_the_time_itself(fake: FakeTwilio) -> None:
    # Twilio's DateSent filter takes a GMT date: yesterday's messages come back for a `since` of yesterday, and are
    # then matched by time; the day before's are not even listed.
    gateway = make_gateway(fake)
    yesterday = gateway.send("msg-28", "reminder", PHONE, BODY)
    fake.backdate(yesterday, 86400)
    older = gateway.send("msg-29", "reminder", PHONE, BODY)
    fake.backdate(older, 3 * 86400)

    assert gateway.find_sent("msg-30", PHONE, BODY, datetime.now(UTC) - timedelta(days=1, minutes=1)) == yesterday
    assert gateway.find_sent("msg-30", PHONE, BODY, datetime.now(UTC) - timedelta(days=4)) == older  # the oldest match


def test_find_sent_cuts_since_to_the_second_as_twilio_stamps_it(fake: FakeTwilio) -> None:
    gateway = make_gateway(fake)
    since = datetime.now(UTC)
    sid = gateway.send("msg-31", "reminder", PHONE, BODY)
    # date_created drops the fraction: a message taken 0.3 s after `since` may read as up to 0.999 s before it
    assert gateway.find_sent("msg-31", PHONE, BODY, since + timedelta(microseconds=999_999 - since.microsecond)) == sid


def test_the_fakes_list_pages_the_way_the_sdk_reads_them(fake: FakeTwilio) -> None:
    gateway = make_gateway(fake)
    sids = [gateway.send(f"msg-{n}", "reminder", PHONE, f"{BODY} #{n}") for n in range(5)]
    gateway.send("msg-other", "reminder", "+15557654321", BODY)

    listed = gateway.client.messages.list(to=PHONE, page_size=2)  # three pages, followed by next_page_uri

    assert [m.sid for m in listed] == sids[::-1]  # newest first, as Twilio lists
    assert gateway.client.messages.list(to=PHONE, limit=3)[0].sid == sids[-1]


@pytest.mark.parametrize(("status", "error"), [(500, TransientSmsError), (503, TransientSmsError),
                                               (429, TransientSmsError), (403, PermanentSmsError)])
def test_find_sent_errors_are_mapped_as_for_send(fake: FakeTwilio, caplog: pytest.LogCaptureFixture, status,
                                                 error) -> None:
    caplog.set_level(logging.INFO)  # what the processes log at (urllib3's DEBUG lines show any URL's query string)
    fake.fail_lookups(1, status=status, code=20403 if status == 403 else None)

    with pytest.raises(SmsError) as raised:
        make_gateway(fake).find_sent("msg-32", PHONE, BODY, just_before())

    assert type(raised.value) is error
    assert (raised.value.message_id, raised.value.status) == ("msg-32", status)
    assert raised.value.code == {500: 20500, 503: 20500, 429: 20429, 403: 20403}[status]
    assert_no_patient_data(raised.value, caplog)


def test_find_sent_with_a_wrong_auth_token_is_permanent(fake: FakeTwilio, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(PermanentSmsError) as raised:
        make_gateway(fake, auth_token="not-the-token").find_sent("msg-33", PHONE, BODY, just_before())

    assert (raised.value.status, raised.value.code) == (401, 20003)
    assert_no_patient_data(raised.value, caplog)


def test_find_sent_on_a_dead_port_is_transient(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gateway = TwilioGateway("AC" + "0" * 32, "token", from_number="+15005550006", api_base_url=f"http://127.0.0.1:{port}")

    with pytest.raises(TransientSmsError) as raised:
        gateway.find_sent("msg-34", PHONE, BODY, just_before())

    assert_no_patient_data(raised.value, caplog)


def test_find_sent_logs_ids_only(fake: FakeTwilio, caplog: pytest.LogCaptureFixture) -> None:
    # At INFO, what the processes log at: the SDK's own request log would show the lookup's `To` unless redacted.
    # (urllib3's DEBUG request lines show any URL's query string; nothing here runs at DEBUG.)
    caplog.set_level(logging.INFO)
    gateway = make_gateway(fake)
    since = just_before()
    sid = gateway.send("msg-35", "reminder", PHONE, BODY)
    caplog.clear()

    assert gateway.find_sent("msg-35", PHONE, BODY, since) == sid

    assert "msg-35" in caplog.text and sid in caplog.text
    assert PHONE not in caplog.text and PHONE.lstrip("+") not in caplog.text and BODY not in caplog.text
