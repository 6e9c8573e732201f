"""The Twilio SMS gateway: the real SDK, pointed at `TWILIO_API_BASE_URL`, with provider errors mapped to `sms_errors`."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from urllib3.exceptions import NewConnectionError  # requests' own dependency

from workers.sms_errors import (
    InvalidRecipient,
    PermanentSmsError,
    RecipientOptedOut,
    SendOutcomeUnknown,
    SmsError,
    TransientSmsError,
)

log = logging.getLogger("carepath.sms")

TWILIO_API_BASE_URL = "https://api.twilio.com"
# What the SDK calls, including the edge/region forms (api.sydney.au1.twilio.com) it builds from TWILIO_EDGE/REGION.
_TWILIO_API_PREFIX = re.compile(r"^https://api(\.[a-z0-9-]+)*\.twilio\.com(?=/|$)")
STATUS_CALLBACK_PATH = "/v1/webhooks/twilio/status"
DEFAULT_TIMEOUT_SECONDS = 10.0

# How many of a recipient's messages (since the day of the unknown send) a lookup reads: far more than a patient gets.
FIND_SENT_LIMIT = 100

OPTED_OUT_CODES = frozenset({21610})  # "Attempt to send to unsubscribed recipient": the patient sent STOP to the carrier
INVALID_RECIPIENT_CODES = frozenset({21211, 21614})  # invalid 'To' number; 'To' is not a mobile number


class RedirectingHttpClient(TwilioHttpClient):
    """The SDK's own HTTP client, sending what it addresses to api.twilio.com to `base_url` instead (a fake, a sandbox)."""

    def __init__(self, base_url: str, timeout: float | None = None) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if self.base_url != TWILIO_API_BASE_URL:
            url = _TWILIO_API_PREFIX.sub(self.base_url, url, count=1)
        return super().request(method, url, *args, **kwargs)

    def log_request(self, kwargs: dict[str, Any]) -> None:
        """The SDK logs each request's query string at INFO; a lookup's has the patient's number (`To`). Names only."""
        super().log_request({**kwargs, "params": dict.fromkeys(kwargs.get("params") or {}, "redacted")})


class TwilioGateway:
    """Sends through Twilio's Messages API; returns the message SID. Raises `SmsError` subclasses, never SDK errors."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        api_base_url: str = TWILIO_API_BASE_URL,
        status_callback_base: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        if not account_sid or not auth_token:
            raise ValueError("TwilioGateway needs an account sid and an auth token")
        if bool(from_number) == bool(messaging_service_sid):
            raise ValueError("TwilioGateway needs exactly one of from_number and messaging_service_sid")
        if not api_base_url.startswith(("http://", "https://")):
            raise ValueError("api_base_url must be an http(s) URL")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.account_sid = account_sid
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid
        self.status_callback_base = status_callback_base.rstrip("/") if status_callback_base else None
        self.http_client = RedirectingHttpClient(api_base_url, timeout=timeout)
        self.client = Client(account_sid, auth_token, http_client=self.http_client)

    def status_callback_url(self, message_id: str) -> str | None:
        """Where Twilio reports this message's status; it carries our id so a callback can reconcile a lost send."""
        if not self.status_callback_base:
            return None
        return f"{self.status_callback_base}{STATUS_CALLBACK_PATH}?message_id={quote(str(message_id), safe='')}"

    def send(self, message_id: str, kind: str, to: str, body: str, sender: str | None = None) -> str:
        """Hand one SMS to Twilio, from the clinic's own number or messaging service (`sender`, "MG…" for a service)
        when it has one, else from the configured one; returns its message SID."""
        params: dict[str, Any] = {"to": to, "body": body}
        if sender:
            params["messaging_service_sid" if sender.startswith("MG") else "from_"] = sender
        elif self.from_number:
            params["from_"] = self.from_number
        else:
            params["messaging_service_sid"] = self.messaging_service_sid
        callback = self.status_callback_url(message_id)
        if callback:
            params["status_callback"] = callback
        sid, error = self._call(message_id, lambda: self.client.messages.create(**params).sid)
        if error is None and not sid:
            error = SendOutcomeUnknown(message_id, "twilio answered without a message sid")
        if error is not None:
            log.warning("sms failed message=%s kind=%s error=%s status=%s code=%s",
                        message_id, kind, type(error).__name__, error.status, error.code)
            raise error  # raised outside the `except`: no chained SDK error whose text may quote the number
        log.info("sms sent message=%s kind=%s provider_id=%s", message_id, kind, sid)
        return sid

    def find_sent(self, message_id: str, to: str, body: str, since: datetime) -> str | None:
        """The SID of a message Twilio accepted for `to` with exactly `body` at or after `since`, else None.

        Twilio filters `DateSent` by whole days (GMT), so it narrows to the recipient's messages since that day and the
        time is checked here, against `date_created` (the moment Twilio took the message; `date_sent` is later or
        unset). `date_created` has whole seconds, so `since` is cut to the second. The oldest match wins: it is the one
        closest to the send in question.
        """
        since = since.astimezone(UTC).replace(microsecond=0)
        found, error = self._call(message_id, lambda: self.client.messages.list(
            to=to, date_sent_after=since.strftime("%Y-%m-%d"), limit=FIND_SENT_LIMIT))
        if error is not None:
            log.warning("sms lookup failed message=%s error=%s status=%s code=%s",
                        message_id, type(error).__name__, error.status, error.code)
            raise error  # outside the `except`, as in `send`
        matches = [m for m in found if m.body == body and m.date_created is not None and m.date_created >= since]
        sid = min(matches, key=lambda m: m.date_created).sid if matches else None
        log.info("sms lookup message=%s provider_id=%s", message_id, sid)
        return sid

    def fetch_status(self, message_id: str, provider_id: str) -> tuple[str, int | None]:
        """Twilio's current status for a sent message and its error code: for reconciling when no callback came."""
        found, error = self._call(message_id, lambda: self.client.messages(provider_id).fetch())
        if error is not None:
            raise error
        return found.status, found.error_code

    def _call(self, message_id: str, call: Any) -> tuple[Any, SmsError | None]:
        try:
            return call(), None
        except TwilioException as exc:
            return None, _from_twilio(message_id, exc)
        except requests.RequestException as exc:
            return None, _from_network(message_id, exc)
        except ValueError:  # a 2xx answer the SDK could not parse: Twilio may well have taken the message
            return None, SendOutcomeUnknown(message_id, "unreadable answer from twilio")


def _from_twilio(message_id: str, exc: TwilioException) -> SmsError:
    """Map an SDK error by its code and HTTP status only; its text includes the URL and Twilio's message (the number)."""
    status, code = _status_and_code(exc)
    if code in OPTED_OUT_CODES:
        return RecipientOptedOut(message_id, "recipient opted out at the carrier", code=code, status=status)
    if code in INVALID_RECIPIENT_CODES:
        return InvalidRecipient(message_id, "recipient number invalid or not a mobile", code=code, status=status)
    if isinstance(status, int) and (status == 429 or status >= 500):
        return TransientSmsError(message_id, "twilio busy or failing", code=code, status=status)
    return PermanentSmsError(message_id, f"twilio refused ({type(exc).__name__})", code=code, status=status)


def _status_and_code(exc: TwilioException) -> tuple[int | None, int | None]:
    """A REST error carries both; a list page that failed is a bare `TwilioException("Unable to fetch page", response)`,
    so they are read from its response (the HTTP status, and the `code` of Twilio's error JSON)."""
    status, code = getattr(exc, "status", None), getattr(exc, "code", None)
    response = next((arg for arg in exc.args if isinstance(arg, Response)), None)
    if status is None and response is not None:
        status, code = response.status_code, _error_code(response.text)
    return status, code if isinstance(code, int) else None


def _error_code(text: str) -> int | None:
    try:
        payload = json.loads(text)
    except ValueError:
        return None
    return payload.get("code") if isinstance(payload, dict) else None


def _from_network(message_id: str, exc: requests.RequestException) -> SmsError:
    """Before the request left (no connection) a resend is safe; after, Twilio may have the message."""
    name = type(exc).__name__
    if isinstance(exc, requests.ConnectTimeout) or _connection_refused(exc):
        return TransientSmsError(message_id, f"twilio unreachable ({name})")
    return SendOutcomeUnknown(message_id, f"no answer from twilio ({name})")


def _connection_refused(exc: requests.RequestException) -> bool:
    if not isinstance(exc, requests.ConnectionError):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None  # urllib3's MaxRetryError.reason
    return isinstance(reason, NewConnectionError)
