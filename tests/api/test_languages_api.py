"""A patient's language through the API and the console: accepted at referral, refused when the clinic has no catalog
for it (nothing written), offered as a select on the intake form, and shown on the patient's pages."""

from __future__ import annotations

import re

from api_support import ApiServer, new_phone, referral_body
from console_support import console
from sqlalchemy import func, select
from sqlmodel import Session

from models.tables import WorkflowRow


def count(api: ApiServer) -> int:
    with Session(api.services.engine) as db:
        return db.execute(select(func.count()).select_from(WorkflowRow)).scalar_one()


def spanish_referral(language: str = "es") -> dict:
    body = referral_body(new_phone())
    return {**body, "patient": {**body["patient"], "language": language}}


def test_an_api_referral_records_the_patients_language(api: ApiServer) -> None:
    with api.client("coordinator") as client:
        created = client.post("/v1/referrals", json=spanish_referral())
        assert created.status_code == 201
        detail = client.get(f"/v1/workflows/{created.json()['workflow_id']}").json()
    assert detail["patient"]["language"] == "es"


def test_a_language_without_a_catalog_is_refused_naming_the_allowed_ones_and_nothing_is_written(api: ApiServer) -> None:
    before = count(api)
    with api.client("coordinator") as client:
        refused = client.post("/v1/referrals", json=spanish_referral("fr"))
        malformed = client.post("/v1/referrals", json=spanish_referral("French"))
    assert refused.status_code == 422 and malformed.status_code == 422
    assert "'fr'" in refused.text and "en, es" in refused.text
    assert count(api) == before


def test_the_intake_form_offers_the_clinics_languages_and_the_patient_page_shows_the_one_chosen(api: ApiServer) -> None:
    with console(api, "coordinator") as client:
        form = client.get("/console/referrals/new").text
        assert re.search(r'<select[^>]*name="patient.language"', form)
        assert '<option value="es"' in form and "Español (es)" in form and "English (en)" in form
        key = re.search(r'name="idempotency_key" value="([^"]+)"', form).group(1)
        data = {"idempotency_key": key, "patient.name": "Paciente Prueba", "patient.phone": new_phone(),
                "patient.sms_consent": "yes", "patient.language": "es", "referrer": "Dr. Alvarez",
                "prior_treatments": "3", "urgency": "routine"}
        response = client.post("/console/referrals", data=data)
        assert response.status_code == 303, response.text
        page = client.get(response.headers["location"])
    assert "<dt>Language</dt><dd>es</dd>" in page.text
