"""The unit of work: load a workflow, ask the core, write event + state + effects in one transaction, or nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from config.protocol import ProtocolBook
from models import projections
from models.tables import EventRecord, Patient, Workflow
from workflows.clinic import Clinic
from workflows.effects import Decision, Effect
from workflows.errors import Rejected
from workflows.events import Event, dump_data
from workflows.pathway import decide, start
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


class Pathway:
    """The one way a workflow changes: every API call, SMS, timer and scenario line comes through here."""

    def __init__(self, engine: Engine, protocols: ProtocolBook, clinic: Clinic) -> None:
        self.engine = engine
        self.protocols = protocols
        self.clinic = clinic

    def start(self, event: Event, now: datetime) -> Outcome:
        """Start a workflow from `referral.received`; a repeated idempotency key returns the first outcome."""
        # expire_on_commit=False: the outcome reads ids after the commit, and expired rows would be re-SELECTed for it.
        with Session(self.engine, expire_on_commit=False) as db:
            if event.idempotency_key and (earlier := self._started_with(db, event)):
                return earlier
            workflow_id, patient_id = str(uuid.uuid4()), str(uuid.uuid4())
            decision = start(workflow_id, patient_id, event, now, self.protocols.current, self.clinic)
            patient = event.data.patient
            try:
                # A concurrent start with the same key fails on the unique start_key at the first flush, not at commit.
                db.add(Patient(id=patient_id, name=patient.name, phone=decision.state.patient.phone,
                               timezone=decision.state.patient.timezone, date_of_birth=patient.date_of_birth,
                               sms_consent=patient.sms_consent, created_at=now))
                db.add(Workflow(id=workflow_id, patient_id=patient_id, stage=decision.state.stage, version=1,
                                protocol_version=decision.state.protocol_version, start_key=event.idempotency_key,
                                state=decision.state.model_dump(mode="json"), created_at=now, updated_at=now))
                db.flush()
                record = self._append_event(db, workflow_id, 1, event, now, decision)
                projections.write(db, None, decision, record, now)
                db.commit()
            except IntegrityError:
                db.rollback()
                earlier = self._started_with(db, event) if event.idempotency_key else None
                if earlier is None:
                    raise
                return earlier
            return Outcome(workflow_id, patient_id, decision.state.stage, record.id, effects=decision.effects)

    def apply(self, workflow_id: str, event: Event, now: datetime, retries: int = 0) -> Outcome:
        """Apply one event; `retries` re-reads and re-decides after a concurrency conflict (timers use it)."""
        for attempt in range(retries + 1):
            try:
                return self._apply_once(workflow_id, event, now)
            except ConcurrencyConflict:
                if attempt == retries:
                    raise
        raise AssertionError("unreachable")

    def _apply_once(self, workflow_id: str, event: Event, now: datetime) -> Outcome:
        # expire_on_commit=False: reading workflow.patient_id and record.id for the outcome after the commit would
        # otherwise re-SELECT both rows (the workflow with its whole state document), two round trips per event.
        with Session(self.engine, expire_on_commit=False) as db:
            workflow = db.get(Workflow, workflow_id)
            if workflow is None:
                raise Rejected(f"unknown workflow {workflow_id!r}", code="not_found", rule="workflow_exists")
            if event.idempotency_key and (earlier := self._applied_with(db, workflow, event)):
                return earlier
            state = WorkflowState.model_validate(workflow.state)
            decision = decide(state, event, now, self.protocols.get(workflow.protocol_version), self.clinic)
            version = workflow.version
            changed = db.execute(
                update(Workflow)
                .where(Workflow.id == workflow_id, Workflow.version == version)
                .values(version=version + 1, stage=decision.state.stage, state=decision.state.model_dump(mode="json"),
                        updated_at=now)
            )
            if changed.rowcount != 1:
                db.rollback()
                raise ConcurrencyConflict(workflow_id, version)
            record = self._append_event(db, workflow_id, version + 1, event, now, decision)
            projections.write(db, state, decision, record, now)
            try:
                db.commit()
            except IntegrityError as exc:
                db.rollback()
                # Same seq or same idempotency key written by a concurrent writer that committed first.
                raise ConcurrencyConflict(workflow_id, version) from exc
            return Outcome(workflow_id, workflow.patient_id, decision.state.stage, record.id, effects=decision.effects)

    def _append_event(self, db: Session, workflow_id: str, seq: int, event: Event, now: datetime,
                      decision: Decision) -> EventRecord:
        record = EventRecord(
            workflow_id=workflow_id, seq=seq, type=event.type, data=dump_data(event), actor_role=event.actor.role,
            actor_name=event.actor.name, idempotency_key=event.idempotency_key,
            occurred_at=event.occurred_at or now, recorded_at=now, stage_after=decision.state.stage,
        )
        db.add(record)
        db.flush()
        return record

    def _started_with(self, db: Session, event: Event) -> Outcome | None:
        workflow = db.execute(select(Workflow).where(Workflow.start_key == event.idempotency_key)).scalars().first()
        if workflow is None:
            return None
        first = db.execute(select(EventRecord).where(EventRecord.workflow_id == workflow.id, EventRecord.seq == 1))
        return self._earlier_outcome(workflow, first.scalars().one(), event)

    def _applied_with(self, db: Session, workflow: Workflow, event: Event) -> Outcome | None:
        found = db.execute(
            select(EventRecord)
            .where(EventRecord.workflow_id == workflow.id, EventRecord.idempotency_key == event.idempotency_key)
        ).scalars().first()
        return self._earlier_outcome(workflow, found, event) if found is not None else None

    @staticmethod
    def _earlier_outcome(workflow: Workflow, earlier: EventRecord, event: Event) -> Outcome:
        """The first outcome for a repeated key; a key reused for a different event is a client bug, not a repeat."""
        if earlier.type != event.type or earlier.data != dump_data(event):
            raise Rejected(
                f"idempotency key {event.idempotency_key!r} was already used for a different {earlier.type} event;"
                " use a new key for a new event",
                code="not_allowed", stage=workflow.stage, rule="idempotency_key_reuse",
            )
        return Outcome(workflow.id, workflow.patient_id, earlier.stage_after, earlier.id, duplicate=True)
