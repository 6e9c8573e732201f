"""Where a booking sits on the schedule grid: its chair or room and its provider, checked against the clinic's lists,
and how long it holds them (`workflows.schedule`). Clashes with other patients' bookings are the store's to find: it
alone sees them (`models.store`)."""

from __future__ import annotations

from workflows.events import Placed
from workflows.protocol import Route
from workflows.schedule import length_minutes, listed
from workflows.state import Appointment, Session
from workflows.step import Step


def place(step: Step, item: Session | Appointment, data: Placed) -> None:
    """Take the event's chair and provider (a move that names neither keeps the ones booked) and the booking's length."""
    clinic = step.clinic
    if data.chair is not None:
        item.chair = listed(data.chair, clinic.chairs) or step.reject(
            f"{data.chair} is not one of this clinic's chairs or rooms ({_names(clinic.chairs)}).", "chair_known",
            "invalid_data", field="chair")
    if data.provider is not None:
        item.provider = listed(data.provider, clinic.providers) or step.reject(
            f"{data.provider} is not one of this clinic's providers ({_names(clinic.providers)}).", "provider_known",
            "invalid_data", field="provider")
    kind = "session" if isinstance(item, Session) else item.kind
    item.minutes = length_minutes(kind, getattr(item, "route", None), step.protocol, clinic)
    if isinstance(item, Session) and item.route == Route.ESKETAMINE and item.chair and clinic.providers \
            and not item.provider:
        # PROTOCOL.md §3 (REMS): a healthcare provider on site monitors the patient for the whole esketamine session.
        step.reject("An esketamine session needs the provider who will be on site to supervise it.",
                    "esketamine_provider_on_site", "invalid_data", field="provider")


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(names) if names else "it lists none yet: an administrator adds them on the clinic's page"
