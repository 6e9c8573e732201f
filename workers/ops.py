"""What ops watch on the worker side: online workers, queue depths, failed and retried tasks.

Read at request or scrape time with short timeouts: a dead broker makes the snapshot say `reachable=False`, it never
raises. Failures and retries are counted by Celery signal handlers into per-minute Redis counters (ids only: a
counter holds a task name and a number, never a task's arguments).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from functools import lru_cache

from celery.signals import task_failure, task_retry

from workers.runtime import Services
from workers.settings import Settings

log = logging.getLogger("carepath.ops")

QUEUES = ("crisis", "texts", "timers", "sms")
INSPECT_TIMEOUT_SECONDS = 0.8
REDIS_TIMEOUT_SECONDS = 0.5
COUNTER_PREFIX = "carepath:ops"
COUNTER_TTL_SECONDS = 2 * 3600  # an hour of minutes is read; the rest expires on its own
WINDOW_MINUTES = 60


@dataclass(frozen=True)
class WorkerInfo:
    name: str  # Celery's node name, e.g. celery@host
    active_tasks: int


@dataclass(frozen=True)
class WorkerStats:
    workers: list[WorkerInfo] = field(default_factory=list)
    queue_depth: dict[str, int] = field(default_factory=dict)  # queue → messages waiting in Redis
    failed_last_hour: int = 0
    retried_last_hour: int = 0
    reachable: bool = True  # the broker answered; False: the other numbers are unknown, not zero
    flower_url: str | None = None
    inline: bool = False  # tasks run inside the API / standalone process: there are no workers to show
    error: str | None = None  # why it was unreachable (an exception type name: no URLs, no secrets)

    @property
    def online(self) -> int:
        return len(self.workers)


def _redis(settings: Settings):
    return _redis_for(settings.redis_url)


@lru_cache(maxsize=4)
def _redis_for(url: str):
    import redis  # installed with celery[redis]

    return redis.Redis.from_url(url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS)


@lru_cache(maxsize=4)
def _celery_for(url: str):
    """The process's Celery app when it talks to this broker, else one configured for it (for inspect only)."""
    from workers.celery_app import app, make_app

    if app.conf.broker_url == url:
        return app
    settings = Settings(_env_file=None, redis_url=url, tasks="celery")
    return make_app(settings)


def _minute(at: float | None = None) -> int:
    return int((time.time() if at is None else at) // 60)


def counter_key(kind: str, minute: int) -> str:
    return f"{COUNTER_PREFIX}:{kind}:{minute}"


def record_task_event(kind: str, settings: Settings | None = None, client=None) -> None:
    """Count one task failure or retry in this minute's Redis counter. Never raises: counting must not break a task."""
    try:
        if client is None:
            if settings is None:
                from workers.runtime import services

                settings = services().settings
            if settings.tasks == "inline":
                return  # no broker in the in-process mode: a failure there surfaces to its caller
            client = _redis(settings)
        key = counter_key(kind, _minute())
        pipe = client.pipeline()
        pipe.incr(key)
        pipe.expire(key, COUNTER_TTL_SECONDS)
        pipe.execute()
    except Exception as exc:  # Redis down: the task's own outcome is in the database; the counter is best effort
        log.warning("could not count task %s (%s)", kind, type(exc).__name__)


def count_last_hour(client, kind: str, now: float | None = None) -> int:
    minute = _minute(now)
    keys = [counter_key(kind, m) for m in range(minute - WINDOW_MINUTES + 1, minute + 1)]
    return sum(int(value) for value in client.mget(keys) if value is not None)


def _on_task_failure(sender=None, task_id=None, **_ignored) -> None:
    record_task_event("failed")


def _on_task_retry(sender=None, request=None, **_ignored) -> None:
    record_task_event("retried")


def connect_task_counters() -> None:
    """Count failures and retries from Celery's signals (idempotent; `workers.tasks` calls it on import)."""
    task_failure.connect(_on_task_failure, weak=False, dispatch_uid="carepath.ops.failed")
    task_retry.connect(_on_task_retry, weak=False, dispatch_uid="carepath.ops.retried")


def queue_depths(settings: Settings) -> dict[str, int]:
    """Tasks waiting in each carepath queue on the broker (raises if Redis cannot be reached)."""
    pipe = _redis(settings).pipeline()
    for queue in QUEUES:
        pipe.llen(queue)
    return dict(zip(QUEUES, (int(n) for n in pipe.execute()), strict=True))


def worker_snapshot(services: Services) -> WorkerStats:
    """Workers, queues and recent failures; in-process mode is reported as such, an unreachable broker as such."""
    settings = services.settings
    flower = settings.flower_url or None
    if settings.tasks == "inline":
        return WorkerStats(reachable=True, inline=True, flower_url=None)
    try:
        client = _redis(settings)
        depths = queue_depths(settings)
        failed = count_last_hour(client, "failed")
        retried = count_last_hour(client, "retried")
    except Exception as exc:
        log.warning("worker snapshot: redis unreachable (%s)", type(exc).__name__)
        return WorkerStats(reachable=False, flower_url=flower, error=type(exc).__name__)
    return WorkerStats(workers=_online_workers(settings), queue_depth=depths, failed_last_hour=failed,
                       retried_last_hour=retried, reachable=True, flower_url=flower)


def _online_workers(settings: Settings) -> list[WorkerInfo]:
    """Workers answering a broadcast within the timeout, with their active task counts ([] if none answer)."""
    try:
        replies = _celery_for(settings.redis_url).control.inspect(timeout=INSPECT_TIMEOUT_SECONDS).active() or {}
    except Exception as exc:
        log.warning("worker snapshot: inspect failed (%s)", type(exc).__name__)
        return []
    return sorted((WorkerInfo(name=name, active_tasks=len(tasks or [])) for name, tasks in replies.items()),
                  key=lambda w: w.name)
