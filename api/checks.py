"""Input checks the schemas cannot express: text PostgreSQL cannot store, and clinic-local times."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from api.errors import ApiError


def storable(value: Any, field: str) -> None:
    """Refuse NUL characters, unpaired surrogates and non-finite numbers anywhere in a JSON value (422, naming where).

    PostgreSQL text and JSONB cannot hold them; refused here they are the caller's mistake, not a 500.
    """
    problem = _first_problem(value, field)
    if problem is not None:
        where, what = problem
        raise ApiError(422, f"invalid request: {where}: {what}", code="invalid_data", details={"field": where})


def _first_problem(value: Any, where: str) -> tuple[str, str] | None:
    if isinstance(value, str):
        if "\x00" in value:
            return where, "must not contain NUL characters"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where, "must be valid Unicode text"
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return where, "must be a finite number"
    if isinstance(value, dict):
        for key, item in value.items():
            found = _first_problem(key, where) or _first_problem(item, f"{where}.{key}" if where else str(key))
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_problem(item, f"{where}.{index}")
            if found:
                return found
    return None


def clinic_local(moment: datetime | None, zone: str) -> datetime | None:
    """EVENTS.md: a time without an offset is clinic-local."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=ZoneInfo(zone))
