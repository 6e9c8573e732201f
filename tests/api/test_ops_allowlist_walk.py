"""Ops see the minimum necessary, by allowlist (issue #14 item 5): synthetic patient data is planted in every free-text
field (the patient's name, phone and date of birth, the referrer, every reason and note, texts from patients and from
unknown numbers, staff replies, an idempotency key), then every route of the app — read from the app itself, so a
route added later is walked too — is requested as an ops user, GET with each query variant and POST with an empty
body, path parameters filled with the planted data's real ids. No marker may appear in any answer's body or headers
(403 and 404 are fine answers), nor in any log line written meanwhile.

A route whose path or query parameter this walk does not know fails the test: say in walk_support what to fill it with."""

from __future__ import annotations

import logging

import pytest
from api_support import ApiServer
from walk_support import NOT_WALKED, check, every_route, path_values, plant, requests_for, send

from models.queries import listing


def test_no_route_or_page_shows_ops_any_patient_data(api: ApiServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    planted = plant(api)
    ops = api.new_staff("ops", "Walking Ops", token=True)
    values = path_values(planted, ops.id)
    routes = list(every_route(api.app))
    assert {"/v1/workflows/{workflow_id}/events", "/dashboard/patients/{workflow_id}", "/console/inbox/{inbox_id}",
            "/metrics", "/openapi.json"} <= {r.path for r in routes}, "the walk reads the app's routes"
    walked, seen_ids = 0, False
    with api.browser() as client:
        api.sign_in(client, "ops")  # pages: the session cookie (and its form token)
        client.headers["Authorization"] = f"Bearer {ops.token}"  # the API: the ops token
        for method in ("GET", "POST", "GET"):  # the second GET sees what the POSTs (acknowledging, resolving) changed
            for route in (r for r in routes if r.method == method and r.path not in NOT_WALKED):
                for path, params in requests_for(route, values, planted):
                    response = send(client, method, path, params)
                    check(response, planted, f"{method} {path} {params or ''}")
                    seen_ids = seen_ids or (response.status_code == 200 and planted.workflows[0] in response.text)
                    walked += 1
        assert client.get("/dashboard").status_code == 200, "still signed in: the walk saw the pages as ops"
    assert walked > 300 and seen_ids, (walked, "ops saw the planted workflows, by id")
    logged = "\n".join(record.getMessage() for record in caplog.records if record.name.split(".")[0] != "httpx")
    assert not planted.leaks(logged), f"the log shows {planted.leaks(logged)}"


def test_the_walk_would_see_a_leak(api: ApiServer) -> None:
    """The markers are on the record: staff who see patients read them where ops cannot."""
    planted = plant(api)
    main = planted.workflows[0]
    with api.client("clinician") as client:
        history = client.get(f"/v1/workflows/{main}/events").text
        resolved = client.get("/v1/escalations", params={"status": "resolved", "limit": 200}).text
    assert {"main referral reason", "main referrer", "main name", "hold reason", "staff reply",
            "patient text"} <= set(planted.leaks(history))
    assert {"resolution note", "unknown number note"} <= set(planted.leaks(resolved))
    found = listing.escalations_page(api.services.engine, statuses=("resolved",), limit=500)
    assert any(planted.markers["resolution note"] in (record.note or "") for record, _ in found.rows)
