"""A scheduler (re)started while PostgreSQL is down waits for it, then works: it reads the clinic network at
start, and exiting there would leave the clinic without a scheduler until someone restarted it (the chaos test caught
a scheduler that gave up this way)."""

from __future__ import annotations

import re
import time

import pytest
from chaos_services import PostgresCluster, RedisServer
from e2e.e2e_support import E2E, wait_until

pytestmark = pytest.mark.chaos

WAITING = re.compile(r"Retrying .*wait_for_database")


def test_processes_started_while_the_database_is_down_wait_for_it(
        chaos_world: E2E, own_services: tuple[PostgresCluster, RedisServer]) -> None:
    world, (postgres, _) = chaos_world, own_services
    [workflow] = world.schedule_reminders(1, due_in=2)
    postgres.stop()

    scheduler, worker = world.start_scheduler(wait=False), world.start_worker(wait=False)
    world.wait_for_log(scheduler, WAITING, "the scheduler to wait for the database", timeout=60)
    time.sleep(3)  # a worker reads the database at its first task, so it has nothing to wait for yet
    assert scheduler.alive and worker.alive, "a process exited instead of waiting for the database"

    postgres.start()
    world.wait_ready(scheduler, worker, timeout=60)
    wait_until(lambda: [m for m in world.outbox([workflow]) if m.status in ("sent", "delivered")], 60,
               "the reminder to go out once the database is back")
    assert len(world.fake.messages) == 1
