"""The one way a workflow changes: load it, ask the core to decide, write event + state + effects in one unit of work.

Every API call, SMS, timer and scenario line comes through `WorkflowStore`. `start`/`apply` run in a unit of work of
their own and commit it; `start_in`/`apply_in` write into a unit of work the caller holds and commits.

On PostgreSQL an event costs three round trips: the read (the workflow, whether its idempotency key was seen, and the
new event's id from its sequence, with the transaction's BEGIN in front), every write sent together
(`models/event_writer.py`: event, effects, projections, then the versioned UPDATE whose rowcount is checked before
anything commits), and the COMMIT. SQLAlchemy Core statements built once; no ORM objects on this path. Two writers of
one workflow cannot both win: each appends the event numbered `version + 1`, and the unique (workflow_id, seq) refuses
the second (every change of a workflow appends an event: tests/integration/test_every_change_is_an_event.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, Engine, String, Text, bindparam, case, cast, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import attributes
from sqlmodel import Session

from models import projections
from models.event_writer import JSONText, Statement, pipelines, send_together
from models.schedule_lock import bookings_near, lock_schedule
from models.tables import EventRecord, PatientRow, PhoneNumber, WorkflowRow
from models.unit_of_work import UnitOfWork
from workflows import schedule
from workflows.clinic import Clinic
from workflows.effects import Decision, Effect
from workflows.errors import Rejected
from workflows.events import Event, dump_data, make_event
from workflows.network import Network
from workflows.pathway import decide, start
from workflows.protocol import ProtocolBook
from workflows.state import WorkflowState


class ConcurrencyConflict(Exception):
    """Another writer changed the workflow between our read and our write; nothing of ours was written."""

    def __init__(self, workflow_id: str, expected_version: int) -> None:
        self.workflow_id = workflow_id
        super().__init__(
            f"workflow {workflow_id} changed while this event was being applied (expected version {expected_version});"
            " reload and try again"
        )


@dataclass(frozen=True)
class Outcome:
    workflow_id: str
    patient_id: str
    stage: str
    event_id: int
    duplicate: bool = False  # the idempotency key was seen before: this is the first call's outcome, nothing written
    effects: list[Effect] = field(default_factory=list)


class WorkflowStore:
    """Workflows as the core sees them, kept in the database: start one, apply an event to one."""

    def __init__(self, engine: Engine, protocols: ProtocolBook, clinics: Network | Clinic) -> None:
        self.engine = engine
        self.protocols = protocols
        self.network = clinics if isinstance(clinics, Network) else Network(clinics=(clinics,))
        self.clinic = self.network.default  # a single-clinic install's clinic; in a network, the first

    def serve(self, network: Network) -> None:
        """Serve this network from now on (a clinic added or changed while the process runs)."""
        self.network, self.clinic = network, network.default

    def clinic_named(self, key: str | None) -> Clinic:
        """The clinic with this key (a row's `clinic_id`), the first clinic for one no longer configured: for showing
        and reading times in the right zone, never for deciding (that is `clinic_of`, which refuses)."""
        return self.network.find(key) or self.clinic

    def clinic_of(self, state: WorkflowState) -> Clinic:
        """The clinic a workflow belongs to; one no longer configured is refused, naming the ones that are."""
        return self.network.get(state.clinic)

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self.engine)

    def start(self, event: Event, now: datetime) -> Outcome:
        """Start a workflow from `referral.received`; a repeated idempotency key returns the first outcome."""
        return self._reconnecting(event, lambda uow: self.start_in(uow, event, now))

    def apply(self, workflow_id: str, event: Event, now: datetime, retries: int = 0) -> Outcome:
        """Apply one event; `retries` re-reads and re-decides after a concurrency conflict (timers use it)."""
        for attempt in range(retries + 1):
            try:
                return self._reconnecting(event, lambda uow: self.apply_in(uow, workflow_id, event, now))
            except ConcurrencyConflict:
                if attempt == retries:
                    raise
        raise AssertionError("unreachable")

    def _reconnecting(self, event: Event, write: Callable[[UnitOfWork], Outcome]) -> Outcome:
        """`write` in a unit of work of its own, committed; once more on a fresh connection if the first was found
        dropped (a database restart) and a second try cannot apply the event twice: COMMIT was never sent, or the
        event's idempotency key makes a repeat return the first outcome."""
        for attempt in range(2):
            uow = self.unit_of_work()
            try:
                with uow:
                    outcome = write(uow)
                    uow.commit()
                    return outcome
            except DBAPIError as exc:
                if attempt or not exc.connection_invalidated or (uow.commit_sent and not event.idempotency_key):
                    raise
        raise AssertionError("unreachable")

    def start_in(self, uow: UnitOfWork, event: Event, now: datetime) -> Outcome:
        """Write a new workflow into the caller's unit of work (not committed)."""
        db = uow.db
        conn = _connection_for_writing(uow)
        clinic = self.network.get(getattr(event.data, "clinic", None))  # not a referral: `start` refuses it
        phone = getattr(getattr(event.data, "patient", None), "phone", None)
        found = _start_read(conn, event.idempotency_key, phone)
        if found.earlier_workflow is not None:
            return self._started_with(db, event)
        workflow_id, patient_id = str(uuid.uuid4()), str(uuid.uuid4())
        protocol = self.protocols.get(clinic.protocol_version) if clinic.protocol_version else self.protocols.current
        decision = start(workflow_id, patient_id, event, now, protocol, clinic)
        patient = event.data.patient
        state = decision.state
        if state.patient.phone != phone:  # the core wrote the number differently: ask about the one it keeps
            found = found._replace(blocked=number_blocked(db, state.patient.phone))
        writes: list[Statement] = [
            (_INSERT_PATIENT, {"id": patient_id, "name": patient.name, "phone": state.patient.phone,
                               "timezone": state.patient.timezone, "date_of_birth": patient.date_of_birth,
                               "sms_consent": patient.sms_consent, "created_at": now, "clinic_id": clinic.key}),
            (_INSERT_WORKFLOW, {"id": workflow_id, "patient_id": patient_id, "clinic_id": clinic.key,
                                "stage": state.stage, "version": 1, "protocol_version": state.protocol_version,
                                "start_key": event.idempotency_key, "state": state.model_dump_json(),
                                "created_at": now, "updated_at": now}),
        ]
        try:
            # A concurrent start with the same key fails on the unique start_key.
            event_id = _write_event(conn, writes, workflow_id, 1, event, now, decision, found.event_id)
            send_together(conn, [*writes, *projections.writes(conn.dialect.name, None, decision, event_id, now)])
        except IntegrityError:
            uow.rollback()
            earlier = self._started_with(db, event) if event.idempotency_key else None
            if earlier is None:
                raise
            return earlier
        started = Outcome(workflow_id, patient_id, state.stage, event_id, effects=decision.effects)
        if blocked := found.blocked:
            # Consent belongs to the number: a patient referred onto one that said STOP starts opted out, in their own
            # history, so their reminders become calls (not texts dropped at send time) and a coordinator is told.
            told = self.apply_in(uow, workflow_id, make_event("sms.number_blocked", {"reason": blocked}), now)
            started = replace(started, stage=told.stage, effects=[*started.effects, *told.effects])
        return started

    def apply_in(self, uow: UnitOfWork, workflow_id: str, event: Event, now: datetime,
                 key_checked: bool = False) -> Outcome:
        """Write one event and its effects into the caller's unit of work (not committed), or raise and write nothing.

        `key_checked`: the caller has already looked for the event's idempotency key in this transaction (a timer batch
        reads all its keys at once) and found it new."""
        conn = _connection_for_writing(uow)
        found = _workflow_read(conn, workflow_id, None if key_checked else event.idempotency_key)
        if found is None:
            raise Rejected(f"unknown workflow {workflow_id!r}", code="not_found", rule="workflow_exists")
        if found.earlier is not None:
            return _earlier_outcome(found, uow.db.get(EventRecord, found.earlier), event)
        state = WorkflowState.model_validate_json(found.state)
        decision = decide(state, event, now, self.protocols.get(found.protocol_version), self.clinic_of(state))
        version = found.version
        if event.type in schedule.BOOKING_EVENTS:
            _refuse_clash(uow, event, decision.state, self.clinic_of(state).timezone)
        after = decision.state
        state_json = after.model_dump_json()
        writes: list[Statement] = []
        try:
            event_id = _write_event(conn, writes, workflow_id, version + 1, event, now, decision, found.event_id)
            writes += projections.writes(conn.dialect.name, state, decision, event_id, now)
            # Last, so its rowcount is known before anything commits.
            writes.append((_UPDATE_WORKFLOW, {"w": workflow_id, "v": version, "next": version + 1,
                                              "stage": after.stage, "state": state_json, "now": now}))
            changed = send_together(conn, writes)
        except IntegrityError as exc:
            _undo(uow)
            # Same seq or same idempotency key written by a concurrent writer that committed first.
            raise ConcurrencyConflict(workflow_id, version) from exc
        if changed.rowcount != 1:
            _undo(uow)
            raise ConcurrencyConflict(workflow_id, version)
        _refresh_loaded_row(uow.db, workflow_id, version + 1, after.stage, state_json, now)
        return Outcome(workflow_id, found.patient_id, after.stage, event_id, effects=decision.effects)

    def _started_with(self, db: Session, event: Event) -> Outcome | None:
        workflow = db.execute(select(WorkflowRow).where(WorkflowRow.start_key == event.idempotency_key)).scalars().first()
        if workflow is None:
            return None
        first = db.execute(select(EventRecord).where(EventRecord.workflow_id == workflow.id, EventRecord.seq == 1))
        return _earlier_outcome(workflow, first.scalars().one(), event)


def _refuse_clash(uow: UnitOfWork, event: Event, after: WorkflowState, zone: str) -> None:
    """Refuse a booking that clashes with another on the schedule (`workflows.schedule`), writing nothing.

    The other bookings are other workflows', so only the store sees them. The schedule's lock is taken first and held
    to the commit: two coordinators booking the same chair at once are checked one after the other, and the second sees
    the first's booking. (SQLite has one writer at a time: a second that read before the first committed fails to
    write, rather than both winning.)"""
    proposed = schedule.booked_by(event, after)
    if proposed is None:
        return
    lock_schedule(uow.db)
    others = bookings_near(uow.db, proposed.start - schedule.LONGEST, proposed.end)
    if clash := schedule.first_clash(proposed, others, zone):
        _undo(uow)
        raise Rejected(clash.message, code="rule", stage=after.stage, rule=clash.rule)


def _undo(uow: UnitOfWork) -> None:
    """Take back what a conflicting event wrote. Inside a savepoint (a batch of timers, `models/timer_batch.py`) the
    savepoint's own rollback does it, and the rest of the batch stays; otherwise the whole transaction goes."""
    if not uow.db.in_nested_transaction():
        uow.rollback()


def _connection_for_writing(uow: UnitOfWork) -> Connection:
    """The unit of work's connection, for Core statements: whatever the caller added to the session is flushed first
    (it precedes the event), and the unit of work is marked as having written (so leaving it uncommitted rolls back)."""
    db = uow.db
    db.flush()
    db.info["wrote"] = True
    return db.connection()


class _WorkflowRead(NamedTuple):
    patient_id: str
    stage: str
    version: int
    protocol_version: str
    state: str  # the JSON text: parsed by the core's model at once, no dict in between
    earlier: int | None  # the event that already carries the idempotency key
    event_id: int | None  # the new event's id, from its sequence (PostgreSQL); None: the insert assigns it


class _StartRead(NamedTuple):
    earlier_workflow: str | None
    blocked: str | None
    event_id: int | None


def _earlier_event(workflow_id, key):
    return (select(EventRecord.id).where(EventRecord.workflow_id == workflow_id,
                                         EventRecord.idempotency_key == key).scalar_subquery())


_NEXT_EVENT_ID = func.nextval("events_id_seq")
_WORKFLOW_COLUMNS = (WorkflowRow.patient_id, WorkflowRow.stage, WorkflowRow.version, WorkflowRow.protocol_version,
                     cast(WorkflowRow.state, Text))
_READ_WORKFLOW = {
    (pg, keyed): select(*_WORKFLOW_COLUMNS,
                        _earlier_event(WorkflowRow.id, bindparam("key")) if keyed else bindparam("none", None, String),
                        _NEXT_EVENT_ID if pg else bindparam("none2", None, String))
    .where(WorkflowRow.id == bindparam("w"))
    for pg in (True, False) for keyed in (True, False)
}


def _workflow_read(conn: Connection, workflow_id: str, key: str | None) -> _WorkflowRead | None:
    """The workflow, the id of its event already carrying `key` if there is one, and (PostgreSQL) the id the new event
    will have: one round trip, which also carries the transaction's BEGIN when it is the first statement."""
    statement = _READ_WORKFLOW[(pipelines(conn), key is not None)]
    params = {"w": workflow_id, "key": key} if key is not None else {"w": workflow_id}
    row = send_together(conn, [(statement, params)]).first()
    return _WorkflowRead(*row) if row is not None else None


def _start_statement(pg: bool):
    blocked = (select(case((PhoneNumber.opted_out, "opted_out"), (PhoneNumber.undeliverable, "undeliverable")))
               .where(PhoneNumber.phone == bindparam("phone")).scalar_subquery())
    earlier = select(WorkflowRow.id).where(WorkflowRow.start_key == bindparam("key")).scalar_subquery()
    return select(earlier, blocked, _NEXT_EVENT_ID if pg else bindparam("none", None, String))


_READ_START = {pg: _start_statement(pg) for pg in (True, False)}


def _start_read(conn: Connection, key: str | None, phone: str | None) -> _StartRead:
    """Whether the start key was seen, whether the number may be texted, and (PostgreSQL) the first event's id: one
    round trip, with the transaction's BEGIN."""
    earlier, blocked, event_id = send_together(conn, [(_READ_START[pipelines(conn)], {"key": key, "phone": phone})]).one()
    return _StartRead(earlier, blocked, event_id)


_INSERT_PATIENT = insert(PatientRow)
_INSERT_WORKFLOW = insert(WorkflowRow).values(state=bindparam("state", type_=JSONText))
_INSERT_EVENT = insert(EventRecord)
_UPDATE_WORKFLOW = (update(WorkflowRow)
                    .where(WorkflowRow.id == bindparam("w"), WorkflowRow.version == bindparam("v"))
                    .values(version=bindparam("next"), stage=bindparam("stage"),
                            # The JSON text as the core wrote it: no dict, no second serialisation.
                            state=bindparam("state", type_=JSONText), updated_at=bindparam("now")))


def _write_event(conn: Connection, writes: list[Statement], workflow_id: str, seq: int, event: Event, now: datetime,
                 decision: Decision, event_id: int | None) -> int:
    """The event row: added to `writes` with the id taken from the sequence (PostgreSQL), or inserted now for the id
    the insert assigns (SQLite, in process: no round trip to save)."""
    row = {"workflow_id": workflow_id, "seq": seq, "type": event.type, "data": dump_data(event),
           "actor_role": event.actor.role, "actor_name": event.actor.name, "actor_user_id": event.actor.user_id,
           "idempotency_key": event.idempotency_key, "occurred_at": event.occurred_at or now, "recorded_at": now,
           "stage_after": decision.state.stage}
    if event_id is None:
        if writes:  # the rows the event refers to (a new workflow's) go first
            send_together(conn, writes)
            writes.clear()
        return conn.execute(_INSERT_EVENT, row).inserted_primary_key[0]
    writes.append((_INSERT_EVENT, {"id": event_id, **row}))
    return event_id


def _refresh_loaded_row(db: Session, workflow_id: str, version: int, stage: str, state_json: str,
                        now: datetime) -> None:
    """A workflow row the session already holds (a timer batch loads its workflows at once) reads as just written."""
    loaded = db.identity_map.get(db.identity_key(WorkflowRow, workflow_id))
    if loaded is None:
        return
    for name, value in (("version", version), ("stage", stage), ("state", json.loads(state_json)),
                        ("updated_at", now)):
        attributes.set_committed_value(loaded, name, value)


def _earlier_outcome(workflow, earlier: EventRecord, event: Event) -> Outcome:
    """The first outcome for a repeated key; a key reused for a different event is a client bug, not a repeat."""
    if earlier.type != event.type or earlier.data != dump_data(event):
        raise Rejected(
            f"idempotency key {event.idempotency_key!r} was already used for a different {earlier.type} event;"
            " use a new key for a new event",
            code="not_allowed", stage=workflow.stage, rule="idempotency_key_reuse",
        )
    workflow_id = workflow.id if isinstance(workflow, WorkflowRow) else earlier.workflow_id
    return Outcome(workflow_id, workflow.patient_id, earlier.stage_after, earlier.id, duplicate=True)


def number_blocked(db: Session, phone: str) -> str | None:
    """Why nothing may be texted to this number now (`opted_out`, `undeliverable`), or None (`models/numbers.py`)."""
    found = db.execute(select(PhoneNumber.opted_out, PhoneNumber.undeliverable).where(PhoneNumber.phone == phone)).first()
    if found is None:
        return None
    return "opted_out" if found.opted_out else "undeliverable" if found.undeliverable else None
