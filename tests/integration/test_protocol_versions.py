"""A workflow keeps running the protocol version it started on, even after the clinic installs a new one."""

from datetime import UTC, datetime, timedelta

from config.clinic import build_clinic
from config.protocol import ProtocolBook, load_protocol
from models import queries
from models.db import make_engine, migrate
from models.store import WorkflowStore
from workflows.events import make_event

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
STAFF = {"role": "admin", "name": "a"}


def test_workflow_keeps_its_protocol_version(sqlite_database_url):
    migrate(sqlite_database_url)
    engine = make_engine(sqlite_database_url)
    original = load_protocol()
    stricter = load_protocol(overrides={"version": "2027.01", "sessions": {"no_show_after_minutes": 10}})
    before = WorkflowStore(engine, ProtocolBook(original), build_clinic())
    after = WorkflowStore(engine, ProtocolBook(stricter, [original]), build_clinic())

    referral = make_event("referral.received", {"patient": {"name": "P", "phone": "+15555550101", "sms_consent": True},
                                                "referrer": "r", "prior_treatments": 3}, actor=STAFF)
    old = before.start(referral, NOW).workflow_id
    new = after.start(make_event(referral.type, referral.data.model_dump(), actor=STAFF), NOW).workflow_id
    start = NOW + timedelta(days=2)
    for workflow_id in (old, new):
        for event_type, data in [
            ("evaluation.scheduled", {"start": NOW + timedelta(hours=1)}),
            ("evaluation.completed",
             {"eligible": True, "route": "iv_ketamine", "clinician": "d", "brought_forward": "seen early"}),
            ("session.scheduled", {"session": "s1", "start": start}),
        ]:
            after.apply(workflow_id, make_event(event_type, data, actor=STAFF), NOW)

    assert queries.load_state(engine, old).protocol_version == original.version
    assert queries.load_state(engine, new).protocol_version == "2027.01"
    assert queries.load_state(engine, old).timers["no_show:s1"].due_at == start + timedelta(minutes=30)
    assert queries.load_state(engine, new).timers["no_show:s1"].due_at == start + timedelta(minutes=10)


def test_a_clinic_held_on_an_earlier_version_starts_its_new_patients_on_it(sqlite_database_url):
    from workflows.network import Network

    migrate(sqlite_database_url)
    engine = make_engine(sqlite_database_url)
    original = load_protocol()
    newer = load_protocol(overrides={"version": "2027.01"})
    held = build_clinic(key="west", name="West", phone="+15555550200", protocol_version=original.version)
    store = WorkflowStore(engine, ProtocolBook(newer, [original]), Network(clinics=(build_clinic(), held)))

    def referral(clinic: str):
        return make_event("referral.received", {"patient": {"name": "P", "phone": "+15555550101", "sms_consent": True},
                                                "referrer": "r", "prior_treatments": 3, "clinic": clinic}, actor=STAFF)

    at_main = store.start(referral("main"), NOW).workflow_id
    at_west = store.start(referral("west"), NOW).workflow_id
    assert queries.load_state(engine, at_main).protocol_version == "2027.01"
    assert queries.load_state(engine, at_west).protocol_version == original.version
