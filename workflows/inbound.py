"""Reading a patient's text: crisis language, carrier keywords, a digit answer, or something unreadable."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

# Carrier keyword families (whole message, case-insensitive, trimmed), in English whatever the patient's language: every
# US carrier honours them. CANCEL is an opt-out word, which is why reminders ask for digits and never say "reply CANCEL".
# Other languages add their own in their catalog (`keywords:` in `config/catalogs/es.yaml`: ALTO, AYUDA...).
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
CARRIER_LANGUAGE = "en"
NUMBER = re.compile(r"\d{1,2}")


class Wording(Protocol):
    """What reading a text needs: a catalog (its own language) or the clinic (every language it has)."""

    def mentions_crisis(self, text: str) -> bool: ...

    def keyword(self, word: str) -> tuple[str, str] | None: ...


@dataclass(frozen=True)
class Reading:
    kind: str  # crisis, stop, start, help, number, unreadable
    number: int | None = None
    language: str | None = None  # a keyword's language (AYUDA: "es"), for answering a sender we do not know


def keyword(body: str, wording: Wording | None = None) -> tuple[str, str] | None:
    """(kind, language) when the whole text is a STOP, START or HELP keyword of any language the clinic has."""
    word = body.strip().upper()
    for kind, words in (("stop", STOP_WORDS), ("start", START_WORDS), ("help", HELP_WORDS)):
        if word in words:
            return kind, CARRIER_LANGUAGE
    return wording.keyword(word) if wording is not None else None


def read(body: str, wording: Wording) -> Reading:
    """Crisis language wins over everything, at any hour; then keywords; then a bare number."""
    if wording.mentions_crisis(body):
        return Reading("crisis")
    found = keyword(body, wording)
    if found is not None:
        return Reading(found[0], language=found[1])
    word = body.strip()
    if NUMBER.fullmatch(word):
        return Reading("number", int(word))
    return Reading("unreadable")
