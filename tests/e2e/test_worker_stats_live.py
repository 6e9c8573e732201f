"""`worker_snapshot` against a real `carepath worker`: online workers, queue depths, and a retry counted by the
Celery signal handlers; the worker logging JSON lines (CAREPATH_LOG_FORMAT=json)."""

from __future__ import annotations

import json

import pytest
from e2e_support import E2E, wait_until

from workers.ops import worker_snapshot

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


def test_worker_snapshot_sees_the_worker_and_counts_a_retry(e2e: E2E) -> None:
    e2e.env_overrides["CAREPATH_HANDOFF_GRACE_SECONDS"] = "60"  # Celery's retry, not the sweeper, brings it back
    e2e.env_overrides["CAREPATH_LOG_FORMAT"] = "json"
    e2e.fake.fail_next(1, status=500)
    worker, scheduler = e2e.start_worker(wait=False), e2e.start_scheduler(wait=False)
    e2e.wait_ready(worker, scheduler)
    [workflow] = e2e.schedule_reminders(1, due_in=2)
    wait_until(lambda: [r for r in e2e.outbox([workflow]) if r.status in ("sent", "delivered")] or None, 30,
               "the reminder sent after one retry", interval=0.2)

    stats = wait_until(lambda: (s := worker_snapshot(e2e.services)).retried_last_hour >= 1 and s or None, 10,
                       "the retry counted")
    assert stats.reachable and not stats.inline
    assert stats.online == 1 and stats.workers[0].name.startswith("celery@")
    assert set(stats.queue_depth) == {"crisis", "texts", "timers", "sms"}
    assert stats.retried_last_hour == 1 and stats.failed_last_hour == 0
    assert stats.flower_url

    records = [json.loads(line) for line in worker.text().splitlines() if line.startswith("{")]
    assert any("ready" in r["message"] and r["level"] == "INFO" for r in records), worker.text()[-2000:]
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
