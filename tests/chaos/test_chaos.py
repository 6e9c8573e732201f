"""Chaos: 2,000 due messages while workers, schedulers, Redis and PostgreSQL are killed under them.

The run: two `carepath worker -c 2` and two `carepath scheduler` processes, a PostgreSQL cluster and a Redis server of
the test's own (never the machine's shared ones), the fake Twilio behind the real SDK. About 2,000 patient messages
and 400 escalations fall due over a ~110 s window (see chaos_load.py), during which a seeded driver (chaos_driver.py):

- SIGKILLs a random worker or scheduler (whole process group) every 4–10 s and starts it again 0.5–3 s later;
- restarts Redis with its data lost (queued and unacknowledged tasks gone);
- restarts PostgreSQL with `-m fast`, and again with `-m immediate` (a crash: recovery on start), each down 1–5 s;
- stops Redis for 30 s, then starts it empty;
- and all along, patients text the clinic: signed webhooks to a real `carepath api` (chaos_texts.py), a refused one
  posted again a second later with the same MessageSid.

Afterwards, once the processes have caught up (polled with a deadline, no timed assertions):

- every due message reached the fake Twilio exactly once (one per outbox row, by its SID; no number and text twice)
  and no row is left pending, queued or sending;
- every due timer row is fired (or cancelled), and the history holds exactly one event per firing;
- every expected escalation (a missed confirmation, a missed check-in) exists once and is open;
- every text is stored once and in its patient's history exactly once;
- every process is still running: none gave up on an outage.

The seed is printed; `CAREPATH_CHAOS_SEED=<n>` replays the same plan (the same faults at the same moments; what they
interrupt depends on timing). `CAREPATH_CHAOS_MESSAGES` and `CAREPATH_CHAOS_SECONDS` scale the run.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from chaos_driver import ChaosDriver
from chaos_load import EXPECTED_ESCALATION, PATIENT_MESSAGES, Load, build_load
from chaos_services import PostgresCluster, RedisServer
from chaos_texts import TextPoster
from e2e.e2e_support import E2E, wait_until
from sqlalchemy import func, select
from sqlmodel import Session

from models.tables import EscalationRecord, EventRecord, InboundText, OutboxMessage, TimerRecord

pytestmark = pytest.mark.chaos

MESSAGES = int(os.environ.get("CAREPATH_CHAOS_MESSAGES", "2000"))
CHAOS_SECONDS = float(os.environ.get("CAREPATH_CHAOS_SECONDS", "110"))
SETTINGS = {
    "CAREPATH_SCHEDULER_INTERVAL_SECONDS": "1",
    # Tasks lost with Redis (or stranded by a killed scheduler) are handed out again after this long. Long enough that
    # a backlog waiting in the queue is not re-handed over and over.
    "CAREPATH_HANDOFF_GRACE_SECONDS": "15",
    # A send with no recorded outcome is looked up at Twilio after this long; longer than a live worker on a busy
    # 2-core machine takes between its claim and its send, or a resend could race a send still in flight.
    "CAREPATH_SEND_GRACE_SECONDS": "30",
}
CONVERGE_SECONDS = 240
TEXTERS = max(2, MESSAGES // 40)  # patients who text during the chaos, 4 texts each
TEXTS_EACH = 4
OPEN_STATUSES = ("pending", "queued", "sending")


def plan_dues(rng: random.Random, chaos_start: datetime) -> dict[str, list[datetime]]:
    """When each patient's timer falls due: spread over the first 80 % of the chaos window."""
    checkins, confirmations = MESSAGES // 20, MESSAGES * 3 // 20
    reminders = MESSAGES - PATIENT_MESSAGES["checkin"] * checkins - confirmations
    window = CHAOS_SECONDS * 0.8

    def moments(count: int, earliest: float = 0.0) -> list[datetime]:
        return [chaos_start + timedelta(seconds=rng.uniform(earliest, window)) for _ in range(count)]

    # Check-ins first: their messages are due at once and go out before the chaos; their missed check-ins come later.
    return {"checkin": moments(checkins, earliest=10.0), "confirmation": moments(confirmations),
            "reminder": moments(reminders)}


def test_due_work_survives_killed_processes_and_restarted_services(
        chaos_world: E2E, own_services: tuple[PostgresCluster, RedisServer]) -> None:
    world, (postgres, redis_server) = chaos_world, own_services
    seed = int(os.environ.get("CAREPATH_CHAOS_SEED") or random.SystemRandom().randrange(2 ** 32))
    print(f"chaos seed {seed} (replay: CAREPATH_CHAOS_SEED={seed})")
    rng = random.Random(seed)
    world.env_overrides.update(SETTINGS)

    # Setup: the patients (time enough to create them all before the window opens), then the processes.
    setup_started = time.monotonic()
    # Creating them takes ~20 ms each here (34 s for 2,000 before the calendar and flag projections, 41 s after); if it
    # takes longer than the lead, the early ones come due before the chaos and all compete with the check-ins below.
    lead = 30 + MESSAGES * 0.02
    planned_start = datetime.now(UTC) + timedelta(seconds=lead)  # before the chaos: less coverage, same checks
    plan = plan_dues(rng, planned_start)
    load = build_load(world, plan)
    built_seconds = time.monotonic() - setup_started
    last_due = max(load.due.values())
    driver = ChaosDriver(world, postgres, redis_server, rng, CHAOS_SECONDS)
    driver.plan()
    texters = {world.start_workflow(phone): phone for phone in [world.phone() for _ in range(TEXTERS)]}
    poster = TextPoster.plan(world, texters, rng, TEXTS_EACH, window=CHAOS_SECONDS * 0.85,
                             give_up_after=CHAOS_SECONDS + 60)
    api = world.start_api(wait=False)
    driver.start_processes(workers=2, schedulers=2)
    world.wait_ready(api)
    checkin_sent = wait_until(lambda: _checkins_sent(world, load), 180,
                              "the check-ins and nudges sent before the chaos")
    wait_until(lambda: datetime.now(UTC) >= planned_start, lead + 10, "the planned start of the chaos", interval=0.2)
    due_before = sum(1 for due in load.due.values() if due <= datetime.now(UTC))
    print(f"setup {time.monotonic() - setup_started:.0f}s (built in {built_seconds:.0f}s): {len(load.all_ids)} patients, "
          f"{load.expected_messages} "
          f"patient messages ({checkin_sent} sent before the chaos), {due_before} patients due before it started")

    chaos_started = time.monotonic()
    driver.start()
    poster.start()
    try:
        driver.join(timeout=CHAOS_SECONDS + 120)
        chaos_seconds = time.monotonic() - chaos_started
        wait_until(lambda: poster.done and _converged(world, last_due), CONVERGE_SECONDS,
                   "every due timer, message and text to settle", interval=1.0)
        print(f"chaos {chaos_seconds:.0f}s, converged {time.monotonic() - chaos_started - chaos_seconds:.0f}s later; "
              f"faults: {dict(sorted(driver.faults.items()))}")
        _assert_run(world, driver, load, last_due)
        _assert_texts_applied_once(world, poster)
    finally:
        print(driver.report())
        print(poster.summary())
        print(_scheduler_totals(world))


def _checkins_sent(world: E2E, load: Load) -> int:
    rows = world.outbox(load.workflows["checkin"])
    wanted = PATIENT_MESSAGES["checkin"] * len(load.workflows["checkin"])
    return len(rows) if len(rows) == wanted and all(r.status == "sent" for r in rows) else 0


def _converged(world: E2E, last_due: datetime) -> bool:
    with Session(world.services.engine) as db:
        timers = db.execute(select(func.count()).select_from(TimerRecord).where(
            TimerRecord.due_at <= last_due, TimerRecord.status.in_(("pending", "claimed")))).scalar()
        messages = db.execute(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.status.in_(OPEN_STATUSES), OutboxMessage.not_before <= datetime.now(UTC))).scalar()
        texts = db.execute(select(func.count()).select_from(InboundText).where(
            InboundText.status.in_(("pending", "queued")))).scalar()
    return timers == 0 and messages == 0 and texts == 0


def _assert_run(world: E2E, driver: ChaosDriver, load: Load, last_due: datetime) -> None:
    assert not driver.errors, "a fault could not be injected:\n" + "\n".join(driver.errors)
    expected_faults = {"redis restart (data lost)", "postgres restart -m fast", "postgres restart -m immediate",
                       "redis down 30 s", "SIGKILL worker", "SIGKILL scheduler"}
    assert expected_faults <= set(driver.faults), f"faults missing from the run: {expected_faults - set(driver.faults)}"
    dead = [f"{p.name} {p.log.name} exited {p.popen.returncode}" for p in driver.workers + driver.schedulers if not p.alive]
    assert not dead, f"processes gave up instead of riding out the outages: {dead}"
    _assert_timers_fired_once(world, last_due)
    _assert_messages_sent_once(world, load)
    _assert_escalations_raised(world, load)


def _assert_timers_fired_once(world: E2E, last_due: datetime) -> None:
    timers = [t for t in world.timers() if t.due_at <= last_due]
    unfired = [(t.id, t.kind, t.status) for t in timers if t.status not in ("fired", "cancelled")]
    assert not unfired, f"{len(unfired)} due timers never fired, e.g. {unfired[:10]}"
    with Session(world.services.engine) as db:
        keys = Counter(db.execute(select(EventRecord.workflow_id, EventRecord.idempotency_key)
                                  .where(EventRecord.idempotency_key.like("timer:%"))).all())
    twice = [(wf, key) for (wf, key), n in keys.items() if n > 1]
    assert not twice, f"{len(twice)} timers fired twice, e.g. {twice[:10]}"
    fired = [t for t in timers if t.status == "fired"]
    no_event = [t.id for t in fired if (t.workflow_id, f"timer:{t.key}@{t.due_at.isoformat()}") not in keys]
    assert not no_event, f"{len(no_event)} timers marked fired without their event, e.g. {no_event[:10]}"
    print(f"timers: {len(fired)} fired once each, {len(timers) - len(fired)} cancelled")


def _assert_messages_sent_once(world: E2E, load: Load) -> None:
    rows = world.outbox(recipient=None)
    open_rows = [(r.id, r.status) for r in rows if r.status in OPEN_STATUSES]
    assert not open_rows, f"{len(open_rows)} messages never settled, e.g. {open_rows[:10]}"
    per_workflow = Counter(r.workflow_id for r in rows if r.recipient == "patient")
    wrong = [(wf, kind, per_workflow[wf]) for kind, ids in load.workflows.items() for wf in ids
             if per_workflow[wf] != PATIENT_MESSAGES[kind]]
    assert not wrong, f"{len(wrong)} patients without exactly their due messages (workflow, kind, count): {wrong[:10]}"
    unsent = [(r.id, r.kind, r.status, r.drop_reason, r.error_code) for r in rows if r.status not in ("sent", "delivered")]
    assert not unsent, f"{len(unsent)} due messages not sent, e.g. {unsent[:10]}"

    messages = world.fake.messages
    by_sid = {m.sid: m for m in messages}
    pairs = Counter((m.to, m.body) for m in messages)
    twice = {sid for sid, m in by_sid.items() if pairs[(m.to, m.body)] > 1}
    duplicates = [(r.id, r.workflow_id, r.kind, r.provider_id) for r in rows if r.provider_id in twice]
    assert not twice, (f"{len(twice)} messages reached Twilio more than once, e.g. SIDs {sorted(twice)[:10]}; "
                       f"their outbox rows (id, workflow, kind, SID): {duplicates[:10]}")
    mismatched = [r.id for r in rows if r.provider_id not in by_sid
                  or (by_sid[r.provider_id].to, by_sid[r.provider_id].body) != (r.to_phone, r.body)]
    assert not mismatched, f"{len(mismatched)} outbox rows without their own message at Twilio, e.g. {mismatched[:10]}"
    assert len(messages) == len(rows), f"Twilio accepted {len(messages)} messages for {len(rows)} outbox rows"
    assert len(rows) >= load.expected_messages
    print(f"messages: {len(rows)} sent, each exactly once")


def _assert_escalations_raised(world: E2E, load: Load) -> None:
    with Session(world.services.engine) as db:
        rows = db.execute(select(EscalationRecord.workflow_id, EscalationRecord.reason, EscalationRecord.status)).all()
    by_workflow: dict[str, list[tuple[str, str]]] = {}
    for workflow_id, reason, status in rows:
        by_workflow.setdefault(workflow_id, []).append((reason, status))
    missing = []
    for kind, reason in EXPECTED_ESCALATION.items():
        for workflow_id in load.workflows[kind]:
            found = [status for r, status in by_workflow.get(workflow_id, []) if r == reason]
            if found != ["open"]:
                missing.append((workflow_id, reason, found))
    assert not missing, f"{len(missing)} escalations lost or wrong (workflow, reason, statuses): {missing[:10]}"
    print(f"escalations: {sum(len(load.workflows[k]) for k in EXPECTED_ESCALATION)} raised once each and open")


def _assert_texts_applied_once(world: E2E, poster: TextPoster) -> None:
    assert not poster.unposted, f"{len(poster.unposted)} texts the API never took, e.g. {poster.unposted[:5]}"
    rows = {row.provider_id: row for row in world.inbox()}
    unapplied = [(t.sid, rows[t.sid].status if t.sid in rows else "missing") for t in poster.texts
                 if t.sid not in rows or rows[t.sid].status != "applied"]
    assert not unapplied, f"{len(unapplied)} texts not applied, e.g. {unapplied[:10]}"
    with Session(world.services.engine) as db:
        keys = Counter(db.execute(select(EventRecord.workflow_id, EventRecord.idempotency_key)
                                  .where(EventRecord.type == "sms.received")).all())
    wrong = [t.sid for t in poster.texts if keys[(t.workflow_id, f"twilio:{t.sid}")] != 1]
    assert not wrong, f"{len(wrong)} texts not in their patient's history exactly once, e.g. {wrong[:10]}"
    assert sum(keys.values()) == len(poster.texts), "the history holds texts nobody sent"
    print(f"texts: {len(poster.texts)} applied, each exactly once")


def _scheduler_totals(world: E2E) -> str:
    totals = Counter()
    for proc in world.procs:
        if proc.name == "scheduler":
            totals.update(proc.ticks())
    return f"schedulers (all incarnations): {dict(totals)}"
