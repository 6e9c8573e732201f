"""The one way a workflow changes: load it, ask the core to decide, write event + state + effects in one unit of work.

Every API call, SMS, timer and scenario line comes through `WorkflowStore`. `start`/`apply` run in a unit of work of
their own and commit it; `start_in`/`apply_in` write into a unit of work the caller holds and commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session

from models import projections
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
        if event.idempotency_key and (earlier := self._started_with(db, event)):
            return earlier
        workflow_id, patient_id = str(uuid.uuid4()), str(uuid.uuid4())
        clinic = self.network.get(getattr(event.data, "clinic", None))  # not a referral: `start` refuses it
        protocol = self.protocols.get(clinic.protocol_version) if clinic.protocol_version else self.protocols.current
        decision = start(workflow_id, patient_id, event, now, protocol, clinic)
        patient = event.data.patient
        try:
            # A concurrent start with the same key fails on the unique start_key at the first flush.
            db.add(PatientRow(id=patient_id, name=patient.name, phone=decision.state.patient.phone,
                              timezone=decision.state.patient.timezone, date_of_birth=patient.date_of_birth,
                              sms_consent=patient.sms_consent, created_at=now, clinic_id=clinic.key))
            db.add(WorkflowRow(id=workflow_id, patient_id=patient_id, clinic_id=clinic.key, stage=decision.state.stage,
                               version=1,
                               protocol_version=decision.state.protocol_version, start_key=event.idempotency_key,
                               state=decision.state.model_dump(mode="json"), created_at=now, updated_at=now))
            db.flush()
            record = _append_event(db, workflow_id, 1, event, now, decision)
            projections.write(db, None, decision, record, now)
            db.flush()
        except IntegrityError:
            uow.rollback()
            earlier = self._started_with(db, event) if event.idempotency_key else None
            if earlier is None:
                raise
            return earlier
        started = Outcome(workflow_id, patient_id, decision.state.stage, record.id, effects=decision.effects)
        if blocked := number_blocked(db, decision.state.patient.phone):
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
        db = uow.db
        workflow, earlier_id = _workflow_and_earlier(db, workflow_id, None if key_checked else event.idempotency_key)
        if workflow is None:
            raise Rejected(f"unknown workflow {workflow_id!r}", code="not_found", rule="workflow_exists")
        if earlier_id is not None:
            return _earlier_outcome(workflow, db.get(EventRecord, earlier_id), event)
        state = WorkflowState.model_validate(workflow.state)
        decision = decide(state, event, now, self.protocols.get(workflow.protocol_version), self.clinic_of(state))
        version = workflow.version
        changed = db.execute(
            update(WorkflowRow)
            .where(WorkflowRow.id == workflow_id, WorkflowRow.version == version)
            .values(version=version + 1, stage=decision.state.stage, state=decision.state.model_dump(mode="json"),
                    updated_at=now)
        )
        if changed.rowcount != 1:
            _undo(uow)
            raise ConcurrencyConflict(workflow_id, version)
        if event.type in schedule.BOOKING_EVENTS:
            _refuse_clash(uow, event, decision.state, self.clinic_of(state).timezone)
        try:
            record = _append_event(db, workflow_id, version + 1, event, now, decision)
            projections.write(db, state, decision, record, now)
            db.flush()
        except IntegrityError as exc:
            _undo(uow)
            # Same seq or same idempotency key written by a concurrent writer that committed first.
            raise ConcurrencyConflict(workflow_id, version) from exc
        return Outcome(workflow_id, workflow.patient_id, decision.state.stage, record.id, effects=decision.effects)

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


def _append_event(db: Session, workflow_id: str, seq: int, event: Event, now: datetime,
                  decision: Decision) -> EventRecord:
    record = EventRecord(
        workflow_id=workflow_id, seq=seq, type=event.type, data=dump_data(event), actor_role=event.actor.role,
        actor_name=event.actor.name, actor_user_id=event.actor.user_id, idempotency_key=event.idempotency_key,
        occurred_at=event.occurred_at or now, recorded_at=now, stage_after=decision.state.stage,
    )
    db.add(record)
    db.flush()
    return record


def _workflow_and_earlier(db: Session, workflow_id: str, key: str | None) -> tuple[WorkflowRow | None, int | None]:
    """The workflow, and the id of its event already carrying `key` if there is one: one round trip for both (the
    workflow from the session's identity map, and no round trip at all, when there is no key to look for)."""
    if key is None:
        return db.get(WorkflowRow, workflow_id), None
    earlier = (select(EventRecord.id).where(EventRecord.workflow_id == workflow_id, EventRecord.idempotency_key == key)
               .scalar_subquery())
    found = db.execute(select(WorkflowRow, earlier.label("earlier")).where(WorkflowRow.id == workflow_id)).first()
    return (found[0], found[1]) if found is not None else (None, None)


def _earlier_outcome(workflow: WorkflowRow, earlier: EventRecord, event: Event) -> Outcome:
    """The first outcome for a repeated key; a key reused for a different event is a client bug, not a repeat."""
    if earlier.type != event.type or earlier.data != dump_data(event):
        raise Rejected(
            f"idempotency key {event.idempotency_key!r} was already used for a different {earlier.type} event;"
            " use a new key for a new event",
            code="not_allowed", stage=workflow.stage, rule="idempotency_key_reuse",
        )
    return Outcome(workflow.id, workflow.patient_id, earlier.stage_after, earlier.id, duplicate=True)


def number_blocked(db: Session, phone: str) -> str | None:
    """Why nothing may be texted to this number now (`opted_out`, `undeliverable`), or None (`models/numbers.py`)."""
    found = db.execute(select(PhoneNumber.opted_out, PhoneNumber.undeliverable).where(PhoneNumber.phone == phone)).first()
    if found is None:
        return None
    return "opted_out" if found.opted_out else "undeliverable" if found.undeliverable else None
