"""A patient's text on arrival: stored in the inbox, then handed to a worker by id (a crisis text on its own queue), or
applied at once in the inline mode. The webhook answers Twilio as soon as its text is stored.

One writer thread per process stores what the webhooks hand it, every text that arrived meanwhile in one short
transaction (`models.inbox.take_in_many`): at hundreds of texts a second, a transaction each would cost the API more
than the rest of the request. A crisis text's task is sent before its webhook answers; the others' right after. In a
burst (a batch bigger than `HAND_OFF_BATCH`) ordinary texts are left `pending` for the scheduler's next tick, a second
at most, so the webhook's time goes to answering Twilio.

While the database is unreachable the write is tried again for a few seconds (Twilio waits 15 s for an answer and
does not retry an inbound webhook). When the broker refuses a hand-off, the text goes back to `pending` and, for a
few seconds, later texts are not offered to the broker at all: each would wait on a dead connection first. The
scheduler's sweep hands them out once the broker is back.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from concurrent.futures import Future
from datetime import datetime

from sqlalchemy.exc import InterfaceError, OperationalError

from models.inbox import IGNORED, PENDING, QUEUED, Arrival, Incoming, apply_text, take_in_many
from models.inbox_sweep import return_unhanded_texts
from models.store import ConcurrencyConflict
from workers.runtime import Services

log = logging.getLogger("carepath.inbox")

MAX_BATCH = 200  # texts stored in one transaction at most
# How long the writer waits for more texts before storing what it has: a few milliseconds more for the first text of
# a batch, when texts come fast, save a transaction (and a commit's flush to disk) for each one that joins it.
LINGER_SECONDS = 0.004
HAND_OFF_BATCH = 1  # in a bigger batch (a burst), ordinary texts wait for the scheduler's next tick
STORE_PATIENCE_SECONDS = 8.0  # how long a write is tried again while the database is away
ANSWER_TIMEOUT_SECONDS = 12.0  # a webhook waits this long for its text to be stored (Twilio: 15 s)
BROKER_REST_SECONDS = 5.0  # after a refused hand-off, texts are left to the scheduler for this long
_broker_failed_at: float | None = None


class InboxWriter:
    """Stores this process's arriving texts, those that came in together in one transaction."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.pid = os.getpid()  # a forked child starts a writer of its own
        self.queue: queue.SimpleQueue[tuple[Incoming, Future]] = queue.SimpleQueue()
        threading.Thread(target=self._run, name="carepath-inbox-writer", daemon=True).start()

    def submit(self, incoming: Incoming) -> Future:
        future: Future = Future()
        self.queue.put((incoming, future))
        return future

    def _run(self) -> None:
        while True:
            batch = [self.queue.get()]
            until = time.monotonic() + LINGER_SECONDS
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self.queue.get(timeout=max(0.0, until - time.monotonic())))
                except queue.Empty:
                    break
            try:
                self._write(batch)
            except BaseException as exc:  # the writer never dies: each webhook waiting on this batch gets the error
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)

    def _write(self, batch: list[tuple[Incoming, Future]]) -> None:
        celery, resting, small = self.svc.settings.tasks == "celery", _broker_resting(), len(batch) <= HAND_OFF_BATCH
        arrivals = self._store([incoming for incoming, _ in batch],
                               lambda crisis: celery and not resting and (crisis or small))
        handed = [(arrival, incoming) for arrival, (incoming, _) in zip(arrivals, batch, strict=True)
                  if arrival.new and arrival.status == QUEUED]
        self._hand_off([pair for pair in handed if pair[0].crisis])  # before the webhook answers
        for arrival, (incoming, future) in zip(arrivals, batch, strict=True):
            future.set_result(arrival)
            _log(incoming, arrival)
        self._hand_off([pair for pair in handed if not pair[0].crisis])

    def _store(self, texts: list[Incoming], handed_off) -> list[Arrival]:
        deadline, wait = time.monotonic() + STORE_PATIENCE_SECONDS, 0.1
        while True:
            try:
                return self.svc.run(take_in_many, texts, self.svc.store.clinic, handed_off)
            except (OperationalError, InterfaceError):
                if time.monotonic() + wait > deadline:
                    raise
                log.warning("%d inbound texts: database unreachable, trying again in %.1fs", len(texts), wait)
                time.sleep(wait)
                wait = min(wait * 2, 1.0)

    def _hand_off(self, handed: list[tuple[Arrival, Incoming]]) -> None:
        global _broker_failed_at
        from workers.tasks import hand_text  # the tasks import the Celery app, which reads settings

        for done, (arrival, _) in enumerate(handed):
            try:
                hand_text(arrival.id, arrival.crisis, retry=False)
            except Exception as exc:  # the broker is away: the inbox keeps the texts, the sweep hands them out later
                _broker_failed_at = time.monotonic()
                rest = handed[done:]
                self.svc.run(_give_back, [(a.id, incoming.received_at) for a, incoming in rest])
                log.warning("%d inbound texts kept for the sweep: the broker refused them (%s)", len(rest),
                            type(exc).__name__)
                return


_writers: dict[int, InboxWriter] = {}
_writers_lock = threading.Lock()


def writer_for(svc: Services) -> InboxWriter:
    with _writers_lock:
        writer = _writers.get(id(svc))
        if writer is None or writer.pid != os.getpid():
            writer = _writers[id(svc)] = InboxWriter(svc)
        return writer


def submit_text(svc: Services, incoming: Incoming) -> Future:
    """Hand one arriving text to this process's writer; the future's result is its `Arrival` once stored."""
    return writer_for(svc).submit(incoming)


def applies_here(svc: Services, arrival: Arrival) -> bool:
    """In the inline mode (standalone) a stored text is applied at once, by the webhook's own thread."""
    return svc.settings.tasks == "inline" and arrival.new and arrival.status == PENDING


def apply_now(svc: Services, arrival: Arrival, now: datetime) -> None:
    try:
        apply_text(svc.store, arrival.id, now)
    except ConcurrencyConflict:  # still pending: the scheduler's sweep applies it on its next tick
        log.warning("inbound text %s kept for the next sweep: its workflow was busy", arrival.id)


def accept_text(svc: Services, sid: str, from_phone: str, to_phone: str | None, body: str,
                received_at: datetime) -> Arrival:
    """Store one text (a repeated MessageSid stores nothing new) and set it on its way, from a synchronous caller."""
    arrival = submit_text(svc, Incoming(sid, from_phone, to_phone, body, received_at)).result(ANSWER_TIMEOUT_SECONDS)
    if applies_here(svc, arrival):
        apply_now(svc, arrival, received_at)
    return arrival


def _give_back(uow, texts: list[tuple[str, datetime]]) -> int:
    return sum(return_unhanded_texts(uow, [inbox_id], queued_at) for inbox_id, queued_at in texts)


def _log(incoming: Incoming, arrival: Arrival) -> None:
    if not arrival.new or arrival.status == IGNORED:
        log.info("inbound sms %s: %s (inbox %s)", incoming.sid, "ignored" if arrival.new else "repeat, nothing new",
                 arrival.id)
    elif arrival.crisis:
        log.warning("inbound sms %s with crisis language stored (inbox %s), handed out first", incoming.sid, arrival.id)
    else:  # the access log has the request; this line only ties the MessageSid to the inbox id
        log.debug("inbound sms %s stored (inbox %s)", incoming.sid, arrival.id)


def _broker_resting() -> bool:
    return _broker_failed_at is not None and time.monotonic() - _broker_failed_at < BROKER_REST_SECONDS
