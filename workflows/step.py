"""The working context of one decision: the state being changed, the event, the time, and small helpers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NoReturn

from workflows.clinic import Clinic
from workflows.effects import SendMessage
from workflows.errors import Rejected
from workflows.events import Event
from workflows.protocol import Protocol
from workflows.stages import allowed_events
from workflows.state import Escalation, Session, Timer, WorkflowState


@dataclass
class Step:
    state: WorkflowState
    event: Event
    now: datetime
    protocol: Protocol
    clinic: Clinic
    messages: list[SendMessage] = field(default_factory=list)

    @property
    def data(self):
        return self.event.data

    def reject(self, message: str, rule: str, code: str = "rule", field: str | None = None) -> NoReturn:
        raise Rejected(
            message, code=code, stage=self.state.stage, rule=rule, allowed=allowed_events(self.state.stage), field=field
        )

    # --- sessions -------------------------------------------------------------------------------------------------

    def session(self, session_id: str) -> Session:
        found = self.state.sessions.get(session_id)
        if found is None:
            known = ", ".join(sorted(self.state.sessions)) or "none"
            self.reject(f"unknown session {session_id!r} (known sessions: {known})", "session_exists", "not_found")
        return found

    # --- timers ---------------------------------------------------------------------------------------------------

    def set_timer(self, key: str, kind: str, due_at: datetime, session: str | None = None, **data) -> None:
        self.state.timers[key] = Timer(kind=kind, due_at=due_at, session=session, data=data)

    def cancel_timer(self, key: str) -> None:
        self.state.timers.pop(key, None)

    def cancel_session_timers(self, session_id: str) -> None:
        for key in [key for key, timer in self.state.timers.items() if timer.session == session_id]:
            del self.state.timers[key]

    def cancel_all_timers(self) -> None:
        self.state.timers.clear()

    # --- flags ----------------------------------------------------------------------------------------------------

    def flag(self, name: str, days: int | None = None) -> None:
        self.state.flags[name] = self.now + timedelta(days=days) if days is not None else None

    # --- escalations ----------------------------------------------------------------------------------------------

    def next_escalation_id(self) -> str:
        # Derived from the workflow id and a counter, not random, so replaying the history rebuilds the same ids.
        self.state.escalation_count += 1
        return str(uuid.uuid5(uuid.UUID(self.state.workflow_id), f"escalation-{self.state.escalation_count}"))

    def escalation(self, ref: str) -> Escalation:
        found = self.state.escalations.get(ref) or self.state.open_escalation(ref)
        if found is None:
            open_ids = [f"{e.id} ({e.reason})" for e in self.state.escalations.values() if e.status != "resolved"]
            listing = ", ".join(open_ids) or "none"
            self.reject(f"unknown escalation {ref!r} (open escalations: {listing})", "escalation_exists", "not_found")
        return found
