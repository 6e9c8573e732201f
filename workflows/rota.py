"""Who is on call now: a clinic's rota, a weekly pattern plus dated overrides, in clinic time across DST.

A rota is a list of lines, each naming a role, a phone and when it holds: `days` of the week (default every day) or
`dates` (an override for those dates only), `from`/`to` in clinic wall-clock time (default the whole day; a `to` at or
before `from` runs past midnight into the next day). Later lines override earlier ones (EVENTS.md, network scenarios),
so a pattern comes first and its exceptions after it. A role nobody holds at some moment is a gap (`gaps`): pages for
it would reach nobody, so the gap is shown to ops and the clinic manager is told before it starts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from workflows.events import Phone

StaffRole = Literal["on_call", "medical_director", "clinic_manager"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# The roles a page can go to; each needs someone at every moment (the clinic manager gets routine tier-2 texts).
COVERED_ROLES: tuple[StaffRole, ...] = ("on_call", "medical_director")


def _clock(value: object) -> object:
    # YAML 1.1 reads an unquoted 18:00 as the base-60 number 1080: take it as the time it was written as.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return time(value // 60, value % 60)
    return value


Clock = Annotated[time, BeforeValidator(_clock)]


class RotaLine(BaseModel):
    """One line of a rota: `role` is reached at `phone` on these days (or dates), from `from` to `to` clinic time."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    role: StaffRole
    phone: Phone
    days: Annotated[tuple[Weekday, ...], Field(min_length=1)] = WEEKDAYS
    dates: tuple[date, ...] | None = None  # an override for these dates only (then `days` is not used)
    start: Clock = Field(default=time(0), alias="from")
    end: Clock | None = Field(default=None, alias="to")  # None: to the end of the day

    @model_validator(mode="after")
    def _whole_day_means_no_wrap(self) -> RotaLine:
        if self.end is not None and self.end == self.start and self.start != time(0):
            raise ValueError(f"from {self.start:%H:%M} to {self.end:%H:%M} is no time at all: give different times, "
                             "or leave out `to` for the rest of the day")
        return self

    def shifts(self, day: date) -> bool:
        """Whether a shift of this line starts on this local date."""
        return day in self.dates if self.dates is not None else WEEKDAYS[day.weekday()] in self.days

    def covers(self, moment: datetime) -> bool:
        """Whether this line holds at this clinic-local wall-clock moment (naive)."""
        today, clock = moment.date(), moment.time()
        if self.end is None or self.end > self.start:  # within one day
            return self.shifts(today) and self.start <= clock and (self.end is None or clock < self.end)
        # Past midnight: the evening part belongs to today's shift, the morning part to yesterday's.
        return (self.shifts(today) and clock >= self.start) or \
            (self.shifts(today - timedelta(days=1)) and clock < self.end)


class Gap(BaseModel):
    """A stretch of time (UTC) in which nobody holds `role`."""

    model_config = ConfigDict(frozen=True)
    role: StaffRole
    start: datetime
    end: datetime


class Rota(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    lines: tuple[RotaLine, ...] = ()

    def holder(self, role: str, moment: datetime, zone: str) -> str | None:
        """The phone of whoever holds `role` at `moment` (the last line that covers it), or None: a gap."""
        wall = moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
        for line in reversed(self.lines):
            if line.role == role and line.covers(wall):
                return line.phone
        return None

    def gaps(self, start: datetime, end: datetime, zone: str, roles: tuple[str, ...] = COVERED_ROLES) -> list[Gap]:
        """Every stretch in [start, end) where a role has nobody, for the roles a page can go to."""
        points = _change_points(self.lines, start, end, zone)
        found: list[Gap] = []
        for role in roles:
            for left, right in zip(points, points[1:], strict=False):
                if self.holder(role, left, zone) is not None:
                    continue
                if found and found[-1].role == role and found[-1].end == left:
                    found[-1] = found[-1].model_copy(update={"end": right})
                else:
                    found.append(Gap(role=role, start=left, end=right))
        return found


def _change_points(lines: tuple[RotaLine, ...], start: datetime, end: datetime, zone: str) -> list[datetime]:
    """Every moment in [start, end] at which some line begins or ends: between two of them, who holds a role is the
    same throughout, so checking each stretch's first moment finds every gap exactly."""
    tz = ZoneInfo(zone)
    first, last = start.astimezone(tz).date() - timedelta(days=1), end.astimezone(tz).date() + timedelta(days=1)
    clocks = {time(0)} | {line.start for line in lines} | {line.end for line in lines if line.end is not None}
    points = {start, end}
    day = first
    while day <= last:
        for clock in clocks:
            moment = datetime.combine(day, clock, tzinfo=tz).astimezone(UTC)
            if start < moment < end:
                points.add(moment)
        day += timedelta(days=1)
    return sorted(points)
