"""The calendar's items: what the store says is booked (`models.queries.agenda`), worded the way coordinators say it
on the phone, with what may still be done with each."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from models.queries.agenda import Booked, bookable_matching, booked_between
from workflows.stages import EVENT_RULES, Stage

SESSION_STATUS = {"scheduled": "unconfirmed", "confirmed": "confirmed", "arrived": "arrived", "dosed": "dosed",
                  "discharged": "done", "cancelled": "cancelled", "no_show": "no-show", "held": "held (BP)"}
APPOINTMENT_STATUS = {"scheduled": "unconfirmed", "confirmed": "confirmed", "completed": "done",
                      "cancelled": "cancelled"}
STILL_COMING = frozenset({"scheduled", "confirmed", "arrived"})
BOOKING_EVENTS = ("session.scheduled", "evaluation.scheduled", "therapy.scheduled")
# A workflow in one of these stages can have something booked from the calendar.
BOOKABLE_STAGES = frozenset().union(*(EVENT_RULES[name].allowed_in for name in BOOKING_EVENTS))
# The booking form's patient picker offers at most this many matches: a network has 100,000 patients, not a list.
PICKER_LIMIT = 20


@dataclass(frozen=True)
class Item:
    workflow_id: str
    patient_name: str
    kind: str  # session, evaluation, therapy
    item_id: str
    start: datetime
    status: str  # the engine's status: scheduled, confirmed, ...
    label: str  # what the calendar shows: unconfirmed, confirmed, held (safety hold), ...
    css: str  # status class: the label without spaces and brackets
    detail: str = ""
    clinic: str = ""  # the patient's clinic key
    chair: str | None = None  # where it sits on the schedule grid, who is booked on it, and for how long
    provider: str | None = None
    minutes: int | None = None
    route: str | None = None

    @property
    def can_move(self) -> bool:
        """Sessions and evaluations that are still only booked can be moved; sessions can also be cancelled."""
        return self.status in ("scheduled", "confirmed") and self.kind in ("session", "evaluation")


def items_between(engine: Engine, start: datetime, end: datetime,
                  clinics: Collection[str] | None = None) -> list[Item]:
    """Every booked item starting in [start, end), in time order (at these clinics; None: all)."""
    return [item_of(booked) for booked in booked_between(engine, start, end, clinics)]


def item_of(booked: Booked) -> Item:
    """One booked session or appointment, as the calendar words it."""
    raw, kind = booked.item, booked.kind
    status = raw.get("status", "scheduled")
    label = (SESSION_STATUS if kind == "session" else APPOINTMENT_STATUS).get(status, status)
    if booked.stage == Stage.PAUSED and status in STILL_COMING:
        # PROTOCOL.md §2: during a safety hold sessions stay on the calendar, but dosing is blocked.
        label = "held (safety hold)"
    detail = dose(raw) if kind == "session" else ""
    css = label.split(" ")[0].replace("-", "_")
    return Item(booked.workflow_id, booked.patient_name, kind, raw["id"], booked.start, status, label, css, detail,
                booked.clinic, raw.get("chair"), raw.get("provider"), raw.get("minutes"), raw.get("route"))


def dose(raw: dict) -> str:
    """A session's route and dose, given or planned: `intranasal, 56 mg`."""
    route = str(raw.get("route", "")).replace("_", " ")
    given = raw.get("dose_mg") or raw.get("dose_mg_per_kg")
    planned = raw.get("planned_dose_mg") or raw.get("planned_dose_mg_per_kg")
    unit = "mg/kg" if raw.get("dose_mg_per_kg") or raw.get("planned_dose_mg_per_kg") else "mg"
    amount = given or planned
    return f"{route}, {amount} {unit}" if amount else route


def bookable_found(engine: Engine, search: str, clinics: Collection[str] | None = None) -> list[tuple[str, str, str]]:
    """(workflow id, patient name, stage) of up to PICKER_LIMIT bookable workflows matching a name or id search."""
    return bookable_matching(engine, BOOKABLE_STAGES, search, PICKER_LIMIT, clinics) if search.strip() else []
