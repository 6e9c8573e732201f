"""SMS gateways behind one small interface. The Twilio gateway lands with the workers issue."""

from __future__ import annotations

import itertools
import logging
from typing import Protocol

log = logging.getLogger("carepath.sms")


class SmsGateway(Protocol):
    def send(self, message_id: str, kind: str, to: str, body: str) -> str:
        """Hand one SMS to the provider; returns the provider's id for it."""


class ConsoleGateway:
    """The embedded default: records each send and logs ids and kind only (the body only when `show_bodies`)."""

    def __init__(self, show_bodies: bool = False, quiet: bool = False) -> None:
        self.show_bodies = show_bodies
        self.quiet = quiet
        self.sent: list[tuple[str, str]] = []  # (message id, kind): what a test or a simulation inspects
        self._ids = itertools.count(1)

    def send(self, message_id: str, kind: str, to: str, body: str) -> str:
        provider_id = f"console-{next(self._ids)}"
        self.sent.append((message_id, kind))
        if not self.quiet:
            detail = f" body={body!r}" if self.show_bodies else ""
            log.info("sms sent message=%s kind=%s provider_id=%s%s", message_id, kind, provider_id, detail)
        return provider_id
