"""Handing claimed work to Celery by id: by the scheduler each tick, and by a task right after the commit that wrote
due work (a reminder its timer batch just wrote), so that work does not wait for the next tick.

Every id handed out was first taken in the database (a timer `claimed`, a message `queued`), so a task that arrives
twice changes nothing twice. If the broker refuses a publish, the ids not yet handed out go back to `pending` at once
for the next tick; if the process dies in between, the scheduler's sweep returns them after its grace period.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from models.outbox import return_unhanded
from models.timer_batch import DueNow, chunks_of_workflows
from models.timers import ClaimedTimer, release_claims
from workers.runtime import Services

log = logging.getLogger("carepath.handoff")

# Ids per task: a worker's round trips and commits are shared by the batch, and a lost task strands at most this many
# until the sweep.
HAND_OFF_BATCH = 50


def hand_off(batches: list[list[str]], send: Callable[[list[str]], object],
             give_back: Callable[[list[str]], int]) -> int:
    """Send each batch of ids to Celery; if the broker fails, give the rest back for the next tick, then let the error
    out. Returns how many ids were handed out."""
    for done, batch in enumerate(batches):
        try:
            send(batch)
        except Exception:
            rest = [item for later in batches[done:] for item in later]
            returned = give_back(rest)
            log.warning("hand-off to the broker failed: %d of %d given back for the next tick", returned,
                        sum(map(len, batches)))
            raise
    return sum(map(len, batches))


def message_batches(message_ids: list[str]) -> list[list[str]]:
    return [message_ids[start:start + HAND_OFF_BATCH] for start in range(0, len(message_ids), HAND_OFF_BATCH)]


def timer_batches(claimed: list[ClaimedTimer]) -> list[list[str]]:
    """A workflow's timers always in one task (never decided twice at once)."""
    return [[timer.id for timer in chunk] for chunk in chunks_of_workflows(claimed, HAND_OFF_BATCH)]


def hand_off_due_now(svc: Services, due_now: DueNow, taken_at: datetime) -> tuple[int, int]:
    """After the commit that took them: the due messages and timers to the workers; how many of each were handed out.
    A broker failure is logged, not raised: the work that made them is committed, what was not handed out is back in
    `pending`, and the scheduler's next tick hands it out."""
    from workers.tasks import deliver_messages, fire_timers  # the tasks import this module

    messages = timers = 0
    try:
        if due_now.message_ids:
            messages = hand_off(message_batches(due_now.message_ids), deliver_messages.delay,
                                lambda rest: svc.run(return_unhanded, rest, taken_at))
        if due_now.timers:
            timers = hand_off(timer_batches(due_now.timers), fire_timers.delay,
                              lambda rest: svc.run(release_claims, rest, taken_at))
    except Exception as exc:  # noqa: BLE001 - the scheduler's tick is the fallback for all of it
        log.warning("hand-off after commit failed (%s); the scheduler's next tick hands out the rest",
                    type(exc).__name__)
    return messages, timers
