"""A patient's text on arrival: stored in the inbox as it came (keyed by MessageSid), read for crisis language.

The webhook's one short transaction (`take_in`, or `take_in_many` for the texts a webhook process stores together):
a repeated MessageSid stores nothing; a text from something that is not a phone number is kept but `ignored`. What
happens next is `models/inbox.py` (applying) and `models/inbox_sweep.py` (the scheduler's side).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache

from sqlalchemy import Boolean, bindparam, select, text

from models.tables import InboundText
from models.types import UTCDateTime
from models.unit_of_work import UnitOfWork
from workflows.errors import Rejected
from workflows.events import Event, make_event
from workflows.inbound import Wording

PENDING, QUEUED, APPLIED, UNASSIGNED, IGNORED = "pending", "queued", "applied", "unassigned", "ignored"
WAITING = (PENDING, QUEUED)  # not applied yet: a worker or the sweep will
PATIENT = {"role": "patient"}
PHONE_LENGTH = 20


@dataclass(frozen=True)
class Incoming:
    """A text as the webhook received it (the MessageSid is Twilio's; the rest is the patient's and stays here)."""

    sid: str
    from_phone: str
    to_phone: str | None
    body: str
    received_at: datetime


@dataclass(frozen=True)
class Arrival:
    """A stored text: its inbox id, whether it reads as crisis, and whether this call stored it (False: a repeat)."""

    id: str
    crisis: bool
    new: bool
    status: str


def take_in(uow: UnitOfWork, sid: str, from_phone: str, to_phone: str | None, body: str, received_at: datetime,
            catalog: Wording, handed_off: bool = False) -> Arrival:
    """Store a text as it arrived (`queued` when the caller hands it to a worker next); a repeated sid stores nothing."""
    [arrival] = take_in_many(uow, [Incoming(sid, from_phone, to_phone, body, received_at)], catalog,
                             lambda crisis: handed_off)
    return arrival


def take_in_many(uow: UnitOfWork, texts: list[Incoming], catalog: Wording,
                 handed_off: Callable[[bool], bool]) -> list[Arrival]:
    """Store texts as they arrived, in one statement; `handed_off(crisis)` says which the caller hands to a worker next
    (stored `queued`). Returns their arrivals in order; a MessageSid stored before (or twice here) stores nothing."""
    rows, arrivals = [], {}
    for incoming in texts:
        if incoming.sid not in arrivals:
            row = _row(incoming, catalog, handed_off)
            arrivals[incoming.sid] = Arrival(row["id"], row["crisis"], True, row["status"])
            rows.append(row)
    connection = uow.db.connection()
    stored = set(connection.execute(_store_statement(len(rows)),
                                    {f"{key}_{n}": value for n, row in enumerate(rows) for key, value in row.items()}
                                    ).scalars())
    repeats = [sid for sid, arrival in arrivals.items() if arrival.id not in stored]
    if repeats:
        for earlier in connection.execute(select(InboundText.id, InboundText.provider_id, InboundText.crisis,
                                                 InboundText.status).where(InboundText.provider_id.in_(repeats))):
            arrivals[earlier.provider_id] = Arrival(earlier.id, earlier.crisis, False, earlier.status)
    first_seen: set[str] = set()
    result = []
    for incoming in texts:  # the same sid twice in one batch: the second is a repeat
        arrival = arrivals[incoming.sid]
        result.append(arrival if incoming.sid not in first_seen else replace(arrival, new=False))
        first_seen.add(incoming.sid)
    return result


def _row(incoming: Incoming, catalog: Wording, handed_off: Callable[[bool], bool]) -> dict:
    phone, note = incoming.from_phone[:PHONE_LENGTH], None
    crisis = catalog.mentions_crisis(incoming.body)
    status = QUEUED if handed_off(crisis) else PENDING
    try:
        phone = sms_event(incoming.from_phone, incoming.body).data.from_
    except Rejected as exc:  # not a number a patient can write from, or a body no event can carry: kept, not applied
        status, note = IGNORED, f"invalid {exc.field or 'data'}"[:200]
    return {"id": str(uuid.uuid4()), "provider_id": incoming.sid, "from_phone": phone,
            "to_phone": (incoming.to_phone or "")[:PHONE_LENGTH] or None, "body": incoming.body,
            "received_at": incoming.received_at, "crisis": crisis, "status": status, "attempts": 0,
            "claimed_at": incoming.received_at if status == QUEUED else None, "note": note}


_COLUMNS = ("id", "provider_id", "from_phone", "to_phone", "body", "received_at", "crisis", "status", "attempts",
            "claimed_at", "note")


@lru_cache(maxsize=128)
def _store_statement(rows: int):
    """INSERT of `rows` texts; a MessageSid already stored is skipped and returns no id. Plain SQL that PostgreSQL and
    SQLite both speak, compiled once per size: the dialects' own `insert().on_conflict_do_nothing()` is never cached,
    and costs more to compile than a webhook's insert costs to run."""
    values = ", ".join("(" + ", ".join(f":{column}_{n}" for column in _COLUMNS) + ")" for n in range(rows))
    typed = [bindparam(f"{column}_{n}", type_=kind) for n in range(rows)
             for column, kind in (("received_at", UTCDateTime()), ("claimed_at", UTCDateTime()), ("crisis", Boolean()))]
    return text(f"INSERT INTO inbox ({', '.join(_COLUMNS)}) VALUES {values} ON CONFLICT (provider_id) DO NOTHING "
                "RETURNING id").bindparams(*typed)


def sms_event(phone: str, body: str, key: str | None = None, received_at: datetime | None = None,
              copy: bool = False) -> Event:
    """The `sms.received` event of a stored text (a copy: recorded without a reply, on a shared number's other records)."""
    data = {"from": phone, "body": body, **({"copy": True} if copy else {})}
    return make_event("sms.received", data, actor=PATIENT, idempotency_key=key, occurred_at=received_at)
