"""What several figures need: throwaway PostgreSQL databases, a Redis database number, percentiles, alternating runs,
carepath processes started as an operator would, and a pyinstrument profile of a figure that missed its goal."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import redis
from psycopg import sql
from sqlalchemy.engine import make_url

from bench.core import BenchContext

POSTGRES_DRIVER = "postgresql+psycopg"
ROOT = Path(__file__).resolve().parents[1]
# Redis database numbers the bench may take; the e2e tests use 8-14 and keep their locks in 15, next to ours.
BENCH_REDIS_DBS = range(1, 8)
REDIS_LOCK_DB = 15
REDIS_LOCK_TTL_SECONDS = 1800


# --- PostgreSQL ----------------------------------------------------------------------------------------------------


def psycopg_params(url: str) -> dict[str, Any]:
    """psycopg.connect() keyword arguments for a SQLAlchemy-style URL."""
    u = make_url(url)
    params = {"host": u.host, "port": u.port, "user": u.username, "password": u.password, "dbname": u.database}
    params = {k: v for k, v in params.items() if v is not None}
    for key, value in u.query.items():  # e.g. ?sslmode=disable
        params[key] = value[-1] if isinstance(value, tuple) else value
    return params


def connect(url: str, autocommit: bool = False) -> psycopg.Connection:
    return psycopg.connect(autocommit=autocommit, connect_timeout=5, **psycopg_params(url))


@contextmanager
def throwaway_database(server_url: str, migrated: bool = True) -> Iterator[str]:
    """A new database named bench_<hex> on the server (migrated to head unless told not to); dropped afterwards."""
    name = f"bench_{secrets.token_hex(6)}"
    with connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    url = make_url(server_url).set(drivername=POSTGRES_DRIVER, database=name).render_as_string(hide_password=False)
    try:
        if migrated:
            from models.db import migrate

            migrate(url)
        yield url
    finally:
        with connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def server_versions(postgres_url: str, redis_url: str) -> dict[str, str]:
    """PostgreSQL's and Redis's versions, for the record of the machine a run was made on."""
    versions: dict[str, str] = {}
    try:
        with connect(postgres_url, autocommit=True) as conn:
            versions["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
    except psycopg.Error as exc:
        versions["postgresql"] = f"unreachable ({type(exc).__name__})"
    try:
        versions["redis"] = str(redis.Redis.from_url(redis_url, socket_connect_timeout=3).info("server")["redis_version"])
    except redis.RedisError as exc:
        versions["redis"] = f"unreachable ({type(exc).__name__})"
    return versions


# --- Redis ---------------------------------------------------------------------------------------------------------


@contextmanager
def redis_database(server_url: str, wait_seconds: float = 60, numbers: range = BENCH_REDIS_DBS, purpose: str = "bench",
                   lock_seconds: int = REDIS_LOCK_TTL_SECONDS) -> Iterator[str]:
    """A Redis database number among `numbers` nobody else is using (a lock key in DB 15 says it is ours), flushed
    before and after. The e2e tests take theirs the same way, from other numbers."""
    base = server_url.rsplit("/", 1)[0] if re.search(r"/\d+$", server_url) else server_url.rstrip("/")
    locks = redis.Redis.from_url(f"{base}/{REDIS_LOCK_DB}")
    owner = f"{purpose}:{os.getpid()}:{time.monotonic_ns()}"
    deadline = time.monotonic() + wait_seconds
    while (number := next((n for n in numbers
                           if locks.set(f"carepath:{purpose}:db:{n}", owner, nx=True, ex=lock_seconds)), None)) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no free Redis database among {list(numbers)} for {purpose}")
        time.sleep(0.5)
    url = f"{base}/{number}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        if locks.get(f"carepath:{purpose}:db:{number}") == owner.encode():
            locks.delete(f"carepath:{purpose}:db:{number}")


# --- numbers -------------------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linearly interpolated between the closest ranks."""
    if not values:
        raise ValueError("percentile of nothing")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: list[float]) -> float:
    return percentile(values, 50)


def alternate(rounds: int, ours: Callable[[int], float], baseline: Callable[[int], float]) -> tuple[list[float], list[float]]:
    """Run ours and the baseline in turns (ours first in even rounds, the baseline first in odd ones).

    Each callable gets the round number and returns what it measured. Alternating means a neighbour's burst of load on
    the shared machine lands on both sides instead of on whichever happened to run at that minute.
    """
    ours_results: list[float] = []
    baseline_results: list[float] = []
    for round_number in range(rounds):
        if round_number % 2 == 0:
            ours_results.append(ours(round_number))
            baseline_results.append(baseline(round_number))
        else:
            baseline_results.append(baseline(round_number))
            ours_results.append(ours(round_number))
    return ours_results, baseline_results


# --- processes -----------------------------------------------------------------------------------------------------


def carepath_executable() -> str:
    """The `carepath` script of the interpreter running the bench (the project's virtualenv)."""
    candidate = Path(sys.executable).parent / "carepath"
    return str(candidate if candidate.exists() else ROOT / ".venv" / "bin" / "carepath")


class Process:
    """A carepath process in its own process group (so Celery's pool children are stopped with it), logging to a file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.log = name, log
        with log.open("wb") as out:
            self.popen = subprocess.Popen(args, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for(self, pattern: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.text()):
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}: {self.text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s: {self.text()[-2000:]}")
            time.sleep(0.1)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM the group (a warm shutdown), then SIGKILL whatever is left."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                continue
            if not group_alive(self.popen.pid):
                return


def group_alive(pgid: int) -> bool:
    """Whether any process of this process group is still alive (signal 0 probes without signalling)."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def carepath_env(database_url: str, redis_url: str, **overrides: str) -> dict[str, str]:
    """The environment of a `carepath worker` / `carepath scheduler` pointed at a bench database and Redis number."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAREPATH_", "TWILIO_", "CELERY_"))}
    env.update({"CAREPATH_ENVIRONMENT": "test", "CAREPATH_DATABASE_URL": database_url, "CAREPATH_REDIS_URL": redis_url,
                "CAREPATH_TASKS": "celery", "CAREPATH_SMS_BACKEND": "console", "CAREPATH_LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1", **overrides})
    return env


# --- profiles ------------------------------------------------------------------------------------------------------


def profile(ctx: BenchContext, key: str, work: Callable[[], Any], frames: int = 12) -> str | None:
    """Run `work` under pyinstrument when --profile-dir is set; write <key>.html and <key>.txt there.

    Returns a one-line note naming the file and the heaviest frames (for Figure.note), or None without a profile dir.
    """
    if ctx.profile_dir is None:
        return None
    from pyinstrument import Profiler

    ctx.profile_dir.mkdir(parents=True, exist_ok=True)
    profiler = Profiler(interval=0.001)
    profiler.start()
    try:
        work()
    finally:
        profiler.stop()
    html = ctx.profile_dir / f"{key}.html"
    text = ctx.profile_dir / f"{key}.txt"
    html.write_text(profiler.output_html())
    heaviest = top_frames(profiler, frames)
    text.write_text("self time charged to our innermost frame:\n" + "".join(f"  {line}\n" for line in heaviest)
                    + "\n" + profiler.output_text(unicode=True, color=False, show_all=False))
    return f"profile {text.name}: {'; '.join(heaviest[:3])}"


def top_frames(profiler: Any, count: int) -> list[str]:
    """Where the time went, charged to our own code: each sample's self time goes to the innermost frame of this
    project (not a library) above it, so "SQLAlchemy flush under store._append_event" reads as _append_event."""
    session = profiler.last_session
    totals: dict[str, float] = {}
    stack: list[tuple[Any, str]] = [(session.root_frame(), "?")]
    while stack:
        frame, owner = stack.pop()
        if frame is None:
            continue
        path = frame.file_path or ""
        if path.startswith(str(ROOT)) and "/.venv/" not in path and "/bench/" not in path:
            owner = f"{frame.function} ({Path(path).relative_to(ROOT)})"
        stack.extend((child, owner) for child in frame.children)
        own = frame.time - sum(child.time for child in frame.children)
        if own > 0:
            totals[owner] = totals.get(owner, 0.0) + own
    whole = session.duration or 1.0
    ranked = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)[:count]
    return [f"{name} {100 * seconds / whole:.0f}%" for name, seconds in ranked]
