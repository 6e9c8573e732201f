"""Celery tasks. Each takes an id, claims its row in the database, does one thing, and records the outcome.

Run twice, a task changes nothing twice: a timer fires through its event's idempotency key, a message is claimed
`queued → sending` by exactly one worker. Patient data never travels in task arguments: ids only.
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta

from models.inbox import report_to_workflow
from models.outbox import claim_message, deliver, mark_failed, requeue
from models.timers import fire_claimed
from workers.celery_app import app
from workers.ops import connect_task_counters
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


def now() -> datetime:
    return datetime.now(UTC)


def code_of(exc) -> str:
    return str(exc.code or getattr(exc, "status", None) or "unknown")


def backoff(retries: int) -> float:
    return random.uniform(0, min(BACKOFF_CAP_SECONDS, 2 ** (retries + 1)))


@app.task(name="workers.tasks.fire_timer", acks_late=True, reject_on_worker_lost=True)
def fire_timer(timer_id: str) -> bool:
    """Turn one claimed timer into its event."""
    fired = fire_claimed(services().store, timer_id, now())
    log.info("timer %s %s", timer_id, "fired" if fired else "already handled")
    return fired


@app.task(name="workers.tasks.deliver_message", bind=True, acks_late=True, reject_on_worker_lost=True,
          max_retries=MAX_SEND_RETRIES)
def deliver_message(self, message_id: str) -> str:
    """Send one outbox message if it is still wanted and allowed; record what happened."""
    svc = services()
    message = svc.run(claim_message, message_id, now())
    if message is None:
        return "already handled"
    try:
        status = deliver(svc.store, message, svc.gateway, now())
    except RecipientOptedOut as exc:
        svc.run(mark_failed, message_id, code_of(exc))
        report_to_workflow(svc.store, message.workflow_id, "sms.opted_out_at_carrier", message_id, code_of(exc), now())
        status = "failed"
    except (InvalidRecipient, PermanentSmsError) as exc:
        svc.run(mark_failed, message_id, code_of(exc))
        report_to_workflow(svc.store, message.workflow_id, "sms.undeliverable", message_id, code_of(exc), now())
        status = "failed"
    except SendOutcomeUnknown as exc:
        # The provider may have the message: leave it `sending`. Its status callback marks it sent; without one, the
        # scheduler asks the provider after the send grace period and resends only if it does not have it
        # (workers/reconcile.py). Retrying now could send it twice.
        log.warning("message %s outcome unknown (code %s): left for reconciliation", message_id, code_of(exc))
        return "unknown"
    except TransientSmsError as exc:
        if self.request.retries >= MAX_SEND_RETRIES:
            svc.run(requeue, message_id, now(), not_before=now() + PARKED_AFTER_RETRIES)
            log.warning("message %s parked after %d retries (code %s)", message_id, self.request.retries, code_of(exc))
            return "parked"
        svc.run(requeue, message_id, now())
        log.info("message %s transient failure (code %s): retrying", message_id, code_of(exc))
        raise self.retry(countdown=backoff(self.request.retries), exc=exc) from None
    log.info("message %s %s", message_id, status)
    return status
