"""`carepath simulate`: replay a scenario on a virtual clock through the same engine and database as production."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from cli.scenario import Scenario, TimelineLine
from cli.scenario_setup import network_of, protocol_book
from models.inbox import receive_sms
from models.outbox import deliver_due, next_message_due
from models.store import WorkflowStore
from models.timer_batch import fire_due_timers
from models.timers import next_due_at
from models.unattached import next_repage_at, repage_overdue
from models.unit_of_work import run_committed
from workers.gateways import ConsoleGateway
from workflows.errors import Rejected
from workflows.events import localize_times, make_event
from workflows.stages import EVENT_RULES, Role


@dataclass
class Run:
    """What a simulation did, beyond what the database holds."""

    scenario: Scenario
    workflows: dict[str, str] = field(default_factory=dict)  # patient key → workflow id
    gateway: ConsoleGateway = field(default_factory=ConsoleGateway)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    line_of_event: dict[int, int] = field(default_factory=dict)  # event id → the timeline line that posted it
    applied: int = 0
    timers_fired: int = 0


def simulate(scenario: Scenario, engine: Engine, on_progress: Callable[[datetime], None] | None = None,
             protocol_file: Path | None = None, pauses: Iterable[datetime] = (),
             on_pause: Callable[[Run, datetime], None] | None = None) -> Run:
    """Apply every timeline line in time order, firing each timer and sending each message at its own time.

    At each of `pauses`, once every line and timer due up to it has run, `on_pause(run, moment)` sees the state as it
    stands then (an expectation's `at:`). Pausing changes nothing: the same things happen in the same order."""
    store = WorkflowStore(engine, protocol_book(scenario, protocol_file), network_of(scenario))
    run = Run(scenario, gateway=ConsoleGateway(quiet=True))
    waiting = sorted(set(pauses))
    for line in scenario.timeline:
        waiting = _pause_before(store, run, line.at, waiting, on_pause)
        _advance(store, run, line.at, inclusive=False)
        _apply_line(store, run, line)
        if on_progress:
            on_progress(line.at)
    _pause_before(store, run, None, waiting, on_pause)
    _advance(store, run, scenario.until, inclusive=True)
    if on_progress:
        on_progress(scenario.until)
    return run


def _pause_before(store: WorkflowStore, run: Run, moment: datetime | None, waiting: list[datetime],
                  on_pause: Callable[[Run, datetime], None] | None) -> list[datetime]:
    """Run the pauses before `moment` (every one left when None); returns those still to come."""
    while waiting and (moment is None or waiting[0] < moment):
        pause = waiting.pop(0)
        _advance(store, run, pause, inclusive=True)
        if on_pause:
            on_pause(run, pause)
    return waiting


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
            outcome = receive_sms(store, event.data.from_, event.data.body, line.at,
                                  to_phone=run.scenario.number_of(line.patient))
        else:
            workflow_id = run.workflows.get(line.patient)
            if workflow_id is None:
                raise Rejected(f"patient {line.patient} has no workflow yet: start it with referral.received",
                               code="not_found", rule="workflow_exists", allowed=["referral.received"])
            outcome = store.apply(workflow_id, event, line.at)
        if outcome is not None and outcome.event_id is not None:
            run.line_of_event[outcome.event_id] = line.line  # what a message it causes was a reaction to
        run.applied += 1
        # Replies (a crisis line, a confirmation) leave at once, before the next line.
        deliver_due(store, run.gateway, line.at)
    except Rejected as exc:
        run.rejected.append({"at": line.at, "patient": line.patient, "type": event_type, "line": line.line,
                             "rule": exc.rule, "error": exc.describe()})


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
