"""Celery tasks. Each takes an id, claims its row in the database, does one thing, and records the outcome.

Run twice, a task changes nothing twice: a timer fires through its event's idempotency key, a message is claimed
`queued → sending` by exactly one worker. Patient data never travels in task arguments: ids only.
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import DBAPIError

from models.inbox import apply_text
from models.inbox_sweep import release_text, requeue_text
from models.numbers import report_to_number
from models.outbox import claim_message, deliver, mark_failed, requeue
from models.store import ConcurrencyConflict
from models.timer_batch import DueNow, fire_claimed_batch
from workers.celery_app import CRISIS_QUEUE, TEXT_QUEUE, app
from workers.handoff import hand_off_due_now
from workers.ops import connect_task_counters, record_task_event
from workers.runtime import services
from workers.sms_errors import (
    InvalidRecipient,
    PermanentSmsError,
    RecipientOptedOut,
    SendOutcomeUnknown,
    TransientSmsError,
)

log = logging.getLogger("carepath.tasks")
connect_task_counters()  # failures and retries in the last hour, for the dashboard and /metrics

# Exponential backoff with full jitter: 2 s, 4 s, … capped at 5 min; after MAX_SEND_RETRIES the message waits in the
# outbox and the scheduler hands it out again later, so a long provider outage delays messages but loses none.
MAX_SEND_RETRIES = 8
BACKOFF_CAP_SECONDS = 300
PARKED_AFTER_RETRIES = timedelta(minutes=5)


# A text that keeps conflicting (a busy workflow: timers, staff, a burst of texts) or meets a database restart is
# retried by Celery with short jittered waits, then given back to the inbox for the scheduler's sweep.
MAX_APPLY_RETRIES = 10
APPLY_BACKOFF_CAP_SECONDS = 5


def now() -> datetime:
    return datetime.now(UTC)


def code_of(exc) -> str:
    return str(exc.code or getattr(exc, "status", None) or "unknown")


def backoff(retries: int) -> float:
    return random.uniform(0, min(BACKOFF_CAP_SECONDS, 2 ** (retries + 1)))


@app.task(name="workers.tasks.fire_timers", acks_late=True, reject_on_worker_lost=True)
def fire_timers(timer_ids: list[str]) -> int:
    """Turn a batch of claimed timers into their events, one transaction for the batch (`models/timer_batch.py`);
    the reminders and timers those events made due go to the workers right after its commit, not at the next tick."""
    svc, at = services(), now()
    due_now = DueNow() if svc.settings.tasks != "inline" else None  # inline: the same tick hands them out next
    fired = fire_claimed_batch(svc.store, timer_ids, at, due_now)
    messages, timers = hand_off_due_now(svc, due_now, at) if due_now is not None else (0, 0)
    log.info("timers: %d of %d fired, the rest already handled; handed on after the commit: %d messages, %d timers",
             fired, len(timer_ids), messages, timers)
    return fired


@app.task(name="workers.tasks.fire_timer", acks_late=True, reject_on_worker_lost=True)
def fire_timer(timer_id: str) -> bool:
    """Turn one claimed timer into its event (tasks queued before `fire_timers` existed still arrive by this name)."""
    fired = fire_claimed_batch(services().store, [timer_id], now()) == 1
    log.info("timer %s %s", timer_id, "fired" if fired else "already handled")
    return fired


@app.task(name="workers.tasks.apply_inbound_text", bind=True, acks_late=True, reject_on_worker_lost=True,
          max_retries=MAX_APPLY_RETRIES)
def apply_inbound_text(self, inbox_id: str) -> str:
    """Apply one stored patient text to its workflow(s), exactly once (its event's key is the MessageSid)."""
    svc = services()
    try:
        applied = apply_text(svc.store, inbox_id, now())
    except (ConcurrencyConflict, DBAPIError) as exc:
        if self.request.is_eager or self.request.retries >= MAX_APPLY_RETRIES:
            _give_back(svc, inbox_id)  # the next sweep hands it out again
            log.warning("inbound text %s not applied yet (%s): back in the inbox", inbox_id, type(exc).__name__)
            return "released"
        _requeue(svc, inbox_id)
        log.info("inbound text %s: %s, retrying", inbox_id, type(exc).__name__)
        raise self.retry(countdown=random.uniform(0, min(APPLY_BACKOFF_CAP_SECONDS, 0.2 * 2 ** self.request.retries)),
                         exc=exc) from None
    return applied.status if applied is not None else "already handled"


def hand_text(inbox_id: str, crisis: bool, retry: bool = True) -> None:
    """Send one stored text's id to a worker: a crisis text on the crisis queue, ahead of any backlog."""
    apply_inbound_text.apply_async((inbox_id,), queue=CRISIS_QUEUE if crisis else TEXT_QUEUE, retry=retry)


def _give_back(svc, inbox_id: str) -> None:
    try:
        svc.run(release_text, inbox_id)
    except DBAPIError:  # the database is away: the row is still `queued`, and the sweep's grace brings it back
        pass


def _requeue(svc, inbox_id: str) -> None:
    try:
        svc.run(requeue_text, inbox_id, now())
    except DBAPIError:
        pass


# A batch is up to HAND_OFF_BATCH provider calls, each up to the gateway's timeout: more than one message's 30 s. What a
# batch past its limit did not reach stays `queued`, and the scheduler's sweep hands it out again.
BATCH_SOFT_TIME_LIMIT = 300


@app.task(name="workers.tasks.deliver_messages", acks_late=True, reject_on_worker_lost=True,
          soft_time_limit=BATCH_SOFT_TIME_LIMIT, time_limit=BATCH_SOFT_TIME_LIMIT + 30)
def deliver_messages(message_ids: list[str]) -> dict[str, int]:
    """Send a batch of handed-off messages, each on its own: one message's failure neither stops nor repeats another's
    (a transient one goes on alone as `deliver_message`, with its retries)."""
    svc = services()
    outcomes: dict[str, int] = {}
    for message_id in message_ids:
        try:
            status = send_one(svc, message_id)
        except TransientSmsError:
            svc.run(requeue, message_id, now())
            wait = backoff(0)
            deliver_message.apply_async((message_id,), countdown=wait)  # retried alone, with its own retries
            record_task_event("retried")  # a retry on the ops dashboard, as Celery's own are
            log.info("message %s retrying alone in %.3fs", message_id, wait)
            status = "retrying"
        except SoftTimeLimitExceeded:
            raise
        except Exception:
            # Left `sending`: reconciliation asks the provider before any resend (workers/reconcile.py).
            log.exception("message %s: unexpected error, left for reconciliation", message_id)
            status = "error"
        outcomes[status] = outcomes.get(status, 0) + 1
    log.info("messages: %s", ", ".join(f"{count} {status}" for status, count in sorted(outcomes.items())))
    return outcomes


@app.task(name="workers.tasks.deliver_message", bind=True, acks_late=True, reject_on_worker_lost=True,
          max_retries=MAX_SEND_RETRIES)
def deliver_message(self, message_id: str) -> str:
    """Send one outbox message if it is still wanted and allowed; record what happened. Retries a transient failure."""
    svc = services()
    try:
        return send_one(svc, message_id)
    except TransientSmsError as exc:
        if self.request.retries >= MAX_SEND_RETRIES:
            # The outbox keeps it, and the scheduler hands it out again later.
            svc.run(requeue, message_id, now(), not_before=now() + PARKED_AFTER_RETRIES)
            log.warning("message %s parked after %d retries (code %s)", message_id, self.request.retries, code_of(exc))
            return "parked"
        svc.run(requeue, message_id, now())
        raise self.retry(countdown=backoff(self.request.retries), exc=exc) from None


def send_one(svc, message_id: str) -> str:
    """Claim, re-check and send one message; the status it ends in. A transient failure is raised with the message
    still `sending`, for the caller to requeue."""
    message = svc.run(claim_message, message_id, now())
    if message is None:
        return "already handled"
    try:
        status = deliver(svc.store, message, svc.gateway, now())
    except RecipientOptedOut as exc:
        svc.run(mark_failed, message_id, code_of(exc))
        # The number's: every patient on it is opted out (and an answer to an unknown number has no workflow).
        report_to_number(svc.store, message_id, "sms.opted_out_at_carrier", code_of(exc), now())
        status = "failed"
    except (InvalidRecipient, PermanentSmsError) as exc:
        svc.run(mark_failed, message_id, code_of(exc))
        report_to_number(svc.store, message_id, "sms.undeliverable", code_of(exc), now())
        status = "failed"
    except SendOutcomeUnknown as exc:
        # The provider may have the message: leave it `sending`. Its status callback marks it sent; without one, the
        # scheduler asks the provider after the send grace period and resends only if it does not have it
        # (workers/reconcile.py). Retrying now could send it twice.
        log.warning("message %s outcome unknown (code %s): left for reconciliation", message_id, code_of(exc))
        return "unknown"
    except TransientSmsError as exc:
        log.info("message %s transient failure (code %s): retrying", message_id, code_of(exc))
        raise
    log.info("message %s %s", message_id, status)
    return status
