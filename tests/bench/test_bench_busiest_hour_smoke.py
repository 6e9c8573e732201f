"""`carepath bench` figure j (a network's busiest hour) still runs: 4 clinics, one per US zone, 20 messages due at
their zones' 10:00, two workers and two schedulers against the real PostgreSQL and Redis and the fake Twilio. Its
timings mean nothing at this size; what is checked is that it comes back measured, that every message it owed reached
the fake exactly once (the figure's own bookkeeping of lost and doubled messages), and that no process is left behind.
Without the services these skip, except under CI=true.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis

from bench.core import BenchContext
from bench.figures._procs import children
from bench.figures.busiest_hour import ZONES, busiest_hour
from bench.runner import table

pytestmark = pytest.mark.postgres

REDIS_SERVER_URL = os.environ.get("CAREPATH_TEST_REDIS_URL", "redis://127.0.0.1:6379")


@pytest.fixture(scope="module")
def redis_server() -> str:
    try:
        redis.Redis.from_url(REDIS_SERVER_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        reason = f"Redis is not reachable at {REDIS_SERVER_URL}: {exc}"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"{reason}\nCI=true requires Redis.", pytrace=False)
        pytest.skip(reason)
    return REDIS_SERVER_URL


def _alive_children() -> set[int]:
    return {pid for pid in children(os.getpid()) if Path(f"/proc/{pid}").exists()
            and "Z" not in next((line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                                 if line.startswith("State:")), "Z")}


def test_busiest_hour_runs_at_smoke_size(postgres_server_url: str, redis_server: str, tmp_path: Path) -> None:
    ctx = BenchContext(quick=True, smoke=True, postgres_server_url=postgres_server_url,
                       redis_url=f"{redis_server}/0", workdir=tmp_path)
    before = _alive_children()

    result = busiest_hour(ctx)

    assert result.error is None
    assert result.key == "j" and result.goal
    assert result.value is not None and result.value > 0
    assert result.baseline is not None and result.baseline > 0
    assert result.ratio == pytest.approx(result.value / result.baseline)
    details = result.details
    assert details["messages"] == 32  # 4 clinics × (5 check-ins + 3 reminders)
    assert set(details["by_zone"]) == set(ZONES)
    assert all(zone["messages"] == 8 for zone in details["by_zone"].values())
    assert (details["lost"], details["doubled"], details["unexpected_messages"]) == (0, 0, 0)
    assert details["outbox_by_status"] == {"sent": 32}
    assert details["patients"] == 300
    assert set(details["memory"]) == {"worker-1", "worker-2", "scheduler-1", "scheduler-2"}
    table([result])  # renders without error
    assert _alive_children() <= before, "the figure left a process running"
