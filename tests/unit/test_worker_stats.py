"""`worker_snapshot` without a broker: the in-process mode says so, an unreachable Redis says so (never raises);
the per-minute failure and retry counters add up over the last hour."""

from __future__ import annotations

import time
from types import SimpleNamespace

from workers import ops
from workers.ops import count_last_hour, counter_key, record_task_event, worker_snapshot
from workers.settings import Settings


def services(**values) -> SimpleNamespace:
    return SimpleNamespace(settings=Settings(_env_file=None, environment="test", **values))


def test_inline_mode_is_reported_as_such():
    stats = worker_snapshot(services(tasks="inline"))
    assert stats.inline and stats.reachable
    assert stats.workers == [] and stats.online == 0 and stats.queue_depth == {}


def test_an_unreachable_redis_gives_reachable_false_quickly():
    started = time.monotonic()
    stats = worker_snapshot(services(tasks="celery", redis_url="redis://127.0.0.1:1/0"))
    assert time.monotonic() - started < 3
    assert not stats.reachable and not stats.inline
    assert stats.error and "127.0.0.1" not in stats.error
    assert stats.flower_url == "http://127.0.0.1:5555"


def test_flower_url_is_a_setting(monkeypatch):
    monkeypatch.setenv("CAREPATH_FLOWER_URL", "https://flower.clinic.example")
    assert Settings(_env_file=None).flower_url == "https://flower.clinic.example"


class FakeRedis:
    """Just what the counters use: a pipeline of INCR/EXPIRE, and MGET."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {}
        self.ttls: dict[str, int] = {}

    def pipeline(self):
        return self

    def incr(self, key):
        self.values[key] = self.values.get(key, 0) + 1

    def expire(self, key, seconds):
        self.ttls[key] = seconds

    def execute(self):
        return []

    def mget(self, keys):
        return [str(self.values[k]).encode() if k in self.values else None for k in keys]


def test_counters_are_per_minute_with_a_ttl_and_summed_over_the_hour(monkeypatch):
    client = FakeRedis()
    now = 1_800_000_000.0
    monkeypatch.setattr(ops.time, "time", lambda: now)
    record_task_event("failed", client=client)
    record_task_event("failed", client=client)
    record_task_event("retried", client=client)
    minute = int(now // 60)
    assert client.values == {counter_key("failed", minute): 2, counter_key("retried", minute): 1}
    assert all(ttl >= 3600 for ttl in client.ttls.values())
    client.values[counter_key("failed", minute - 59)] = 5  # still inside the hour
    client.values[counter_key("failed", minute - 60)] = 100  # an hour ago: not counted
    assert count_last_hour(client, "failed", now) == 7
    assert count_last_hour(client, "retried", now) == 1


def test_counting_never_raises():
    class Broken:
        def pipeline(self):
            raise ConnectionError("down")

    record_task_event("failed", client=Broken())
    record_task_event("failed", settings=Settings(_env_file=None, tasks="inline"))  # no broker: nothing to count
