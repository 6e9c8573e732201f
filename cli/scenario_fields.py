"""The field types scenario files share (phones, zones, times): YAML in, checked values out, plain-words errors."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, get_args
from zoneinfo import ZoneInfo

import phonenumbers
from pydantic import AfterValidator, BaseModel, BeforeValidator, WithJsonSchema


def _phone(value: Any) -> str:
    # YAML reads an unquoted +15555550100 as an int and drops the "+", so the country code would be a guess.
    if not isinstance(value, str):
        raise ValueError('phone numbers must be quoted E.164 strings, e.g. "+15555550100"')
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        number = None
    # "possible", not "valid": the 555-01xx demo numbers the docs use are not assigned, so they are never "valid".
    if number is None or not phonenumbers.is_possible_number(number):
        raise ValueError(f"not an E.164 phone number: {value!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _tz_name(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("a time zone must be an IANA name such as America/New_York")
    try:
        ZoneInfo(value)
    except (KeyError, ValueError, OSError):  # unknown key, malformed key, or a tzdata directory such as "America"
        raise ValueError(f"unknown IANA time zone: {value!r}") from None
    return value


def _time(value: Any) -> datetime:
    # YAML already turns unquoted timestamps into datetime/date; quoted ones arrive as strings. Numbers are refused
    # on purpose: pydantic would read them as Unix timestamps, which nobody means in a scenario.
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("not an ISO 8601 time") from None
    else:
        raise ValueError("not an ISO 8601 time")
    # Bounding the year keeps offset arithmetic (localising, comparing, converting to UTC) from overflowing.
    if not 1900 <= parsed.year < 2200:
        raise ValueError("time out of range (years 1900-2199)")
    return parsed


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def sms_body(value: Any) -> Any:
    # `sms: 1` (the confirm reply) is what people type; YAML makes it an int.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Phone = Annotated[str, BeforeValidator(_phone)]
TzName = Annotated[str, BeforeValidator(_tz_name)]
# Naive times are clinic-local, which JSON Schema's `date-time` format (an offset required) would refuse.
Time = Annotated[datetime, BeforeValidator(_time),
                 WithJsonSchema({"type": "string", "description": "ISO 8601 time; without an offset, clinic-local"})]
NonEmpty = Annotated[str, AfterValidator(_not_blank)]


def drop_nulls(data: Any, *keys: str) -> Any:
    # An empty YAML section (`protocol:` followed only by comments) is null; treat it as "use the default".
    if isinstance(data, dict):
        return {k: v for k, v in data.items() if not (k in keys and v is None)}
    return data


def allowed_fields(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys a mapping at `loc` (a pydantic error location) may have, for "unknown field (allowed: …)"."""
    for step in loc:
        if isinstance(step, int):
            continue  # an index into a list: the list's item model is already `model`
        field = model.model_fields.get(step)
        inner = _model_in(field.annotation) if field is not None else None
        if inner is None:
            return []
        model = inner
    return [name for name, field in model.model_fields.items() if not field.exclude]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model inside `X | None`, `list[X]`, `Annotated[X, …]` (None for plain values and dicts)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for arg in get_args(annotation) if (m := _model_in(arg)) is not None), None)
