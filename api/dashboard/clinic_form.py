"""The clinic form of the admin pages, both ways: a clinic's definition as the form's fields, and the fields sent back
as the definition `config.clinics.add_clinic` validates (the same document `carepath clinics add` reads from YAML).

Lists are one item per line (numbers, closures, chairs, providers); the rota is written as in a clinic file, one
YAML line per rota line. A line that cannot be read is refused here, naming the field and the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from workflows.clinic import Clinic
from workflows.protocol import ClinicHours
from workflows.rota import WEEKDAYS

STAFF_ROLES = ("on_call", "medical_director", "clinic_manager")
ROTA_EXAMPLE = '- {role: on_call, phone: "+15555550290", days: [mon, tue, wed, thu, fri], from: "08:00", to: "18:00"}'
# What each field is called on the page, for errors that name a field.
LABELS = {
    "key": "Short name", "name": "Name", "phone": "Main number", "numbers": "Other numbers", "sends_from": "Sends from",
    "timezone": "Time zone", "holidays_country": "Public holidays of", "holidays_subdivision": "State or province",
    "closures": "Closed on", "hours": "Opening days", "protocol_version": "Protocol version", "chairs": "Chairs or rooms",
    "providers": "Providers", "staff": "Staff numbers", "rota": "Rota", "languages": "Languages",
    "default_language": "Default language", "evaluation_minutes": "Evaluation length (minutes)",
    "therapy_minutes": "Therapy length (minutes)",
}
# The definition keys the form owns: shown on it, so one sent empty is cleared. Every other key of a stored clinic (the
# appointment lengths when sent empty, anything added to clinics later) is kept as it was when the form is saved.
FORM_OWNED = frozenset({"key", "name", "phone", "numbers", "timezone", "holidays_country", "closures", "chairs",
                        "providers", "default_language", "staff", "rota", "sends_from", "holidays_subdivision",
                        "protocol_version", "languages", "hours"})
LENGTHS = ("evaluation_minutes", "therapy_minutes")


class FormError(ValueError):
    """A field of the clinic form that cannot be read; the message names it as the page does."""


@dataclass
class ClinicFields:
    """What the form shows: every field as text, a list per line."""

    key: str = ""
    name: str = ""
    phone: str = ""
    numbers: str = ""
    sends_from: str = ""
    timezone: str = "America/New_York"
    holidays_country: str = "US"
    holidays_subdivision: str = ""
    closures: str = ""
    open_days: list[str] = field(default_factory=lambda: list(WEEKDAYS[:5]))
    day_ends_at_hour: str = "17"
    protocol_version: str = ""
    chairs: str = ""
    providers: str = ""
    languages: list[str] = field(default_factory=list)
    default_language: str = "en"
    staff: dict[str, str] = field(default_factory=dict)
    rota: str = ""
    evaluation_minutes: str = ""
    therapy_minutes: str = ""


def fields_of(clinic: Clinic, protocol_hours: ClinicHours) -> ClinicFields:
    """The form filled in with a clinic as it is served."""
    hours = clinic.hours_under(protocol_hours)
    rota = [line.model_dump(mode="json", by_alias=True, exclude_defaults=True) for line in clinic.rota.lines]
    return ClinicFields(
        key=clinic.key, name=clinic.name, phone=clinic.phone, numbers=_lines(n for n in clinic.numbers if n != clinic.phone),
        sends_from=clinic.sends_from or "", timezone=clinic.timezone, holidays_country=clinic.holidays_country,
        holidays_subdivision=clinic.holidays_subdivision or "", closures=_lines(d.isoformat() for d in clinic.closures),
        open_days=[WEEKDAYS[day] for day in hours.business_days], day_ends_at_hour=str(hours.day_ends_at_hour),
        protocol_version=clinic.protocol_version or "", chairs=_lines(clinic.chairs), providers=_lines(clinic.providers),
        languages=list(clinic.languages), default_language=clinic.default_language,
        staff={role: getattr(clinic.staff, role) or "" for role in STAFF_ROLES},
        rota="\n".join(f"- {yaml.safe_dump(line, default_flow_style=True, sort_keys=False).strip()}" for line in rota),
        evaluation_minutes=str(clinic.evaluation_minutes), therapy_minutes=str(clinic.therapy_minutes))


def fields_from(form: Any) -> ClinicFields:
    """The form as sent (a Starlette form: `getlist` for the checkboxes)."""
    text = {name: str(form.get(name, "") or "").strip() for name in ClinicFields.__dataclass_fields__}
    return ClinicFields(
        **{name: text[name] for name in ("key", "name", "phone", "numbers", "sends_from", "timezone",
                                         "holidays_country", "holidays_subdivision", "closures", "day_ends_at_hour",
                                         "protocol_version", "chairs", "providers", "default_language", "rota",
                                         *LENGTHS)},
        open_days=[str(day) for day in form.getlist("open_days")], languages=[str(t) for t in form.getlist("languages")],
        staff={role: str(form.get(f"staff_{role}", "") or "").strip() for role in STAFF_ROLES})


def definition_of(fields: ClinicFields, protocol_hours: ClinicHours) -> dict[str, Any]:
    """The clinic definition the fields make; the protocol's opening hours are left out (the clinic follows them)."""
    definition: dict[str, Any] = {
        "key": fields.key, "name": fields.name, "phone": fields.phone, "numbers": _items(fields.numbers),
        "timezone": fields.timezone, "holidays_country": fields.holidays_country or "US",
        "closures": _items(fields.closures), "chairs": _items(fields.chairs), "providers": _items(fields.providers),
        "default_language": fields.default_language or "en",
        "staff": {role: number for role, number in fields.staff.items() if number},
        "rota": _rota(fields.rota),
    }
    optional = {"sends_from": fields.sends_from, "holidays_subdivision": fields.holidays_subdivision,
                "protocol_version": fields.protocol_version}
    definition.update({name: value for name, value in optional.items() if value})
    if fields.languages:
        definition["languages"] = fields.languages
    definition.update(_lengths(fields))
    hours = _hours(fields)
    if hours != protocol_hours.model_dump(mode="json"):
        definition["hours"] = hours
    return definition


def kept_from(stored: dict[str, Any]) -> dict[str, Any]:
    """What of a stored definition the form does not own, to keep when the form is saved over it."""
    return {name: value for name, value in stored.items() if name not in FORM_OWNED}


def _lengths(fields: ClinicFields) -> dict[str, int]:
    """The appointment lengths typed (whole minutes); one left empty is not sent (a saved clinic keeps its own)."""
    lengths = {}
    for name in LENGTHS:
        text = getattr(fields, name)
        if not text:
            continue
        if not text.isdigit():
            raise FormError(f"{LABELS[name]}: give whole minutes, e.g. 60")
        lengths[name] = int(text)
    return lengths


def plain(message: str) -> str:
    """A validation message with each field named as the page names it ("rota.lines.0.phone: …" → "Rota, line 1: …")."""
    parts = []
    for problem in message.split("; "):
        where, sep, what = problem.partition(": ")
        if not sep:
            parts.append(problem)
            continue
        path = where.split(".")
        label = LABELS.get(path[0], path[0])
        numbers = [int(p) for p in path[1:] if p.isdigit()]
        line = f", line {numbers[0] + 1}" if numbers and path[0] in ("rota", "numbers", "closures", "chairs",
                                                                     "providers") else ""
        parts.append(f"{label}{line}: {what}")
    return "; ".join(parts)


def _hours(fields: ClinicFields) -> dict[str, Any]:
    unknown = [day for day in fields.open_days if day not in WEEKDAYS]
    if unknown:
        raise FormError(f"Opening days: {', '.join(unknown)} is not a day of the week")
    if not fields.day_ends_at_hour.isdigit():
        raise FormError("The clinic day ends at: give an hour from 1 to 24, e.g. 17")
    return {"business_days": [WEEKDAYS.index(day) for day in WEEKDAYS if day in fields.open_days],
            "day_ends_at_hour": int(fields.day_ends_at_hour)}


def _rota(text: str) -> list[Any]:
    if not text.strip():
        return []
    try:
        lines = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise FormError(f"Rota: cannot read it{where}; write one line per rota line, like {ROTA_EXAMPLE}") from None
    if not isinstance(lines, list):
        raise FormError(f"Rota: write one line per rota line, each starting with a dash, like {ROTA_EXAMPLE}")
    return lines


def _items(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _lines(values) -> str:
    return "\n".join(str(value) for value in values)
