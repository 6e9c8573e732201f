"""The chaos driver: a seeded plan of faults, carried out on a thread while the run goes on, with a timeline.

The plan always holds each infrastructure fault once, in a seeded order and at seeded moments, one at a time:
Redis restarted empty, PostgreSQL restarted (`-m fast`), PostgreSQL restarted (`-m immediate`, a crash: recovery
on start), and Redis stopped for 30 s then started empty. Throughout, every few seconds, a random worker or scheduler
is SIGKILLed (its whole process group, Celery's pool children too) and started again a moment later.
"""

from __future__ import annotations

import heapq
import random
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from chaos_services import PostgresCluster, RedisServer
from e2e.e2e_support import E2E, Proc

REDIS_OUTAGE_SECONDS = 30.0
KILL_EVERY_SECONDS = (4.0, 10.0)
RESTART_AFTER_SECONDS = (0.5, 3.0)
POSTGRES_DOWN_SECONDS = (1.0, 5.0)


@dataclass(order=True)
class Step:
    at: float  # seconds after the chaos started
    seq: int
    what: str = field(compare=False)
    action: Callable[[], None] = field(compare=False)


@dataclass
class ChaosDriver:
    world: E2E
    postgres: PostgresCluster
    redis_server: RedisServer
    rng: random.Random
    duration: float
    worker_concurrency: int = 2
    workers: list[Proc] = field(default_factory=list)
    schedulers: list[Proc] = field(default_factory=list)
    timeline: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=dict)
    _queue: list[Step] = field(default_factory=list)
    _seq: int = 0
    _kills: int = 0
    _started: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    # --- processes -------------------------------------------------------------------------------------------------
    def start_processes(self, workers: int = 2, schedulers: int = 2) -> None:
        for _ in range(workers):
            self.workers.append(self.world.start_worker(concurrency=self.worker_concurrency, wait=False))
        for _ in range(schedulers):
            self.schedulers.append(self.world.start_scheduler(wait=False))
        self.world.wait_ready(*self.workers, *self.schedulers, timeout=60)

    def _restart(self, group: list[Proc], index: int) -> None:
        if group is self.workers:
            group[index] = self.world.start_worker(concurrency=self.worker_concurrency, wait=False)
        else:
            group[index] = self.world.start_scheduler(wait=False)

    # --- the plan --------------------------------------------------------------------------------------------------
    def plan(self) -> None:
        """Infrastructure faults one at a time in seeded order and slots; process kills all along."""
        infra: list[tuple[str, float, list[tuple[float, str, Callable[[], None]]]]] = [
            ("redis restart (data lost)", 2.0, [(0.0, "redis: SIGKILL and start empty", self.redis_server.restart)]),
            ("postgres restart -m fast", 7.0, [(0.0, "postgres: pg_ctl restart -m fast", self._pg_fast)]),
            ("postgres restart -m immediate", 7.0,
             [(0.0, "postgres: pg_ctl restart -m immediate (crash recovery)", self._pg_immediate)]),
            ("redis down 30 s", REDIS_OUTAGE_SECONDS + 2.0,
             [(0.0, "redis: SIGKILL (down for 30 s)", self.redis_server.stop),
              (REDIS_OUTAGE_SECONDS, "redis: start empty after 30 s", self.redis_server.start)]),
        ]
        self.rng.shuffle(infra)
        # Lay them end to end with seeded gaps, leaving the last stretch of the window for recovery under kills.
        busy = sum(length for _, length, _ in infra)
        spare = max(0.0, self.duration * 0.85 - busy - 5.0)
        gaps = sorted(self.rng.uniform(0, spare) for _ in infra)
        at, used = 5.0, 0.0
        for gap, (name, length, actions) in zip(gaps, infra, strict=True):
            at += gap - used
            used = gap
            for number, (offset, what, action) in enumerate(actions):
                self._schedule(at + offset, what, self._counted(name, action) if number == 0 else action)
            at += length
        moment = self.rng.uniform(*KILL_EVERY_SECONDS)
        while moment < self.duration:
            self._schedule(moment, "kill", self._kill_random)
            moment += self.rng.uniform(*KILL_EVERY_SECONDS)

    def _pg_fast(self) -> None:
        self._pg_restart("fast")

    def _pg_immediate(self) -> None:
        self._pg_restart("immediate")

    def _pg_restart(self, mode: str) -> None:
        # Down for a few seconds, not an instant: long enough for ticks, tasks and connection pools to hit it.
        self.postgres.stop(mode)
        down = self.rng.uniform(*POSTGRES_DOWN_SECONDS)
        self._log(f"postgres: stopped ({mode}), starting again in {down:.1f}s")
        time.sleep(down)
        self.postgres.start()

    def _counted(self, name: str, action: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            action()
            self.faults[name] = self.faults.get(name, 0) + 1
        return run

    def _schedule(self, at: float, what: str, action: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, Step(at, self._seq, what, action))

    def _kill_random(self) -> None:
        self._kills += 1
        # The first two kills take one of each; after that, either at random.
        group = {1: self.workers, 2: self.schedulers}.get(self._kills) or self.rng.choice([self.workers, self.schedulers])
        index = self.rng.randrange(len(group))
        proc = group[index]
        proc.kill()
        kind = "worker" if group is self.workers else "scheduler"
        self.faults[f"SIGKILL {kind}"] = self.faults.get(f"SIGKILL {kind}", 0) + 1
        self._log(f"SIGKILL {kind} {index} (pid {proc.popen.pid}, log {proc.log.name})")
        delay = self.rng.uniform(*RESTART_AFTER_SECONDS)
        self._schedule(self._now() + delay, f"restart {kind} {index}", lambda: self._restart(group, index))

    # --- running ---------------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="chaos-driver", daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        assert self._thread is not None
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join(30)
            self.errors.append(f"the chaos driver overran its window by more than {timeout:.0f}s")

    def _run(self) -> None:
        while self._queue and not self._stop.is_set():
            step = heapq.heappop(self._queue)
            wait = step.at - self._now()
            if wait > 0 and self._stop.wait(wait):
                break
            if step.what != "kill":
                self._log(step.what)
            try:
                step.action()
            except Exception:  # recorded and reported by the test: a fault we could not inject is a failed run
                self.errors.append(f"{step.what}: {traceback.format_exc()}")
                self._log(f"FAILED: {step.what}")

    def _now(self) -> float:
        return time.monotonic() - self._started

    def _log(self, what: str) -> None:
        self.timeline.append(f"{self._now():7.1f}s  {what}")

    def report(self) -> str:
        return "\n".join(["chaos timeline (seconds after the chaos started):", *self.timeline])
