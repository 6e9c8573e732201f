"""Every view or change of a patient's data is in the audit trail, recorded by the pages' and the API's shared
dependencies (who, which patient, which route, when, from which address); the admin's search finds it, with the
changes the patient's history holds beside it; the trail cannot be searched through the address bar."""

from __future__ import annotations

import re

from accounts_support import browser, entries, new_address
from api_support import ApiServer, local_time
from signin_support import sign_in


def test_each_patient_page_and_api_read_is_recorded_with_who_where_and_from_where(guarded: ApiServer) -> None:
    workflow_id = guarded.workflow_in("treatment_planned")
    with guarded.client("clinician") as api:
        detail = api.get(f"/v1/workflows/{workflow_id}").json()
        patient_id = detail["patient_id"]
        api.post(f"/v1/workflows/{workflow_id}/events", json={"type": "session.scheduled",
                                                               "data": {"session": "s1", "start": local_time(1)}})
        api.get(f"/v1/workflows/{workflow_id}/events")
    staff, address = guarded.new_staff("clinician", "Auditable Clinician"), new_address()
    with browser(guarded.base_url, address) as client:
        sign_in(client, staff)
        for path in (f"/console/patients/{workflow_id}", f"/dashboard/patients/{workflow_id}",
                     f"/console/chair/{workflow_id}/s1"):
            assert client.get(path).status_code == 200, path
        assert client.get(f"/dashboard/patients/{workflow_id}?auto=1").status_code == 200  # reloading itself: not new
        client.get("/console/patients")  # the list: no one patient
    seen = entries(guarded, user_id=staff.id, patient_id=patient_id)
    assert [(e.action, e.method, e.route) for e in reversed(seen)] == [
        ("view", "GET", "/console/patients/{workflow_id}"),
        ("view", "GET", "/dashboard/patients/{workflow_id}"),
        ("view", "GET", "/console/chair/{workflow_id}/{session_id}")]
    assert all(e.address == address and e.workflow_id == workflow_id and e.at for e in seen)
    by_api = entries(guarded, patient_id=patient_id, actions=("view", "change"))
    assert {(e.action, e.route, e.detail) for e in by_api if e.detail == "api"} == {
        ("view", "/v1/workflows/{workflow_id}", "api"), ("change", "/v1/workflows/{workflow_id}/events", "api"),
        ("view", "/v1/workflows/{workflow_id}/events", "api")}


def test_the_admin_searches_by_patient_and_sees_the_changes_beside_the_views(guarded: ApiServer) -> None:
    workflow_id = guarded.workflow_in("evaluation_scheduled")
    with guarded.client("coordinator") as api:
        patient_id = api.get(f"/v1/workflows/{workflow_id}").json()["patient_id"]
    with browser(guarded.base_url, new_address()) as admin:
        sign_in(admin, guarded.new_staff("admin", "Searching Admin"))
        everything = admin.get(f"/admin/audit?patient_id={patient_id}")  # a query string filters nothing
        assert everything.status_code == 200 and f'value="{patient_id}"' not in everything.text
        found = admin.post("/admin/audit", data={"patient_id": patient_id, "since": "", "until": "", "user_id": ""})
        assert found.status_code == 200
        rows = re.findall(r'<tr data-action="(\w+)" data-patient="([0-9a-f-]{36})">', found.text)
        assert rows and {patient for _, patient in rows} == {patient_id} and ("view", patient_id) in rows
        assert "Changes to this patient's record" in found.text
        assert "<code>referral.received</code>" in found.text and "<code>evaluation.scheduled</code>" in found.text
        refused = admin.post("/admin/audit", data={"patient_id": "Jane Q. Patient"})
        assert refused.status_code == 422 and "Jane Q. Patient" in refused.text  # shown back to the admin only
    [searched] = entries(guarded, actions=("audit_searched",), patient_id=patient_id, limit=1)
    assert searched.detail == f"patient_id={patient_id}"
    assert all("Jane" not in (e.detail or "") for e in entries(guarded, actions=("audit_searched",)))
