"""A fake Twilio Messages API on 127.0.0.1 for tests and `carepath bench`: what the real SDK calls, recorded, with failures,
delays and callbacks. (The tests import it as `fake_twilio`, a re-export in tests/.)

    with FakeTwilio() as fake:
        gateway = TwilioGateway(fake.account_sid, fake.auth_token, from_number=FakeTwilio.FROM_NUMBER,
                                api_base_url=fake.base_url, status_callback_base="http://127.0.0.1:8000")
        fake.fail_next(2, status=500)     # the next two creates answer 500 (Twilio error JSON)
        fake.fail_with(21610)             # then one answers 400 / 21610
        fake.fail_lookups(1, status=503)  # the next GET (a list or a fetch) answers 503
        fake.delay(3)                     # record first, answer 3 s later: a client killed meanwhile was still "accepted"
        fake.callbacks(True)              # POST signed queued / sent / delivered callbacks to each StatusCallback
        fake.wait_for_messages(1)
        gateway.find_sent("msg-1", to, body, since)  # GET Messages.json?To=…&DateSent>=YYYY-MM-DD, as the SDK lists

For processes under test, `fake.env()` gives the TWILIO_* variables that point the SDK here.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import secrets
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from twilio.request_validator import RequestValidator

API = "/2010-04-01"
DEFAULT_ACCOUNT_SID = "AC" + "fa4e" * 8
DEFAULT_AUTH_TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
POOL_NUMBER = "+15005550006"  # the sender a messaging service "picks" when the request names no From
# Twilio's error texts; like the real ones, some quote the number, which is why the gateway must never echo them.
ERROR_TEXTS = {
    20001: "Invalid paging parameter",
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "An internal server error has occurred",
    21211: "The 'To' number {to} is not a valid phone number.",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number {to} is not a valid mobile number",
}
DEFAULT_CODES = {401: 20003, 404: 20404, 429: 20429, 500: 20500, 503: 20500}
CALLBACK_STEPS = {"delivered": ("queued", "sent", "delivered"), "undelivered": ("queued", "sent", "undelivered"),
                  "failed": ("queued", "failed")}


@dataclass
class FakeMessage:
    """One message the fake accepted (status advances as callbacks go out)."""

    sid: str
    account_sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    status_callback: str | None
    received_at: float
    status: str = "queued"
    error_code: int | None = None


@dataclass(frozen=True)
class Attempt:
    """Every authenticated create request, accepted or failed: what a retry test counts."""

    received_at: float
    http_status: int
    code: int | None


@dataclass(frozen=True)
class CallbackResult:
    sid: str
    status: str
    url: str
    http_status: int | None  # None: the receiver could not be reached
    error: str | None = None


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up on a kept-alive connection (a worker exiting at the end of a run) is how HTTP/1.1 ends,
    not an error: no traceback for it. Anything else is still printed."""

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class FakeTwilio:
    """Start with `with FakeTwilio() as fake:` or `start()` / `stop()`; all controls are thread-safe."""

    FROM_NUMBER = "+15005550006"

    def __init__(self, account_sid: str = DEFAULT_ACCOUNT_SID, auth_token: str = DEFAULT_AUTH_TOKEN,
                 callback_interval: float = 0.05) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.callback_interval = callback_interval
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._messages: list[FakeMessage] = []
        self._attempts: list[Attempt] = []
        self._callback_results: list[CallbackResult] = []
        self._failures: deque[tuple[int, int | None]] = deque()
        self._lookup_failures: deque[tuple[int, int | None]] = deque()
        self._delay = 0.0
        self._callbacks = False
        self._outcome = ("delivered", None)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------------------------------
    def start(self) -> FakeTwilio:
        server = _QuietServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._stopping.clear()
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-twilio",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # cuts delays short
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the fake first"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """What to pass as TWILIO_API_BASE_URL / api_base_url."""
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """TWILIO_* variables for a process under test (add TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID)."""
        return {"TWILIO_ACCOUNT_SID": self.account_sid, "TWILIO_AUTH_TOKEN": self.auth_token,
                "TWILIO_API_BASE_URL": self.base_url}

    # --- controls --------------------------------------------------------------------------------------------------
    def fail_next(self, n: int = 1, status: int = 500, code: int | None = None) -> None:
        """The next `n` create requests answer `status` with a Twilio error (code defaults by status, e.g. 500 → 20500)."""
        with self._lock:
            self._failures.extend([(status, code if code is not None else DEFAULT_CODES.get(status))] * n)

    def fail_with(self, code: int = 21610, status: int = 400, times: int = 1) -> None:
        """The next `times` create requests answer `status` with Twilio error `code`."""
        self.fail_next(times, status=status, code=code)

    def fail_lookups(self, n: int = 1, status: int = 500, code: int | None = None) -> None:
        """The next `n` GET requests (list or fetch) answer `status` with a Twilio error; creates are not affected."""
        with self._lock:
            self._lookup_failures.extend([(status, code if code is not None else DEFAULT_CODES.get(status))] * n)

    def delay(self, seconds: float) -> None:
        """From now on, answer creates `seconds` late (the message is recorded before the wait); 0 turns it off."""
        with self._lock:
            self._delay = seconds

    def callbacks(self, enabled: bool = True, outcome: str = "delivered", error_code: int | None = None) -> None:
        """Send status callbacks after each accepted message; outcome delivered, undelivered or failed (+ ErrorCode)."""
        if outcome not in CALLBACK_STEPS:
            raise ValueError(f"outcome must be one of {sorted(CALLBACK_STEPS)}")
        if outcome != "delivered" and error_code is None:
            error_code = 30003 if outcome == "undelivered" else 30008  # unreachable handset; unknown error
        with self._lock:
            self._callbacks = enabled
            self._outcome = (outcome, error_code)

    def set_status(self, sid: str, status: str, error_code: int | None = None) -> None:
        """Change a recorded message's status, as a later GET (a reconciliation lookup) will see it."""
        with self._changed:
            message = self._find(sid)
            if message is None:
                raise KeyError(sid)
            message.status, message.error_code = status, error_code
            self._changed.notify_all()

    def backdate(self, sid: str, seconds: float) -> None:
        """Pretend a recorded message was accepted `seconds` earlier (its date_created, and the day DateSent sees)."""
        with self._changed:
            message = self._find(sid)
            if message is None:
                raise KeyError(sid)
            message.received_at -= seconds

    def reset(self) -> None:
        """Forget messages, attempts, callbacks and pending failures; no delay, no callbacks."""
        with self._lock:
            self._messages.clear()
            self._attempts.clear()
            self._callback_results.clear()
            self._failures.clear()
            self._lookup_failures.clear()
            self._delay, self._callbacks, self._outcome = 0.0, False, ("delivered", None)

    # --- what happened ---------------------------------------------------------------------------------------------
    @property
    def messages(self) -> list[FakeMessage]:
        """Copies of the accepted messages, in arrival order."""
        with self._lock:
            return [dataclasses.replace(m) for m in self._messages]

    @property
    def attempts(self) -> list[Attempt]:
        with self._lock:
            return list(self._attempts)

    @property
    def callback_results(self) -> list[CallbackResult]:
        with self._lock:
            return list(self._callback_results)

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[FakeMessage]:
        """Block until at least `count` messages were accepted; AssertionError after `timeout`."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._messages) >= count, timeout):
                raise AssertionError(f"fake Twilio accepted {len(self._messages)} messages, expected {count}")
        return self.messages

    def wait_for_callbacks(self, count: int, timeout: float = 10.0) -> list[CallbackResult]:
        """Block until at least `count` status callbacks were attempted."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._callback_results) >= count, timeout):
                raise AssertionError(f"fake Twilio sent {len(self._callback_results)} callbacks, expected {count}")
        return self.callback_results

    # --- used by the handler ---------------------------------------------------------------------------------------
    def _find(self, sid: str) -> FakeMessage | None:
        return next((m for m in self._messages if m.sid == sid), None)

    def _lookup_failure(self) -> tuple[int, int | None] | None:
        with self._lock:
            return self._lookup_failures.popleft() if self._lookup_failures else None

    def _list(self, query: dict[str, str], page: int, page_size: int) -> dict[str, Any]:
        """One page of the Messages list, newest first, filtered by To / From and DateSent by whole GMT days.

        The fake's messages leave at once, so the day it accepted a message stands for its `date_sent`.
        """
        with self._lock:
            found = [_resource(m) for m in reversed(self._messages) if _listed(m, query)]
        start = page * page_size
        path = f"{API}/Accounts/{self.account_sid}/Messages.json"

        def uri(number: int) -> str:
            return f"{path}?{urllib.parse.urlencode({**query, 'PageSize': page_size, 'Page': number})}"

        more = len(found) > start + page_size
        return {
            "messages": found[start:start + page_size], "page": page, "page_size": page_size, "start": start,
            "end": max(start, min(len(found), start + page_size) - 1), "uri": uri(page), "first_page_uri": uri(0),
            "next_page_uri": uri(page + 1) if more else None,
            "previous_page_uri": uri(page - 1) if page > 0 else None,
        }

    def _accept(self, form: dict[str, str]) -> tuple[int, dict[str, Any], FakeMessage | None, float]:
        """Decide one authenticated create: (HTTP status, JSON answer, the message if accepted, delay)."""
        with self._changed:
            delay = self._delay
            failure = self._failures.popleft() if self._failures else _validation_failure(form)
            if failure is not None:
                status, code = failure
                self._attempts.append(Attempt(time.time(), status, code))
                self._changed.notify_all()
                return status, _error(status, code, form.get("To", "")), None, delay
            message = FakeMessage(
                sid="SM" + secrets.token_hex(16), account_sid=self.account_sid, to=form["To"], from_=form.get("From"),
                messaging_service_sid=form.get("MessagingServiceSid"), body=form["Body"],
                status_callback=form.get("StatusCallback"), received_at=time.time())
            self._messages.append(message)
            self._attempts.append(Attempt(message.received_at, 201, None))
            self._changed.notify_all()
            return 201, _resource(message), message, delay

    def _after_accept(self, message: FakeMessage) -> None:
        """Advance the message's status, posting each step to its StatusCallback when callbacks are on."""
        with self._lock:
            enabled, (outcome, error_code) = self._callbacks, self._outcome
        if not enabled or not message.status_callback:
            with self._lock:
                message.status = outcome
                message.error_code = error_code
            return
        threading.Thread(target=self._send_callbacks, args=(message, outcome, error_code), daemon=True).start()

    def _send_callbacks(self, message: FakeMessage, outcome: str, error_code: int | None) -> None:
        validator = RequestValidator(self.auth_token)
        for step in CALLBACK_STEPS[outcome]:
            if self._stopping.wait(self.callback_interval):
                return
            final_failure = step in ("undelivered", "failed")
            with self._changed:
                message.status = step
                message.error_code = error_code if final_failure else None
            params = {"MessageSid": message.sid, "SmsSid": message.sid, "MessageStatus": step, "SmsStatus": step,
                      "AccountSid": message.account_sid, "To": message.to, "From": message.from_ or POOL_NUMBER,
                      "ApiVersion": "2010-04-01"}
            if message.messaging_service_sid:
                params["MessagingServiceSid"] = message.messaging_service_sid
            if final_failure:
                params["ErrorCode"] = str(error_code)
            url = message.status_callback or ""
            request = urllib.request.Request(
                url, data=urllib.parse.urlencode(params).encode(), method="POST",
                headers={"Content-Type": "application/x-www-form-urlencoded",
                         "X-Twilio-Signature": validator.compute_signature(url, params),
                         "User-Agent": "TwilioProxy/1.1"})
            try:
                with urllib.request.urlopen(request, timeout=5) as answer:
                    result = CallbackResult(message.sid, step, url, answer.status)
            except urllib.error.HTTPError as exc:
                result = CallbackResult(message.sid, step, url, exc.code)
            except (OSError, ValueError) as exc:  # refused, timed out, bad URL: Twilio just gives up too
                result = CallbackResult(message.sid, step, url, None, type(exc).__name__)
            with self._changed:
                self._callback_results.append(result)
                self._changed.notify_all()


LIST_FILTERS = ("To", "From", "DateSent", "DateSent<", "DateSent>")


def _listed(m: FakeMessage, query: dict[str, str]) -> bool:
    """Does the message pass the list filters? DateSent compares GMT days, whatever time of day a client adds."""
    day = datetime.fromtimestamp(m.received_at, UTC).strftime("%Y-%m-%d")
    checks = {
        "To": lambda v: m.to == v,
        "From": lambda v: (m.from_ or POOL_NUMBER) == v,
        "DateSent": lambda v: day == v[:10],
        "DateSent<": lambda v: day <= v[:10],
        "DateSent>": lambda v: day >= v[:10],
    }
    return all(checks[key](value) for key, value in query.items() if key in checks)


def _validation_failure(form: dict[str, str]) -> tuple[int, int] | None:
    if not form.get("To"):
        return 400, 21604
    if not form.get("From") and not form.get("MessagingServiceSid"):
        return 400, 21603
    if not form.get("Body"):
        return 400, 21602
    return None


def _error(status: int, code: int | None, to: str = "") -> dict[str, Any]:
    text = ERROR_TEXTS.get(code or 0, "Error").format(to=to)
    more_info = f"https://www.twilio.com/docs/errors/{code}" if code else None
    return {"code": code, "message": text, "more_info": more_info, "status": status}


def _resource(m: FakeMessage) -> dict[str, Any]:
    """A Message resource shaped as Twilio answers it."""
    created = format_datetime(datetime.fromtimestamp(m.received_at, UTC))
    uri = f"{API}/Accounts/{m.account_sid}/Messages/{m.sid}.json"
    return {
        "account_sid": m.account_sid, "api_version": "2010-04-01", "body": m.body, "date_created": created,
        "date_sent": None if m.status == "queued" else created, "date_updated": created, "direction": "outbound-api",
        "error_code": m.error_code, "error_message": None, "from": m.from_, "messaging_service_sid": m.messaging_service_sid,
        "num_media": "0", "num_segments": "1", "price": None, "price_unit": "USD", "sid": m.sid, "status": m.status,
        "subresource_uris": {"media": uri.replace(".json", "/Media.json")}, "to": m.to, "uri": uri,
    }


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeTwilio/1.0"
    # Keep-alive, as Twilio's API does: a gateway's connection pool reuses one connection for many sends. Every answer
    # carries a Content-Length, which HTTP/1.1 needs to find the end of each.
    protocol_version = "HTTP/1.1"

    @property
    def fake(self) -> FakeTwilio:
        return self.server.fake  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read the recorded state instead
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        if self._route("Messages.json") is None:
            return
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(raw, keep_blank_values=True).items()}
        status, payload, message, delay = self.fake._accept(form)
        if delay:
            self.fake._stopping.wait(delay)
        self._send_json(status, payload)
        if message is not None:
            self.fake._after_accept(message)

    def do_GET(self) -> None:
        rest = self._route("Messages")
        if rest is None:
            return
        failure = self.fake._lookup_failure()
        if failure is not None:
            self._send_json(failure[0], _error(*failure))
            return
        if rest == ".json":
            self._list_messages()
            return
        with self.fake._lock:
            found = self.fake._find(rest.removeprefix("/").removesuffix(".json")) if rest.startswith("/") else None
            payload = _resource(found) if found else None
        if payload is None:
            self._send_json(404, _error(404, 20404))
        else:
            self._send_json(200, payload)

    def _list_messages(self) -> None:
        """`GET …/Messages.json?To=…&DateSent>=…&PageSize=…`: what the SDK's `messages.list()` / `stream()` read."""
        params = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query, keep_blank_values=True)
        query = {k: v[-1] for k, v in params.items() if k in LIST_FILTERS}
        try:
            page_size, page = int(params.get("PageSize", ["50"])[-1]), int(params.get("Page", ["0"])[-1])
        except ValueError:
            page_size, page = 0, -1
        if not 1 <= page_size <= 1000 or page < 0:
            self._send_json(400, _error(400, 20001))
            return
        self._send_json(200, self.fake._list(query, page, page_size))

    def _route(self, prefix: str) -> str | None:
        """Check auth and the account path; the rest of the path after `prefix`, or None once an error was sent."""
        user, _, password = self._basic_auth()
        if (user, password) != (self.fake.account_sid, self.fake.auth_token):
            self._send_json(401, _error(401, 20003))
            return None
        path = urllib.parse.urlsplit(self.path).path
        base = f"{API}/Accounts/{self.fake.account_sid}/"
        if not path.startswith(base + prefix):
            self._send_json(404, _error(404, 20404))
            return None
        return path[len(base + prefix):]

    def _basic_auth(self) -> tuple[str, str, str]:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return "", "", ""
        try:
            return base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return "", "", ""

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client went away (killed mid-request): Twilio would not care either
            pass
