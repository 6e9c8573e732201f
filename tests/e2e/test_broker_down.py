"""The broker is down when the scheduler hands work out: what it claimed goes straight back to `pending`, so nothing
waits out the stale-claim grace period once Redis is back (the chaos test showed that wait after a Redis outage)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from e2e_support import E2E, wait_until
from process_support import free_port

TICK_FAILED = re.compile(r"scheduler tick failed")
GIVEN_BACK = re.compile(r"given back for the next tick")


def test_work_claimed_while_the_broker_is_down_is_given_back_at_once(e2e: E2E) -> None:
    e2e.env_overrides["CAREPATH_HANDOFF_GRACE_SECONDS"] = "3600"  # only the give-back can return the rows
    workflows = [e2e.start_workflow() for _ in range(3)]
    due = datetime.now(UTC) + timedelta(seconds=2)
    for workflow in workflows:
        e2e.text_from_patient(workflow, "HELP")  # a reply due now
        e2e.schedule_evaluation(workflow, due)  # its 2-hour reminder timer falls due in 2 s

    dead_broker = f"redis://127.0.0.1:{free_port()}/0"
    scheduler = e2e.start_scheduler(env={"CAREPATH_REDIS_URL": dead_broker})
    e2e.wait_for_log(scheduler, TICK_FAILED, "a tick to fail on the broker", timeout=60)
    wait_until(lambda: datetime.now(UTC) > due, 10, "the reminders to fall due")
    earlier = len(GIVEN_BACK.findall(scheduler.text()))
    wait_until(lambda: len(GIVEN_BACK.findall(scheduler.text())) >= earlier + 2, 60, "two give-backs since then")
    scheduler.kill()

    assert {m.status for m in e2e.outbox(workflows)} == {"pending"}, "messages left queued for a task that never left"
    assert {t.status for t in e2e.timers("reminder")} == {"pending"}, "timers left claimed for a task that never left"

    e2e.start_worker()
    e2e.start_scheduler()  # the broker is back: everything goes out once
    e2e.fake.wait_for_messages(6, timeout=60)
    assert len(e2e.fake.messages) == 6
