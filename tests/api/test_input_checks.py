"""Input checks over HTTP: an implausible date of birth and an evaluation recorded before its booked start are refused
with a plain message, and nothing is stored."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from api_support import CLINIC_ZONE, ApiServer, local_time, referral_body
from sqlalchemy import func, select
from sqlmodel import Session

from models.tables import EventRecord, PatientRow, WorkflowRow

ELIGIBLE = {"eligible": True, "route": "esketamine", "weight_kg": 80}


def counts(api: ApiServer) -> tuple[int, ...]:
    with Session(api.services.engine) as db:
        return tuple(db.execute(select(func.count()).select_from(model)).scalar_one()
                     for model in (PatientRow, WorkflowRow, EventRecord))


def clinic_today() -> date:
    return datetime.now(UTC).astimezone(CLINIC_ZONE).date()


@pytest.mark.parametrize(("born", "why"), [
    (lambda today: today + timedelta(days=1), "is today or in the future"),
    (lambda today: today, "is today or in the future"),
    (lambda today: today.replace(year=today.year - 121), "more than 120 years ago"),
])
def test_an_implausible_date_of_birth_is_refused_and_nothing_is_stored(api: ApiServer, born, why) -> None:
    before = counts(api)
    body = referral_body()
    body["patient"]["date_of_birth"] = born(clinic_today()).isoformat()
    with api.client("coordinator") as client:
        response = client.post("/v1/referrals", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_data" and why in error["message"]
    assert error["details"]["field"] == "patient.date_of_birth" and error["details"]["rule"] == "date_of_birth_plausible"
    assert body["patient"]["date_of_birth"] not in response.text, "the date is not echoed back"
    assert counts(api) == before


def test_a_date_of_birth_in_the_past_is_kept(api: ApiServer) -> None:
    body = referral_body()
    body["patient"]["date_of_birth"] = "1980-04-01"
    with api.client("coordinator") as client:
        created = client.post("/v1/referrals", json=body)
        assert created.status_code == 201, created.text
        detail = client.get(f"/v1/workflows/{created.json()['workflow_id']}").json()
    assert "1980-04-01" in str(detail)


def test_an_evaluation_recorded_before_its_booked_start_is_refused_in_clinic_time(api: ApiServer) -> None:
    workflow_id = api.workflow_in("evaluation_scheduled")  # booked for this time tomorrow
    before = counts(api)
    refused = api.post_event(workflow_id, "evaluation.completed", ELIGIBLE, "clinician")
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["details"]["rule"] == "evaluation_not_before_booked"
    booked = datetime.fromisoformat(local_time(1)).strftime("%Y-%m-%d")
    assert f"The evaluation is booked for {booked}" in error["message"] and "brought forward" in error["message"]
    assert counts(api) == before
    with api.client("coordinator") as client:
        assert client.get(f"/v1/workflows/{workflow_id}").json()["stage"] == "evaluation_scheduled"


def test_an_evaluation_brought_forward_with_its_reason_is_accepted(api: ApiServer) -> None:
    workflow_id = api.workflow_in("evaluation_scheduled")
    done = api.post_event(workflow_id, "evaluation.completed",
                          {**ELIGIBLE, "brought_forward": "the patient came in on a cancellation"}, "clinician")
    assert done.status_code == 200, done.text
    assert done.json()["stage"] == "treatment_planned"
