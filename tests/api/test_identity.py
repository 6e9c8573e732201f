"""The actor is the signed-in user (#14): every event records the user's id and display name, and the fields that
claim who did something (`by`, `clinician`) come from the session. A post naming someone else is refused, nothing
written, and the escalation ladder keeps running; an omitted one is filled with the user's name."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from api_support import ApiServer, local_time
from console_rooms_support import at_the_chair
from console_support import action_key, console, history

from models.queries import load_state
from models.tokens import create_token

FORGED = "Dr. Medical Director"


def workflow(api: ApiServer, workflow_id: str, role: str = "coordinator") -> dict:
    with api.client(role) as client:
        return client.get(f"/v1/workflows/{workflow_id}").json()


def events(api: ApiServer, workflow_id: str) -> list[dict]:
    with api.client("coordinator") as client:
        return client.get(f"/v1/workflows/{workflow_id}/events", params={"limit": 200}).json()["items"]


def refused_as_forged(response, field: str, signed_in_as: str) -> None:
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "forbidden"
    assert (error["details"]["rule"], error["details"]["field"]) == ("identity_from_session", field)
    assert f"{field}: you are signed in as {signed_in_as}" in error["message"]
    assert "cannot name someone else" in error["message"]


def test_an_acknowledgement_naming_someone_else_is_refused_and_the_ladder_keeps_running(api: ApiServer) -> None:
    workflow_id = api.referral()["workflow_id"]
    before = workflow(api, workflow_id)
    [escalation] = before["open_escalations"]
    forged = api.post_event(workflow_id, "escalation.acknowledged", {"escalation": escalation["id"], "by": FORGED},
                            "ops")
    refused_as_forged(forged, "by", api.names["ops"])
    after = workflow(api, workflow_id)
    assert after["version"] == before["version"]  # nothing written
    assert [e["status"] for e in after["open_escalations"]] == ["open"]
    assert after["pending_timers"] == before["pending_timers"]  # the ladder's next step is still due
    assert [e["type"] for e in events(api, workflow_id)] == ["referral.received"]
    assert FORGED not in str(load_state(api.services.engine, workflow_id).escalations)


def test_an_omitted_by_is_the_user_and_the_event_records_their_id(api: ApiServer) -> None:
    workflow_id = api.referral()["workflow_id"]
    [escalation] = workflow(api, workflow_id)["open_escalations"]
    response = api.post_event(workflow_id, "escalation.acknowledged", {"escalation": escalation["id"]}, "ops")
    assert response.status_code == 200, response.text
    acknowledged = events(api, workflow_id)[-1]
    assert acknowledged["data"]["by"] == api.names["ops"]
    assert acknowledged["actor"] == {"role": "ops", "name": api.names["ops"], "user_id": api.user_ids["ops"]}
    assert workflow(api, workflow_id)["open_escalations"][0]["acknowledged_by"] == api.names["ops"]


@pytest.mark.parametrize(("event_type", "stage", "data"), [
    ("evaluation.completed", "evaluation_scheduled", {"eligible": True, "route": "esketamine", "brought_forward": "seen early"}),
    ("safety.hold", "referred", {"reason": "awaiting labs"}),
    ("workflow.discharged", "referred", {"reason": "referred elsewhere"}),
])
def test_a_clinician_field_naming_someone_else_is_refused(api: ApiServer, event_type, stage, data) -> None:
    workflow_id = api.workflow_in(stage)
    before = [e["type"] for e in events(api, workflow_id)]
    forged = api.post_event(workflow_id, event_type, {**data, "clinician": FORGED}, "clinician")
    refused_as_forged(forged, "clinician", api.names["clinician"])
    assert [e["type"] for e in events(api, workflow_id)] == before


def test_a_discharge_naming_another_clinician_is_refused_before_any_gate(api: ApiServer) -> None:
    workflow_id, _name = at_the_chair(api)
    for event_type, data in [
            ("vitals.recorded", {"session": "s1", "phase": "pre_dose", "systolic": 120, "diastolic": 80}),
            ("dose.administered", {"session": "s1", "dose_mg": 56, "ride_confirmed": True, "fasting_confirmed": True})]:
        assert api.post_event(workflow_id, event_type, data, "clinician").status_code == 200
    discharge = {"session": "s1", "sedation_resolved": True, "dissociation_resolved": True, "clinician": FORGED}
    refused_as_forged(api.post_event(workflow_id, "session.discharged", discharge, "clinician"), "clinician",
                      api.names["clinician"])
    assert "session.discharged" not in [e["type"] for e in events(api, workflow_id)]


def test_the_users_own_name_is_accepted_as_they_spell_it(api: ApiServer) -> None:
    workflow_id = api.workflow_in("evaluation_scheduled")
    typed = "  " + api.names["clinician"].upper().replace(" ", "   ")  # case and spacing are not another person
    response = api.post_event(workflow_id, "evaluation.completed",
                              {"eligible": True, "route": "esketamine", "clinician": typed, "brought_forward": "seen early"},
                              "clinician")
    assert response.status_code == 200, response.text
    completed = events(api, workflow_id)[-1]
    assert completed["data"]["clinician"] == api.names["clinician"]
    assert completed["actor"]["user_id"] == api.user_ids["clinician"]


def test_an_omitted_clinician_is_filled_from_the_session(api: ApiServer) -> None:
    workflow_id = api.workflow_in("evaluation_scheduled")
    response = api.post_event(workflow_id, "evaluation.completed",
                              {"eligible": True, "route": "esketamine", "brought_forward": "seen early"}, "clinician")
    assert response.status_code == 200, response.text
    assert events(api, workflow_id)[-1]["data"]["clinician"] == api.names["clinician"]


def test_a_token_with_a_lower_role_records_its_owner(api: ApiServer) -> None:
    # A token's role may be below its owner's; the id and the name are still the owner's.
    owner = api.new_staff("admin", "Admin With A Coordinator Token")
    with api.services.unit_of_work() as uow:
        token = create_token(uow, owner.id, "coordinator work", datetime.now(UTC), role="coordinator")[1]
        uow.commit()
    workflow_id = api.referral()["workflow_id"]
    with api.client(token=token) as client:
        response = client.post(f"/v1/workflows/{workflow_id}/events",
                               json={"type": "evaluation.scheduled", "data": {"start": local_time(2)}})
        forged = client.post(f"/v1/workflows/{workflow_id}/events",
                             json={"type": "patient.withdrew", "data": {"reason": "moved", "clinician": FORGED}})
    assert response.status_code == 200, response.text
    assert events(api, workflow_id)[-1]["actor"] == {"role": "coordinator", "name": owner.name, "user_id": owner.id}
    refused_as_forged(forged, "clinician", owner.name)


def test_the_escalation_routes_and_buttons_record_the_user(api: ApiServer) -> None:
    workflow_id = api.referral()["workflow_id"]
    [escalation] = workflow(api, workflow_id)["open_escalations"]
    with api.client("clinician") as client:
        assert client.post(f"/v1/escalations/{escalation['id']}/acknowledge").status_code == 200
    with api.browser() as client:
        staff = api.sign_in(client, "coordinator", "Coordinator At The Dashboard")
        resolved = client.post(f"/dashboard/escalations/{escalation['id']}/resolve",
                               data={"note": "called back", "by": FORGED})  # not a field of the button's form
        assert resolved.status_code == 303 and "msg=resolved" in resolved.headers["location"]
    acked, closed = [e for e in events(api, workflow_id) if e["type"].startswith("escalation.")]
    assert (acked["data"]["by"], acked["actor"]["user_id"]) == (api.names["clinician"], api.user_ids["clinician"])
    assert (closed["data"]["by"], closed["actor"]["user_id"]) == (staff.name, staff.id)


def test_console_forms_do_not_ask_who_and_refuse_a_crafted_name(api: ApiServer) -> None:
    workflow_id = api.workflow_in("evaluation_scheduled")
    with console(api, "clinician") as client:
        html = client.get(f"/console/patients/{workflow_id}").text
        section = html.split('data-event="evaluation.completed"', 1)[1].split("</details>", 1)[0]
        assert 'name="clinician"' not in section and f"Recorded as {api.names['clinician']}" in section
        key = action_key(html, "evaluation.completed")
        forged = client.post(f"/console/patients/{workflow_id}/actions/evaluation.completed",
                             data={"idempotency_key": key, "eligible": "yes", "route": "esketamine",
                                   "clinician": FORGED, "brought_forward": "seen early"})
        assert forged.status_code == 403 and "cannot name someone else" in forged.text
        assert history(api, workflow_id) == ["referral.received", "evaluation.scheduled"]
        done = client.post(f"/console/patients/{workflow_id}/actions/evaluation.completed",
                           data={"idempotency_key": key, "eligible": "yes", "route": "esketamine",
                                 "brought_forward": "seen early"})
        assert done.status_code == 303, done.text
    completed = events(api, workflow_id)[-1]
    assert completed["data"]["clinician"] == api.names["clinician"]
    assert completed["actor"]["user_id"] is not None and completed["actor"]["name"] == api.names["clinician"]
