"""Calendar arithmetic in a patient's or clinic's own time zone: business days, local times of day."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


def clinic_time(moment: datetime, zone: str) -> str:
    """A time as people at the clinic read it, for refusals: local, to the minute, with the zone's abbreviation."""
    return local(moment, zone).strftime("%Y-%m-%d %H:%M %Z")


def at_local_time(moment: datetime, zone: str, clock: time, days_later: int = 0) -> datetime:
    """The given wall-clock time on the local day of `moment` (plus `days_later`), in UTC."""
    day = local(moment, zone).date() + timedelta(days=days_later)
    return datetime.combine(day, clock, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def _never_closed(day: date) -> bool:
    return False


def add_business_days(moment: datetime, days: int, zone: str, business_days: tuple[int, ...],
                      closed: Callable[[date], bool] = _never_closed) -> datetime:
    """The same local time of day, `days` business days later: weekends and `closed` days (the clinic's public
    holidays and closures, `Clinic.is_closed`) are skipped."""
    current = local(moment, zone)
    remaining = days
    while remaining > 0:
        current = current + timedelta(days=1)
        if current.weekday() in business_days and not closed(current.date()):
            remaining -= 1
    # Re-attach the zone so a DST change in between keeps the wall-clock time.
    naive = current.replace(tzinfo=None)
    return naive.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def end_of_local_day(moment: datetime, zone: str, hour: int) -> datetime:
    if hour >= 24:
        return at_local_time(moment, zone, time(0), days_later=1)
    return at_local_time(moment, zone, time(hour))


def age_on(date_of_birth, day) -> int:
    years = day.year - date_of_birth.year
    if (day.month, day.day) < (date_of_birth.month, date_of_birth.day):
        years -= 1
    return years
