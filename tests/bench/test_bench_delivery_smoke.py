"""`carepath bench` figures c, f and h still run: tiny sizes against the real PostgreSQL and Redis (their numbers mean
nothing at this size, so only their presence is checked). Without the services these skip, except under CI=true.

Each figure starts its own processes inside a `Procs` block that kills them on the way out, failure or not; the test
also checks that nothing it started is left behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis

from bench.core import BenchContext, Figure
from bench.figures._procs import children
from bench.figures.delivery import reminders_delivered
from bench.figures.memory import worker_memory
from bench.figures.webhooks import inbound_webhooks

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


@pytest.fixture
def ctx(postgres_server_url: str, redis_server: str, tmp_path: Path) -> BenchContext:
    # The figures claim a Redis database number of their own (bench/support.py), whatever number this URL names.
    return BenchContext(quick=True, smoke=True, postgres_server_url=postgres_server_url, redis_url=f"{redis_server}/0",
                        workdir=tmp_path)


def _descendants() -> set[int]:
    """Our child processes still alive (a figure's worker, scheduler or API left behind would show here)."""
    found = set(children(os.getpid()))
    return {pid for pid in found if Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)}


def _state(pid: int) -> str:
    try:
        return next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("State:"))
    except (OSError, StopIteration):
        return "Z"


def _assert_measured(result: Figure) -> None:
    assert result.error is None
    assert result.value is not None and result.value > 0
    assert result.baseline is not None and result.baseline > 0
    assert result.ratio is not None and result.ratio > 0


@pytest.mark.parametrize("measure", [reminders_delivered, inbound_webhooks, worker_memory], ids=["c", "f", "h"])
def test_figure_runs_at_smoke_size(ctx: BenchContext, measure) -> None:
    before = _descendants()
    result = measure(ctx)
    _assert_measured(result)
    assert result.key in "cfh" and result.goal
    assert _descendants() <= before, "a figure left a process running"
    if result.key == "h":  # below the full 100,000 tasks memory growth is not judged, and the figure says so
        assert result.met is None and "not judged" in result.note
