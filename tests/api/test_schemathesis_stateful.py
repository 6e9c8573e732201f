"""Schemathesis, stateful: sequences of calls chained by the OpenAPI links (a referral's workflow id feeds its events,
its history and its escalations; a worklist page's first escalation feeds acknowledge and resolve; schemathesis infers
more from the response schemas).

Run through the schemathesis CLI's own stateful phase (it copes with a server whose data changes under it, which an
in-process Hypothesis state machine calls flaky). Every step must answer a documented status in the documented shape,
never 5xx. Afterwards every workflow the run created still replays from its history to the state that was stored, so
no refused or failed call left a half-written change behind.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from api_support import ApiServer
from sqlalchemy import select
from sqlmodel import Session

from models.tables import EventRecord, WorkflowRow
from workflows.events import make_event
from workflows.pathway import replay
from workflows.state import WorkflowState

SCENARIOS = 30  # per link chain; the run takes a few seconds
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
HERE = Path(__file__).parent
SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")


def test_call_sequences_follow_the_links_without_server_errors(start_api, tmp_path: Path) -> None:
    api: ApiServer = start_api()  # its own database: the run sees only what it and these seeds made
    for stage in ("referred", "evaluation_scheduled", "treatment_planned"):
        api.workflow_in(stage)
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "stateful_hooks", "PYTHONPATH": str(HERE)}
    run = subprocess.run([SCHEMATHESIS, "run", f"{api.base_url}/openapi.json", "--phases", "stateful", "-c", CHECKS,
                          "-H", f"Authorization: Bearer {api.tokens['admin']}", "-n", str(SCENARIOS), "--seed", "1",
                          "--no-color", "--report-dir", str(tmp_path)],
                         env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    covered = re.search(r"API Links:\s+(\d+) covered", output)
    assert covered and int(covered.group(1)) >= 3, f"the links were hardly followed:\n{output[-3000:]}"
    _every_workflow_replays_to_its_stored_state(api)


def _every_workflow_replays_to_its_stored_state(api: ApiServer) -> None:
    pathway = api.services.store
    with Session(api.services.engine) as db:
        for workflow in db.execute(select(WorkflowRow)).scalars():
            records = db.execute(select(EventRecord).where(EventRecord.workflow_id == workflow.id)
                                 .order_by(EventRecord.seq)).scalars()
            history = [(make_event(r.type, r.data, actor={"role": r.actor_role, "name": r.actor_name},
                                   idempotency_key=r.idempotency_key, occurred_at=r.occurred_at), r.recorded_at)
                       for r in records]
            rebuilt = replay(workflow.id, workflow.patient_id, history, pathway.protocols.get(workflow.protocol_version),
                             pathway.clinic)
            stored = WorkflowState.model_validate(workflow.state)
            assert rebuilt.model_dump() == stored.model_dump(), f"workflow {workflow.id}: history and state disagree"
