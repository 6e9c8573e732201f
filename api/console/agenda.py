"""The calendar's data: evaluations, dosing sessions and therapy appointments of every workflow in a span of time.

Read from the workflows' state documents (their `sessions` and `appointments`), one query over all workflows filtered
here, so SQLite and PostgreSQL answer alike. Fine at clinic scale (hundreds of active patients); a clinic with many
thousands would want an appointments projection table indexed by start time instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlmodel import Session

from models.tables import Patient, Workflow
from workflows.stages import EVENT_RULES, Stage

# What the calendar calls each status: the words coordinators use on the phone.
SESSION_STATUS = {"scheduled": "unconfirmed", "confirmed": "confirmed", "arrived": "arrived", "dosed": "dosed",
                  "discharged": "done", "cancelled": "cancelled", "no_show": "no-show", "held": "held (BP)"}
APPOINTMENT_STATUS = {"scheduled": "unconfirmed", "confirmed": "confirmed", "completed": "done",
                      "cancelled": "cancelled"}
STILL_COMING = frozenset({"scheduled", "confirmed", "arrived"})
BOOKING_EVENTS = ("session.scheduled", "evaluation.scheduled", "therapy.scheduled")
# A workflow in one of these stages can have something booked from the calendar.
BOOKABLE_STAGES = frozenset().union(*(EVENT_RULES[name].allowed_in for name in BOOKING_EVENTS))


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

    @property
    def can_move(self) -> bool:
        """Sessions and evaluations that are still only booked can be moved; sessions can also be cancelled."""
        return self.status in ("scheduled", "confirmed") and self.kind in ("session", "evaluation")


def items_between(engine: Engine, start: datetime, end: datetime) -> list[Item]:
    """Every booked item starting in [start, end), in time order."""
    query = (select(Workflow.id, Workflow.stage, Workflow.state["sessions"], Workflow.state["appointments"], Patient.name)
             .join(Patient, Patient.id == Workflow.patient_id))
    found: list[Item] = []
    with Session(engine) as db:
        for workflow_id, stage, sessions, appointments, name in db.execute(query):
            on_hold = stage == Stage.PAUSED
            for raw in (sessions or {}).values():
                found.extend(_item(workflow_id, name, "session", raw, on_hold, start, end))
            for raw in (appointments or {}).values():
                found.extend(_item(workflow_id, name, raw.get("kind", "therapy"), raw, on_hold, start, end))
    return sorted(found, key=lambda item: (item.start, item.patient_name, item.item_id))


def _item(workflow_id: str, name: str, kind: str, raw: dict, on_hold: bool, start: datetime, end: datetime) -> list[Item]:
    when = datetime.fromisoformat(raw["start"])
    if not start <= when < end:
        return []
    status = raw.get("status", "scheduled")
    label = (SESSION_STATUS if kind == "session" else APPOINTMENT_STATUS).get(status, status)
    if on_hold and status in STILL_COMING:
        # PROTOCOL.md §2: during a safety hold sessions stay on the calendar, but dosing is blocked.
        label = "held (safety hold)"
    detail = _dose(raw) if kind == "session" else ""
    css = label.split(" ")[0].replace("-", "_")
    return [Item(workflow_id, name, kind, raw["id"], when, status, label, css, detail)]


def _dose(raw: dict) -> str:
    route = str(raw.get("route", "")).replace("_", " ")
    given = raw.get("dose_mg") or raw.get("dose_mg_per_kg")
    planned = raw.get("planned_dose_mg") or raw.get("planned_dose_mg_per_kg")
    unit = "mg/kg" if raw.get("dose_mg_per_kg") or raw.get("planned_dose_mg_per_kg") else "mg"
    amount = given or planned
    return f"{route}, {amount} {unit}" if amount else route


def bookable_patients(engine: Engine) -> list[tuple[str, str, str]]:
    """(workflow id, patient name, stage) of every workflow something can be booked for, by name."""
    query = (select(Workflow.id, Patient.name, Workflow.stage).join(Patient, Patient.id == Workflow.patient_id)
             .where(Workflow.stage.in_([stage.value for stage in BOOKABLE_STAGES])).order_by(Patient.name, Workflow.id))
    with Session(engine) as db:
        return [tuple(row) for row in db.execute(query)]
