"""A patient's text on arrival: stored in the inbox in one short transaction, then handed to a worker by id (crisis
texts on their own queue), or applied at once in the inline mode. The webhook answers as soon as this returns. In a
burst, ordinary texts are left to the scheduler's next tick to hand out (`BUSY_IN_FLIGHT`); crisis texts never are.

While the database is unreachable the write is tried again for a few seconds (Twilio waits 15 s for an answer and
does not retry an inbound webhook). When the broker refuses a hand-off, the text is given back to the inbox
(`pending`) and, for a few seconds, later texts are not offered to the broker at all: each would wait on a dead
connection before the webhook could answer. The scheduler's sweep hands them out once the broker is back.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from sqlalchemy.exc import InterfaceError, OperationalError

from models.inbox import IGNORED, Arrival, apply_text, take_in
from models.inbox_sweep import return_unhanded_texts
from models.store import ConcurrencyConflict
from workers.runtime import Services

log = logging.getLogger("carepath.inbox")

# After a failed hand-off, texts go to the inbox only (the scheduler hands them out) for this long.
BROKER_REST_SECONDS = 5.0
# How long a webhook keeps trying to store its text while the database is away. Twilio waits 15 s for an answer.
STORE_PATIENCE_SECONDS = 8.0
_broker_failed_at: float | None = None
# Above this many texts being stored at once in this process, an ordinary text is left `pending` for the scheduler's
# next tick (a second at most) instead of being handed to the broker here: in a burst the webhook's time goes to
# answering Twilio, and the scheduler hands texts out in batches. A crisis text is always handed out at once.
BUSY_IN_FLIGHT = 3


class InFlight:
    """How many webhooks of this process are storing a text right now (they run on the server's thread pool)."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    @property
    def busy(self) -> bool:
        return self.count > BUSY_IN_FLIGHT

    def __enter__(self) -> InFlight:
        with self.lock:
            self.count += 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.count -= 1


_in_flight = InFlight()


def accept_text(svc: Services, sid: str, from_phone: str, to_phone: str | None, body: str,
                received_at: datetime) -> Arrival:
    """Store one inbound text (a repeated MessageSid stores nothing new) and set it on its way to the workflow."""
    inline = svc.settings.tasks == "inline"
    crisis = svc.store.clinic.catalog.mentions_crisis(body)
    with _in_flight:
        hand_off = not inline and not _broker_resting() and (crisis or not _in_flight.busy)
        arrival = _store(svc, sid, from_phone, to_phone, body, received_at, hand_off)
    if not arrival.new or arrival.status == IGNORED:
        log.info("inbound sms %s: %s (inbox %s)", sid, "repeat, nothing new" if not arrival.new else "ignored",
                 arrival.id)
        return arrival
    if inline:
        _apply_now(svc, arrival, received_at)
    elif hand_off:
        _hand_off(svc, arrival, received_at)
    if arrival.crisis:
        log.warning("inbound sms %s with crisis language stored (inbox %s), handed out first", sid, arrival.id)
    else:  # the access log has the request; this line only ties the MessageSid to the inbox id
        log.debug("inbound sms %s stored (inbox %s)", sid, arrival.id)
    return arrival


def _store(svc: Services, sid: str, from_phone: str, to_phone: str | None, body: str, received_at: datetime,
           hand_off: bool) -> Arrival:
    """The inbox write, tried again while the database is unreachable (a restart, a failover) for as long as Twilio
    waits for an answer: a text is never refused for an outage of a few seconds."""
    deadline = time.monotonic() + STORE_PATIENCE_SECONDS
    wait = 0.1
    while True:
        try:
            return svc.run(take_in, sid, from_phone, to_phone, body, received_at, svc.store.clinic.catalog,
                           handed_off=hand_off)
        except (OperationalError, InterfaceError):
            if time.monotonic() + wait > deadline:
                raise
            log.warning("inbound sms %s: database unreachable, trying again in %.1fs", sid, wait)
            time.sleep(wait)
            wait = min(wait * 2, 1.0)


def _apply_now(svc: Services, arrival: Arrival, now: datetime) -> None:
    try:
        apply_text(svc.store, arrival.id, now)
    except ConcurrencyConflict:  # still pending: the scheduler's sweep applies it on its next tick
        log.warning("inbound text %s kept for the next sweep: its workflow was busy", arrival.id)


def _hand_off(svc: Services, arrival: Arrival, queued_at: datetime) -> None:
    global _broker_failed_at
    from workers.tasks import hand_text  # the tasks import the Celery app, which reads settings

    try:
        hand_text(arrival.id, arrival.crisis, retry=False)
    except Exception as exc:  # the broker is away: the inbox keeps the text, the sweep hands it out later
        _broker_failed_at = time.monotonic()
        svc.run(return_unhanded_texts, [arrival.id], queued_at)
        log.warning("inbound text %s kept for the sweep: the broker refused it (%s)", arrival.id, type(exc).__name__)


def _broker_resting() -> bool:
    return _broker_failed_at is not None and time.monotonic() - _broker_failed_at < BROKER_REST_SECONDS
