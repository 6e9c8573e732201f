"""A network of clinics: records belong to a clinic, texts are routed by the number they were sent to, pages follow
each clinic's own rota in its own time, clinics are added from the shell with clear refusals, and a single-clinic
database migrates into the clinic "main" with nothing lost."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from pathway_support import CLINIC, PROTOCOLS, T0, ev, hours, referral
from sqlalchemy import select, text
from typer.testing import CliRunner

from cli.main import app
from cli.scenario import ScenarioError, load_scenario
from config.clinics import ClinicDefinitionError, add_clinic, load_network
from models.db import make_engine, migrate
from models.inbox import receive_sms
from models.store import WorkflowStore
from models.tables import EscalationRecord, OutboxMessage, PatientRow, TimerRecord, WorkflowRow
from models.unit_of_work import UnitOfWork
from workflows.errors import Rejected

ROOT = Path(__file__).resolve().parents[2]
CAREPATH = str(Path(sys.executable).parent / "carepath")
WEST = {"key": "west", "name": "Westside Care Clinic", "phone": "+15555550200", "timezone": "America/Los_Angeles",
        "rota": [{"role": "on_call", "phone": "+15555550290"}, {"role": "medical_director", "phone": "+15555550291"}]}


@pytest.fixture(scope="module")
def network_report(tmp_path_factory) -> dict:
    report = tmp_path_factory.mktemp("network") / "report.json"
    done = subprocess.run([CAREPATH, "simulate", "examples/clinic_network.yaml", "--report", str(report), "--quiet"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(report.read_text())


def sent(report: dict, **match) -> list[dict]:
    return [m for m in report["messages"] if m["direction"] == "outbound" and m["status"] == "sent"
            and all(m.get(k) == v for k, v in match.items())]


def test_a_shared_family_phone_at_two_clinics_reaches_only_the_clinic_it_texted(network_report):
    # One phone is on file at both clinics; each crisis text went to one clinic's number.
    assert network_report["rejected"] == []
    north_crisis = sent(network_report, kind="crisis", patient="p1")
    west_crisis = sent(network_report, kind="crisis", patient="p2")
    assert len(north_crisis) == len(west_crisis) == 1
    assert north_crisis[0]["body"].startswith("Northside Interventional Psychiatry")
    assert west_crisis[0]["body"].startswith("Westside Care Clinic")
    assert north_crisis[0]["at"] != west_crisis[0]["at"], "each text raised one emergency, at its own clinic"
    reasons = {(e["patient"], e["reason"]) for e in network_report["escalations"]}
    assert ("p1", "crisis_language") in reasons and ("p2", "crisis_language") in reasons
    assert sum(e["reason"] == "crisis_language" for e in network_report["escalations"]) == 2


def test_pages_go_to_whoever_is_on_call_at_that_clinic_then(network_report):
    # 19:00 in New York is north's night shift; west has one on-call number around the clock.
    [north_page] = [m for m in sent(network_report, kind="staff_alert", patient="p1") if m["to"] != "+15555550191"]
    [west_page] = sent(network_report, kind="staff_alert", patient="p2")
    assert north_page["to"] == "+15555550192", "the night on-call, not the day one (+15555550190)"
    assert west_page["to"] == "+15555550290"


def test_every_report_item_names_its_clinic_and_reminders_come_in_each_clinics_time(network_report):
    for section in ("workflows", "events", "messages", "escalations", "timers"):
        assert network_report[section] and all(item["clinic"] in {"north", "west"} for item in network_report[section])
        assert {item["clinic"] for item in network_report[section] if item["patient"] == "p2"} == {"west"}
    # Both evaluations are at 10:00 clinic time on Mar 3: 15:00 UTC in New York, 18:00 UTC in Los Angeles.
    north = {m["at"] for m in sent(network_report, kind="evaluation_reminder", patient="p1")}
    west = {m["at"] for m in sent(network_report, kind="evaluation_reminder", patient="p2")}
    assert "2026-03-03T13:00:00+00:00" in north and "2026-03-03T16:00:00+00:00" in west  # 2 h before, each


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(body, encoding="utf-8")
    return path


NETWORK = """
name: n
clinics:
  - {key: north, name: North Clinic, numbers: ["+15555550100"]}
start: "2026-03-02T08:00:00"
until: "2026-03-03T00:00:00"
"""


@pytest.mark.parametrize(("tail", "said"), [
    ("clinic: {name: X}\npatients: []\ntimeline: []\n", "either `clinic:` and `staff:`"),
    ("patients: [{key: p1, clinic: south}]\ntimeline: []\n", "unknown clinic 'south' (clinics: north)"),
])
def test_a_network_scenario_refuses_a_mixed_or_unknown_clinic(tmp_path, tail, said):
    with pytest.raises(ScenarioError, match=re.escape(said)):
        load_scenario(write(tmp_path, NETWORK + tail))


def test_a_single_clinic_scenario_has_no_clinic_keys(tmp_path):
    with pytest.raises(ScenarioError, match="this scenario has one clinic"):
        load_scenario(write(tmp_path, NETWORK.replace(
            '  - {key: north, name: North Clinic, numbers: ["+15555550100"]}\n', "").replace("clinics:\n", "")
            + "patients: [{key: p1, clinic: north}]\ntimeline: []\n"))


def network_store(url: str, *definitions: dict) -> WorkflowStore:
    migrate(url)
    engine = make_engine(url)
    with UnitOfWork(engine) as uow:
        for definition in definitions:
            add_clinic(uow, CLINIC, definition)
        uow.commit()
    with UnitOfWork(engine) as uow:
        return WorkflowStore(engine, PROTOCOLS, load_network(uow, CLINIC))


def test_every_record_of_a_referral_to_a_clinic_belongs_to_that_clinic(database_url):
    store = network_store(database_url, WEST)
    event = referral()
    event = event.model_copy(update={"data": event.data.model_copy(update={"clinic": "west"})})
    workflow_id = store.start(event, T0).workflow_id
    store.apply(workflow_id, ev("evaluation.scheduled", {"start": T0 + hours(30)}), T0 + hours(1))
    receive_sms(store, "+15555550101", "I want to kill myself", T0 + hours(2), to_phone="+15555550200")
    with UnitOfWork(store.engine) as uow:
        db = uow.db
        assert db.get(WorkflowRow, workflow_id).clinic_id == "west"
        assert {p.clinic_id for p in db.execute(select(PatientRow)).scalars()} == {"west"}
        for table in (TimerRecord, OutboxMessage, EscalationRecord):
            rows = db.execute(select(table.clinic_id)).scalars().all()
            assert rows and set(rows) == {"west"}, table.__tablename__
        pages = db.execute(select(OutboxMessage.to_phone).where(OutboxMessage.kind == "staff_alert")).scalars().all()
        assert "+15555550290" in pages, "west's on-call, not the settings' clinic's"
    store.engine.dispose()


def test_a_referral_to_an_unknown_clinic_is_refused_naming_the_clinics(sqlite_database_url):
    store = network_store(sqlite_database_url, WEST)
    event = referral()
    event = event.model_copy(update={"data": event.data.model_copy(update={"clinic": "south"})})
    with pytest.raises(Rejected, match="unknown clinic 'south'; this carepath serves main, west"):
        store.start(event, T0)
    with UnitOfWork(store.engine) as uow:
        assert uow.db.execute(select(WorkflowRow)).first() is None, "nothing stored"
    store.engine.dispose()


def test_a_text_to_one_clinics_number_never_lands_on_the_other_clinics_patient(sqlite_database_url):
    store = network_store(sqlite_database_url, WEST)
    main_id = store.start(referral(), T0).workflow_id
    event = referral()
    west_id = store.start(event.model_copy(update={"data": event.data.model_copy(update={"clinic": "west"})}),
                          T0).workflow_id
    applied = receive_sms(store, "+15555550101", "hello", T0 + hours(1), to_phone="+15555550200")
    assert applied.workflow_id == west_id
    applied = receive_sms(store, "+15555550101", "hello again", T0 + hours(1), to_phone=CLINIC.phone)
    assert applied.workflow_id == main_id
    store.engine.dispose()


@pytest.mark.parametrize(("change", "said"), [
    ({"timezone": "Mars/Olympus"}, "timezone: must be an IANA time zone"),
    ({"phone": CLINIC.phone}, f"number {CLINIC.phone} is used by clinics main and west"),
    ({"key": "main"}, "'main' is this install's own clinic"),
    ({"key": "West Side"}, "key"),
])
def test_a_clinic_definition_with_a_mistake_is_refused_and_nothing_stored(sqlite_database_url, change, said):
    migrate(sqlite_database_url)
    engine = make_engine(sqlite_database_url)
    with UnitOfWork(engine) as uow, pytest.raises(ClinicDefinitionError, match=re.escape(said)):
        add_clinic(uow, CLINIC, {**WEST, **change})
    with UnitOfWork(engine) as uow:
        assert [c.key for c in load_network(uow, CLINIC).clinics] == ["main"]
    engine.dispose()


def test_clinics_from_the_shell(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    migrate(url)
    monkeypatch.setenv("CAREPATH_DATABASE_URL", url)
    west = tmp_path / "west.yaml"
    west.write_text(json.dumps(WEST), encoding="utf-8")  # JSON is YAML
    added = CliRunner().invoke(app, ["clinics", "add", str(west)])
    assert added.exit_code == 0 and "clinic west (Westside Care Clinic) stored" in added.output, added.output
    clash = tmp_path / "clash.yaml"
    clash.write_text(json.dumps({**WEST, "key": "east", "name": "East"}), encoding="utf-8")
    refused = CliRunner().invoke(app, ["clinics", "add", str(clash)])
    assert refused.exit_code == 2 and "+15555550200 is used by clinics west and east" in refused.output
    listed = json.loads(CliRunner().invoke(app, ["clinics", "list", "--json"]).stdout)
    assert [(c["key"], c["timezone"], c["rota_lines"]) for c in listed] == [
        ("main", "America/New_York", 0), ("west", "America/Los_Angeles", 2)]


def test_a_single_clinic_database_migrates_into_main_with_nothing_lost(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    store = WorkflowStore(engine, PROTOCOLS, CLINIC)
    workflow_id = store.start(referral(), T0).workflow_id
    store.apply(workflow_id, ev("evaluation.scheduled", {"start": T0 + hours(30)}), T0 + hours(1))
    engine.dispose()
    migrate(url, "0009")  # as the database was before the network (the clinic columns and table gone)
    raw = make_engine(url)
    with raw.begin() as conn:  # a state written before the network has no clinic key
        conn.execute(text("UPDATE workflows SET state = json_remove(state, '$.clinic')"))
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                  for t in ("patients", "workflows", "events", "timers", "outbox", "escalations")}
    raw.dispose()
    migrate(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        for table, count in counts.items():
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == count, table
            if table != "events":
                assert set(conn.execute(text(f"SELECT DISTINCT clinic_id FROM {table}")).scalars()) <= {"main"}
    store = WorkflowStore(engine, PROTOCOLS, CLINIC)
    assert store.apply(workflow_id, ev("evaluation.rescheduled", {"start": T0 + hours(50)}),
                       datetime.fromisoformat("2026-03-02T16:00:00+00:00")).stage == "evaluation_scheduled"
    engine.dispose()
