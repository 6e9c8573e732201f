"""Every change to a workflow appends its event: the optimistic version check, replay and the audit all rest on it.

Two checks. By reading the code: only `models/store.py` writes the `workflows` table, and only where it also appends
the event. By watching the database: through a first session's visit, a batch of timers, a patient's texts and a
repeated request, every committed transaction that updated workflow rows inserted exactly one event per row updated,
and every new workflow came with its first event.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from pathlib import Path

from pathway_support import CLINIC, DAY, PHQ9_MILD, T0, ev, hours, referral, workflow_row
from sqlalchemy import Engine, event

from models.inbox import receive_sms
from models.store import WorkflowStore
from models.timer_batch import fire_due_timers

ROOT = Path(__file__).resolve().parents[2]
WRITES_WORKFLOWS = re.compile(r"update\(\s*WorkflowRow|(?<!class )WorkflowRow\(|insert\(\s*WorkflowRow|delete\(\s*WorkflowRow")


def test_only_the_store_writes_workflow_rows() -> None:
    """A workflow row written anywhere else could change a workflow without an event."""
    writers = sorted(str(path.relative_to(ROOT)) for folder in ("api", "models", "workers", "cli", "config")
                     for path in (ROOT / folder).rglob("*.py")
                     if "migrations" not in path.parts and WRITES_WORKFLOWS.search(path.read_text(encoding="utf-8")))
    assert writers == ["models/store.py"], writers


class TransactionLedger:
    """Per committed transaction: rows of `workflows` updated and inserted, rows of `events` inserted."""

    def __init__(self, engine: Engine) -> None:
        self.committed: list[Counter] = []
        # (kind, rows, or the cursor to ask at the commit): a statement queued in a pipeline (models/event_writer.py)
        # has its rowcount only once the pipeline is synced.
        self._current: list[tuple[str, int | None, object]] = []
        event.listen(engine, "after_cursor_execute", self._executed)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "rollback", self._rollback)

    def _executed(self, _conn, cursor, statement: str, parameters, _context, executemany: bool) -> None:
        head = " ".join(statement.split()[:3]).upper()
        for kind, prefix in (("workflow_updates", "UPDATE WORKFLOWS SET"), ("workflow_inserts", "INSERT INTO WORKFLOWS"),
                             ("event_inserts", "INSERT INTO EVENTS")):
            if head.startswith(prefix):
                rows = len(parameters) if executemany else cursor.rowcount
                self._current.append((kind, rows if rows >= 0 else None, cursor))

    def _commit(self, _conn) -> None:
        if self._current:
            counted: Counter = Counter()
            for kind, rows, cursor in self._current:
                counted[kind] += rows if rows is not None else max(cursor.rowcount, 0)
            self.committed.append(counted)
        self._current = []

    def _rollback(self, _conn) -> None:
        self._current = []


def test_every_committed_change_to_a_workflow_appended_its_event(engine: Engine, pathway: WorkflowStore) -> None:
    ledger = TransactionLedger(engine)
    workflow_id = pathway.start(referral(key="ref-events", phone="+15555550171"), T0).workflow_id
    pathway.apply(workflow_id, ev("evaluation.scheduled", {"start": T0 + DAY}, key="eval"), T0 + hours(1))
    pathway.apply(workflow_id, ev("evaluation.scheduled", {"start": T0 + DAY}, key="eval"), T0 + hours(1))  # a repeat
    pathway.apply(workflow_id, ev("assessment.submitted", {"instrument": "phq9", "answers": PHQ9_MILD}), T0 + hours(2))
    fire_due_timers(pathway, T0 + DAY - timedelta(minutes=1))  # the evaluation's reminders, as one batch
    receive_sms(pathway, "+15555550171", "HELP", T0 + DAY - timedelta(minutes=30), to_phone=CLINIC.phone)
    receive_sms(pathway, "+15555550171", "STOP", T0 + DAY - timedelta(minutes=20), to_phone=CLINIC.phone)

    changed = [t for t in ledger.committed if t["workflow_updates"] or t["workflow_inserts"]]
    assert len(changed) >= 6, ledger.committed  # the walk above did change the workflow, through every path
    for transaction in changed:
        assert transaction["event_inserts"] == transaction["workflow_updates"] + transaction["workflow_inserts"], \
            transaction
    # And the rows agree: one event per version, the repeat applied once.
    events = sum(t["event_inserts"] for t in ledger.committed)
    assert workflow_row(engine, workflow_id).version == events
