"""What a simulated demo patient answers to a text, as a person reading it would (`workers/demo_phones.py` sends it).

A phone answers only a text that asks for a reply: a reminder or confirmation request that says "Reply 1 to confirm"
(its info-only twin asks nothing and gets nothing), a check-in or its nudge, and a "please reply with a number"
clarification. Mostly the expected digit; sometimes words (a question for the front desk, "ok", "running late") that
the clinic cannot read, which land in the staff inbox. Never a carrier keyword (STOP, YES ...) nor crisis language:
the demo must not opt its patients out or page the on-call clinician.

Each phone draws from its own `random.Random`, seeded from the demo seed and its number, so a seed gives every phone
the same answers in the same order (what the tests check).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

CONFIRM_KINDS = frozenset({"session_reminder", "evaluation_reminder", "therapy_reminder", "confirm_request"})
CHECKIN_KINDS = frozenset({"checkin", "checkin_nudge"})
CLARIFY_KIND = "clarify"
# A text asks for an answer when it says so ("Reply 1 to confirm", "Responda 1 ..."); the shipped catalogs' words.
ASKS = re.compile(r"\b(reply|responda|responde)\b", re.IGNORECASE)
SYNTHETIC = re.compile(r"^\+1555555\d{4}$")  # the synthetic range every demo and test phone is in

# (answer, weight). Words are things patients do send: each one is unreadable as an answer, so the clinic asks once for
# a number (and the phone then gives one) and keeps the words for staff.
TO_CONFIRM = (("1", 60), ("2", 8), ("Running about 10 minutes late, sorry!", 8), ("ok", 8),
              ("Is there parking at the clinic?", 8), ("Can my partner drive me and wait there?", 8))
TO_CHECKIN = (("8", 18), ("7", 22), ("6", 16), ("5", 10), ("9", 8), ("4", 6), ("ok", 10),
              ("Better than last week. Slept well.", 10))
OPENERS = ("Hi, do I need to bring anything to my first appointment?", "Hello, what is the address of the clinic?",
           "Is there parking at the clinic?")


@dataclass
class Phone:
    """One simulated patient's phone: its own random draws, and the last question it was asked (for a clarification)."""

    rng: random.Random
    last_asked: str | None = None  # "confirm" or "checkin"
    answered: int = field(default=0)


def phone_for(seed: int, number: str) -> Phone:
    return Phone(random.Random(f"carepath-demo:{seed}:{number}"))


def answers(number: str, kind: str, body: str) -> bool:
    """Would a demo patient answer this text? Only a synthetic number, only a text that asks for a reply."""
    if not SYNTHETIC.fullmatch(number) or not ASKS.search(body):
        return False
    return kind in CONFIRM_KINDS or kind in CHECKIN_KINDS or kind == CLARIFY_KIND


def reply(phone: Phone, kind: str) -> str:
    """The phone's answer to a text of `kind` that asks for one (`answers` said so)."""
    if kind == CLARIFY_KIND:  # asked again for a number: the phone gives the one it meant
        return "1" if phone.last_asked == "confirm" else _draw(phone, tuple(p for p in TO_CHECKIN if p[0].isdigit()))
    phone.last_asked = "confirm" if kind in CONFIRM_KINDS else "checkin"
    return _draw(phone, TO_CONFIRM if kind in CONFIRM_KINDS else TO_CHECKIN)


def opener(phone: Phone) -> str:
    """A patient's own first text, a question for the front desk (the staff inbox)."""
    return phone.rng.choice(OPENERS)


def delay(phone: Phone, seconds: float) -> float:
    """How long the patient takes to answer: about `seconds`, between half and one and a half of it."""
    return seconds * phone.rng.uniform(0.5, 1.5)


def _draw(phone: Phone, choices: tuple[tuple[str, int], ...]) -> str:
    phone.answered += 1
    texts, weights = zip(*choices, strict=True)
    return phone.rng.choices(texts, weights=weights)[0]
