"""Figure f: signed inbound-SMS webhooks at a steady 100 requests/s against the real API: p50 / p99 latency, errors.

Ours: `carepath api --workers 2` (uvicorn, as docker-compose.yml runs it) on a migrated throwaway database with real
workflows whose reminders went out; the bench posts Twilio-signed `/v1/webhooks/twilio/sms` requests from their
patients (replies "1", "YES" and free text) and a share of unknown numbers, each with its own MessageSid. Open loop:
request i leaves at start + i/100 s whatever the earlier ones are doing, and its latency counts from that planned
moment, so a slow server cannot slow the load down and hide its own queueing. Every request and signature is built
before the clock starts.

Baseline: the same rate against `GET /healthz` of the same server, half before and half after ours: what uvicorn,
the middleware and the HTTP client cost without our webhook work. Ratio = p99 ours ÷ p99 baseline; the goal is on ours
alone: p99 ≤ 100 ms and no errors (a non-2xx answer or a failed request).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from statistics import quantiles

from bench.core import BenchContext, Figure, figure, ratio
from bench.figures._procs import (
    UVICORN_READY,
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

RATE = 100  # requests per second
GOAL_P99_MS = 100.0
AUTH_TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"  # the fake Twilio's, so a stray real one is never used
INBOUND_PATH = "/v1/webhooks/twilio/sms"
REPLIES = ("1", "YES", "Running ten minutes late, sorry", "Can we move my appointment to next week?")
UNKNOWN_SHARE = 5  # every fifth text comes from a number no workflow has
UNKNOWN_FIRST_PHONE = 9000
API_WORKERS = 2  # as docker-compose.yml runs the API


@dataclass
class Load:
    """How one open-loop run went: latencies in ms (from each request's planned start) and what failed."""

    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0  # from the first planned start to the last answer
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)

    def fail(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1

    def merge(self, other: Load) -> Load:
        self.latencies_ms += other.latencies_ms
        self.seconds += other.seconds
        self.errors += other.errors
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
                "errors": self.errors, "error_kinds": self.error_kinds}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


@dataclass(frozen=True)
class Planned:
    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def inbound_texts(base_url: str, patients: int, count: int) -> list[Planned]:
    """`count` signed inbound SMS webhooks: patients' replies, and every UNKNOWN_SHARE-th from an unknown number."""
    from urllib.parse import urlencode

    from twilio.request_validator import RequestValidator

    validator = RequestValidator(AUTH_TOKEN)
    planned = []
    for i in range(count):
        sender = phone(UNKNOWN_FIRST_PHONE + i % 500) if i % UNKNOWN_SHARE == 0 else phone(i % patients)
        params = {"MessageSid": "SM" + secrets.token_hex(16), "AccountSid": "AC" + "fa4e" * 8, "From": sender,
                  "To": "+15005550006", "Body": REPLIES[i % len(REPLIES)], "NumMedia": "0", "ApiVersion": "2010-04-01"}
        signature = validator.compute_signature(base_url + INBOUND_PATH, params)
        planned.append(Planned("POST", INBOUND_PATH, urlencode(params).encode(), {
            "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}))
    return planned


async def open_loop(base_url: str, planned: list[Planned], rate: float) -> Load:
    """Send `planned[i]` at start + i/rate seconds, each on its own task; latency counts from the planned moment."""
    import httpx

    load = Load()
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=10.0) as client:

        async def one(request: Planned, planned_at: float) -> None:
            try:
                answer = await client.request(request.method, request.path, content=request.body,
                                              headers=request.headers)
            except httpx.HTTPError as exc:
                load.fail(type(exc).__name__)
                return
            if answer.is_success:
                load.latencies_ms.append((time.perf_counter() - planned_at) * 1000)
            else:
                load.fail(f"HTTP {answer.status_code}")

        tasks = []
        start = time.perf_counter() + 0.05
        for i, request in enumerate(planned):
            planned_at = start + i / rate
            delay = planned_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(request, planned_at)))
        await asyncio.gather(*tasks)
        load.seconds = time.perf_counter() - start
    return load


def run_load(base_url: str, planned: list[Planned], rate: float = RATE) -> Load:
    return asyncio.run(open_loop(base_url, planned, rate))


def api_env(database_url: str, redis_url: str, base_url: str) -> dict[str, str]:
    """The API as deployed: PostgreSQL, tasks through Celery (replies go to the outbox, nothing is sent inline)."""
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


@figure("f")
def inbound_webhooks(ctx: BenchContext) -> Figure:
    """inbound SMS webhooks at 100 requests/s: p99 latency"""
    from models.timers import fire_due_timers

    seconds = ctx.size(full=60, quick=15, smoke=2)
    patients = ctx.size(full=300, quick=100, smoke=5)
    count = seconds * RATE
    note = ""
    details: dict = {"rate_per_s": RATE, "load_seconds": seconds, "patients": patients,
                     "unknown_number_share": round(1 / UNKNOWN_SHARE, 2), "api_workers": API_WORKERS,
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
        api = procs.start("api", [tool("carepath"), "api", "--port", str(port), "--workers", str(API_WORKERS)],
                          api_env(database_url, redis_url, base_url), UVICORN_READY)
        wait_until_answering(base_url, api)
        texts = inbound_texts(base_url, patients, count + RATE)
        health = [Planned("GET", "/healthz")] * (count // 2)
        run_load(base_url, texts[:RATE // 2] + [Planned("GET", "/healthz")] * (RATE // 2), RATE)  # warm-up, not counted
        cpu = tree_cpu_seconds(api.popen.pid)
        baseline = run_load(base_url, health)
        cpu_base = tree_cpu_seconds(api.popen.pid) - cpu
        ours = run_load(base_url, texts[RATE:])
        cpu_ours = tree_cpu_seconds(api.popen.pid) - cpu - cpu_base
        cpu = tree_cpu_seconds(api.popen.pid)
        baseline.merge(run_load(base_url, health))
        cpu_base += tree_cpu_seconds(api.popen.pid) - cpu
        details["load_average_after"] = load_average()
        # The API's own CPU per request (its PostgreSQL work is on the server's processes, not counted here).
        details["api_cpu_ms_per_request"] = {"ours": round(1000 * cpu_ours / max(1, count), 2),
                                             "baseline": round(1000 * cpu_base / max(1, 2 * len(health)), 2)}
        if ctx.profile_dir is not None and not _met(ours):
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
    met = _met(ours)
    return Figure(key="f", title="inbound SMS webhooks at 100 requests/s: p99 latency (p50, errors in details)",
                  value=p99, unit="ms", baseline=base_p99, baseline_label="GET /healthz, same rate, same server",
                  ratio=ratio(p99, base_p99), ratio_label="p99 ours ÷ p99 baseline",
                  goal=f"p99 ≤ {GOAL_P99_MS:.0f} ms, 0 errors", met=met, details=details,
                  note=f"p50 {_round(ours.percentile(50))} ms, {ours.errors} errors of {len(texts) - RATE}"
                       + (f"; {note}" if note else ""))


def _met(load: Load) -> bool | None:
    p99 = load.percentile(99)
    return None if p99 is None else p99 <= GOAL_P99_MS and load.errors == 0
