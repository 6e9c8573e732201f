"""Form fields generated from an event's typed payload, and the submitted form parsed back into the payload's data.

The payload models in `workflows.events` are the one description of what an event carries: this module reads their
fields (type, required, default, limits) and never restates a rule. Validation stays the engine's: parsing here only
turns strings into the types the form asked for (a number, a time), and `make_event` judges the result.

Fields that claim who did something (`by`, `clinician`: `IDENTITY_FIELDS`) are never asked: the signed-in user is
who did it, and `api.identity` fills them from the session.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any, Literal
from zoneinfo import ZoneInfo

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from workflows.events import IDENTITY_FIELDS

# A few field names read better spelled out; every other label is the field name with spaces.
LABELS = {
    "spo2": "SpO₂ (%)", "dose_mg": "Dose (mg)", "dose_mg_per_kg": "Dose (mg/kg)", "weight_kg": "Weight (kg)",
    "heart_rate": "Heart rate (beats/min)", "systolic": "Systolic (mmHg)", "diastolic": "Diastolic (mmHg)",
    "sms_consent": "Consents to SMS", "timezone": "Time zone", "date_of_birth": "Date of birth",
    "prior_treatments": "Prior treatments", "enrollment_id": "REMS enrollment id", "phone": "Mobile phone",
    "start": "Starts", "language": "Language for texts", "respiratory_status": "Breathing",
    "sedation": "Sedation", "dissociation": "Dissociation", "adverse_events": "Adverse events",
    "brought_forward": "Brought forward because",
}
# Help for the fields whose format a person cannot guess from the type alone.
HELP = {
    "phone": "E.164 with the country code, e.g. +15555550123.",
    "sms_consent": "Tick only when the patient agreed to texts (reminders, check-ins); reply STOP opts out.",
    "timezone": "The patient's IANA time zone, e.g. America/Chicago; blank means the clinic's.",
    "language": "Every text to the patient is written in it; STOP, HELP and ALTO, AYUDA work in every language.",
    "answers": "PCL-5, PHQ-9, GAD-7: the item scores in order, separated by commas (2, 2, 1, …). "
               "C-SSRS: name=value pairs (q1=yes, q2=no, …, q6_recency=lifetime).",
}
TEXTAREA_FROM = 500  # free text allowed to be longer than this gets a multi-line box
YES, NO = "yes", "no"


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass
class FormField:
    """One input as the template draws it."""

    name: str  # the form's name for it; nested payloads use dots ("patient.phone")
    label: str
    kind: str  # text, textarea, number, checkbox, yesno, select, checkboxes, datetime, date, list, answers, hidden
    required: bool
    help: str = ""
    choices: list[Choice] = field(default_factory=list)
    value: Any = ""  # a string, or a list of strings for checkboxes
    attrs: dict[str, str] = field(default_factory=dict)  # min, max, step, maxlength, pattern, list
    error: str | None = None
    group: str = ""  # the nested payload it belongs to ("patient"), for a fieldset


class FormError(ValueError):
    """A submitted value that is not even of the field's type (a word in a number box); names the field."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


@dataclass
class Sources:
    """What the form offers from the workflow itself: fields whose name says they refer to something that exists."""

    choices: dict[str, list[Choice]] = field(default_factory=dict)  # field name → existing things to pick from
    multiple: dict[str, list[Choice]] = field(default_factory=dict)  # field name → codes to tick (a list field)
    suggested: dict[str, str] = field(default_factory=dict)  # field name → a value to start from
    generated: dict[str, str] = field(default_factory=dict)  # field name → an id made for it, sent hidden
    ticked: frozenset[str] = frozenset()  # required yes/no fields drawn as one checkbox (unticked means no)
    zone: str = "UTC"


# --- reading a model ----------------------------------------------------------------------------------------------

def _unwrap(annotation: Any) -> tuple[Any, list[Any], bool]:
    """(inner type, constraints, optional): `X | None` and `Annotated[X, ...]` peeled off."""
    metadata: list[Any] = []
    optional = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation, *extra = typing.get_args(annotation)
            for item in extra:
                metadata.extend(item.metadata if isinstance(item, FieldInfo) else [item])
            continue
        if origin in (typing.Union, types.UnionType):
            args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            optional = optional or len(args) < len(typing.get_args(annotation))
            if len(args) == 1:
                annotation = args[0]
                continue
        return annotation, metadata, optional


def _kind(annotation: Any) -> tuple[str, list[Choice]]:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return "select", [Choice(str(v), str(v).replace("_", " ")) for v in typing.get_args(annotation)]
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "select", [Choice(str(m.value), str(m.value).replace("_", " ")) for m in annotation]
    if origin in (typing.Union, types.UnionType):
        return "answers", []  # list-or-mapping: the only union a payload has (an instrument's answers)
    if origin in (list, tuple, Sequence):
        return "list", []
    if annotation is bool:
        return "checkbox", []
    if annotation in (int, float):
        return "number", []
    if annotation is datetime:
        return "datetime", []
    if annotation is date:
        return "date", []
    return "text", []


def _limits(kind: str, annotation: Any, metadata: list[Any]) -> tuple[dict[str, str], list[str]]:
    attrs: dict[str, str] = {}
    notes: list[str] = []
    low = high = None
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            low, attrs["min"] = item.ge, str(item.ge)
        elif isinstance(item, annotated_types.Gt):
            low = item.gt
            notes.append(f"above {item.gt}")
        elif isinstance(item, annotated_types.Le):
            high, attrs["max"] = item.le, str(item.le)
        elif isinstance(item, annotated_types.Lt):
            high = item.lt
            notes.append(f"below {item.lt}")
        elif isinstance(item, annotated_types.MaxLen) and kind in ("text", "textarea"):
            attrs["maxlength"] = str(item.max_length)
    if kind == "number":
        attrs["step"] = "1" if annotation is int else "any"
        if "min" in attrs and "max" in attrs:
            notes = [f"{low}–{high}"]
    return attrs, notes


def describe(model: type[BaseModel], sources: Sources, *, prefix: str = "") -> list[FormField]:
    """The inputs for a payload model, in its field order; nested models become dotted names. No identity fields."""
    fields: list[FormField] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        if not prefix and key in IDENTITY_FIELDS:
            continue  # filled from the session, never typed
        form_name = f"{prefix}{key}"
        annotation, metadata, optional = _unwrap(info.annotation)
        metadata = [*info.metadata, *metadata]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            fields.extend(describe(annotation, sources, prefix=f"{form_name}."))
            continue
        kind, choices = _kind(annotation)
        required = info.is_required()
        attrs, notes = _limits(kind, annotation, metadata)
        default = None if info.is_required() or info.default is None else info.default
        value: Any = "" if default is None or isinstance(default, list) else str(getattr(default, "value", default))
        if kind == "checkbox" and required and key not in sources.ticked:
            kind, choices = "yesno", [Choice(YES, "yes"), Choice(NO, "no")]  # no answer is not the same as "no"
        if kind == "checkbox":
            value = YES if default else ""
        if kind == "text" and "maxlength" in attrs and int(attrs["maxlength"]) > TEXTAREA_FROM:
            kind = "textarea"
        if key in sources.choices:
            kind, choices = "select", sources.choices[key]
        elif key in sources.multiple and kind == "list":
            kind, choices, value = "checkboxes", sources.multiple[key], []
        if key in sources.suggested and not value:
            value = sources.suggested[key]
        if key in sources.generated:
            kind, value = "hidden", value or sources.generated[key]  # a payload's own default id is kept
        help_parts = [info.description or HELP.get(key, "")]
        if kind == "datetime":
            help_parts.append(f"Clinic time ({sources.zone}).")
        elif kind == "list":
            help_parts.append("Separate several with commas.")
        if notes and kind == "number":
            help_parts.append(f"{', '.join(notes)}.")
        fields.append(FormField(name=form_name, label=LABELS.get(key, key.replace("_", " ").capitalize()), kind=kind,
                                required=required and kind not in ("checkboxes", "checkbox"),
                                help=" ".join(p for p in help_parts if p),
                                choices=choices, value=value, attrs=attrs, group=prefix.rstrip(".")))
        if optional and kind == "select" and not required:
            fields[-1].choices = [Choice("", "—"), *fields[-1].choices]
    return fields


def refill(fields: list[FormField], form: Mapping[str, Any], error_field: str | None, message: str | None) -> None:
    """Show what the person typed, and the engine's message beside the field it names."""
    for item in fields:
        if item.kind == "checkboxes":
            item.value = list(_getlist(form, item.name))
        elif item.kind == "checkbox":
            item.value = YES if _get(form, item.name) else ""
        else:
            item.value = _get(form, item.name)
        if error_field and message and item.name == error_field:
            item.error = message


# --- parsing a submitted form -------------------------------------------------------------------------------------

def _get(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _getlist(form: Any, name: str) -> list[str]:
    values = form.getlist(name) if hasattr(form, "getlist") else [form.get(name, "")]
    return [v.strip() for v in values if isinstance(v, str) and v.strip()]


def parse(fields: list[FormField], form: Any, zone: str) -> dict[str, Any]:
    """The payload's data from the form: empty optional inputs left out, so the payload's defaults apply."""
    data: dict[str, Any] = {}
    for item in fields:
        for raw in [_get(form, item.name), *_getlist(form, item.name)]:
            if "\x00" in raw:
                raise FormError(item.name, "must not contain NUL characters")
        value = _value(item, form, zone)
        if value is None:
            continue
        target = data
        *parents, last = item.name.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[last] = value
    return data


def _value(item: FormField, form: Any, zone: str) -> Any:
    if item.kind == "checkbox":
        return bool(_get(form, item.name))
    if item.kind == "checkboxes":
        return _getlist(form, item.name)
    raw = _get(form, item.name)
    if raw == "":
        return None
    if item.kind == "yesno":
        if raw not in (YES, NO):
            raise FormError(item.name, "answer yes or no")
        return raw == YES
    if item.kind == "number":
        return _number(item, raw)
    if item.kind == "datetime":
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            raise FormError(item.name, "must be a date and time, like 2030-01-05 10:00") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(zone))
    if item.kind == "date":
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise FormError(item.name, "must be a date, like 1980-04-01") from None
    if item.kind == "list":
        return [part.strip() for part in raw.split(",") if part.strip()]
    if item.kind == "answers":
        return _answers(item.name, raw)
    return raw


def _number(item: FormField, raw: str) -> int | float:
    whole = item.attrs.get("step") == "1"
    try:
        number = int(raw) if whole else float(raw)
    except ValueError:
        raise FormError(item.name, "must be a whole number" if whole else "must be a number") from None
    if isinstance(number, float) and not math.isfinite(number):
        raise FormError(item.name, "must be a finite number")
    return number


def _scalar(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("yes", "true"):
        return True
    if lowered in ("no", "false"):
        return False
    try:
        return int(text)
    except ValueError:
        return text


def _answers(name: str, raw: str) -> list[Any] | dict[str, Any]:
    """`2, 2, 1` → [2, 2, 1]; `q1=yes, q6_recency=lifetime` → {"q1": True, "q6_recency": "lifetime"}."""
    parts = [part.strip() for part in raw.replace(";", ",").split(",") if part.strip()]
    if all("=" in part for part in parts):
        pairs = [part.split("=", 1) for part in parts]
        return {key.strip(): _scalar(value.strip()) for key, value in pairs}
    if any("=" in part for part in parts):
        raise FormError(name, "use either scores separated by commas or name=value pairs, not both")
    return [_scalar(part) for part in parts]
