"""The console SMS gateway (the embedded default); the interface, `SmsGateway`, lives with the store in `models.ports`."""

from __future__ import annotations

import hashlib
import itertools
import logging
from datetime import UTC, datetime

log = logging.getLogger("carepath.sms")


class ConsoleGateway:
    """The embedded default: records each send and logs ids and kind only (the body only when `show_bodies`)."""

    def __init__(self, show_bodies: bool = False, quiet: bool = False) -> None:
        self.show_bodies = show_bodies
        self.quiet = quiet
        self.sent: list[tuple[str, str]] = []  # (message id, kind): what a test or a simulation inspects
        self.senders: dict[str, str | None] = {}  # message id → the clinic number it left from (None: the default)
        # (digest of recipient and body, provider id, when): enough for `find_sent`, without keeping numbers or texts.
        self._accepted: list[tuple[str, str, datetime]] = []
        self._ids = itertools.count(1)

    def send(self, message_id: str, kind: str, to: str, body: str, sender: str | None = None) -> str:
        provider_id = f"console-{next(self._ids)}"
        self.sent.append((message_id, kind))
        self.senders[message_id] = sender
        self._accepted.append((_digest(to, body), provider_id, datetime.now(UTC)))
        # Quiet (a simulation): still logged, at DEBUG, so a debug run shows every send by id.
        detail = f" body={body!r}" if self.show_bodies and not self.quiet else ""
        log.log(logging.DEBUG if self.quiet else logging.INFO, "sms sent message=%s kind=%s provider_id=%s%s",
                message_id, kind, provider_id, detail)
        return provider_id

    def find_sent(self, message_id: str, to: str, body: str, since: datetime) -> str | None:
        digest = _digest(to, body)
        return next((provider_id for seen, provider_id, at in self._accepted if seen == digest and at >= since), None)


def _digest(to: str, body: str) -> str:
    """sha256 of recipient and body; the NUL separator keeps ("+1", "23…") and ("+12", "3…") apart."""
    return hashlib.sha256(f"{to}\0{body}".encode()).hexdigest()
