"""The calendar's form values: which days a page shows, a start typed in clinic time, and the booking event a form
makes (with a session or appointment id generated: one the workflow has not used yet)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from api.console.charting import FormProblem, dose_amount
from workflows.events import EARLIEST_YEAR, LATEST_YEAR
from workflows.state import WorkflowState

KINDS = {"session": ("session.scheduled", "dosing session"), "evaluation": ("evaluation.scheduled", "evaluation"),
         "therapy": ("therapy.scheduled", "therapy appointment")}


class Span:
    """The days a page shows: one, or Monday to Sunday around `day`."""

    def __init__(self, view: str, day: date, zone: ZoneInfo) -> None:
        self.view, self.day, self.zone = view, day, zone
        self.first = day if view == "day" else day - timedelta(days=day.weekday())
        self.days = [self.first + timedelta(days=n) for n in range(1 if view == "day" else 7)]
        self.step = timedelta(days=1 if view == "day" else 7)

    def bounds(self) -> tuple[datetime, datetime]:
        start = datetime.combine(self.first, time(0), self.zone)
        end = datetime.combine(self.days[-1] + timedelta(days=1), time(0), self.zone)
        return start, end


def span_of(view: str, raw_date: str, today: date, zone: ZoneInfo) -> tuple[Span, str | None]:
    """The span a request asks for, and what was wrong with the asking (then the day, or today, is shown)."""
    problem = None
    if view not in ("day", "week"):
        view, problem = "day", "The view is either day or week; showing the day."
    day = today
    if raw_date:
        try:
            day = date.fromisoformat(raw_date)
        except ValueError:
            problem = "The date must be written YYYY-MM-DD; showing today."
        else:
            # The years anything can be booked in (`workflows.events.aware`); near date's limits a week's end overflows.
            if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
                day, problem = today, f"The calendar shows the years {EARLIEST_YEAR} to {LATEST_YEAR}; showing today."
    return Span(view, day, zone), problem


def start_of(raw: str, zone: ZoneInfo) -> datetime:
    """A clinic-local start from a datetime-local field; the engine judges whether it is in the future."""
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise FormProblem("Starts must be a date and time, like 2026-03-02T09:30") from None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def default_start(day: date, local_now: datetime) -> datetime:
    """The booking form's preset: 09:00 on the day shown, or, once that has passed, the next whole hour (then the
    engine's "start is not in the future" is not the first thing a coordinator meets)."""
    nine = datetime.combine(day, time(9))
    upcoming = (local_now.replace(tzinfo=None, minute=0, second=0, microsecond=0) + timedelta(hours=1))
    return max(nine, upcoming)


def booking_event(kind: str, state: WorkflowState, start: datetime, form: dict[str, str]) -> tuple[str, dict]:
    """The booking event for a kind, with an id the workflow has not used (generated: nobody types an id), in the
    chair and with the provider the form chose (the schedule grid's; the engine checks them against the clinic)."""
    placed = place_of(form)
    if kind == "session":
        data: dict[str, Any] = {"session": _unused("s", set(state.sessions)), "start": start, **placed}
        amount = form.get("dose", "").strip()
        if amount:
            data.update(dose_amount(amount, per_kg=form.get("unit") == "mg/kg"))
        return "session.scheduled", data
    if kind == "evaluation":
        return "evaluation.scheduled", {"start": start, **placed}  # the one evaluation keeps its payload's id
    return "therapy.scheduled", {"appointment": _unused("therapy", set(state.appointments)), "start": start, **placed}


def place_of(form: dict[str, str]) -> dict[str, str]:
    """The chair and provider a form chose; a field left empty names nothing (a move then keeps what was booked)."""
    return {name: form[name].strip() for name in ("chair", "provider") if form.get(name, "").strip()}


def _unused(prefix: str, taken: set[str]) -> str:
    return next(f"{prefix}{n}" for n in range(1, len(taken) + 2) if f"{prefix}{n}" not in taken)
