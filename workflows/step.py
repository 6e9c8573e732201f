"""The working context of one decision: the state being changed, the event, the time, and small helpers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, NoReturn

from workflows.clinic import Clinic
from workflows.effects import DropPendingMessages, SendMessage
from workflows.errors import Rejected
from workflows.events import Event
from workflows.protocol import Protocol
from workflows.stages import Stage, allowed_events
from workflows.state import Escalation, Session, Timer, WorkflowState
from workflows.transitions import STAGE_LEFT, Marker, UndeclaredTransition, declared


@dataclass
class Step:
    state: WorkflowState
    event: Event
    now: datetime
    protocol: Protocol
    clinic: Clinic
    messages: list[SendMessage] = field(default_factory=list)
    # Effects that are neither timers, escalations nor new messages (those are derived or collected on their own).
    requests: list[DropPendingMessages] = field(default_factory=list)

    def reject(self, message: str, rule: str, code: str = "rule", field: str | None = None) -> NoReturn:
        raise Rejected(
            message, code=code, stage=self.state.stage, rule=rule, allowed=allowed_events(self.state.stage), field=field
        )

    # --- stages ---------------------------------------------------------------------------------------------------

    @property
    def course(self) -> Stage | None:
        """The stage the care is in: the stage itself, or while paused the stage the hold will resume."""
        return self.state.paused_from if self.state.stage == Stage.PAUSED else self.state.stage

    def transition(self, to: Stage | Literal[Marker.STAGE_LEFT]) -> None:
        """Move the workflow to `to`, as `workflows.transitions` declares for this event; staying put is no move."""
        state, event = self.state, self.event.type
        if to == state.stage:
            return
        if state.stage == Stage.PAUSED and not declared(Stage.PAUSED, event, to):
            # The care goes on under a safety hold (a first session booked, induction completed): the move lands on
            # the stage that clearing the hold resumes.
            _check(state.paused_from, event, to)
            state.paused_from = to
            return
        _check(state.stage, event, to)
        left = state.stage
        # Every pause records the stage it left; a stored state without it resumes where no dose can be given.
        state.stage = (state.paused_from or Stage.TREATMENT_PLANNED) if to == STAGE_LEFT else to
        state.paused_from = left if to == Stage.PAUSED else None

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

    def cancel_all_timers(self, keep: frozenset[str] = frozenset()) -> None:
        """Cancel every timer but those keyed in `keep`."""
        for key in [key for key in self.state.timers if key not in keep]:
            del self.state.timers[key]

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


def _check(source: Stage | None, event: str, target: Stage | Marker) -> None:
    if not declared(source, event, target):
        raise UndeclaredTransition(f"{event} may not move a workflow from {source} to {target}: not in TRANSITIONS")
