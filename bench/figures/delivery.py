"""Figure c: reminders delivered end to end to the fake Twilio per second, against bare Celery no-op tasks per second.

Ours: N real workflows, each with an evaluation whose 2-hour reminder timer falls due a second after it was booked;
then a `carepath scheduler` starts beside a running `carepath worker -c 2` (as a user starts them), claims the timers,
the worker fires them into events, the scheduler hands the outbox rows off and the worker sends them through the
Twilio SDK to the fake Twilio in this process. Rate = N ÷ (last message accepted at the fake − the moment every
reminder was due and the scheduler was up). (A timer cannot be made due by editing its row: the core ignores a timer
whose due time moved since it was set, so the reminders fall due while no scheduler runs.)

Baseline (issue #17): the same N tasks through a bare Celery app on the same Redis with the same worker concurrency,
each doing the work a reminder cannot do without and nothing else: one PostgreSQL commit (a row into a table of its
own) and one POST to the same fake Twilio over a kept-alive connection; timed from the first send to the last task. It
runs before and after ours, and their mean is the baseline. The rate of bare no-op tasks (each only incrementing a
Redis counter, the baseline before #17) is measured the same way and reported beside it.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.core import BenchContext, Figure, figure, ratio
from bench.figures._procs import (
    Procs,
    carepath_env,
    carepath_scheduler,
    carepath_worker,
    claimed_redis_db,
    daytime_zone,
    load_average,
    noop_worker,
    py_spy,
    run_noops,
    send_worker,
    stop_gently,
    throwaway_database,
    top_frames,
)

CONCURRENCY = 2  # `carepath worker`'s default, and the machine's cores
COORDINATOR = {"role": "coordinator", "name": "bench"}
REMINDER_LEAD = timedelta(seconds=1)  # due a second after booking: all are due (and waiting) once creation ends
GOAL_RATIO = 0.5


def bench_services(database_url: str):
    """This process's own wiring onto the throwaway database, to create workflows as a coordinator would."""
    from config.wiring import build_services
    from workers.settings import Settings

    return build_services(Settings(environment="test", database_url=database_url, tasks="celery",
                                   sms_backend="console"))


def phone(n: int) -> str:
    return f"+1555555{n:04d}"  # synthetic numbers only; n < 10,000


def create_reminder_workflows(svc, count: int, first_phone: int = 0, threads: int = 4) -> list[str]:
    """`count` referred patients, each with an evaluation booked so that its reminder timer falls due in a second."""
    from workflows.events import make_event

    zone = daytime_zone()

    def one(n: int) -> str:
        now = datetime.now(UTC)
        referral = make_event("referral.received", {
            "patient": {"name": "Bench Patient", "phone": phone(n), "sms_consent": True, "timezone": zone},
            "referrer": "Dr Bench", "prior_treatments": 3}, actor=COORDINATOR)
        workflow_id = svc.store.start(referral, now).workflow_id
        booking = make_event("evaluation.scheduled", {"start": now + REMINDER_LEAD + timedelta(hours=2)},
                             actor=COORDINATOR)
        svc.store.apply(workflow_id, booking, now)
        return workflow_id

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(one, range(first_phone, first_phone + count)))


def deliver_reminders(ctx: BenchContext, fake, procs: Procs, redis_url: str, count: int,
                      profile: Path | None = None) -> tuple[float, dict]:
    """One pass of ours on a fresh database: reminders/s from all-due to the last message at the fake."""
    from bench.fake_twilio_server import FakeTwilio

    fake.reset()
    with throwaway_database(ctx.postgres_server_url) as database_url:
        env = carepath_env(database_url, redis_url, fake.env(), FakeTwilio.FROM_NUMBER)
        svc = bench_services(database_url)
        try:
            create_reminder_workflows(svc, count)
        finally:
            svc.engine.dispose()
        all_due = time.time() + REMINDER_LEAD.total_seconds()
        worker = carepath_worker(procs, env, CONCURRENCY)
        scheduler = carepath_scheduler(procs, env)
        spies = [py_spy(procs, p, profile.parent / f"{profile.name}-{p.name}.speedscope.json")
                 for p in (worker, scheduler)] if profile else []
        due = max(all_due, time.time())
        messages = fake.wait_for_messages(count, timeout=max(60, count / 5))
        last = max(m.received_at for m in messages[:count])
        for spy in spies:
            if spy is not None:
                stop_gently(procs, spy)
        procs.stop(worker)
        procs.stop(scheduler)
    details = {"first_message_after_s": round(min(m.received_at for m in messages) - due, 2),
               "delivery_seconds": round(last - due, 1)}
    return count / (last - due), details


def profile_note(name: str, frames: dict) -> str:
    """One line for the table: where the profiled process spent its samples."""
    top = "; ".join(f"{frame.split(' (')[0]} {pct} %" for frame, pct in frames["self_pct"][:3])
    return f"{name} (py-spy) self time: {top}"


def noop_rate(procs: Procs, redis_url: str, count: int) -> float:
    worker = noop_worker(procs, redis_url, CONCURRENCY)
    try:
        return count / run_noops(redis_url, count)
    finally:
        procs.stop(worker)


def send_rate(ctx: BenchContext, fake, procs: Procs, redis_url: str, count: int) -> float:
    """The baseline's tasks per second: a commit and a kept-alive POST each (`_procs.SEND_WORKER`)."""
    with throwaway_database(ctx.postgres_server_url, migrated=False) as database_url:
        worker = send_worker(procs, redis_url, CONCURRENCY, database_url, fake)
        try:
            return count / run_noops(redis_url, count)
        finally:
            procs.stop(worker)
            fake.reset()


@figure("c")
def reminders_delivered(ctx: BenchContext) -> Figure:
    """reminders delivered end to end per second"""
    from bench.fake_twilio_server import FakeTwilio

    count = ctx.size(full=3000, quick=400, smoke=20)
    details: dict = {"reminders": count, "worker_concurrency": CONCURRENCY, "load_average_before": load_average()}
    with FakeTwilio() as fake, claimed_redis_db(ctx.redis_url) as redis_url, Procs(ctx.workdir / "c") as procs:
        baseline_before = send_rate(ctx, fake, procs, redis_url, count)
        noop_before = noop_rate(procs, redis_url, count)
        ours, measured = deliver_reminders(ctx, fake, procs, redis_url, count)
        details.update(measured)
        noop_after = noop_rate(procs, redis_url, count)
        baseline_after = send_rate(ctx, fake, procs, redis_url, count)
        baseline = (baseline_before + baseline_after) / 2
        noop = (noop_before + noop_after) / 2
        details["baseline_runs"] = [round(baseline_before, 1), round(baseline_after, 1)]
        details["noop_runs"] = [round(noop_before, 1), round(noop_after, 1)]
        details["ratio_to_noop_tasks"] = ratio(ours, noop)
        details["load_average_after"] = load_average()
        r = ratio(ours, baseline)
        note = ""
        if ctx.profile_dir is not None and r is not None and r < GOAL_RATIO:
            # A separate pass under py-spy, so that sampling does not slow the measured one.
            deliver_reminders(ctx, fake, procs, redis_url, max(20, count // 2), profile=ctx.profile_dir / "c")
            worker_profile = ctx.profile_dir / "c-worker.speedscope.json"
            if worker_profile.exists():
                details["worker_profile"] = str(worker_profile)
                details["worker_top_frames"] = top_frames(worker_profile)
                note = profile_note(worker_profile.name, details["worker_top_frames"])
    return Figure(key="c", title="reminders delivered end to end per second (PostgreSQL, Redis, fake Twilio)",
                  value=ours, unit="/s", baseline=baseline,
                  baseline_label=(f"bare Celery tasks/s, each one PostgreSQL commit and one keep-alive POST to the"
                                  f" same fake Twilio, -c {CONCURRENCY} (÷ no-op tasks: {details['ratio_to_noop_tasks']})"),
                  ratio=r,
                  goal=f"ratio ≥ {GOAL_RATIO}", met=None if r is None else r >= GOAL_RATIO, details=details, note=note)
