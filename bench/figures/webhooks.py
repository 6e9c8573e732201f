"""Figure f: signed inbound-SMS webhooks at a steady 500 requests/s against the real API, with the worker and the
scheduler applying them as deployed: p50 / p99 latency, errors, and every text applied once afterwards.

Ours: `carepath api --workers 2` (uvicorn, as docker-compose.yml runs it), `carepath worker` and `carepath scheduler`
on a migrated throwaway database with real workflows whose reminders went out; the bench posts Twilio-signed
`/v1/webhooks/twilio/sms` requests from their patients (replies "1", "YES" and free text) and a share of unknown
numbers, each with its own MessageSid. The webhook stores the text in the inbox and answers; the worker applies it.
Open loop: request i leaves at start + i/500 s whatever the earlier ones are doing, and its latency counts from that
planned moment, so a slow server cannot slow the load down and hide its own queueing. Every request and signature is
built before the clock starts. Afterwards the bench waits for the inbox to drain and counts: every text answered 2xx
must be stored once and, from a patient's number, be in that patient's history exactly once (unknown numbers: kept
for staff, `unassigned`).

Baseline: the same rate against `GET /healthz` of the same server, half before and half after ours: what uvicorn,
the middleware and the HTTP client cost without our webhook work. Ratios: p99 ours ÷ p99 baseline, p50 likewise. The
goal is on ours alone: p99 ≤ 100 ms, no errors (a non-2xx answer or a failed request), no text lost or doubled.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from statistics import quantiles

from bench.core import BenchContext, Figure, figure, ratio
from bench.figures._procs import (
    SCHEDULER_READY,
    UVICORN_READY,
    WORKER_READY,
    Procs,
    claimed_redis_db,
    load_average,
    py_spy,
    stop_gently,
    throwaway_database,
    tool,
    top_frames,
    tree_cpu_seconds,
)
from bench.figures.delivery import bench_services, create_reminder_workflows, phone, profile_note

RATE = 500  # requests per second
GOAL_P99_MS = 100.0
AUTH_TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"  # the fake Twilio's, so a stray real one is never used
INBOUND_PATH = "/v1/webhooks/twilio/sms"
REPLIES = ("1", "YES", "Running ten minutes late, sorry", "Can we move my appointment to next week?")
UNKNOWN_SHARE = 5  # every fifth text comes from a number no workflow has
UNKNOWN_FIRST_PHONE = 9000
API_WORKERS = 2  # as docker-compose.yml runs the API
WORKER_CONCURRENCY = 2  # `carepath worker`'s default
DRAIN_TIMEOUT_SECONDS = 900
BACKGROUND_NICE = 19
TEXTS_HANDED = re.compile(r"tick: .*; (\d+) texts handed off")
MAX_CONNECTIONS = 256  # keep-alive connections the load generator may open (Twilio opens its own per request)


@dataclass
class Load:
    """How one open-loop run went: latencies in ms (from each request's planned start) and what failed."""

    latencies_ms: list[float] = field(default_factory=list)
    planned_s: list[float] = field(default_factory=list)  # each answered request's planned start, from the first
    seconds: float = 0.0  # from the first planned start to the last answer
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    accepted: list[str] = field(default_factory=list)  # MessageSids answered 2xx

    def fail(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1

    def merge(self, other: Load) -> Load:
        self.planned_s += [t + self.seconds for t in other.planned_s]
        self.latencies_ms += other.latencies_ms
        self.seconds += other.seconds
        self.errors += other.errors
        self.accepted += other.accepted
        for kind, n in other.error_kinds.items():
            self.error_kinds[kind] = self.error_kinds.get(kind, 0) + n
        return self

    def percentile(self, p: int) -> float | None:
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0] if self.latencies_ms else None
        return quantiles(self.latencies_ms, n=100, method="inclusive")[p - 1]

    def summary(self) -> dict:
        answered = len(self.latencies_ms) + self.errors
        return {"requests": answered, "answered_per_s": round(answered / self.seconds, 1) if self.seconds else None,
                "p50_ms": _round(self.percentile(50)),
                "p99_ms": _round(self.percentile(99)), "max_ms": _round(max(self.latencies_ms, default=None)),
                "errors": self.errors, "error_kinds": self.error_kinds,
                "p99_ms_by_window": self.p99_by_window(max(1.0, self.seconds / 6))}

    def p99_by_window(self, seconds: float) -> list[float]:
        """p99 of each `seconds`-long stretch of the run: a tail spread evenly, or a few stalls."""
        windows: dict[int, list[float]] = {}
        for at, latency in zip(self.planned_s, self.latencies_ms, strict=True):
            windows.setdefault(int(at // seconds), []).append(latency)
        return [round(quantiles(v, n=100, method="inclusive")[98], 1) if len(v) > 1 else round(v[0], 1)
                for _, v in sorted(windows.items())]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


@dataclass(frozen=True)
class Planned:
    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    sid: str | None = None  # an inbound text's MessageSid


def inbound_texts(base_url: str, patients: int, count: int) -> list[Planned]:
    """`count` signed inbound SMS webhooks: patients' replies, and every UNKNOWN_SHARE-th from an unknown number."""
    from urllib.parse import urlencode

    from twilio.request_validator import RequestValidator

    validator = RequestValidator(AUTH_TOKEN)
    planned = []
    for i in range(count):
        sender = phone(UNKNOWN_FIRST_PHONE + i % 500) if i % UNKNOWN_SHARE == 0 else phone(i % patients)
        sid = "SM" + secrets.token_hex(16)
        params = {"MessageSid": sid, "AccountSid": "AC" + "fa4e" * 8, "From": sender,
                  "To": "+15005550006", "Body": REPLIES[i % len(REPLIES)], "NumMedia": "0", "ApiVersion": "2010-04-01"}
        signature = validator.compute_signature(base_url + INBOUND_PATH, params)
        planned.append(Planned("POST", INBOUND_PATH, urlencode(params).encode(), {
            "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}, sid))
    return planned


class Connections:
    """A pool of keep-alive HTTP/1.1 connections, spoken by hand over asyncio streams.

    A general HTTP client (httpx) costs the load generator about a millisecond of CPU per request, which at 500 a
    second on two cores would measure the client, not the server. Requests are pre-encoded bytes; an answer is read
    by its Content-Length.
    """

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port, self.size = host, port, size
        self.idle: asyncio.Queue = asyncio.Queue()
        self.opened = 0

    async def request(self, raw: bytes, timeout: float = 10.0) -> int:
        if self.idle.empty() and self.opened < self.size:
            self.opened += 1
            try:
                connection = await asyncio.open_connection(self.host, self.port)
            except OSError:
                self.opened -= 1
                raise
        else:
            connection = await self.idle.get()
        reader, writer = connection
        try:
            writer.write(raw)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
        except BaseException:
            writer.close()
            self.opened -= 1
            raise
        self.idle.put_nowait(connection)
        return int(head[9:12])

    def close(self) -> None:
        while not self.idle.empty():
            self.idle.get_nowait()[1].close()


def encoded(request: Planned, host: str) -> bytes:
    headers = {"Host": host, **request.headers, **({"Content-Length": str(len(request.body))} if request.body else {})}
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"{request.method} {request.path} HTTP/1.1\r\n{lines}\r\n".encode() + request.body


async def open_loop(base_url: str, planned: list[Planned], rate: float) -> Load:
    """Send `planned[i]` at start + i/rate seconds, each on its own task; latency counts from the planned moment."""
    from urllib.parse import urlsplit

    address = urlsplit(base_url)
    pool = Connections(address.hostname, address.port, size=MAX_CONNECTIONS)
    raw = [encoded(request, address.netloc) for request in planned]
    load = Load()

    async def one(i: int, planned_at: float) -> None:
        try:
            status = await pool.request(raw[i])
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            load.fail(type(exc).__name__)
            return
        if 200 <= status < 300:
            load.latencies_ms.append((time.perf_counter() - planned_at) * 1000)
            load.planned_s.append(planned_at - start)
            if planned[i].sid:
                load.accepted.append(planned[i].sid)
        else:
            load.fail(f"HTTP {status}")

    tasks = []
    start = time.perf_counter() + 0.05
    for i in range(len(planned)):
        planned_at = start + i / rate
        delay = planned_at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, planned_at)))
    await asyncio.gather(*tasks)
    load.seconds = time.perf_counter() - start
    pool.close()
    return load


def run_load(base_url: str, planned: list[Planned], rate: float = RATE) -> Load:
    try:
        import uvloop  # installed with uvicorn[standard]; the load generator's own loop costs less with it

        return uvloop.run(open_loop(base_url, planned, rate))
    except ImportError:
        return asyncio.run(open_loop(base_url, planned, rate))


def api_env(database_url: str, redis_url: str, base_url: str) -> dict[str, str]:
    """The processes as deployed: PostgreSQL, tasks through Celery (replies go to the outbox and the console gateway)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAREPATH_", "TWILIO_", "CELERY_"))}
    env.update({"CAREPATH_ENVIRONMENT": "test", "CAREPATH_DATABASE_URL": database_url, "CAREPATH_REDIS_URL": redis_url,
                "CAREPATH_TASKS": "celery", "CAREPATH_SMS_BACKEND": "console", "CAREPATH_PUBLIC_URL": base_url,
                "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "PYTHONUNBUFFERED": "1"})
    return env


def wait_until_answering(base_url: str, api, timeout: float = 60) -> None:
    """Every uvicorn worker process up: /healthz answers, and each worker logged its startup."""
    import httpx

    deadline = time.monotonic() + timeout
    while api.text().count("Application startup complete") < API_WORKERS:
        if time.monotonic() > deadline or api.popen.poll() is not None:
            raise RuntimeError(f"the API did not start:\n{api.text()[-2000:]}")
        time.sleep(0.1)
    httpx.get(f"{base_url}/healthz", timeout=10).raise_for_status()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL server process on this machine (ours: the API's inserts, the worker's events)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                head, tail = f.read().rsplit(")", 1)
            if head.endswith("(postgres"):
                fields = tail.split()
                total += int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def drain_and_count(database_url: str, accepted: list[str], timeout: float = DRAIN_TIMEOUT_SECONDS) -> dict:
    """Wait until no stored text waits any more, then count: stored once, applied once, unassigned, lost, doubled."""
    import psycopg

    from bench.support import psycopg_params

    started = time.monotonic()
    with psycopg.connect(**psycopg_params(database_url), autocommit=True) as conn:
        while conn.execute("SELECT count(*) FROM inbox WHERE status IN ('pending', 'queued')").fetchone()[0]:
            if time.monotonic() - started > timeout:
                break
            time.sleep(0.5)
        drained = time.monotonic() - started
        rows = {sid: (status, event_id) for sid, status, event_id in
                conn.execute("SELECT provider_id, status, event_id FROM inbox")}
        events = dict(conn.execute("SELECT idempotency_key, count(*) FROM events WHERE type = 'sms.received' "
                                   "GROUP BY idempotency_key").fetchall())
        first, last = conn.execute("SELECT min(received_at), max(applied_at) FROM inbox").fetchone()
    statuses: dict[str, int] = {}
    lost, doubled = [], []
    for sid in accepted:
        status, _ = rows.get(sid, ("missing", None))
        statuses[status] = statuses.get(status, 0) + 1
        applied = events.get(f"twilio:{sid}", 0)
        if status not in ("applied", "unassigned") or (status == "applied") != (applied == 1):
            lost.append(sid)
        if applied > 1:
            doubled.append(sid)
    return {"accepted": len(accepted), "stored": sum(1 for sid in accepted if sid in rows), "by_status": statuses,
            "lost": len(lost), "doubled": len(doubled), "lost_examples": lost[:5],
            "drain_seconds_after_load": round(drained, 1),
            "applied_per_s": round(statuses.get("applied", 0) / (last - first).total_seconds(), 1)
            if first and last and last > first else None}


@figure("f")
def inbound_webhooks(ctx: BenchContext) -> Figure:
    """inbound SMS webhooks at 500 requests/s: p99 latency, every text applied once"""
    from models.timer_batch import fire_due_timers

    seconds = ctx.size(full=60, quick=10, smoke=1)
    patients = ctx.size(full=300, quick=100, smoke=5)
    count = seconds * RATE
    note = ""
    details: dict = {"rate_per_s": RATE, "load_seconds": seconds, "patients": patients,
                     "unknown_number_share": round(1 / UNKNOWN_SHARE, 2), "api_workers": API_WORKERS,
                     "worker_concurrency": WORKER_CONCURRENCY, "worker_and_scheduler_nice": BACKGROUND_NICE,
                     "load_average_before": load_average()}
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with (throwaway_database(ctx.postgres_server_url) as database_url, claimed_redis_db(ctx.redis_url) as redis_url,
          Procs(ctx.workdir / "f") as procs):
        svc = bench_services(database_url)
        try:
            create_reminder_workflows(svc, patients)
            time.sleep(1.0)  # their reminders fall due: fire them here, so each patient has a question open ("YES")
            fire_due_timers(svc.store, datetime.now(UTC))
        finally:
            svc.engine.dispose()
        env = api_env(database_url, redis_url, base_url)
        api = procs.start("api", [tool("carepath"), "api", "--port", str(port), "--workers", str(API_WORKERS)], env,
                          UVICORN_READY)
        # The worker and the scheduler share the two cores at a lower CPU priority, as they would run on cores of their
        # own in production: applying a text may wait, answering Twilio may not (`BACKGROUND_NICE`).
        procs.start("worker", [tool("carepath"), "worker", "-c", str(WORKER_CONCURRENCY)], env, WORKER_READY,
                    nice=BACKGROUND_NICE)
        scheduler = procs.start("scheduler", [tool("carepath"), "scheduler"], env, SCHEDULER_READY, nice=BACKGROUND_NICE)
        wait_until_answering(base_url, api)
        texts = inbound_texts(base_url, patients, count + RATE)
        health = [Planned("GET", "/healthz")] * (count // 2)
        warm = run_load(base_url, texts[:RATE // 2] + [Planned("GET", "/healthz")] * (RATE // 2), RATE)  # not counted
        cpu = tree_cpu_seconds(api.popen.pid)
        baseline = run_load(base_url, health)
        cpu_base = tree_cpu_seconds(api.popen.pid) - cpu
        postgres_before = postgres_cpu_seconds()
        ours = run_load(base_url, texts[RATE:])
        cpu_ours = tree_cpu_seconds(api.popen.pid) - cpu - cpu_base
        details["postgres_cpu_ms_per_text"] = round(1000 * (postgres_cpu_seconds() - postgres_before) / max(1, count), 2)
        cpu = tree_cpu_seconds(api.popen.pid)
        baseline.merge(run_load(base_url, health))
        cpu_base += tree_cpu_seconds(api.popen.pid) - cpu
        details["load_average_after"] = load_average()
        # The API's own CPU per request (its PostgreSQL and Redis work is on their processes, not counted here).
        details["api_cpu_ms_per_request"] = {"ours": round(1000 * cpu_ours / max(1, count), 2),
                                             "baseline": round(1000 * cpu_base / max(1, 2 * len(health)), 2)}
        details["texts"] = drain_and_count(database_url, warm.accepted + ours.accepted)
        # The rest were handed to a worker by their own webhook (all but those that came in a burst).
        details["texts"]["handed_out_by_the_scheduler"] = sum(int(n) for n in TEXTS_HANDED.findall(scheduler.text()))
        if ctx.profile_dir is not None and not _met(ours, details["texts"]):
            # A separate profiled run (py-spy samples the API process), so that sampling does not slow the measured one.
            out = ctx.profile_dir / "f-api.speedscope.json"
            spy = py_spy(procs, api, out)
            profiled = inbound_texts(base_url, patients, count // 2)
            run_load(base_url, profiled)
            if spy is not None:
                stop_gently(procs, spy)
                if out.exists():
                    details["api_profile"] = str(out)
                    details["api_top_frames"] = top_frames(out)
                    note = profile_note(out.name, details["api_top_frames"])
    details["ours"] = ours.summary()
    details["baseline"] = baseline.summary()
    p99, base_p99 = ours.percentile(99), baseline.percentile(99)
    details["p50_ratio"] = _round2(ratio(ours.percentile(50), baseline.percentile(50)))
    counted = details["texts"]
    return Figure(key="f", title=f"inbound SMS webhooks at {RATE} requests/s: p99 latency (p50, errors, texts applied "
                                 "once in details)",
                  value=p99, unit="ms", baseline=base_p99, baseline_label="GET /healthz, same rate, same server",
                  ratio=ratio(p99, base_p99), ratio_label="p99 ours ÷ p99 baseline",
                  goal=f"p99 ≤ {GOAL_P99_MS:.0f} ms, 0 errors, 0 texts lost", met=_met(ours, counted),
                  details=details,
                  note=f"p50 {_round(ours.percentile(50))} ms ({details['p50_ratio']} × baseline), {ours.errors} errors "
                       f"of {len(texts) - RATE}; {counted['by_status'].get('applied', 0)} applied once, "
                       f"{counted['by_status'].get('unassigned', 0)} unknown numbers kept, {counted['lost']} lost, "
                       f"{counted['doubled']} doubled; inbox drained {counted['drain_seconds_after_load']} s after"
                       + (f"; {note}" if note else ""))


def _round2(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _met(load: Load, counted: dict) -> bool | None:
    p99 = load.percentile(99)
    if p99 is None:
        return None
    return p99 <= GOAL_P99_MS and load.errors == 0 and counted["lost"] == 0 and counted["doubled"] == 0
