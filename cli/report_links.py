"""What the report adds to the outbox and worklist rows: the event each message answered or item was raised by, and whom
each staff page reached.

The outbox already records the event that queued a message and the escalation a staff text is about, the worklist the
event that raised each item; the simulator
records which timeline line posted each event. Joining them here lets an expectation's failure say why a text was sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from cli.expect.grammar import STAFF_ROLES
from cli.scenario_setup import network_of
from models import queries
from models.tables import EventRecord, OutboxMessage
from workflows.network import Network

if TYPE_CHECKING:
    from cli.simulator import Run

TEXTED = ("sent", "delivered")


@dataclass
class Links:
    events: dict[int, EventRecord]
    line_of_event: dict[int, int]
    network: Network
    staff_texts: list[OutboxMessage]

    @classmethod
    def of(cls, run: Run, engine: Engine) -> Links:
        staff = [m for m in queries.messages(engine) if m.escalation_id and m.recipient != "patient"]
        events = {event.id: event for event in queries.events(engine)}
        return cls(events, run.line_of_event, network_of(run.scenario), staff)

    def cause(self, event_id: int | None) -> dict[str, Any] | None:
        """The event a message answered or an item was raised by: its type and time, and the timeline line that posted
        it (not for timers)."""
        event = self.events.get(event_id) if event_id is not None else None
        if event is None:
            return None
        cause = {"type": event.type, "at": event.occurred_at.astimezone(UTC).isoformat()}
        if (line := self.line_of_event.get(event.id)) is not None:
            cause["line"] = line
        return cause

    def staff_role(self, message: OutboxMessage) -> str | None:
        """The staff role whose number the text went to when it left (the rota decides who holds it then)."""
        moment = message.sent_at or message.not_before
        clinic = self.network.find(message.clinic_id) or self.network.default
        return next((role for role in STAFF_ROLES if clinic.staff_number(role, moment) == message.to_phone), None)

    def paged(self, escalation_id: str) -> list[str]:
        """The staff roles texted about an escalation, in the order they were first reached."""
        roles = [self.staff_role(m) for m in self.staff_texts if m.escalation_id == escalation_id and m.status in TEXTED]
        return list(dict.fromkeys(role for role in roles if role is not None))
