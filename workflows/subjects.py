"""What a patient message or reminder is about: a session or an appointment.

Stored as text, `"session:s1"` or `"appointment:evaluation"`, in the state (open questions, reminder timers) and in the
outbox, so the text form never changes; inside the engine a subject is this small value, parsed and formatted at the
edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

SubjectKind = Literal["session", "appointment"]
KINDS: tuple[str, ...] = get_args(SubjectKind)


@dataclass(frozen=True)
class Subject:
    kind: SubjectKind
    key: str  # the session id or the appointment id

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown subject kind {self.kind!r} (known: {', '.join(KINDS)})")

    @classmethod
    def session(cls, session_id: str) -> Subject:
        return cls("session", session_id)

    @classmethod
    def appointment(cls, appointment_id: str) -> Subject:
        return cls("appointment", appointment_id)

    @classmethod
    def parse(cls, text: str) -> Subject:
        """The subject a stored text names; ids may hold colons, the kind never does."""
        kind, colon, key = text.partition(":")
        if not colon:
            raise ValueError(f"not a subject: {text!r} (expected kind:key)")
        return cls(kind, key)  # type: ignore[arg-type]  # checked in __post_init__

    @classmethod
    def parse_optional(cls, text: str | None) -> Subject | None:
        """As `parse`, for stored columns that may be empty (a crisis reply is about no visit)."""
        return cls.parse(text) if text else None

    def format(self) -> str:
        return f"{self.kind}:{self.key}"

    def __str__(self) -> str:
        return self.format()
