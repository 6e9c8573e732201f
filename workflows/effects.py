"""What a decision asks the outside world to do. The unit of work turns each effect into rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from workflows.state import Escalation, Timer, WorkflowState


@dataclass(frozen=True)
class ScheduleTimer:
    key: str
    timer: Timer


@dataclass(frozen=True)
class CancelTimer:
    key: str


@dataclass(frozen=True)
class FireTimer:
    """The timer whose due time produced this event is done."""

    key: str
    due_at: datetime


@dataclass(frozen=True)
class SaveEscalation:
    escalation: Escalation


@dataclass(frozen=True)
class SendMessage:
    """An outbound SMS for the outbox. `to` is a phone number; `recipient` says whose it is (patient or staff role).

    `automated` messages (reminders, check-ins, nudges, no-show notes) obey quiet hours and the daily cap; replies,
    crisis lines and staff alerts do not. `subject` and `subject_start` name what a reminder is about, so a worker can
    drop it at send time if that visit was cancelled or moved; past `expires_at` it is pointless and dropped.
    """

    kind: str
    to: str
    body: str
    recipient: str = "patient"
    session: str | None = None
    escalation: str | None = None
    not_before: datetime | None = None
    urgent: bool = False
    automated: bool = False
    subject: str | None = None
    subject_start: datetime | None = None
    expires_at: datetime | None = None
    dedupe_key: str | None = None
    drop_reason: str | None = None  # decided already: written as dropped, never sent


@dataclass(frozen=True)
class DropPendingMessages:
    """Drop every automated patient message of this workflow still waiting in the outbox (`pending` or `queued`),
    with `reason` as the drop reason. Staff alerts and direct replies to the patient are not touched.

    Emitted when a workflow becomes final (`workflow_closed`): the core cannot see the outbox, the store can.
    """

    reason: str


Effect = ScheduleTimer | CancelTimer | FireTimer | SaveEscalation | SendMessage | DropPendingMessages


@dataclass
class Decision:
    state: WorkflowState
    effects: list[Effect] = field(default_factory=list)

    def of_type(self, kind: type) -> list:
        return [effect for effect in self.effects if isinstance(effect, kind)]


def diff_effects(before: WorkflowState | None, after: WorkflowState) -> list[Effect]:
    """Timer and escalation effects, derived from the change of state so they can never disagree with it."""
    old_timers = before.timers if before else {}
    old_escalations = before.escalations if before else {}
    effects: list[Effect] = []
    for key, timer in old_timers.items():
        if key not in after.timers or after.timers[key] != timer:
            effects.append(CancelTimer(key))
    for key, timer in after.timers.items():
        if old_timers.get(key) != timer:
            effects.append(ScheduleTimer(key, timer))
    for escalation_id, escalation in after.escalations.items():
        if old_escalations.get(escalation_id) != escalation:
            effects.append(SaveEscalation(escalation))
    return effects
