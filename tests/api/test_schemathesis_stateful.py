"""Schemathesis, stateful: sequences of calls chained by the OpenAPI links (a referral's workflow id feeds its events,
its history and its escalations; a worklist page's first escalation feeds acknowledge and resolve).

Each step must answer a documented status in the documented shape, never 5xx. After the run, every workflow the
machine created still replays from its history to the state that was stored, so no refused or failed call left a
half-written change behind.
"""

from __future__ import annotations

import zlib
from collections import Counter

import schemathesis
from api_support import ApiServer
from hypothesis import HealthCheck, Phase, settings
from sqlalchemy import select
from sqlmodel import Session
from test_schemathesis import CHECKS

from models.tables import EventRecord, Workflow
from workflows.events import make_event
from workflows.pathway import replay
from workflows.state import WorkflowState

SCENARIOS = 30     # state-machine runs; each chains up to STEPS calls (about 10 s in all)
STEPS = 10


def _schema(api: ApiServer):
    schema = schemathesis.openapi.from_url(f"{api.base_url}/openapi.json")

    @schema.hook
    def map_body(context, body):
        # Generated referral bodies rarely hold a dialable number; give the valid ones a fresh synthetic patient so the
        # chain reaches the pathway (invalid bodies stay invalid: only an existing phone field is replaced).
        if context.operation and context.operation.label == "POST /v1/referrals" and isinstance(body, dict):
            patient = body.get("patient")
            if isinstance(patient, dict) and isinstance(patient.get("phone"), str):
                # Derived from the generated body, not from a counter: hypothesis replays must see the same data.
                digest = zlib.crc32(repr(sorted(body.items(), key=str)).encode())
                patient["phone"] = f"+1555555{digest % 10000:04d}"
        return body

    return schema


def test_call_sequences_follow_the_links_without_server_errors(start_api) -> None:
    api: ApiServer = start_api()  # its own database: the sequences see only what they made
    machine_base = _schema(api).as_state_machine()
    token = api.tokens["admin"]
    seen: Counter[tuple[str, int]] = Counter()

    class Machine(machine_base):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case):
            return {"headers": {"Authorization": f"Bearer {token}"}, "timeout": 30}

        def after_call(self, response, case):
            seen[(f"{case.method} {case.path}", response.status_code)] += 1

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    # No shrinking or replay: every sequence changes the database, so a replayed sequence would meet other data (and
    # Hypothesis would call that flaky). A failure is reported as the sequence that failed, unshrunk.
    Machine.run(settings=settings(max_examples=SCENARIOS, stateful_step_count=STEPS, deadline=None,
                                  suppress_health_check=list(HealthCheck), derandomize=True,
                                  phases=[Phase.generate]))

    chained = {key for key in seen if "{" in key[0] and key[1] < 400}
    assert chained, f"no linked call succeeded, so the links were never followed: {dict(seen)}"
    _every_workflow_replays_to_its_stored_state(api)


def _every_workflow_replays_to_its_stored_state(api: ApiServer) -> None:
    pathway = api.services.pathway
    with Session(api.services.engine) as db:
        for workflow in db.execute(select(Workflow)).scalars():
            records = db.execute(select(EventRecord).where(EventRecord.workflow_id == workflow.id)
                                 .order_by(EventRecord.seq)).scalars()
            history = [(make_event(r.type, r.data, actor={"role": r.actor_role, "name": r.actor_name},
                                   idempotency_key=r.idempotency_key, occurred_at=r.occurred_at), r.recorded_at)
                       for r in records]
            rebuilt = replay(workflow.id, workflow.patient_id, history, pathway.protocols.get(workflow.protocol_version),
                             pathway.clinic)
            stored = WorkflowState.model_validate(workflow.state)
            assert rebuilt.model_dump() == stored.model_dump(), f"workflow {workflow.id}: history and state disagree"
