"""The escalation worklist over HTTP: filters, acknowledging and resolving as the calling user."""

from __future__ import annotations

import uuid

from api_support import ApiServer


def escalations_of(api: ApiServer, workflow_id: str, role: str = "coordinator", **params) -> list[dict]:
    with api.client(role) as client:
        response = client.get("/v1/escalations", params={"workflow_id": workflow_id, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_a_referral_puts_a_contact_task_on_the_worklist(api: ApiServer) -> None:
    workflow_id = api.referral()["workflow_id"]
    [task] = escalations_of(api, workflow_id)
    assert (task["reason"], task["severity"], task["owner_role"], task["status"]) == (
        "referral_contact", "routine", "coordinator", "open")
    assert task["patient_name"] == "Test Patient" and task["ack_deadline"].endswith("+00:00")
    [for_ops] = escalations_of(api, workflow_id, role="ops")
    assert for_ops["patient_name"] is None  # ops work by ids


def test_acknowledge_then_resolve_records_who_did_it(api: ApiServer) -> None:
    workflow_id = api.referral()["workflow_id"]
    [task] = escalations_of(api, workflow_id)
    with api.client("ops") as client:
        acknowledged = client.post(f"/v1/escalations/{task['id']}/acknowledge")
    assert acknowledged.status_code == 200, acknowledged.text
    body = acknowledged.json()
    assert body["workflow_id"] == workflow_id and body["escalation"]["status"] == "acknowledged"
    assert body["escalation"]["acknowledged_by"] == api.names["ops"]

    with api.client("coordinator") as client:
        again = client.post(f"/v1/escalations/{task['id']}/acknowledge")
        resolved = client.post(f"/v1/escalations/{task['id']}/resolve", json={"note": "called, booked next week"})
        resolved_twice = client.post(f"/v1/escalations/{task['id']}/resolve", json={})
        history = client.get(f"/v1/workflows/{workflow_id}/events").json()["items"]
    assert again.status_code == 409 and again.json()["error"]["details"]["rule"] == "escalation_open"
    assert resolved.status_code == 200
    assert resolved.json()["escalation"]["status"] == "resolved"
    assert resolved.json()["escalation"]["resolved_by"] == api.names["coordinator"]
    assert resolved.json()["escalation"]["note"] == "called, booked next week"
    assert resolved_twice.status_code == 409
    acted = [(e["type"], e["actor"]["role"], e["data"]["by"]) for e in history if e["type"].startswith("escalation.")]
    assert acted == [("escalation.acknowledged", "ops", api.names["ops"]),
                     ("escalation.resolved", "coordinator", api.names["coordinator"])]
    assert escalations_of(api, workflow_id) == []  # the default worklist is open and acknowledged only
    assert [e["status"] for e in escalations_of(api, workflow_id, status="resolved")] == ["resolved"]


def test_an_acknowledgement_with_an_idempotency_key_can_be_retried(api: ApiServer) -> None:
    workflow_id = api.referral()["workflow_id"]
    [task] = escalations_of(api, workflow_id)
    with api.client("clinician") as client:
        first = client.post(f"/v1/escalations/{task['id']}/acknowledge", json={"idempotency_key": "ack-1"})
        retry = client.post(f"/v1/escalations/{task['id']}/acknowledge", json={"idempotency_key": "ack-1"})
    assert first.status_code == retry.status_code == 200
    assert retry.json()["duplicate"] is True and retry.json()["event_id"] == first.json()["event_id"]


def test_the_worklist_filters_by_status_severity_and_owner_role(api: ApiServer) -> None:
    workflow_id = api.referral(prior_treatments=0)["workflow_id"]
    assert api.post_event(workflow_id, "assessment.submitted",
                          {"instrument": "phq9", "answers": [1, 1, 1, 1, 1, 1, 1, 1, 2]}).status_code == 200
    everything = escalations_of(api, workflow_id)
    assert everything[0]["reason"] == "phq9_item9"  # most severe first
    assert {e["reason"] for e in everything} == {"phq9_item9", "cssrs_requested", "referral_contact",
                                                 "treatment_resistance_review"}
    assert [e["reason"] for e in escalations_of(api, workflow_id, severity="urgent")] == ["phq9_item9"]
    assert {e["reason"] for e in escalations_of(api, workflow_id, owner_role="clinician")} == {
        "phq9_item9", "cssrs_requested", "treatment_resistance_review"}
    assert escalations_of(api, workflow_id, status="resolved") == []
    with api.client("coordinator") as client:
        page = client.get("/v1/escalations", params={"workflow_id": workflow_id, "limit": 1}).json()
        bad = client.get("/v1/escalations", params={"severity": "apocalyptic"})
    assert (page["total"], len(page["items"]), page["next_offset"]) == (4, 1, 1)
    assert bad.status_code == 422 and bad.json()["error"]["details"]["field"] == "query.severity"


def test_unknown_escalation_is_404(api: ApiServer) -> None:
    with api.client("coordinator") as client:
        for escalation_id in (str(uuid.uuid4()), "nope"):
            response = client.post(f"/v1/escalations/{escalation_id}/acknowledge")
            assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
