"""`carepath scheduler`: every second, sweep lost work, hand waiting patients' texts (crisis first), then every due timer
and every due message to Celery by id, in tasks of up to `HAND_OFF_BATCH` ids (no cap per tick: a busy morning drains
at the workers' speed), then reconcile sends whose outcome is unknown (`workers/reconcile.py`). Every few minutes, tell
the clinic manager about gaps in the on-call rota (`watch_rota`).

Claims are atomic conditional updates (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so any number of schedulers may run
at once and no timer is handed out twice. If the hand-off itself fails (Redis down), the rows not yet handed out go
back to `pending` at once; rows whose task was lost later (Redis restarted empty) return after the grace period.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.schedulers.blocking import BlockingScheduler

from models.inbox_sweep import hand_off_waiting_texts, return_unhanded_texts, sweep_texts
from models.outbox import hand_off_due_messages, return_unhanded, sweep_messages
from models.rota_alerts import announce_gaps
from models.timers import CLAIM_BATCH, claim_due_timers, release_claims, release_stale_claims
from models.unattached import repage_overdue
from workers.handoff import hand_off, message_batches, timer_batches
from workers.reconcile import reconcile_stale_sends
from workers.runtime import Services, services

log = logging.getLogger("carepath.scheduler")


@dataclass
class TickResult:
    timers: int = 0
    messages: int = 0
    released: int = 0
    reconciled: int = 0  # stale sends the provider turned out to have: marked sent, not resent
    texts: int = 0  # patients' texts handed to workers (a text's webhook hands it out itself; these were waiting)
    repaged: int = 0  # unacknowledged emergencies with no workflow whose medical director was texted again


def tick(svc: Services, now: datetime | None = None) -> TickResult:
    """One round: sweep, claim and hand off, then reconcile stale sends. Safe to run concurrently in many processes."""
    from workers.tasks import deliver_messages, fire_timers, hand_text  # the tasks import the app, which reads settings

    now = now or datetime.now(UTC)
    result = TickResult()
    texts_grace, timers_grace, messages_grace = sweep_graces(svc)
    result.released = svc.run(sweep_texts, now, texts_grace)
    result.released += svc.run(release_stale_claims, now, timers_grace)
    result.released += svc.run(sweep_messages, now, messages_grace)
    # Texts first, crisis texts first among them: a patient in crisis does not wait behind due reminders.
    texts = svc.run(hand_off_waiting_texts, now)
    crisis = {inbox_id for inbox_id, is_crisis in texts if is_crisis}
    result.texts = hand_off([[inbox_id] for inbox_id, _ in texts], lambda one: hand_text(one[0], one[0] in crisis),
                            lambda rest: svc.run(return_unhanded_texts, rest, now))
    result.timers = hand_off_timers(svc, now, fire_timers.delay)
    result.repaged = svc.run(repage_overdue, svc.store, now)  # before the hand-off, which sends its pages
    result.messages = hand_off_messages(svc, now, deliver_messages.delay)
    # Last: its provider lookups may be slow (or fail), and must not hold up due timers. What it returns to `pending`
    # is handed out next tick.
    reconciled = reconcile_stale_sends(svc, now)
    result.released += reconciled.resent
    result.reconciled = reconciled.found
    if result.timers or result.messages or result.released or result.reconciled or result.texts or result.repaged:
        log.info("tick: %d timers, %d messages handed off; %d released; %d reconciled; %d texts handed off; "
                 "%d emergencies without a workflow paged again", result.timers, result.messages, result.released,
                 result.reconciled, result.texts, result.repaged)
    return result


# While a queue still holds tasks, work handed out a grace period ago is most likely waiting its turn behind them, not
# lost: re-handing it then only lengthens the queue (the chaos test and bench figure e saw that feedback loop). Such
# claims are re-handed after this many grace periods instead, so a task lost under a steady backlog still comes back.
BACKLOG_GRACE_FACTOR = 10


def sweep_graces(svc: Services) -> tuple[int, int, int]:
    """The stale-claim grace for texts, timers and messages, longer for a queue that still has a backlog."""
    from workers.celery_app import CRISIS_QUEUE, SMS_QUEUE, TEXT_QUEUE, TIMER_QUEUE
    from workers.ops import queue_depths

    grace = svc.settings.handoff_grace_seconds
    if svc.settings.tasks == "inline":
        return grace, grace, grace
    try:
        depths = queue_depths(svc.settings)
    except Exception:  # broker unreachable: nothing can be handed out this tick anyway; keep the plain grace
        return grace, grace, grace

    def for_queue(*queues: str) -> int:
        return grace * BACKLOG_GRACE_FACTOR if any(depths.get(queue, 0) > 0 for queue in queues) else grace

    return for_queue(TEXT_QUEUE, CRISIS_QUEUE), for_queue(TIMER_QUEUE), for_queue(SMS_QUEUE)


# Tasks of up to HAND_OFF_BATCH ids (`workers/handoff.py`). One claim statement takes up to CLAIM_BATCH rows; a tick
# claims again until nothing is due.


def hand_off_timers(svc: Services, now: datetime, send: Callable[[list[str]], object]) -> int:
    """Claim every due timer and hand them out, a workflow's timers always in one task (never decided twice at once)."""
    return _drain(lambda: svc.run(claim_due_timers, now), timer_batches, send,
                  lambda rest: svc.run(release_claims, rest, now))


def hand_off_messages(svc: Services, now: datetime, send: Callable[[list[str]], object]) -> int:
    """Mark every due message `queued` and hand them out in batches of `HAND_OFF_BATCH`."""
    return _drain(lambda: svc.run(hand_off_due_messages, now, CLAIM_BATCH), message_batches, send,
                  lambda rest: svc.run(return_unhanded, rest, now))


def _drain(claim: Callable[[], list], batches_of: Callable[[list], list[list[str]]],
           send: Callable[[list[str]], object], give_back: Callable[[list[str]], int]) -> int:
    """Claim (up to CLAIM_BATCH a statement) and hand out until a claim comes back short: nothing more is due."""
    handed = 0
    while claimed := claim():
        handed += hand_off(batches_of(claimed), send, give_back)
        if len(claimed) < CLAIM_BATCH:
            break
    return handed


# Gaps are looked for days ahead, so every few minutes is soon enough; the texts it queues go out on the next tick.
ROTA_WATCH_SECONDS = 300


def watch_rota(svc: Services, now: datetime | None = None) -> int:
    """Queue one text to the clinic manager for each gap in the on-call rota not yet told (`models.rota_alerts`)."""
    now = now or datetime.now(UTC)
    queued = svc.run(announce_gaps, svc.store, now, svc.settings.rota_gap_hours)
    if queued:
        log.info("rota: %d gaps told to the clinic manager", queued)
    return queued


def safe_watch_rota() -> None:
    try:
        watch_rota(services())
    except Exception:  # like a tick: a failed round is retried at the next one
        log.exception("rota watch failed; retrying in %d s", ROTA_WATCH_SECONDS)


def safe_tick() -> None:
    try:
        tick(services())
    except Exception:  # one failed round (database or broker down) must not stop the scheduler
        log.exception("scheduler tick failed; retrying next second")


def run_scheduler() -> None:
    """Block, ticking every `CAREPATH_SCHEDULER_INTERVAL_SECONDS` (one tick at a time, missed ticks coalesced)."""
    scheduler = BlockingScheduler(timezone="UTC")
    scheduler.add_job(safe_tick, "interval", seconds=services().settings.scheduler_interval_seconds,
                      max_instances=1, coalesce=True, id="carepath-tick")
    scheduler.add_job(safe_watch_rota, "interval", seconds=ROTA_WATCH_SECONDS, max_instances=1, coalesce=True,
                      id="carepath-rota-watch", next_run_time=datetime.now(UTC))  # at start too: a new rota file
    log.info("scheduler started")
    scheduler.start()
