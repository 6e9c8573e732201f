"""What the counted kinds of expectation share: whose, when (`between` or `within`) and how many."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, model_validator

from cli.scenario_fields import NonEmpty, Time


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Within(Strict):
    """A window that opens at `after` and lasts `days` + `hours` + `minutes`."""

    after: Time
    days: NonNegativeInt = 0
    hours: NonNegativeInt = 0
    minutes: NonNegativeInt = 0

    @model_validator(mode="after")
    def _has_length(self) -> Within:
        if self.length <= timedelta(0):
            raise ValueError("give the window a length: `minutes`, `hours` or `days`")
        return self

    @property
    def length(self) -> timedelta:
        return timedelta(days=self.days, hours=self.hours, minutes=self.minutes)


class Counted(Strict):
    """What the counted kinds share: whose, when (`between` or `within`), and how many (default: at least one)."""

    patient: NonEmpty | None = None
    between: tuple[Time, Time] | None = None
    within: Within | None = None
    count: NonNegativeInt | None = Field(None, description="exactly this many (default: at least one)")
    none: bool = Field(False, description="true: it must not happen (the same as count: 0)")

    @model_validator(mode="after")
    def _one_window_one_count(self) -> Counted:
        if self.between is not None and self.within is not None:
            raise ValueError("give `between` or `within`, not both")
        if self.between is not None and self.between[1] < self.between[0]:
            raise ValueError("between: the second time must not be before the first")
        if self.none and self.count is not None:
            raise ValueError("give `count` or `none: true`, not both")
        return self

    def window(self) -> tuple[datetime, datetime] | None:
        if self.within is not None:
            return self.within.after, self.within.after + self.within.length
        return self.between

    def counts(self, found: int) -> bool:
        if self.none:
            return found == 0
        return found >= 1 if self.count is None else found == self.count

    def localise(self, pin: Callable[[datetime, str | None], datetime]) -> None:
        if self.between is not None:
            self.between = (pin(self.between[0], self.patient), pin(self.between[1], self.patient))
        if self.within is not None:
            self.within.after = pin(self.within.after, self.patient)
