"""What an SMS gateway raises, importable without the twilio SDK. Texts carry ids and codes only, never a number or a body."""

from __future__ import annotations


class SmsError(Exception):
    """A send that did not go through; `code` is the provider's error code (Twilio's, or the HTTP status) when known."""

    def __init__(self, message_id: str, detail: str, *, code: int | None = None, status: int | None = None) -> None:
        self.message_id = message_id
        self.code = code
        self.status = status
        super().__init__(f"message {message_id}: {detail} (status={status} code={code})")


class RecipientOptedOut(SmsError):
    """The patient opted out at the carrier (Twilio 21610): mark them opted out, never retry."""


class InvalidRecipient(SmsError):
    """The number is invalid or cannot receive SMS (Twilio 21211, 21614): fail the message, open a coordinator task."""


class PermanentSmsError(SmsError):
    """Any other refusal (4xx: bad credentials, bad sender, ...): fail the message, do not retry."""


class TransientSmsError(SmsError):
    """Throttled (429), provider trouble (5xx) or network failure: retry with backoff."""


class SendOutcomeUnknown(TransientSmsError):
    """The request may have reached the provider (read timeout, connection dropped mid-answer).

    Retryable, but a resend could duplicate: wait for the status callback (which carries our message id), or for the
    scheduler's lookup at the provider after the send grace (`workers/reconcile.py`).
    """
