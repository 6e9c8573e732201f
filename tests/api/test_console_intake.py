"""Referral intake in the console: the form is generated from `referral.received`, a bad phone gets a helpful message
and writes nothing, a good referral starts the workflow and opens the patient's page, a double submit applies once."""

from __future__ import annotations

import logging
import re

import pytest
from api_support import ApiServer, new_phone
from console_support import console, history, unlabelled_controls
from sqlalchemy import func, select
from sqlmodel import Session

from models.tables import PatientRow, WorkflowRow


def form_key(html: str) -> str:
    return re.search(r'name="idempotency_key" value="([^"]+)"', html).group(1)


def count(api: ApiServer, model) -> int:
    with Session(api.services.engine) as db:
        return db.execute(select(func.count()).select_from(model)).scalar_one()


def referral_form(key: str, phone: str, **overrides: str) -> dict[str, str]:
    return {"idempotency_key": key, "patient.name": "Intake Test Patient", "patient.phone": phone,
            "patient.timezone": "America/Chicago", "patient.sms_consent": "yes", "referrer": "Dr. Alvarez",
            "reason": "nightmares despite two trials", "prior_treatments": "4", "urgency": "urgent", **overrides}


def test_the_form_has_every_referral_field_labelled(api: ApiServer) -> None:
    with console(api, "coordinator") as client:
        page = client.get("/console/referrals/new")
    assert page.status_code == 200
    for name in ("patient.name", "patient.phone", "patient.timezone", "patient.date_of_birth", "patient.sms_consent",
                 "referrer", "reason", "prior_treatments", "urgency"):
        assert f'name="{name}"' in page.text, name
    assert 'type="checkbox" id="intake-patient-sms-consent"' in page.text
    assert unlabelled_controls(page.text) == []
    assert "cdn" not in page.text.lower()
    scripts = re.findall(r"<script[^>]*>", page.text)  # our own files only, never inline, never another site
    assert scripts and all(re.fullmatch(r'<script src="/[a-z/.-]+\.js" defer>', tag) for tag in scripts), scripts


def test_a_phone_without_its_country_code_is_refused_with_the_likely_number_and_nothing_is_written(
        api: ApiServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    before = (count(api, PatientRow), count(api, WorkflowRow))
    with console(api, "coordinator") as client:
        key = form_key(client.get("/console/referrals/new").text)
        response = client.post("/console/referrals", data=referral_form(key, "(555) 555-0142"))
    assert response.status_code == 422
    assert "Not saved" in response.text and "E.164" in response.text
    assert "Did you mean +15555550142?" in response.text
    assert 'aria-invalid="true" aria-describedby="intake-patient-phone-help intake-patient-phone-error"' in response.text
    assert 'value="Intake Test Patient"' in response.text and 'value="Dr. Alvarez"' in response.text, "input kept"
    assert (count(api, PatientRow), count(api, WorkflowRow)) == before
    assert "Intake Test Patient" not in caplog.text and "0142" not in caplog.text, "no patient data in the logs"


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"prior_treatments": "several"}, "prior_treatments", "must be a whole number"),
    ({"prior_treatments": "101"}, "prior_treatments", "less than or equal to 100"),
    ({"patient.name": ""}, "patient.name", "Field required"),
    ({"patient.timezone": "Mars/Olympus"}, "patient.timezone", "IANA time zone"),
    ({"patient.date_of_birth": "2099-01-01"}, "patient.date_of_birth", "The date of birth is today or in the future"),
    ({"patient.date_of_birth": "1880-04-01"}, "patient.date_of_birth", "The date of birth is more than 120 years ago"),
])
def test_other_mistakes_name_the_field_and_write_nothing(api: ApiServer, overrides, field, message) -> None:
    before = count(api, WorkflowRow)
    with console(api, "clinician") as client:
        key = form_key(client.get("/console/referrals/new").text)
        response = client.post("/console/referrals", data=referral_form(key, new_phone(), **overrides))
    assert response.status_code == 422 and message in response.text
    field_id = "intake-" + field.replace(".", "-").replace("_", "-")
    assert f'id="{field_id}-error"' in response.text
    assert count(api, WorkflowRow) == before


def test_a_referral_starts_the_workflow_and_opens_the_patients_page(api: ApiServer) -> None:
    phone = new_phone()
    with api.browser() as client:
        staff = api.sign_in(client, "coordinator")
        key = form_key(client.get("/console/referrals/new").text)
        response = client.post("/console/referrals", data=referral_form(key, phone))
        assert response.status_code == 303
        location = response.headers["location"]
        workflow_id = re.fullmatch(r"/console/patients/([0-9a-f-]{36})\?recorded=referral.received", location).group(1)
        page = client.get(location)
    assert page.status_code == 200 and "<h1>Intake Test Patient</h1>" in page.text
    assert "Referral saved: the pathway has started." in page.text
    with api.client("coordinator") as client:
        detail = client.get(f"/v1/workflows/{workflow_id}").json()
        [event] = client.get(f"/v1/workflows/{workflow_id}/events").json()["items"]
    assert detail["stage"] == "referred" and detail["urgency"] == "urgent"
    assert detail["patient"]["phone"] == phone and detail["patient"]["timezone"] == "America/Chicago"
    assert detail["patient"]["sms_consent"] is True
    assert event["actor"] == {"role": "coordinator", "name": staff.name, "user_id": staff.id}
    assert event["data"]["prior_treatments"] == 4 and event["data"]["referrer"] == "Dr. Alvarez"


def test_an_unticked_consent_box_means_no_consent(api: ApiServer) -> None:
    with console(api, "coordinator") as client:
        form = referral_form(form_key(client.get("/console/referrals/new").text), new_phone())
        del form["patient.sms_consent"]
        location = client.post("/console/referrals", data=form).headers["location"]
        page = client.get(location)
    assert "<dt>SMS</dt><dd>no consent</dd>" in page.text


def test_the_same_form_sent_twice_starts_one_workflow(api: ApiServer) -> None:
    phone = new_phone()
    with console(api, "coordinator") as client:
        form = referral_form(form_key(client.get("/console/referrals/new").text), phone)
        first, second = client.post("/console/referrals", data=form), client.post("/console/referrals", data=form)
    assert first.headers["location"].split("?")[0] == second.headers["location"].split("?")[0]
    assert second.headers["location"].endswith("?duplicate=referral.received")
    with Session(api.services.engine) as db:
        assert db.execute(select(func.count()).select_from(PatientRow).where(PatientRow.phone == phone)).scalar_one() == 1
    workflow_id = first.headers["location"].split("/")[-1].split("?")[0]
    assert history(api, workflow_id) == ["referral.received"]


def test_ops_and_strangers_cannot_take_referrals(api: ApiServer) -> None:
    before = count(api, WorkflowRow)
    with console(api, "ops") as client:
        assert client.get("/console/referrals/new").status_code == 403
        refused = client.post("/console/referrals", data=referral_form("k-ops", new_phone()))
        assert refused.status_code == 403 and "Not for your role" in refused.text
    with console(api, "coordinator") as client:
        client.cookies.clear()
        anonymous = client.post("/console/referrals", data=referral_form("k-anon", new_phone()))
        assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login"
    assert count(api, WorkflowRow) == before
