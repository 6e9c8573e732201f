"""Languages through the real store, on SQLite and PostgreSQL: a patient's language recorded at referral (an unknown one
refused with nothing stored), keywords and crisis words of every language on every text, and answers to numbers
carepath does not know in the keyword's language."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pathway_support import CLINIC, T0, ev, outbox
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from models.inbox import apply_text, take_in
from models.queries import load_state
from models.store import WorkflowStore
from models.tables import EscalationRecord, OutboxMessage, PatientRow, WorkflowRow
from models.timer_batch import fire_due_timers
from models.unit_of_work import run_committed
from workflows.errors import Rejected

UNKNOWN = "+15555550177"
SPANISH_HELP = "Responda ALTO para no recibir mensajes."


def refer(pathway: WorkflowStore, phone: str, language: str | None = None, name: str = "Paciente") -> str:
    patient = {"name": name, "phone": phone, "sms_consent": True, **({"language": language} if language else {})}
    data = {"patient": patient, "referrer": "Dr A", "prior_treatments": 3}
    return pathway.start(ev("referral.received", data), T0).workflow_id


def text(pathway: WorkflowStore, engine: Engine, phone: str, body: str, sid: str, at=T0 + timedelta(hours=1)):
    arrival = run_committed(engine, take_in, sid, phone, "+15555550100", body, at, CLINIC)
    return apply_text(pathway, arrival.id, at)


def count(engine: Engine, table) -> int:
    with Session(engine) as db:
        return db.execute(select(func.count()).select_from(table)).scalar_one()


def test_a_language_the_clinic_has_no_catalog_for_is_refused_and_nothing_is_stored(pathway, engine):
    with pytest.raises(Rejected) as refused:
        refer(pathway, "+15555550171", "fr")
    assert refused.value.code == "invalid_data" and refused.value.field == "patient.language"
    assert "'fr'" in str(refused.value) and "en, es" in str(refused.value)
    assert "+15555550171" not in str(refused.value) and "Paciente" not in str(refused.value)
    assert (count(engine, WorkflowRow), count(engine, PatientRow), count(engine, OutboxMessage)) == (0, 0, 0)


def test_a_regional_tag_is_kept_and_written_in_its_primary_language(pathway, engine):
    workflow_id = refer(pathway, "+15555550172", "es-MX")
    assert load_state(engine, workflow_id).patient.language == "es-MX"  # as given: an es-MX.yaml added later is used
    pathway.apply(workflow_id, ev("evaluation.scheduled", {"start": T0 + timedelta(days=4)}), T0 + timedelta(minutes=5))
    fire_due_timers(pathway, T0 + timedelta(days=1, minutes=1))
    [reminder] = outbox(engine, workflow_id=workflow_id, kind="evaluation_reminder")
    assert "le recordamos su cita del vie 6 mar, 09:00" in reminder.body


def test_a_patient_without_a_language_is_english(pathway, engine):
    workflow_id = refer(pathway, "+15555550173")
    assert load_state(engine, workflow_id).patient.language == "en"
    text(pathway, engine, "+15555550173", "AYUDA", "SMhelp-en")
    [help_text] = outbox(engine, workflow_id=workflow_id, kind="help")
    assert "Reply STOP to opt out" in help_text.body, "a known patient is answered in their language, not the keyword's"


def test_alto_and_comenzar_opt_a_patient_out_and_back_in(pathway, engine):
    workflow_id = refer(pathway, "+15555550174", "es")
    text(pathway, engine, "+15555550174", " alto ", "SMalto")
    assert load_state(engine, workflow_id).patient.opted_out
    text(pathway, engine, "+15555550174", "Comenzar", "SMcomenzar", at=T0 + timedelta(hours=2))
    assert not load_state(engine, workflow_id).patient.opted_out
    [confirm] = outbox(engine, workflow_id=workflow_id, kind="opt_in_confirm")
    assert "Responda ALTO" in confirm.body


def test_ayuda_from_an_unknown_number_gets_the_spanish_help_and_help_the_english(pathway, engine):
    applied = text(pathway, engine, UNKNOWN, "Ayuda", "SMayuda")
    assert applied.status == "unassigned"
    [spanish] = outbox(engine, to_phone=UNKNOWN)
    assert (spanish.kind, spanish.workflow_id) == ("help", None)
    assert spanish.body.startswith(CLINIC.name) and SPANISH_HELP in spanish.body
    text(pathway, engine, "+15555550178", "HELP", "SMhelp")
    [english] = outbox(engine, to_phone="+15555550178")
    assert "Reply STOP to opt out" in english.body
    text(pathway, engine, UNKNOWN, "Ayuda", "SMayuda")  # the same MessageSid again: answered once
    assert len(outbox(engine, to_phone=UNKNOWN)) == 1


def test_a_spanish_crisis_text_from_an_english_patient_raises_the_emergency(pathway, engine):
    workflow_id = refer(pathway, "+15555550175")
    text(pathway, engine, "+15555550175", "ya no quiero vivir", "SMcrisis-en")
    with Session(engine) as db:
        reasons = db.execute(select(EscalationRecord.reason).where(EscalationRecord.workflow_id == workflow_id)).scalars()
        assert "crisis_language" in set(reasons)
    [line] = outbox(engine, workflow_id=workflow_id, kind="crisis")
    assert "988" in line.body and line.urgent


def test_a_spanish_crisis_text_from_an_unknown_number_gets_the_spanish_crisis_line(pathway, engine):
    text(pathway, engine, "+15555550176", "quiero matarme", "SMcrisis-unknown")
    [line] = outbox(engine, to_phone="+15555550176")
    assert line.kind == "crisis" and "Si se encuentra en crisis" in line.body
