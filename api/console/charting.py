"""What a chair form says, turned into an event's data and the time it happened (the chair's charting rules).

Only the shape of the input is judged here (a number where a number belongs, a time that is not in the future); every
clinical rule is the engine's, which refuses with its own reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from workflows.state import Session

# Clinicians chart a few minutes (at most a shift) late; a time older than this is a typo, not late charting.
LATEST_CHARTING = timedelta(hours=12)
# Chair form → the event it posts.
ACTIONS = {"arrived": "session.arrived", "vitals": "vitals.recorded", "dose": "dose.administered",
           "discharge": "session.discharged"}


class FormProblem(ValueError):
    """A value the form cannot turn into event data; the message names the field as the form labels it."""


@dataclass(frozen=True)
class Charted:
    event_type: str
    data: dict
    occurred_at: datetime | None  # None: now


def parse(action: str, form: Mapping[str, str], session: Session, zone: ZoneInfo, now: datetime) -> Charted:
    """The event a chair form asks for; raises FormProblem for input that is not even of the right shape."""
    data: dict = {"session": session.id}
    if action == "vitals":
        data["phase"] = form.get("phase", "")
        for name, label in (("systolic", "Systolic"), ("diastolic", "Diastolic")):
            data[name] = whole_number(form.get(name, ""), label, required=True)
        for name, label in (("heart_rate", "Heart rate"), ("spo2", "SpO₂")):
            value = whole_number(form.get(name, ""), label, required=False)
            if value is not None:
                data[name] = value
        for name in ("respiratory_status", "sedation", "dissociation"):
            seen = form.get(name, "").strip()
            if seen:  # blank: not assessed with this reading; the engine judges the value
                data[name] = seen
    elif action == "dose":
        amount = form.get("dose", "").strip()
        if amount:
            data.update(dose_amount(amount, per_kg=form.get("unit") == "mg/kg"))
        data["ride_confirmed"] = form.get("ride_confirmed") == "yes"
        data["fasting_confirmed"] = form.get("fasting_confirmed") == "yes"
    elif action == "discharge":
        data["sedation_resolved"] = form.get("sedation_resolved") == "yes"
        data["dissociation_resolved"] = form.get("dissociation_resolved") == "yes"
        adverse = form.get("adverse_events", "").strip()
        if adverse:  # blank: none recorded (the REMS form says so, it does not invent "none")
            data["adverse_events"] = adverse
        # The discharging clinician is the signed-in user: `api.identity` fills `clinician`.
    # The order of a visit's steps (no dose before the arrival, ...) is the engine's rule (`charted_in_order`).
    return Charted(ACTIONS[action], data, charted_time(form.get("at", ""), zone, now))


def whole_number(raw: str, label: str, required: bool) -> int | None:
    text = raw.strip()
    if not text:
        if required:
            raise FormProblem(f"{label} is required")
        return None
    try:
        return int(text)
    except ValueError:
        raise FormProblem(f"{label} must be a whole number") from None


def dose_amount(raw: str, per_kg: bool) -> dict:
    try:
        return {"dose_mg_per_kg": float(raw)} if per_kg else {"dose_mg": int(raw)}
    except ValueError:
        unit = "a number of mg/kg, like 0.5" if per_kg else "a whole number of mg"
        raise FormProblem(f"Dose must be {unit}") from None


def charted_time(raw: str, zone: ZoneInfo, now: datetime) -> datetime | None:
    """An optional clinic-local time: blank is now; not in the future, within the charting span."""
    text = raw.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise FormProblem("Time must be a date and time, like 2026-03-02T09:30") from None
    moment = (moment.replace(tzinfo=zone) if moment.tzinfo is None else moment).replace(second=0, microsecond=0)
    if moment > now:
        raise FormProblem("Time must not be in the future (leave it blank for now)")
    if moment < now - LATEST_CHARTING:
        raise FormProblem(f"Time is more than {LATEST_CHARTING.seconds // 3600} hours ago; chart only today's session")
    return moment
