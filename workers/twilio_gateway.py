"""The Twilio SMS gateway: the real SDK, pointed at `TWILIO_API_BASE_URL`, with provider errors mapped to `sms_errors`."""

from __future__ import annotations

import logging
import re
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

    @classmethod
    def from_settings(cls, settings: Any) -> TwilioGateway:
        """Build from `config.settings.Settings` (duck-typed: the twilio_* fields and public_url)."""
        return cls(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            from_number=settings.twilio_from_number,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            api_base_url=settings.twilio_api_base_url,
            status_callback_base=settings.public_url,
        )

    def status_callback_url(self, message_id: str) -> str | None:
        """Where Twilio reports this message's status; it carries our id so a callback can reconcile a lost send."""
        if not self.status_callback_base:
            return None
        return f"{self.status_callback_base}{STATUS_CALLBACK_PATH}?message_id={quote(str(message_id), safe='')}"

    def send(self, message_id: str, kind: str, to: str, body: str) -> str:
        """Hand one SMS to Twilio; returns its message SID."""
        params: dict[str, Any] = {"to": to, "body": body}
        if self.from_number:
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
    status = getattr(exc, "status", None)
    code = getattr(exc, "code", None)
    code = code if isinstance(code, int) else None
    if code in OPTED_OUT_CODES:
        return RecipientOptedOut(message_id, "recipient opted out at the carrier", code=code, status=status)
    if code in INVALID_RECIPIENT_CODES:
        return InvalidRecipient(message_id, "recipient number invalid or not a mobile", code=code, status=status)
    if isinstance(status, int) and (status == 429 or status >= 500):
        return TransientSmsError(message_id, "twilio busy or failing", code=code, status=status)
    return PermanentSmsError(message_id, f"twilio refused ({type(exc).__name__})", code=code, status=status)


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
