"""What figures c, f and h share beside bench/support.py's throwaway database and Redis number: processes started as
a user would (each in its own process group, output in a log file), RSS and CPU read from /proc, py-spy profiles, and
the bare Celery baseline.

No psutil: a process tree's RSS is the sum of VmRSS over the leader and its descendants, read from /proc.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from bench import support

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the virtualenv's bin/, where `carepath` and `celery` live

WORKER_READY = re.compile(r"celery@\S+ ready")
SCHEDULER_READY = re.compile(r"scheduler started")
UVICORN_READY = re.compile(r"Uvicorn running on|Application startup complete")


# --- services ------------------------------------------------------------------------------------------------------


# The throwaway database and the Redis number are bench/support.py's, shared with the other figures.
throwaway_database = support.throwaway_database
claimed_redis_db = support.redis_database


def load_average() -> float:
    """The machine's 1-minute load average: what else was running beside a measurement (2 cores: 2.0 is full)."""
    return round(os.getloadavg()[0], 1)


def daytime_zone(now: datetime | None = None) -> str:
    """A fixed-offset zone where it is now about 14:00, so no quiet hours hold a reminder back."""
    now = now or datetime.now(UTC)
    offset = (14 - now.hour + 12) % 24 - 12
    return f"Etc/GMT{-offset:+d}" if offset else "UTC"  # POSIX sign: Etc/GMT-5 is UTC+5


def carepath_env(database_url: str, redis_url: str, twilio_env: dict[str, str], from_number: str,
                 public_url: str = "http://127.0.0.1:9") -> dict[str, str]:
    """The environment of a carepath process under measurement: PostgreSQL, Celery on Redis, Twilio at the fake.

    Logging stays at INFO as in production; the send grace is long so that no reconciliation lookup runs mid-figure.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAREPATH_", "TWILIO_", "CELERY_"))}
    env.update({
        "CAREPATH_ENVIRONMENT": "test", "CAREPATH_DATABASE_URL": database_url, "CAREPATH_REDIS_URL": redis_url,
        "CAREPATH_TASKS": "celery", "CAREPATH_SMS_BACKEND": "twilio", "CAREPATH_PUBLIC_URL": public_url,
        "CAREPATH_SEND_GRACE_SECONDS": "3600", "TWILIO_FROM_NUMBER": from_number, "PYTHONUNBUFFERED": "1",
        **twilio_env,
    })
    return env


# --- processes -----------------------------------------------------------------------------------------------------


def tool(name: str) -> str:
    for candidate in (BIN / name, ROOT / ".venv" / "bin" / name):
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed next to {sys.executable}")
    return found


@dataclass
class Proc:
    """A process we started in its own process group (so a kill reaches Celery's pool children too)."""

    name: str
    popen: subprocess.Popen
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for(self, pattern: re.Pattern, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not pattern.search(self.text()):
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s:\n{self.text()[-2000:]}")
            time.sleep(0.1)

    def kill(self) -> None:
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(10)


def lower_session_priority(pid: int, nice: int) -> None:
    """Give the session `pid` leads the scheduler weight of `nice`, for it and every child it starts.

    With the kernel's autogroups on (`/proc/sys/kernel/sched_autogroup_enabled`, the default on desktop and most
    server kernels), each session is one scheduling group, and the groups share the CPUs equally whatever the nice
    values inside them: a process started with `nice -n 19` in a session of its own competes as hard as any other.
    The group's own nice value (`/proc/<pid>/autogroup`) is what weighs between sessions.
    """
    try:
        with open(f"/proc/{pid}/autogroup", "w") as group:
            group.write(str(nice))
    except OSError:  # no autogroups on this kernel: the process's own nice value already weighs
        pass


class Procs:
    """Starts processes and kills every one of them on exit, whatever happened (`with Procs(workdir) as procs:`)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[Proc] = []
        self.count = 0
        log_dir.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, args: list[str], env: dict[str, str], ready: re.Pattern | None = None,
              timeout: float = 60, nice: int = 0) -> Proc:
        """Start `args` in a session of its own; `nice` lowers its CPU priority against every other process."""
        self.count += 1
        log = self.log_dir / f"{self.count:02d}-{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(["nice", "-n", str(nice), *args] if nice else args, cwd=ROOT, env=env,
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        if nice:
            lower_session_priority(popen.pid, nice)
        proc = Proc(name, popen, log)
        self.started.append(proc)
        if ready is not None:
            proc.wait_for(ready, timeout)
        return proc

    def stop(self, proc: Proc) -> None:
        proc.kill()
        self.started.remove(proc)

    def __enter__(self) -> Procs:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.started:
            proc.kill()
        self.started.clear()


def py_spy(procs: Procs, proc: Proc, out: Path, seconds: int = 600) -> Proc | None:
    """Sample `proc` and its children with py-spy (when installed) into a speedscope file; None without py-spy.

    Stop it with `procs.stop_gently` so it writes its file. A process we start cannot be profiled by pyinstrument from
    outside, which is why the process figures use py-spy (`pip install py-spy`).
    """
    found = shutil.which("py-spy") or (str(BIN / "py-spy") if (BIN / "py-spy").exists() else None)
    if found is None:
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    return procs.start(f"py-spy-{proc.name}", [found, "record", "--subprocesses", "--nonblocking", "--format",
                                               "speedscope", "-d", str(seconds), "-r", "50", "-o", str(out), "-p",
                                               str(proc.popen.pid)], dict(os.environ))


def stop_gently(procs: Procs, proc: Proc, timeout: float = 20) -> None:
    """SIGINT, so py-spy writes what it sampled; killed if it takes longer than `timeout`."""
    proc.popen.send_signal(signal.SIGINT)
    try:
        proc.popen.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    procs.stop(proc)


OUR_PACKAGES = ("workers/", "models/", "workflows/", "config/", "api/")


def top_frames(speedscope_file: Path, count: int = 6) -> dict[str, list[tuple[str, float]]]:
    """From a py-spy speedscope file: our functions most often on the stack (inclusive %) and the frames most often
    on top (self %), over every profiled process and thread, idle waiting included."""
    import json
    from collections import Counter

    data = json.loads(speedscope_file.read_text())
    frames = data["shared"]["frames"]
    inclusive: Counter[int] = Counter()
    own: Counter[int] = Counter()
    total = 0.0
    for profile in data["profiles"]:
        for stack, weight in zip(profile["samples"], profile["weights"], strict=False):
            total += weight
            if stack:
                own[stack[-1]] += weight
            for index in set(stack):
                inclusive[index] += weight

    def label(index: int) -> str:
        frame = frames[index]
        where = frame.get("file", "").replace(str(ROOT) + "/", "").split("site-packages/")[-1]
        return f"{frame['name']} ({where}:{frame.get('line', '?')})"

    def ranked(counter: Counter[int], keep) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        for index, weight in counter.most_common():
            if keep(frames[index].get("file", "")) and len(out) < count:
                out.append((label(index), round(100 * weight / total, 1)))
        return out

    ours = ranked(inclusive, lambda file: any(f"{ROOT}/{p}" in file for p in OUR_PACKAGES))
    return {"ours_inclusive_pct": ours, "self_pct": ranked(own, lambda file: True)}


def carepath_worker(procs: Procs, env: dict[str, str], concurrency: int) -> Proc:
    return procs.start("worker", [tool("carepath"), "worker", "-c", str(concurrency)], env, WORKER_READY)


def carepath_scheduler(procs: Procs, env: dict[str, str]) -> Proc:
    return procs.start("scheduler", [tool("carepath"), "scheduler"], env, SCHEDULER_READY)


# --- memory --------------------------------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """The direct children of `pid`, read per thread: a thread (or the process) may end while we read, which is no error."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[int] = []
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return found


def _vm_rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_mib(pid: int) -> float:
    """RSS of a process and all its descendants (a Celery worker and its pool children), in MiB."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += _vm_rss_kib(current)
        todo.extend(children(current))
    return total / 1024


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live descendants, in seconds (/proc/<pid>/stat)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        except (OSError, IndexError, ValueError):
            pass
        todo.extend(children(current))
    return total / os.sysconf("SC_CLK_TCK")


@dataclass
class RssSampler:
    """Samples the tree RSS of some processes every `interval` seconds, with a progress number beside each sample."""

    pids: dict[str, int]
    progress: Callable[[], int]
    interval: float = 0.5
    samples: list[dict[str, float]] = field(default_factory=list)  # {"t", "done", name: MiB, …}
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        started = time.monotonic()

        def run() -> None:
            while not self._stop.is_set():
                sample: dict[str, float] = {"t": time.monotonic() - started, "done": float(self.progress())}
                sample.update({name: tree_rss_mib(pid) for name, pid in self.pids.items()})
                self.samples.append(sample)
                self._stop.wait(self.interval)

        self._thread = threading.Thread(target=run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def summary(self, name: str, total: int, warm_fraction: float = 0.1) -> dict[str, Any]:
        """Peak, RSS once `warm_fraction` of the work was done, RSS at the end, and the growth between them."""
        rows = [s for s in self.samples if name in s]
        if not rows:
            return {}
        warm = next((s[name] for s in rows if s["done"] >= warm_fraction * total), rows[-1][name])
        # The end: the last samples taken once all the work was done (or the last one), so an idle tail adds nothing.
        end = next((s[name] for s in rows if s["done"] >= total), rows[-1][name])
        # RSS at every tenth of the work, to show the shape (warm-up, then flat or climbing).
        shape = [next((round(s[name], 1) for s in rows if s["done"] >= step / 10 * total), None) for step in range(11)]
        return {"peak_mib": round(max(s[name] for s in rows), 1), "warm_mib": round(warm, 1), "end_mib": round(end, 1),
                "growth_pct": round(100 * (end - warm) / warm, 1) if warm else None, "samples": len(rows),
                "by_tenth_mib": shape}


# --- the bare Celery baseline --------------------------------------------------------------------------------------

# A Celery app with one task that increments a Redis counter: the least a task can do and still be counted. It runs
# with the settings carepath's app uses (JSON, acks late, prefetch 1), as a `python -c` script so that its worker
# imports nothing of carepath (which matters for figure h's memory baseline).
NOOP_WORKER = """
import sys
from celery import Celery
import redis
broker = sys.argv[1]
app = Celery("bench_noop", broker=broker)
app.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True, task_acks_late=True,
                worker_prefetch_multiplier=1, task_default_queue="bench_noop", worker_hijack_root_logger=False,
                broker_connection_retry_on_startup=True)
counter = redis.Redis.from_url(broker)
@app.task(name="bench.noop")
def noop(n):
    counter.incr("bench:noop:done")
app.worker_main(["worker", "-Q", "bench_noop", "--loglevel=INFO", "--concurrency=" + sys.argv[2],
                 "--without-gossip", "--without-mingle"])
"""
NOOP_COUNTER = "bench:noop:done"


def noop_worker(procs: Procs, redis_url: str, concurrency: int) -> Proc:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAREPATH_", "CELERY_"))}
    return procs.start("noop-worker", [sys.executable, "-c", NOOP_WORKER, redis_url, str(concurrency)], env, WORKER_READY)


# The work a reminder cannot do without, and nothing else: one PostgreSQL commit and one POST to the fake Twilio over
# a kept-alive connection, per task. Figure c's goal is against this (issue #17); the no-op rate is reported beside it.
SEND_WORKER = """
import sys
import psycopg, redis, requests
from celery import Celery
from celery.signals import worker_process_init
broker, concurrency, dsn, base, sid, token, sender = sys.argv[1:8]
app = Celery("bench_noop", broker=broker)
app.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True, task_acks_late=True,
                worker_prefetch_multiplier=1, task_default_queue="bench_noop", worker_hijack_root_logger=False,
                broker_connection_retry_on_startup=True)
counter = redis.Redis.from_url(broker)
held = {}
@worker_process_init.connect
def connect(**_):
    held["db"] = psycopg.connect(dsn)
    held["http"] = requests.Session()
@app.task(name="bench.noop")
def send(n):
    db = held["db"]
    db.execute("INSERT INTO bench_sends (n) VALUES (%s)", (n,))
    db.commit()
    answer = held["http"].post(base + "/2010-04-01/Accounts/" + sid + "/Messages.json", auth=(sid, token),
                               data={"To": "+1555555%04d" % (n % 10000), "From": sender, "Body": "bench"}, timeout=10)
    answer.raise_for_status()
    counter.incr("bench:noop:done")
app.worker_main(["worker", "-Q", "bench_noop", "--loglevel=INFO", "--concurrency=" + concurrency,
                 "--without-gossip", "--without-mingle"])
"""


def send_worker(procs: Procs, redis_url: str, concurrency: int, database_url: str, fake) -> Proc:
    """A bare Celery worker whose task is one commit (into `bench_sends`, created here) and one keep-alive POST."""
    with support.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_sends (id bigserial PRIMARY KEY, n integer NOT NULL)")
    params = support.psycopg_params(database_url)
    dsn = " ".join(f"{key}={value}" for key, value in params.items() if value is not None)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAREPATH_", "CELERY_"))}
    return procs.start("send-worker", [sys.executable, "-c", SEND_WORKER, redis_url, str(concurrency), dsn,
                                       fake.base_url, fake.account_sid, fake.auth_token, fake.FROM_NUMBER],
                       env, WORKER_READY)


def noop_sender(redis_url: str):
    """A Celery app in this process that sends `bench.noop` by name (no task code is imported here)."""
    from celery import Celery

    app = Celery("bench_noop_sender", broker=redis_url)
    app.conf.update(task_serializer="json", task_ignore_result=True, task_default_queue="bench_noop")
    return app


def run_noops(redis_url: str, count: int, timeout: float = 300, on_sent: Callable[[], None] | None = None) -> float:
    """Send `count` no-op tasks and wait until the worker has run them all; the seconds from the first send."""
    app = noop_sender(redis_url)
    client = redis.Redis.from_url(redis_url)
    client.delete(NOOP_COUNTER)
    started = time.perf_counter()
    with app.producer_or_acquire() as producer:
        for n in range(count):
            app.send_task("bench.noop", args=[n], producer=producer)
    if on_sent:
        on_sent()
    deadline = time.monotonic() + timeout
    while int(client.get(NOOP_COUNTER) or 0) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no-op worker ran {int(client.get(NOOP_COUNTER) or 0)} of {count} tasks in {timeout}s")
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    client.close()
    app.close()
    return elapsed


def noop_done(redis_url: str) -> Callable[[], int]:
    client = redis.Redis.from_url(redis_url)
    return lambda: int(client.get(NOOP_COUNTER) or 0)
