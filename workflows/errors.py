"""The one domain error: an event that cannot be applied, with what was wrong and what is allowed."""

from __future__ import annotations

from collections.abc import Iterable


class Rejected(Exception):
    """An event refused by the pathway; nothing was written.

    `code` tells callers how to answer: `invalid_data` (the payload is malformed: HTTP 422), `not_allowed` (the event is
    not allowed in this stage or for this session: 409), `rule` (a clinical gate refused it: 409), `not_found` (404).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "rule",
        stage: str | None = None,
        rule: str | None = None,
        allowed: Iterable[str] = (),
        field: str | None = None,
    ) -> None:
        self.message = message
        self.code = code
        self.stage = stage
        self.rule = rule
        self.allowed = tuple(sorted(allowed))
        self.field = field
        super().__init__(self.describe())

    def describe(self) -> str:
        parts = [self.message]
        context = []
        if self.stage:
            context.append(f"stage: {self.stage}")
        if self.rule:
            context.append(f"rule: {self.rule}")
        if self.allowed:
            context.append(f"allowed events: {', '.join(self.allowed)}")
        if context:
            parts.append(f"({'; '.join(context)})")
        return " ".join(parts)

