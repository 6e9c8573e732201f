"""Referrals, workflows, events and history over HTTP: 200/201, 409 with stage/rule/allowed, 422 naming the field, 404."""

from __future__ import annotations

import uuid
from datetime import datetime

from api_support import ApiServer, local_time, new_phone, referral_body


def is_iso_with_offset(text: str) -> bool:
    return datetime.fromisoformat(text).utcoffset() is not None and text.endswith("+00:00")


def test_a_referral_starts_a_workflow_that_events_move(api: ApiServer) -> None:
    with api.client("coordinator") as client:
        created = client.post("/v1/referrals", json=referral_body())
        assert created.status_code == 201
        body = created.json()
        assert set(body) >= {"workflow_id", "patient_id", "stage"} and body["stage"] == "referred"
        assert created.headers["location"] == f"/v1/workflows/{body['workflow_id']}"
        workflow_id = body["workflow_id"]

        scheduled = client.post(f"/v1/workflows/{workflow_id}/events",
                                json={"type": "evaluation.scheduled", "data": {"start": local_time(2)}})
        assert scheduled.status_code == 200
        assert scheduled.json()["workflow_id"] == workflow_id
        assert scheduled.json()["stage"] == "evaluation_scheduled"
        assert isinstance(scheduled.json()["event_id"], int)

    completed = api.post_event(workflow_id, "evaluation.completed",
                               {"eligible": True, "route": "esketamine", "brought_forward": "seen early"}, role="clinician")
    assert completed.status_code == 200 and completed.json()["stage"] == "treatment_planned"

    with api.client("clinician") as client:
        detail = client.get(f"/v1/workflows/{workflow_id}").json()
    assert detail["stage"] == "treatment_planned" and detail["route"] == "esketamine"
    assert detail["appointments"][0]["status"] == "completed"
    assert "session.scheduled" in detail["allowed_events"]
    assert {"sessions", "open_escalations", "pending_timers", "scores", "flags"} <= set(detail)
    assert is_iso_with_offset(detail["created_at"]) and is_iso_with_offset(detail["appointments"][0]["start"])


def test_the_detail_shows_sessions_escalations_timers_scores_and_flags(api: ApiServer) -> None:
    workflow_id = api.referral(prior_treatments=0)["workflow_id"]
    assert api.post_event(workflow_id, "assessment.submitted",
                          {"instrument": "phq9", "answers": [2, 2, 2, 2, 2, 2, 2, 2, 1]}).status_code == 200
    with api.client("coordinator") as client:
        detail = client.get(f"/v1/workflows/{workflow_id}").json()
    assert "low_prior_treatments" in detail["flags"]
    [score] = detail["scores"]["phq9"]
    assert score["total"] == 17 and is_iso_with_offset(score["at"])
    reasons = {escalation["reason"] for escalation in detail["open_escalations"]}
    assert {"referral_contact", "phq9_item9"} <= reasons
    assert all(is_iso_with_offset(timer["due_at"]) for timer in detail["pending_timers"])
    assert {"escalation_deadline"} <= {timer["kind"] for timer in detail["pending_timers"]}

    planned = api.workflow_in("treatment_planned")
    booked = api.post_event(planned, "session.scheduled", {"session": "s1", "start": local_time(3), "dose_mg": 56})
    assert booked.status_code == 200
    with api.client("coordinator") as client:
        detail = client.get(f"/v1/workflows/{planned}").json()
    [session] = detail["sessions"]
    assert (session["session"], session["status"], session["route"]) == ("s1", "scheduled", "esketamine")
    assert detail["stage"] == "induction"
    assert any(timer["session"] == "s1" for timer in detail["pending_timers"])


def test_an_event_not_allowed_in_the_stage_is_409_naming_stage_rule_and_allowed_events(api: ApiServer) -> None:
    workflow_id = api.referral()["workflow_id"]
    response = api.post_event(workflow_id, "session.scheduled", {"session": "s1", "start": local_time(1)})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "not_allowed"
    assert error["details"]["stage"] == "referred"
    assert error["details"]["rule"] == "stage_allows_event"
    assert "evaluation.scheduled" in error["details"]["allowed_events"]
    assert "referred" in error["message"] and "evaluation.scheduled" in error["message"]


def test_a_clinical_gate_refusal_is_409_with_its_rule(api: ApiServer) -> None:
    workflow_id = api.workflow_in("treatment_planned")
    assert api.post_event(workflow_id, "session.scheduled", {"session": "s1", "start": local_time(0.01)}).status_code == 200
    response = api.post_event(workflow_id, "dose.administered", {"session": "s1", "dose_mg": 56}, role="clinician")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] in {"not_allowed", "rule"} and error["details"]["rule"]
    assert error["details"]["stage"] == "induction"


def test_invalid_data_is_422_naming_the_field(api: ApiServer) -> None:
    workflow_id = api.referral()["workflow_id"]
    response = api.post_event(workflow_id, "evaluation.scheduled", {"start": "not a time"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["details"]["field"]) == ("invalid_data", "start")
    assert "start" in error["message"]

    missing = api.post_event(workflow_id, "vitals.recorded", {"session": "s1", "phase": "pre_dose"}, role="clinician")
    assert missing.status_code == 422 and missing.json()["error"]["details"]["field"] == "systolic"

    with api.client("coordinator") as client:
        bad_phone = client.post("/v1/referrals", json=referral_body(phone="555-0101"))
        no_consent = client.post("/v1/referrals", json={**referral_body(), "patient": {"name": "P", "phone": new_phone()}})
        unknown_type = client.post(f"/v1/workflows/{workflow_id}/events", json={"type": "session.teleported", "data": {}})
    assert bad_phone.status_code == 422 and bad_phone.json()["error"]["details"]["field"] == "patient.phone"
    assert "555-0101" not in bad_phone.text  # errors name the field, never echo the value
    assert no_consent.status_code == 422 and no_consent.json()["error"]["details"]["field"] == "patient.sms_consent"
    assert unknown_type.status_code == 422 and unknown_type.json()["error"]["details"]["field"] == "type"


def test_text_postgresql_cannot_store_is_422_not_500(api: ApiServer) -> None:
    with api.client("coordinator") as client:
        response = client.post("/v1/referrals", json=referral_body(referrer="Dr.\u0000Alvarez"))
    assert response.status_code == 422 and response.json()["error"]["details"]["field"] == "referrer"
    far = api.post_event(api.referral()["workflow_id"], "evaluation.scheduled", {"start": "9999-12-31T23:00:00"})
    assert far.status_code == 422 and far.json()["error"]["details"]["field"] == "start"


def test_unknown_workflow_is_404(api: ApiServer) -> None:
    with api.client("admin") as client:
        for path in (f"/v1/workflows/{uuid.uuid4()}", "/v1/workflows/not-a-uuid", f"/v1/workflows/{uuid.uuid4()}/events"):
            response = client.get(path)
            assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
        posted = client.post(f"/v1/workflows/{uuid.uuid4()}/events",
                             json={"type": "evaluation.scheduled", "data": {"start": local_time(1)}})
    assert posted.status_code == 404


def test_idempotency_keys_over_http(api: ApiServer) -> None:
    body = referral_body(idempotency_key=f"referral-{uuid.uuid4()}")
    with api.client("coordinator") as client:
        first, again = client.post("/v1/referrals", json=body), client.post("/v1/referrals", json=body)
        assert first.status_code == again.status_code == 201
        assert again.json()["workflow_id"] == first.json()["workflow_id"]
        assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
        workflow_id = first.json()["workflow_id"]

        event = {"type": "evaluation.scheduled", "data": {"start": local_time(2)}, "idempotency_key": "book-eval-1"}
        one = client.post(f"/v1/workflows/{workflow_id}/events", json=event)
        two = client.post(f"/v1/workflows/{workflow_id}/events", json=event)
        assert one.status_code == two.status_code == 200
        assert one.json()["event_id"] == two.json()["event_id"] and two.json()["duplicate"] is True
        history = client.get(f"/v1/workflows/{workflow_id}/events").json()
    assert [item["type"] for item in history["items"]] == ["referral.received", "evaluation.scheduled"]


def test_history_lists_every_event_with_its_actor_in_order(api: ApiServer) -> None:
    workflow_id = api.workflow_in("treatment_planned")
    with api.client("ops") as client:
        history = client.get(f"/v1/workflows/{workflow_id}/events").json()
        page = client.get(f"/v1/workflows/{workflow_id}/events", params={"limit": 1, "offset": 1}).json()
    assert [item["type"] for item in history["items"]] == ["referral.received", "evaluation.scheduled",
                                                           "evaluation.completed"]
    assert [item["seq"] for item in history["items"]] == [1, 2, 3]
    assert [item["actor"] for item in history["items"]] == [
        {"role": "coordinator", "name": api.names["coordinator"], "user_id": api.user_ids["coordinator"]},
        {"role": "coordinator", "name": api.names["coordinator"], "user_id": api.user_ids["coordinator"]},
        {"role": "clinician", "name": api.names["clinician"], "user_id": api.user_ids["clinician"]},
    ]
    # Ops see ids, codes and times, not who the patient is nor who referred them and why (issue #14 item 5: the
    # referrer used to be shown; the data is now an allowlist, `api.views.OPS_EVENT_DATA`).
    assert history["items"][0]["data"] == {"urgency": "routine"}
    assert history["items"][1]["data"].keys() == {"start", "appointment"}
    assert all(is_iso_with_offset(item["occurred_at"]) for item in history["items"])
    assert (page["total"], page["next_offset"], [i["seq"] for i in page["items"]]) == (3, 2, [2])


def test_lists_paginate_and_filter_by_stage_and_flag(start_api) -> None:
    server = start_api()
    few = [server.referral(prior_treatments=0)["workflow_id"] for _ in range(2)]
    many = [server.referral(prior_treatments=4)["workflow_id"] for _ in range(3)]
    for workflow_id in many[:2]:
        assert server.post_event(workflow_id, "evaluation.scheduled", {"start": local_time(2)}).status_code == 200

    with server.client("coordinator") as client:
        first = client.get("/v1/workflows", params={"limit": 2}).json()
        rest = client.get("/v1/workflows", params={"limit": 2, "offset": 4}).json()
        referred = client.get("/v1/workflows", params={"stage": "referred"}).json()
        booked = client.get("/v1/workflows", params={"stage": "evaluation_scheduled"}).json()
        flagged = client.get("/v1/workflows", params={"flag": "low_prior_treatments", "limit": 1}).json()
        flagged_booked = client.get("/v1/workflows", params={"flag": "low_prior_treatments",
                                                             "stage": "evaluation_scheduled"}).json()
        bad_stage = client.get("/v1/workflows", params={"stage": "nowhere"})
        bad_limit = client.get("/v1/workflows", params={"limit": 0})

    assert (first["total"], len(first["items"]), first["next_offset"]) == (5, 2, 2)
    assert (len(rest["items"]), rest["next_offset"]) == (1, None)
    assert {item["workflow_id"] for item in booked["items"]} == set(many[:2])
    # Most recently changed first: the two just booked lead the unfiltered list.
    assert {item["workflow_id"] for item in first["items"]} == set(many[:2])
    assert {item["workflow_id"] for item in referred["items"]} == {*few, many[2]}
    assert flagged["total"] == 2 and flagged["items"][0]["workflow_id"] in few and flagged["next_offset"] == 1
    assert flagged_booked["total"] == 0
    assert first["items"][0]["patient_name"] == "Test Patient"
    assert bad_stage.status_code == bad_limit.status_code == 422
    assert bad_limit.json()["error"]["details"]["field"] == "query.limit"
