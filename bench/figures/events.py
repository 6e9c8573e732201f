"""Figure a: events applied per second on PostgreSQL ÷ raw psycopg doing the same row writes per event.

Ours: `WorkflowStore.start` / `WorkflowStore.apply` of an IV-ketamine patient's first weeks (referral, evaluation, a scored PHQ-9,
two sessions booked, one dosed and discharged), patient after patient, on a fresh migrated database.

Baseline: while ours runs, a SQLAlchemy listener records every INSERT/UPDATE/DELETE each event's transaction sent,
with its parameters. The baseline replays exactly those statements with one plain psycopg connection into a second
fresh database, committing once per event, as ours does. So the baseline writes the same rows with the same shape,
and the ratio is what the engine costs on top of the writes themselves: loading the workflow, the idempotency and
dedupe reads, deciding (pydantic), building ORM objects, the connection pool.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, event

from bench import support
from bench.core import BenchContext, Figure, figure, ratio
from config.clinic import build_clinic
from config.protocol import shipped_book
from models.db import make_engine
from models.event_writer import ENDS_PIPELINE
from models.store import WorkflowStore
from workflows.events import make_event

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # a Monday, 09:00 in New York
COORDINATOR = {"role": "coordinator", "name": "bench"}
CLINICIAN = {"role": "clinician", "name": "Dr Bench"}
WRITE_VERBS = ("INSERT", "UPDATE", "DELETE")
WARMUP_PATIENTS = 3  # first-use costs (statement compilation, imports) are not what we measure
ROUNDS = 6
GOAL = 0.75  # issue #17 (was 0.5)


def patient_events(index: int) -> list[tuple[str, dict[str, Any], dict[str, str], datetime]]:
    """One patient's events as (type, data, actor, now): 11 events, the first starts the workflow."""
    day = timedelta(days=1)
    t = T0 + timedelta(minutes=index)  # patients a minute apart, so their sessions are too
    s1, s2 = t + 2 * day, t + 4 * day
    phone = f"+1555555{index % 10000:04d}"
    return [
        ("referral.received", {"patient": {"name": "Bench Patient", "phone": phone, "sms_consent": True},
                               "referrer": "Dr Referrer", "prior_treatments": 3}, COORDINATOR, t),
        ("evaluation.scheduled", {"start": t + day}, COORDINATOR, t + timedelta(minutes=30)),
        ("assessment.submitted", {"instrument": "phq9", "answers": [2, 2, 2, 2, 1, 2, 2, 1, 0]}, CLINICIAN, t + day),
        ("evaluation.completed", {"eligible": True, "route": "iv_ketamine", "weight_kg": 80, "clinician": "Dr Bench"},
         CLINICIAN, t + day + timedelta(hours=1)),
        ("session.scheduled", {"session": "iv1", "start": s1}, COORDINATOR, t + day + timedelta(hours=2)),
        ("session.scheduled", {"session": "iv2", "start": s2}, COORDINATOR, t + day + timedelta(hours=2, minutes=1)),
        ("session.arrived", {"session": "iv1"}, COORDINATOR, s1 - timedelta(minutes=10)),
        ("vitals.recorded", {"session": "iv1", "phase": "pre_dose", "systolic": 128, "diastolic": 84}, CLINICIAN,
         s1 - timedelta(minutes=5)),
        ("dose.administered", {"session": "iv1", "fasting_confirmed": True}, CLINICIAN, s1),
        ("vitals.recorded", {"session": "iv1", "phase": "pre_discharge", "systolic": 130, "diastolic": 82}, CLINICIAN,
         s1 + timedelta(minutes=65)),
        ("session.discharged", {"session": "iv1", "sedation_resolved": True, "dissociation_resolved": True,
                                "clinician": "Dr Bench"}, CLINICIAN, s1 + timedelta(minutes=72)),
    ]


def apply_patient(pathway: WorkflowStore, index: int) -> int:
    """Apply one patient's events through the unit of work; returns how many were applied."""
    (kind, data, actor, now), *rest = patient_events(index)
    workflow_id = pathway.start(make_event(kind, data, actor=actor), now).workflow_id
    for kind, data, actor, now in rest:
        pathway.apply(workflow_id, make_event(kind, data, actor=actor), now)
    return 1 + len(rest)


@dataclass
class WriteRecorder:
    """Every committed transaction's write statements, as the driver received them (statement, parameters, many)."""

    transactions: list[list[tuple[str, Any, bool]]] = field(default_factory=list)
    statements: dict[str, int] = field(default_factory=dict)  # "INSERT events" etc. → count, reads included
    # Each statement sent on its own, BEGIN (psycopg sends it on its own unless it goes in a pipeline with the first
    # statement), COMMIT and ROLLBACK: one round trip each. Statements queued in a psycopg pipeline
    # (`models/event_writer.py`) are one round trip together, counted at the statement that ends the pipeline. (An
    # executemany is counted once: psycopg pipelines its rows.)
    round_trips: int = 0
    _current: list[tuple[str, Any, bool]] = field(default_factory=list)
    _begin_pending: bool = False

    def attach(self, engine: Engine) -> None:
        for name, listener in self._listeners():
            event.listen(engine, name, listener)

    def detach(self, engine: Engine) -> None:
        """Stop recording: the listeners `attach` added are removed."""
        for name, listener in self._listeners():
            event.remove(engine, name, listener)

    def _listeners(self):
        return (("before_cursor_execute", self._executed), ("begin", self._began), ("commit", self._committed),
                ("rollback", self._rolled_back))

    def _began(self, _conn) -> None:
        self._begin_pending = True

    def _executed(self, _conn, cursor, statement: str, parameters, context, executemany: bool) -> None:
        pipelined = cursor.connection.pgconn.pipeline_status != 0  # psycopg.pq.PipelineStatus.OFF
        if self._begin_pending and not pipelined:
            self.round_trips += 1  # psycopg's BEGIN, on its own
        self._begin_pending = False
        if not pipelined or context.execution_options.get(ENDS_PIPELINE) is not None:
            self.round_trips += 1
        words = statement.split(None, 4)
        verb = words[0].upper()
        table = {"INSERT": 2, "UPDATE": 1, "DELETE": 2}.get(verb)
        name = f"{verb} {words[table]}" if table is not None and len(words) > table else verb
        self.statements[name] = self.statements.get(name, 0) + (len(parameters) if executemany else 1)
        if verb in WRITE_VERBS:
            self._current.append((statement, parameters, executemany))

    def _committed(self, _conn) -> None:
        self._begin_pending = False  # nothing was sent: psycopg sends no BEGIN, and no COMMIT either
        self.round_trips += 1
        if self._current:
            self.transactions.append(self._current)
        self._current = []

    def _rolled_back(self, _conn) -> None:
        self.round_trips += 1
        self._current = []

    def take(self) -> list[list[tuple[str, Any, bool]]]:
        taken, self.transactions = self.transactions, []
        return taken


def replay(conn, transactions: list[list[tuple[str, Any, bool]]]) -> None:
    """The baseline: the same statements and parameters, one commit per event, on a plain psycopg connection."""
    with conn.cursor() as cur:
        for writes in transactions:
            for statement, parameters, many in writes:
                if many:
                    cur.executemany(statement, parameters)
                else:
                    cur.execute(statement, parameters)
            conn.commit()


@figure("a")
def events_per_second(ctx: BenchContext) -> Figure:
    """events applied per second (PostgreSQL)"""
    patients = ctx.size(full=360, quick=90, smoke=4)
    rounds = ROUNDS if not ctx.smoke else 2
    per_round = max(1, patients // rounds)
    pathway_time = baseline_time = 0.0
    events = transactions = 0
    recorder = WriteRecorder()
    with support.throwaway_database(ctx.postgres_server_url) as ours_url, \
            support.throwaway_database(ctx.postgres_server_url) as baseline_url:
        engine = make_engine(ours_url, pre_ping=False)  # as the workers run it
        recorder.attach(engine)
        pathway = WorkflowStore(engine, shipped_book(), build_clinic(staff={"on_call": "+15555550190"}))
        raw = support.connect(baseline_url)
        try:
            for index in range(WARMUP_PATIENTS):
                apply_patient(pathway, index)
            replay(raw, recorder.take())
            recorder.statements.clear()
            recorder.round_trips = 0
            next_patient = WARMUP_PATIENTS

            # Ours first, then the baseline replays what that round wrote: round after round, so the two sides see
            # the same neighbours' load.
            for _ in range(rounds):
                started = time.perf_counter()
                for index in range(next_patient, next_patient + per_round):
                    events += apply_patient(pathway, index)
                pathway_time += time.perf_counter() - started
                next_patient += per_round
                written = recorder.take()
                transactions += len(written)
                started = time.perf_counter()
                replay(raw, written)
                baseline_time += time.perf_counter() - started
                if transactions and transactions != events:
                    raise AssertionError(f"{events} events but {transactions} committed transactions")
            write_rows = sum(n for name, n in recorder.statements.items() if name.split()[0] in WRITE_VERBS)
            statements = dict(recorder.statements)  # before a profile run adds its own
            round_trips = recorder.round_trips
            note = None
            ours, base = events / pathway_time, events / baseline_time
            if ours / base < GOAL and not ctx.smoke:
                note = support.profile(ctx, "a", lambda: [apply_patient(pathway, next_patient + i) for i in range(30)])
        finally:
            raw.close()
            engine.dispose()
    value = ratio(ours, base)
    return Figure(
        key="a", title="events applied per second (PostgreSQL)", value=ours, unit="events/s", baseline=base,
        baseline_label="raw psycopg replaying the same writes, a commit per event", ratio=value, goal=f"ratio ≥ {GOAL}",
        met=value is not None and value >= GOAL,
        details={"patients": patients, "events": events, "rounds": rounds,
                 "row_writes_per_event": round(write_rows / events, 2),
                 "round_trips_per_event": round(round_trips / events, 2),
                 "statements_per_event": {name: round(n / events, 2) for name, n in sorted(statements.items())},
                 "ours_seconds": round(pathway_time, 2), "baseline_seconds": round(baseline_time, 2)},
        note=note or "",
    )
