"""A scenario's `expect:` list: what must have happened, at a virtual time (`at:`) or by the end (README, "Writing a
scenario"; the schema is docs/scenario-expectations.schema.json).

One key per kind — `stage`, `message`, `escalation`, `refusal`, `timer` — beside the optional `at` and `note`. Every
model forbids unknown keys and names are checked against the engine's own lists, because a misspelt `none: true`
expectation would otherwise pass for ever without testing anything.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from cli.expect.counted import Counted, Strict
from cli.scenario_fields import NonEmpty, Time
from workflows.catalog import MessageKind
from workflows.escalations import REASONS
from workflows.rota import StaffRole
from workflows.stages import EVENT_RULES, Stage

KINDS = ("stage", "message", "escalation", "refusal", "timer")
STAFF_ROLES: tuple[str, ...] = get_args(StaffRole)


def _one_of(names: Callable[[], Any], what: str) -> Callable[[str], str]:
    # The lists are read when a file is checked, not frozen here: a reason or event added to the engine is known at once.
    def check(value: str) -> str:
        if value not in names():
            raise ValueError(f"unknown {what} {value!r} (known: {', '.join(sorted(names()))})")
        return value
    return check


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value  # `paged: on_call` reads better than `paged: [on_call]`


Roles = Annotated[list[StaffRole], BeforeValidator(_as_list, json_schema_input_type=StaffRole | list[StaffRole])]


MessageKindName = Annotated[str, AfterValidator(_one_of(lambda: get_args(MessageKind), "message kind"))]
ReasonName = Annotated[str, AfterValidator(_one_of(lambda: REASONS, "escalation reason"))]
EventName = Annotated[str, AfterValidator(_one_of(lambda: EVENT_RULES, "event type"))]


class MessageExpect(Counted):
    """An outbound text: its kind, to a patient (key) or a staff role, sent (the default) or dropped for a reason."""

    kind: MessageKindName
    to: NonEmpty | None = Field(None, description="a patient key, or a staff role: " + ", ".join(STAFF_ROLES))
    status: Literal["sent", "delivered", "pending", "failed", "dropped"] | None = None
    reason: NonEmpty | None = Field(None, description="the drop reason (implies status: dropped)")

    @model_validator(mode="after")
    def _reason_means_dropped(self) -> MessageExpect:
        if self.reason is not None and self.status not in (None, "dropped"):
            raise ValueError("a drop `reason` goes with status: dropped")
        return self


class EscalationExpect(Counted):
    """A worklist item raised: its reason, and optionally severity, tier, status and the staff roles texted for it."""

    reason: ReasonName
    severity: Literal["routine", "urgent", "emergency"] | None = None
    tier: Literal[1, 2] | None = None
    status: Literal["open", "acknowledged", "resolved"] | None = None
    paged: Roles | None = Field(
        None, description="staff roles that must have been texted for it (others may be too)")
    session: NonEmpty | None = Field(None, description="the session a per-session item is about (a REMS form, a paused visit)")


class RefusalExpect(Counted):
    """A timeline line the engine refused: the event type, the rule that refused it, and the line in this file."""

    event: EventName
    rule: NonEmpty | None = None
    line: Annotated[int, Field(gt=0)] | None = Field(None, description="the timeline line's line number in this file")


class TimerExpect(Counted):
    """A timer the engine set: its kind (reminder, checkin, no_show, …) and status; `between` is about its due time."""

    kind: NonEmpty
    status: Literal["pending", "claimed", "fired", "cancelled"] | None = None


Body = MessageExpect | EscalationExpect | RefusalExpect | TimerExpect


class Expectation(Strict):
    """One line of `expect:`; exactly one kind key, checked at `at` (a virtual time) or, without it, by the end."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": [{"required": [kind]} for kind in KINDS]})
    yaml_line: SkipJsonSchema[int] = Field(0, exclude=True)  # set by the loader: the file's line, for messages
    at: Time | None = Field(None, description="check the state as it stands at this virtual time (default: the end)")
    note: NonEmpty | None = Field(None, description="why it must hold: printed with a failure")
    stage: dict[str, Stage] | None = Field(None, description="patient key → the workflow's stage")
    message: MessageExpect | None = None
    escalation: EscalationExpect | None = None
    refusal: RefusalExpect | None = None
    timer: TimerExpect | None = None

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Expectation:
        given = [kind for kind in KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError(f"an expectation takes exactly one of {', '.join(KINDS)} (besides `at` and `note`);"
                             f" this one has {', '.join(given) or 'none'}")
        if self.stage is not None and not self.stage:
            raise ValueError("stage: name at least one patient, e.g. {p1: induction}")
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in KINDS if getattr(self, kind) is not None)

    @property
    def body(self) -> Body | dict[str, Stage]:
        return getattr(self, self.kind)

    def patients(self) -> list[str]:
        """The patient keys this expectation names (for the scenario's cross-checks)."""
        if self.stage is not None:
            return list(self.stage)
        return [self.body.patient] if self.body.patient else []

    def localise(self, pin: Callable[[datetime, str | None], datetime]) -> None:
        """Pin times without an offset to clinic time (the patient's clinic when the expectation names one)."""
        patients = self.patients()
        if self.at is not None:
            self.at = pin(self.at, patients[0] if len(patients) == 1 else None)
        if self.stage is None:
            self.body.localise(pin)
