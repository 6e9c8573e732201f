"""What an offered event can act on in this patient's record: the sessions and escalations in the status the engine
requires of them (`workflows/handlers`). An action with nothing to act on is not offered at all, so staff are never
shown "Patient confirmed" with no session to confirm.

This mirrors the handlers' status checks for the page's sake only; the engine still judges every post.
"""

from __future__ import annotations

from workflows.protocol import Route
from workflows.state import OPEN_SESSION, Escalation, Session, SessionStatus, WorkflowState

# The session statuses each session event accepts (a confirmed session needs no second confirmation).
SESSION_STATUSES: dict[str, frozenset[SessionStatus]] = {
    "session.confirmed": frozenset({SessionStatus.SCHEDULED}),
    "session.arrived": OPEN_SESSION,
    "session.rescheduled": OPEN_SESSION,
    "session.cancelled": OPEN_SESSION,
    "vitals.recorded": frozenset({SessionStatus.ARRIVED, SessionStatus.DOSED}),
    "dose.administered": frozenset({SessionStatus.ARRIVED}),
    "session.discharged": frozenset({SessionStatus.DOSED}),
    "rems.form_submitted": frozenset({SessionStatus.DISCHARGED}),
}
ESCALATION_STATUSES: dict[str, frozenset[str]] = {
    "escalation.acknowledged": frozenset({"open"}),
    "escalation.resolved": frozenset({"open", "acknowledged"}),
}


def sessions_for(event: str, state: WorkflowState) -> list[Session]:
    """The sessions this event can act on, earliest first."""
    statuses = SESSION_STATUSES.get(event, frozenset())
    found = [s for s in state.sessions.values() if s.status in statuses]
    if event == "rems.form_submitted":  # only an esketamine session's form, and once
        found = [s for s in found if s.route == Route.ESKETAMINE and not s.rems_form_submitted]
    return sorted(found, key=lambda s: s.start)


def escalations_for(event: str, state: WorkflowState) -> list[Escalation]:
    """The escalations this event can act on, oldest first."""
    statuses = ESCALATION_STATUSES.get(event, frozenset())
    return sorted((e for e in state.escalations.values() if e.status in statuses), key=lambda e: e.raised_at)


def applies(event: str, state: WorkflowState) -> bool:
    """Whether the event has something to act on (events about no session or escalation always do)."""
    if event in SESSION_STATUSES:
        return bool(sessions_for(event, state))
    if event in ESCALATION_STATUSES:
        return bool(escalations_for(event, state))
    return True
