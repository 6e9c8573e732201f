"""Delivery end to end: real `carepath worker` and `carepath scheduler` processes, real Redis and PostgreSQL, the fake
Twilio (through the real SDK), and signed status callbacks applied by `handle_status_callback`.

Each test is bounded: it polls with deadlines and waits only as long as the guarantee it checks needs (a grace
period has to pass before "nothing was sent again" means anything).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from e2e_support import E2E, wait_until

from models.tables import OutboxMessage

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

FINAL_SENT = ("sent", "delivered")
# The first retry is the batch's hand-over to `deliver_message`, the later ones Celery's own.
RETRY_LINE = re.compile(r"(?:Task workers\.tasks\.deliver_message\[[^\]]+\] retry: Retry in|retrying alone in) ([\d.]+)s")


def delivered(e2e: E2E, workflow_ids: list[str], count: int, statuses: tuple[str, ...] = ("delivered",),
              timeout: float = 25) -> list[OutboxMessage]:
    """Wait until the workflows' patient messages number `count`, all in one of `statuses`; returns them."""
    def done() -> list[OutboxMessage] | None:
        rows = e2e.outbox(workflow_ids)
        return rows if len(rows) == count and all(r.status in statuses for r in rows) else None

    return wait_until(done, timeout, f"{count} messages {'/'.join(statuses)}",
                      interval=0.2)


def assert_each_sent_once(e2e: E2E, rows: list[OutboxMessage]) -> None:
    """The fake got exactly one message per row, the one whose SID the row records, to its number, with its text."""
    messages = e2e.fake.messages
    assert len(messages) == len(rows), f"{len(messages)} messages at the fake for {len(rows)} outbox rows"
    pairs = Counter((m.to, m.body) for m in messages)
    assert not [pair for pair, n in pairs.items() if n > 1], "a message reached the provider twice"
    by_sid = {m.sid: m for m in messages}
    for row in rows:
        assert row.status in FINAL_SENT and row.provider_id in by_sid, (row.id, row.status, row.provider_id)
        sent = by_sid[row.provider_id]
        assert (sent.to, sent.body) == (row.to_phone, row.body)
    assert not e2e.receiver.rejected, "a status callback failed signature validation"
    assert not e2e.receiver.errors, e2e.receiver.errors[0]


def test_a_message_due_in_seconds_reaches_twilio_exactly_once(e2e: E2E) -> None:
    worker, scheduler = e2e.start_worker(wait=False), e2e.start_scheduler(wait=False)
    e2e.wait_ready(worker, scheduler)
    [workflow] = e2e.schedule_reminders(1, due_in=2)

    [row] = delivered(e2e, [workflow], 1)

    assert row.kind == "evaluation_reminder" and row.attempts == 1 and row.delivered_at is not None
    assert_each_sent_once(e2e, [row])
    [reminder] = e2e.timers(kind="reminder")
    assert reminder.status == "fired"
    # queued → sent → delivered came back signed, for this message, and were recorded
    assert [(m, s) for m, s, _ in e2e.receiver.handled] == [(row.id, "queued"), (row.id, "sent"), (row.id, "delivered")]
    # The scheduler handed out the timer; the worker that fired it handed the reminder on right after its commit.
    assert scheduler.ticks() == {"timers": 1, "messages": 0, "released": 0}
    assert worker.handed_on() == {"messages": 1, "timers": 0}


def test_worker_killed_mid_send_delivers_once_after_restart(e2e: E2E) -> None:
    # The fake records the message, then answers 5 s late: the worker is killed while blocked in that HTTP call, so
    # it never learns the SID. The status callback (which carries our message id) must reconcile the row, and the
    # sweeper must not send it again. The send grace outlasts the provider's answer plus its first callback, so this
    # is the callback's path; the next test takes the callback away.
    e2e.env_overrides["CAREPATH_SEND_GRACE_SECONDS"] = "10"
    send_grace = 10
    e2e.fake.delay(5)
    worker, scheduler = e2e.start_worker(wait=False), e2e.start_scheduler(wait=False)
    e2e.wait_ready(worker, scheduler)
    [workflow] = e2e.schedule_reminders(1, due_in=2)

    e2e.fake.wait_for_messages(1, timeout=20)
    worker.kill()  # SIGKILL to the whole group: the pool child inside the HTTP call and the main process
    assert not worker.alive
    [row] = e2e.outbox([workflow])
    assert (row.status, row.provider_id) == ("sending", None), "the killed worker recorded nothing"
    claimed_at = row.claimed_at

    e2e.start_worker()
    [row] = delivered(e2e, [workflow], 1)
    # Outlast the send grace (plus a tick or two): a sweeper that was going to resend has done so by now.
    wait_until(lambda: datetime.now(UTC) > claimed_at + timedelta(seconds=send_grace + 2.5), send_grace + 10,
               "the send grace to pass")
    [row] = e2e.outbox([workflow])

    assert row.status == "delivered" and row.attempts == 1
    assert_each_sent_once(e2e, [row])
    assert len(e2e.fake.attempts) == 1
    assert scheduler.ticks()["released"] == 0, "the sweeper resent a message the provider had accepted"


def test_worker_killed_mid_send_without_callback_is_reconciled_not_resent(e2e: E2E) -> None:
    # As above, but no status callback ever comes (lost, or Twilio could not reach us): once the send grace (5 s) has
    # passed, the scheduler can only learn that the message went out by asking Twilio, and must, before any resend.
    e2e.fake.callbacks(False)
    e2e.fake.delay(3)
    worker, scheduler = e2e.start_worker(wait=False), e2e.start_scheduler(wait=False)
    e2e.wait_ready(worker, scheduler)
    [workflow] = e2e.schedule_reminders(1, due_in=2)

    [accepted] = e2e.fake.wait_for_messages(1, timeout=20)
    worker.kill()  # inside the HTTP call: Twilio has the message, the worker never learned its SID
    assert not worker.alive
    [row] = e2e.outbox([workflow])
    assert (row.status, row.provider_id) == ("sending", None), "the killed worker recorded nothing"

    e2e.start_worker()  # takes the redelivered task, finds the row `sending`, leaves it
    [row] = delivered(e2e, [workflow], 1, statuses=("sent",), timeout=20)

    assert row.provider_id == accepted.sid and row.attempts == 1
    assert row.sent_at >= row.claimed_at + timedelta(seconds=5), "settled before the send grace"
    e2e.wait_for_log(scheduler, re.compile(r"tick: .* 1 reconciled"), "the tick that reconciled it", timeout=5)
    assert_each_sent_once(e2e, [row])
    assert len(e2e.fake.attempts) == 1
    assert e2e.receiver.handled == [], "no status callback was involved"
    assert scheduler.ticks()["released"] == 0, "the sweeper returned an accepted message for resending"


def test_redis_flushed_with_work_queued_is_delivered_once_by_the_sweeper(e2e: E2E) -> None:
    # Twenty patients text HELP: twenty replies, due at once. The scheduler hands them to Celery, no worker is running,
    # and Redis loses every task. The rows stay `queued` in the database; the sweeper hands them out again.
    workflows = [e2e.start_workflow() for _ in range(20)]
    for workflow in workflows:
        e2e.text_from_patient(workflow, "HELP")
    assert len(e2e.outbox(workflows)) == 20

    scheduler = e2e.start_scheduler()
    wait_until(lambda: all(r.status == "queued" for r in e2e.outbox(workflows)), 15, "20 messages handed off")
    ids = {r.id for r in e2e.outbox(workflows)}
    wait_until(lambda: sorted(e2e.queued_ids("sms")) == sorted(ids), 5, "the 20 messages in tasks in the sms queue")
    assert e2e.queue_length("sms") == 1, "one batch task, not a task per message"
    # While the tasks wait in the queue they are not lost: three grace periods on, nothing was handed out twice.
    time.sleep(3 * int(e2e.env_overrides["CAREPATH_HANDOFF_GRACE_SECONDS"]))
    assert sorted(e2e.queued_ids("sms")) == sorted(ids) and scheduler.ticks()["released"] == 0, \
        "waiting tasks were re-handed"
    e2e.redis.flushdb()  # the test's own database: FLUSHALL for this broker
    assert e2e.queue_length("sms") == 0 and e2e.redis.dbsize() == 0

    e2e.start_worker()
    rows = delivered(e2e, workflows, 20)

    assert {r.kind for r in rows} == {"help"}
    assert all(r.attempts == 1 for r in rows), "each message was claimed by a worker once"
    assert_each_sent_once(e2e, rows)
    assert scheduler.ticks()["released"] >= 20, "the sweeper re-handed the lost messages"


def test_two_schedulers_fire_each_of_200_timers_once(e2e: E2E) -> None:
    # No release of claimed timers during the test: each timer must be handed out exactly once, by one scheduler.
    e2e.env_overrides["CAREPATH_HANDOFF_GRACE_SECONDS"] = "120"
    e2e.fake.callbacks(False)  # 600 callbacks would only slow the run; delivery is covered above
    worker = e2e.start_worker(concurrency=2, wait=False)
    # Fast ticks at different intervals: the two schedulers' claims keep running into each other (at the default
    # 1 s they would seldom overlap, and a claim that is not exclusive would go unnoticed), and both take timers.
    first = e2e.start_scheduler(wait=False, env={"CAREPATH_SCHEDULER_INTERVAL_SECONDS": "0.1"})
    second = e2e.start_scheduler(wait=False, env={"CAREPATH_SCHEDULER_INTERVAL_SECONDS": "0.13"})
    # 200 reminders, each due 4 s after its workflow was created: due over the few seconds the creation takes.
    workflows = e2e.schedule_reminders(200, due_in=4)
    e2e.wait_ready(worker, first, second)
    assert len(e2e.timers(kind="reminder")) == 200

    wait_until(lambda: all(t.status == "fired" for t in e2e.timers(kind="reminder")), 60, "200 timers fired",
               interval=0.5)
    rows = delivered(e2e, workflows, 200, statuses=FINAL_SENT, timeout=60)

    fired = Counter((e.workflow_id, e.data["key"]) for e in e2e.events("reminder.due"))
    assert len(fired) == 200 and set(fired.values()) == {1}, "a reminder.due event recorded twice"
    assert_each_sent_once(e2e, rows)
    assert len({m.to for m in e2e.fake.messages}) == 200
    first_ticks, second_ticks = first.ticks(), second.ticks()
    assert first_ticks["timers"] + second_ticks["timers"] == 200, (first_ticks, second_ticks)
    # Each reminder handed out once: by the worker right after the commit that wrote it, or (if that hand-off did
    # not happen) by a scheduler's tick.
    handed_on = worker.handed_on()["messages"]
    assert first_ticks["messages"] + second_ticks["messages"] + handed_on == 200, (first_ticks, second_ticks, handed_on)
    assert first_ticks["timers"] > 0 and second_ticks["timers"] > 0, "both schedulers took part"


def test_provider_500s_are_retried_with_backoff_then_delivered_once(e2e: E2E) -> None:
    e2e.env_overrides["CAREPATH_HANDOFF_GRACE_SECONDS"] = "60"  # Celery's retries, not the sweeper, bring it back
    e2e.fake.fail_next(3, status=500)
    worker, scheduler = e2e.start_worker(wait=False), e2e.start_scheduler(wait=False)
    e2e.wait_ready(worker, scheduler)
    [workflow] = e2e.schedule_reminders(1, due_in=2)

    [row] = delivered(e2e, [workflow], 1, timeout=35)  # backoff with full jitter: at most 2 + 4 + 8 s

    attempts = e2e.fake.attempts
    assert [(a.http_status, a.code) for a in attempts] == [(500, 20500)] * 3 + [(201, None)]
    assert row.attempts == 4
    assert_each_sent_once(e2e, [row])
    # Each retry waited a delay drawn from a doubling window (full jitter: 0–2 s, 0–4 s, 0–8 s), and waited it.
    delays = [float(s) for s in RETRY_LINE.findall(worker.text())]
    assert len(delays) == 3, worker.text()[-3000:]
    assert all(0 <= delay <= 2 ** (n + 1) for n, delay in enumerate(delays)), delays
    gaps = [later.received_at - earlier.received_at for earlier, later in zip(attempts, attempts[1:], strict=False)]
    assert all(gap >= delay - 0.25 for gap, delay in zip(gaps, delays, strict=True)), (gaps, delays)
    assert scheduler.ticks()["released"] == 0


def test_carrier_opt_out_21610_is_not_retried_and_opts_the_patient_out(e2e: E2E) -> None:
    e2e.fake.fail_with(21610)
    worker, scheduler = e2e.start_worker(wait=False), e2e.start_scheduler(wait=False)
    e2e.wait_ready(worker, scheduler)
    [workflow] = e2e.schedule_reminders(1, due_in=2)

    [row] = delivered(e2e, [workflow], 1, statuses=("failed",))
    assert row.error_code == "21610" and row.attempts == 1 and row.provider_id is None
    wait_until(lambda: e2e.workflow_state(workflow).patient.opted_out, 10, "the patient to be opted out")
    escalation = wait_until(lambda: [e for e in e2e.escalations(workflow) if e.reason == "opted_out"], 10,
                            "an opted_out escalation")[0]
    assert escalation.status == "open"

    # The evaluation moves; its new reminder falls due two seconds later and is dropped, never sent.
    e2e.schedule_evaluation(workflow, datetime.now(UTC) + timedelta(seconds=2), rescheduled=True)
    later = wait_until(lambda: [r for r in e2e.outbox([workflow]) if r.id != row.id], 15, "the later reminder")
    assert [(r.kind, r.status, r.drop_reason) for r in later] == [("evaluation_reminder", "dropped", "opted_out")]
    # …and a coordinator is asked to call instead.
    wait_until(lambda: any(e.reason == "call_patient" for e in e2e.escalations(workflow)), 10, "a call_patient task")

    assert [(a.http_status, a.code) for a in e2e.fake.attempts] == [(400, 21610)], "no retry after 21610"
    assert e2e.fake.messages == []
    assert "retry:" not in worker.text()
    [failed] = [r for r in e2e.outbox([workflow]) if r.id == row.id]
    assert (failed.status, failed.error_code) == ("failed", "21610")
    assert scheduler.ticks()["messages"] + worker.handed_on()["messages"] == 1
