"""Every stage change the pathway makes, declared once (PROTOCOL.md §2).

The engine moves a workflow only through `Step.transition`, which refuses any change this table does not declare, and
the README's stage table and diagram are generated from it (`workflows.docs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from workflows.stages import ACTIVE, NON_FINAL, Stage


class Marker(StrEnum):
    """The ends of a transition that are not stages; the values are how the README names them."""

    NEW = "(new)"  # no workflow yet: the event starts one
    STAGE_LEFT = "(the stage it left)"  # back to the stage a safety hold paused


NEW, STAGE_LEFT = Marker.NEW, Marker.STAGE_LEFT


@dataclass(frozen=True)
class Transition:
    """One stage change the pathway makes: from any stage in `source`, on `event`, to `target`."""

    source: frozenset[Stage] | Literal[Marker.NEW]
    event: str
    target: Stage | Literal[Marker.STAGE_LEFT]
    when: str = ""

    def allows(self, source: Stage | None, event: str, target: Stage | Marker) -> bool:
        return (self.source is not NEW and source in self.source and event == self.event
                and target == self.target)


def _at(stage: Stage) -> frozenset[Stage]:
    return frozenset({stage})


# Every stage change the engine may make: `Step.transition` refuses any other, and the README is generated from it.
TRANSITIONS: tuple[Transition, ...] = (
    Transition(NEW, "referral.received", Stage.REFERRED),
    Transition(_at(Stage.REFERRED), "evaluation.scheduled", Stage.EVALUATION_SCHEDULED),
    Transition(_at(Stage.EVALUATION_SCHEDULED), "evaluation.completed", Stage.TREATMENT_PLANNED, "eligible"),
    Transition(_at(Stage.EVALUATION_SCHEDULED), "evaluation.completed", Stage.DECLINED, "not eligible"),
    Transition(_at(Stage.TREATMENT_PLANNED), "session.scheduled", Stage.INDUCTION, "first session"),
    Transition(_at(Stage.INDUCTION), "session.discharged", Stage.RESPONSE_REVIEW, "planned induction sessions discharged"),
    Transition(_at(Stage.RESPONSE_REVIEW), "review.completed", Stage.MAINTENANCE, "decision = continue"),
    Transition(_at(Stage.RESPONSE_REVIEW), "review.completed", Stage.DISCHARGED, "decision = discharge"),
    Transition(_at(Stage.MAINTENANCE), "review.completed", Stage.DISCHARGED, "decision = discharge"),
    Transition(ACTIVE, "safety.hold", Stage.PAUSED),
    Transition(ACTIVE, "assessment.submitted", Stage.PAUSED, "C-SSRS high risk"),
    Transition(_at(Stage.PAUSED), "safety.cleared", STAGE_LEFT),
    Transition(NON_FINAL, "patient.withdrew", Stage.WITHDRAWN),
    Transition(NON_FINAL, "workflow.discharged", Stage.DISCHARGED),
)


class UndeclaredTransition(Exception):
    """A handler tried a stage change `TRANSITIONS` does not declare: a bug in carepath, not a refusal of the event."""


def declared(source: Stage | None, event: str, target: Stage | Marker) -> bool:
    return any(transition.allows(source, event, target) for transition in TRANSITIONS)


def entry_stage(event: str) -> Stage:
    """The stage a workflow starts in when `event` starts it."""
    for transition in TRANSITIONS:
        if transition.source is NEW and transition.event == event and isinstance(transition.target, Stage):
            return transition.target
    raise UndeclaredTransition(f"no transition declares that {event} starts a workflow")
