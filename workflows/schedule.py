"""The schedule's rules: how long a booking holds its chair and provider, and which bookings clash. Pure; no I/O.

A booking is a dosing session, an evaluation or a therapy appointment, with the chair or room it takes and the provider
booked on it (both optional: a booking with neither takes nothing and clashes with nothing). Its length comes from the
route (PROTOCOL.md §3: the infusion, if any, plus the minimum monitoring) or from the clinic's settings (evaluations,
therapy). Times are half-open, [start, end): a booking that starts the minute another ends does not clash.

The clash rules (each a rule id, worded for staff):
- `chair_one_patient`: a chair or room holds one patient at a time (a monitored patient in a dosing chair, one
  evaluation or therapy in a room), at one clinic.
- `provider_on_site`: a provider is at one site at a time: booked at another clinic over the same minutes is refused
  (for esketamine the supervising provider must be on site for the whole monitoring).
- `provider_one_appointment`: evaluations and therapy are one-to-one: a provider cannot hold two of them at once.
Our choice, documented in docs/staff-guide.md: one provider supervises every dosing session they are booked on at the
same site, however many overlap (PROTOCOL.md sets no limit; the REMS asks for a provider on site, not one per chair).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from workflows.clinic import Clinic
from workflows.clock import local
from workflows.events import Event
from workflows.protocol import Protocol, Route
from workflows.state import WorkflowState

BOOKING_EVENTS = frozenset({"session.scheduled", "session.rescheduled", "evaluation.scheduled",
                            "evaluation.rescheduled", "therapy.scheduled"})
# Statuses in which a booking still holds its chair and provider (a discharged, cancelled, held or missed one frees them).
HOLDING = frozenset({"scheduled", "confirmed", "arrived", "dosed"})
KIND_WORDS = {"session": "dosing session", "evaluation": "evaluation", "therapy": "therapy appointment"}
# The longest a booking can be (a route's infusion plus monitoring, a clinic's evaluation): how far back to look.
LONGEST = timedelta(hours=24)


@dataclass(frozen=True)
class Booking:
    workflow_id: str
    kind: str  # session, evaluation, therapy
    item_id: str
    clinic: str  # the clinic's key
    start: datetime
    minutes: int
    chair: str | None = None
    provider: str | None = None

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.minutes)

    def overlaps(self, other: Booking) -> bool:
        return self.start < other.end and other.start < self.end

    def is_(self, other: Booking) -> bool:
        return (self.workflow_id, self.kind, self.item_id) == (other.workflow_id, other.kind, other.item_id)


@dataclass(frozen=True)
class Clash:
    rule: str
    message: str  # what is wrong and what to do, in clinic time, naming no patient
    other: Booking


def length_minutes(kind: str, route: Route | str | None, protocol: Protocol, clinic: Clinic) -> int:
    """How long a booking holds its chair: a session its route's infusion plus monitoring, an appointment the clinic's
    length for it."""
    if kind == "session":
        rules = protocol.route(Route(route))
        return rules.infusion_minutes + rules.min_monitoring_minutes
    return clinic.evaluation_minutes if kind == "evaluation" else clinic.therapy_minutes


def listed(name: str | None, names: Iterable[str]) -> str | None:
    """The clinic's own spelling of a chair or provider named in any case; None when it is not one of `names`."""
    if name is None:
        return None
    return next((known for known in names if known.casefold() == name.strip().casefold()), None)


def booking_of(workflow_id: str, kind: str, clinic: str, item: dict) -> Booking | None:
    """A stored session or appointment document as a booking, if it still holds a chair or a provider."""
    if item.get("status", "scheduled") not in HOLDING or not (item.get("chair") or item.get("provider")):
        return None
    if not item.get("minutes"):
        return None
    start = item["start"] if isinstance(item["start"], datetime) else datetime.fromisoformat(item["start"])
    return Booking(workflow_id, kind, item["id"], clinic, start, int(item["minutes"]), item.get("chair"),
                   item.get("provider"))


def first_clash(proposed: Booking, others: Iterable[Booking], zone: str) -> Clash | None:
    """The first booking `proposed` cannot sit beside, by the rules above, with the reason in clinic time `zone`."""
    for other in sorted(others, key=lambda booking: booking.start):
        if other.is_(proposed) or not other.overlaps(proposed):
            continue
        if clash := _chair_clash(proposed, other, zone) or _provider_clash(proposed, other, zone):
            return clash
    return None


def _chair_clash(proposed: Booking, other: Booking, zone: str) -> Clash | None:
    if not proposed.chair or proposed.chair != other.chair or proposed.clinic != other.clinic:
        return None
    return Clash("chair_one_patient",
                 f"{proposed.chair} is taken {_span(other, zone)} by another patient's {KIND_WORDS[other.kind]}: a "
                 f"chair or room holds one patient at a time. Choose another chair or room, or a time from "
                 f"{local(other.end, zone):%H:%M}.", other)


def _provider_clash(proposed: Booking, other: Booking, zone: str) -> Clash | None:
    if not proposed.provider or proposed.provider != other.provider:
        return None
    if proposed.clinic != other.clinic:
        return Clash("provider_on_site",
                     f"{proposed.provider} is booked at another clinic {_span(other, zone)}: a provider is on site at "
                     "one clinic at a time. Choose another provider or another time.", other)
    if proposed.kind == "session" or other.kind == "session":
        return None  # on site: a provider supervises every dosing session they are booked on here
    return Clash("provider_one_appointment",
                 f"{proposed.provider} already has a {KIND_WORDS[other.kind]} {_span(other, zone)}: evaluations and "
                 "therapy are one-to-one. Choose another provider or another time.", other)


def _span(booking: Booking, zone: str) -> str:
    start, end = local(booking.start, zone), local(booking.end, zone)
    return f"{start:%a %d %b %H:%M}–{end:%H:%M %Z}"


def booked_by(event: Event, state: WorkflowState) -> Booking | None:
    """The booking a booking event (`BOOKING_EVENTS`) made or moved, as the decided state holds it; None when it
    takes no chair and no provider."""
    data = event.data
    if event.type.startswith("session."):
        kind, item = "session", state.sessions.get(getattr(data, "session", ""))
    elif event.type == "evaluation.rescheduled":
        kind = "evaluation"
        item = next((a for a in state.appointments.values() if a.kind == "evaluation" and a.status != "completed"), None)
    else:
        kind = "evaluation" if event.type.startswith("evaluation.") else "therapy"
        item = state.appointments.get(getattr(data, "appointment", ""))
    if item is None:
        return None
    return booking_of(state.workflow_id, kind, state.clinic, item.model_dump(mode="json"))
