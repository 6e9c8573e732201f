"""Reading a patient's text: crisis language, carrier keywords, a digit answer, or something unreadable."""

from __future__ import annotations

import re
from dataclasses import dataclass

from workflows.catalog import Catalog

# Carrier keyword families (whole message, case-insensitive, trimmed). CANCEL is an opt-out word, which is why
# reminders ask for digits and never say "reply CANCEL".
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
NUMBER = re.compile(r"\d{1,2}")


@dataclass(frozen=True)
class Reading:
    kind: str  # crisis, stop, start, help, number, unreadable
    number: int | None = None


def read(body: str, catalog: Catalog) -> Reading:
    """Crisis language wins over everything, at any hour; then keywords; then a bare number."""
    if catalog.mentions_crisis(body):
        return Reading("crisis")
    word = body.strip().upper()
    if word in STOP_WORDS:
        return Reading("stop")
    if word in START_WORDS:
        return Reading("start")
    if word in HELP_WORDS:
        return Reading("help")
    if NUMBER.fullmatch(word):
        return Reading("number", int(word))
    return Reading("unreadable")
