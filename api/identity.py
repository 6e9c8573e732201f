"""The actor is the signed-in user: every event a user causes is built here, by every door that posts one.

The event records the user's immutable id, their role (an API token's, which is at most its owner's) and their
display name at the time. Fields of the data that claim an identity (`by`, `clinician`: `workflows.events.
IDENTITY_FIELDS`) are the user too: filled with their name when absent, kept when they give their own name, and
refused (403, nothing written) when they name someone else. Nothing here trusts a name a client typed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from models.tables import User
from workflows.errors import Rejected
from workflows.events import Actor, Event, identity_fields, make_event


def actor_of(user: User) -> Actor:
    """The actor recorded on every event the user causes."""
    return Actor(role=user.role, name=user.name, user_id=user.id)


def _same_name(typed: str, name: str) -> bool:
    # Case and spacing are not a different person: "dr  ana  ruiz" is Dr Ana Ruiz's own name, recorded as she spells it.
    return " ".join(typed.split()).casefold() == " ".join(name.split()).casefold()


def signed_data(user: User, event_type: str, data: dict[str, Any] | None) -> dict[str, Any]:
    """The event's data with its identity fields set to the user; `Rejected(code="forbidden")` when one names another."""
    signed = dict(data or {})
    for field in identity_fields(event_type):
        typed = signed.get(field)
        if typed is None or (isinstance(typed, str) and (not typed.strip() or _same_name(typed, user.name))):
            signed[field] = user.name
        elif isinstance(typed, str):
            raise Rejected(
                f"{field}: you are signed in as {user.name}; an event records who posted it and cannot name someone"
                f" else. Leave {field} out (it is filled with your name), or have that person post it themselves",
                code="forbidden", rule="identity_from_session", field=field)
        # Anything else (a number, a list) is not a name at all: the payload's validation says so.
    return signed


def user_event(user: User, event_type: str, data: dict[str, Any] | None, *, idempotency_key: str | None = None,
               occurred_at: datetime | None = None) -> Event:
    """A typed event caused by the user: their actor, their name in its identity fields."""
    return make_event(event_type, signed_data(user, event_type, data), actor=actor_of(user),
                      idempotency_key=idempotency_key, occurred_at=occurred_at)
