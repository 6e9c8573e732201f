"""`database_snapshot`: the counts the dashboard and `/metrics` show, from a pathway-seeded database (SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pathway_support import CLINICIAN, DAY, PHQ9_ITEM9, T0, ev, hours, to_treatment_planned

from models.outbox import deliver_due
from models.queries.ops import database_snapshot
from models.timers import claim_due_timers
from models.unit_of_work import run_committed
from workers.gateways import ConsoleGateway

ZONE = "America/New_York"
SEEDED = T0 + DAY + hours(2)  # 2026-03-03 16:00 UTC, 11:00 in New York: an urgent escalation, acknowledge by 17:00


def seed(pathway) -> str:
    """A patient in induction with a session booked and a PHQ-9 whose item 9 raised an urgent escalation."""
    workflow_id = to_treatment_planned(pathway)
    pathway.apply(workflow_id, ev("session.scheduled", {"session": "s1", "start": T0 + 3 * DAY}), T0 + DAY + hours(1))
    pathway.apply(workflow_id, ev("assessment.submitted", {"instrument": "phq9", "answers": PHQ9_ITEM9}, CLINICIAN),
                  SEEDED)
    return workflow_id


def test_an_empty_database_is_all_zeros(engine):
    snap = database_snapshot(engine, T0, ZONE)
    assert (snap.timers.pending, snap.timers.due_unclaimed, snap.timers.oldest_due_lag_seconds) == (0, 0, None)
    assert snap.messages.today == {} and (snap.messages.pending, snap.messages.sending) == (0, 0)
    assert snap.escalations.open_by_severity == {} and snap.escalations.overdue == 0
    assert snap.escalations.oldest_open_age_seconds is None and snap.workflows_by_stage == {}


def test_a_due_unclaimed_timer_shows_its_lag_until_a_scheduler_claims_it(engine, pathway):
    seed(pathway)
    before = database_snapshot(engine, SEEDED, ZONE)
    assert before.timers.pending > 0
    # The oldest pending timer is due 2026-03-03 15:00 UTC (the REMS enrollment check): an hour late at 16:00.
    oldest_due = min(t for t in _pending_due_times(engine))
    late = database_snapshot(engine, oldest_due + timedelta(seconds=90), ZONE)
    assert late.timers.due_unclaimed >= 1
    assert late.timers.oldest_due_lag_seconds == 90.0
    assert late.timers.pending == before.timers.pending  # due ones are still pending until claimed

    claimed = run_committed(engine, claim_due_timers, oldest_due + timedelta(seconds=90))
    assert claimed
    after = database_snapshot(engine, oldest_due + timedelta(seconds=91), ZONE)
    assert after.timers.due_unclaimed == 0 and after.timers.oldest_due_lag_seconds is None
    assert after.timers.pending == before.timers.pending - len(claimed)


def test_a_sent_message_counts_on_the_clinics_local_day(engine, pathway):
    seed(pathway)
    queued = database_snapshot(engine, SEEDED, ZONE)
    assert queued.messages.pending == 1  # the staff alert for the urgent escalation
    assert queued.messages.today == {("staff_alert", "pending"): 1}

    assert deliver_due(pathway, ConsoleGateway(), SEEDED) == 1
    sent = database_snapshot(engine, SEEDED + timedelta(minutes=1), ZONE)
    assert sent.messages.today == {("staff_alert", "sent"): 1}
    assert sent.messages.pending == 0 and sent.messages.sending == 0

    # 23:59 in New York is still the same local day (04:59 UTC the next day); 00:01 is the next one.
    late_evening = datetime(2026, 3, 4, 4, 59, tzinfo=UTC)
    next_morning = datetime(2026, 3, 4, 5, 1, tzinfo=UTC)
    assert database_snapshot(engine, late_evening, ZONE).messages.today == {("staff_alert", "sent"): 1}
    assert database_snapshot(engine, next_morning, ZONE).messages.today == {}


def test_an_open_escalation_past_its_deadline_counts_as_overdue(engine, pathway):
    seed(pathway)
    in_time = database_snapshot(engine, SEEDED + timedelta(minutes=30), ZONE)
    # PHQ-9 item 9's page, and the C-SSRS it requests (routine, due the same clinic day: not overdue at +61 min)
    assert in_time.escalations.open_by_severity == {"urgent": 1, "routine": 1}
    assert in_time.escalations.overdue == 0
    assert in_time.escalations.oldest_open_age_seconds == 1800.0

    overdue = database_snapshot(engine, SEEDED + timedelta(minutes=61), ZONE)
    assert overdue.escalations.overdue == 1
    assert overdue.workflows_by_stage == {"induction": 1}


def _pending_due_times(engine):
    from sqlalchemy import select
    from sqlmodel import Session

    from models.tables import TimerRecord

    with Session(engine) as db:
        return db.execute(select(TimerRecord.due_at).where(TimerRecord.status == "pending")).scalars().all()
