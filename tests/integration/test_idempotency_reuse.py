"""An idempotency key repeated with the same event is a retry (first outcome); with a different event it is refused."""

from datetime import UTC, datetime, timedelta

import pytest

from config.clinic import build_clinic
from config.protocol import shipped_book
from models.db import make_engine, migrate
from models.queries import events
from models.store import WorkflowStore
from workflows.errors import Rejected
from workflows.events import make_event

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
STAFF = {"role": "coordinator", "name": "c"}
REFERRAL = {"patient": {"name": "P", "phone": "+15555550101", "sms_consent": True}, "referrer": "r",
            "prior_treatments": 3}


@pytest.fixture
def pathway(database_url):
    migrate(database_url)
    return WorkflowStore(make_engine(database_url), shipped_book(), build_clinic())


def test_a_key_reused_for_a_different_event_is_refused_and_writes_nothing(pathway):
    workflow = pathway.start(make_event("referral.received", REFERRAL, actor=STAFF, idempotency_key="ref-1"), NOW)
    book = {"start": NOW + timedelta(days=1)}
    first = pathway.apply(workflow.workflow_id, make_event("evaluation.scheduled", book, actor=STAFF,
                                                           idempotency_key="k"), NOW)
    retry = pathway.apply(workflow.workflow_id, make_event("evaluation.scheduled", book, actor=STAFF,
                                                           idempotency_key="k"), NOW)
    assert retry.duplicate and retry.event_id == first.event_id
    other = {"start": NOW + timedelta(days=2)}
    with pytest.raises(Rejected) as refused:
        pathway.apply(workflow.workflow_id, make_event("evaluation.scheduled", other, actor=STAFF,
                                                       idempotency_key="k"), NOW)
    assert (refused.value.code, refused.value.rule) == ("not_allowed", "idempotency_key_reuse")
    changed = {**REFERRAL, "prior_treatments": 4}
    with pytest.raises(Rejected, match="already used"):
        pathway.start(make_event("referral.received", changed, actor=STAFF, idempotency_key="ref-1"), NOW)
    assert [e.type for e in events(pathway.engine)] == ["referral.received", "evaluation.scheduled"]
