"""`carepath simulate`: replay a scenario on a virtual clock through the same engine and database as production."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from cli.scenario import NetworkClinicSpec, Scenario, TimelineLine
from config.clinic import build_clinic
from config.protocol import ProtocolBook, load_protocol, shipped_book
from models.inbox import receive_sms
from models.outbox import deliver_due, next_message_due
from models.store import WorkflowStore
from models.timers import fire_due_timers, next_due_at
from models.unattached import next_repage_at, repage_overdue
from models.unit_of_work import run_committed
from workers.gateways import ConsoleGateway
from workflows.clinic import Clinic, StaffNumbers
from workflows.errors import Rejected
from workflows.events import localize_times, make_event
from workflows.network import Network
from workflows.rota import Rota
from workflows.stages import EVENT_RULES, Role


@dataclass
class Run:
    """What a simulation did, beyond what the database holds."""

    scenario: Scenario
    workflows: dict[str, str] = field(default_factory=dict)  # patient key → workflow id
    gateway: ConsoleGateway = field(default_factory=ConsoleGateway)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    applied: int = 0
    timers_fired: int = 0


def protocol_book(scenario: Scenario) -> ProtocolBook:
    """The shipped protocol with the scenario's overrides; overridden numbers get their own version name."""
    if not scenario.protocol:
        return shipped_book()
    base = load_protocol()
    digest = hashlib.sha256(json.dumps(scenario.protocol, sort_keys=True, default=str).encode()).hexdigest()[:8]
    overrides = {**scenario.protocol, "version": f"{base.version}+scenario-{digest}"}
    return ProtocolBook(load_protocol(overrides=overrides), [base])


def clinic_of(scenario: Scenario) -> Clinic:
    staff = StaffNumbers(**scenario.staff.model_dump(exclude={"rota"}))
    return build_clinic(name=scenario.clinic.name, phone=scenario.clinic.phone, timezone=scenario.clinic.timezone,
                        staff=staff, rota=Rota(lines=tuple(scenario.staff.rota)),
                        closures=tuple(scenario.clinic.closures), holidays_country=scenario.clinic.holidays_country,
                        holidays_subdivision=scenario.clinic.holidays_subdivision)


def network_of(scenario: Scenario) -> Network:
    """The scenario's clinics: its one `clinic:`, or each of `clinics:` with its numbers, zone, closures and rota."""
    if scenario.clinics is None:
        return Network(clinics=(clinic_of(scenario),))
    return Network(clinics=tuple(_network_clinic(spec) for spec in scenario.clinics))


def _network_clinic(spec: NetworkClinicSpec) -> Clinic:
    first, *others = spec.numbers
    extra = spec.model_dump(include={"closures", "holidays_country"}, exclude_defaults=True, exclude_none=True)
    return build_clinic(key=spec.key, name=spec.name, phone=first, numbers=tuple(others), sends_from=first,
                        timezone=spec.timezone, rota=Rota(lines=tuple(spec.rota)), **extra)


def simulate(scenario: Scenario, engine: Engine, on_progress: Callable[[datetime], None] | None = None) -> Run:
    """Apply every timeline line in time order, firing each timer and sending each message at its own time."""
    store = WorkflowStore(engine, protocol_book(scenario), network_of(scenario))
    run = Run(scenario, gateway=ConsoleGateway(quiet=True))
    for line in scenario.timeline:
        _advance(store, run, line.at, inclusive=False)
        _apply_line(store, run, line)
        if on_progress:
            on_progress(line.at)
    _advance(store, run, scenario.until, inclusive=True)
    if on_progress:
        on_progress(scenario.until)
    return run


def _advance(store: WorkflowStore, run: Run, until: datetime, inclusive: bool) -> None:
    """Fire timers and send messages due before `until` (and at it, when inclusive), each at its own virtual time."""
    while True:
        with store.unit_of_work() as uow:
            due = min((t for t in (next_due_at(uow), next_message_due(uow), next_repage_at(uow)) if t), default=None)
        if due is None or due > until or (due == until and not inclusive):
            return
        run.timers_fired += fire_due_timers(store, due)
        run_committed(store.engine, repage_overdue, store, due)
        deliver_due(store, run.gateway, due)


def _apply_line(store: WorkflowStore, run: Run, line: TimelineLine) -> None:
    event_type = line.event or "sms.received"
    try:
        event = _event_of(run, line)
        if event_type == "referral.received":
            if line.patient in run.workflows:
                raise Rejected(f"patient {line.patient} already has a workflow in this scenario", rule="workflow_start")
            outcome = store.start(event, line.at)
            run.workflows[line.patient] = outcome.workflow_id
        elif line.sms is not None:
            # Through the inbox, as a webhook's text: stored, then applied at once at the line's virtual time.
            receive_sms(store, event.data.from_, event.data.body, line.at, to_phone=run.scenario.number_of(line.patient))
        else:
            workflow_id = run.workflows.get(line.patient)
            if workflow_id is None:
                raise Rejected(f"patient {line.patient} has no workflow yet: start it with referral.received",
                               code="not_found", rule="workflow_exists", allowed=["referral.received"])
            store.apply(workflow_id, event, line.at)
        run.applied += 1
        # Replies (a crisis line, a confirmation) leave at once, before the next line.
        deliver_due(store, run.gateway, line.at)
    except Rejected as exc:
        run.rejected.append({"at": line.at, "patient": line.patient, "type": event_type, "line": line.line,
                             "error": exc.describe()})


def _event_of(run: Run, line: TimelineLine):
    zone = run.scenario.zone_of(line.patient)
    if line.sms is not None:
        phone = _patient_spec(run, line.patient).get("phone")
        return make_event("sms.received", {"from": phone, "body": line.sms}, actor={"role": "patient"})
    data = localize_times(line.data, zone)
    if line.event == "referral.received":
        data = {**data, "patient": {**_patient_spec(run, line.patient), **data.get("patient", {})}}
        if (clinic := run.scenario.clinic_key_of(line.patient)) is not None:
            data.setdefault("clinic", clinic)
    actor = line.actor or {"role": _staff_role_for(line.event), "name": "scenario"}
    occurred_at = data.pop("occurred_at", None)
    return make_event(line.event, data, actor=actor, idempotency_key=line.idempotency_key, occurred_at=occurred_at)


def _patient_spec(run: Run, key: str) -> dict[str, Any]:
    spec = next(p for p in run.scenario.patients if p.key == key)
    fields = spec.model_dump(exclude={"key", "clinic"}, exclude_none=True, mode="json")
    fields.setdefault("name", f"Test Patient {key}")
    return fields


def _staff_role_for(event_type: str | None) -> str:
    """EVENTS.md: without an actor, the simulator acts as a member of staff whose role may post the event."""
    rule = EVENT_RULES.get(event_type or "")
    if rule is None:
        return Role.COORDINATOR
    for role in (Role.COORDINATOR, Role.CLINICIAN, Role.OPS):
        if role in rule.roles:
            return role
    return Role.ADMIN
