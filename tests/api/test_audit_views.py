"""Every view or change of a patient's data is in the audit trail, recorded by the pages' and the API's shared
dependencies (who, which patient, which route, when, from which address); the admin's search finds it, with the
changes the patient's history holds beside it; the trail cannot be searched through the address bar."""

from __future__ import annotations

import re
import uuid

from accounts_support import browser, entries, new_address
from api_support import ApiServer, local_time, new_phone, referral_body
from signin_support import sign_in

from models.queries import inbox


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
        client.get("/console/patients")  # the list: recorded as lists are (below), not as a view of one patient
    seen = entries(guarded, user_id=staff.id, patient_id=patient_id, actions=("view",))
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


def test_lists_searches_and_inbox_texts_are_recorded_without_what_was_searched(guarded: ApiServer) -> None:
    """Issue #14 item 7: a list or search of patients is one `list_viewed` entry (which list, how many, the page and
    filters, never the search) and a `listed` entry per patient it showed; opening a text in the staff inbox is a
    `view` of the text (and of its patient, when it has one)."""
    name = f"Listed Patient {uuid.uuid4().hex[:8]}"
    phone = new_phone()
    with guarded.client("coordinator") as api:
        made = api.post("/v1/referrals", json=referral_body(phone=phone, patient={
            "name": name, "phone": phone, "timezone": "America/New_York", "sms_consent": True})).json()
    sid = f"SM{uuid.uuid4().hex}"
    text = {"From": phone, "To": "+15555550100", "Body": "Thanks, see you then", "MessageSid": sid}
    with guarded.client() as twilio:
        signed = {"X-Twilio-Signature": guarded.sign("/v1/webhooks/twilio/sms", text)}
        assert twilio.post("/v1/webhooks/twilio/sms", data=text, headers=signed).status_code == 200
    [inbox_id] = [r.text.id for r in inbox.inbox_page(guarded.services.engine, limit=500).rows
                  if r.text.provider_id == sid]
    staff = guarded.new_staff("coordinator", "Listing Coordinator")
    with browser(guarded.base_url, new_address()) as client:
        sign_in(client, staff)
        found = client.post("/console/patients", data={"q": name, "stage": "referred"})
        assert found.status_code == 200 and made["workflow_id"] in found.text
        assert client.get("/console/inbox", params={"show": "all"}).status_code == 200
        assert client.get(f"/console/inbox/{inbox_id}").status_code == 200
    mine = entries(guarded, user_id=staff.id)
    lists = [e for e in mine if e.action == "list_viewed"]
    searched = next(e for e in lists if e.route == "/console/patients")
    assert (searched.method, searched.patient_id, searched.detail) == (
        "POST", None, "patients: 1 shown of 1; page 1 of 1; searched; stage=referred")
    assert any(e.route == "/console/inbox" and e.detail.startswith("inbox: ") and "show=all" in e.detail for e in lists)
    listed = {(e.route, e.workflow_id) for e in mine if e.action == "listed" and e.patient_id == made["patient_id"]}
    assert {("/console/patients", made["workflow_id"]), ("/console/inbox", made["workflow_id"])} <= listed
    [viewed] = [e for e in mine if e.action == "view" and e.target_id == inbox_id]
    assert (viewed.route, viewed.patient_id, viewed.workflow_id, viewed.detail) == (
        "/console/inbox/{inbox_id}", made["patient_id"], made["workflow_id"], "inbox text")
    everything = " ".join(f"{e.detail} {e.route}" for e in mine)
    assert name not in everything and "Listed Patient" not in everything and phone not in everything


def test_api_lists_and_the_worklist_record_the_patients_they_showed(guarded: ApiServer) -> None:
    """The API's workflow list and worklist, and the console worklist, are lists of patients too: each is a
    `list_viewed` entry and a `listed` entry per patient shown; ops (ids only) sees no patient data, so theirs are not."""
    phone = new_phone()
    with guarded.client("coordinator") as api:
        made = api.post("/v1/referrals", json=referral_body(phone=phone)).json()  # its contact task is on the worklist
    with guarded.client("clinician") as api:
        listed = api.get("/v1/workflows", params={"stage": "referred", "limit": 200}).json()
        assert made["workflow_id"] in {item["workflow_id"] for item in listed["items"]}
        on_worklist = api.get("/v1/escalations", params={"workflow_id": made["workflow_id"]}).json()
        assert on_worklist["items"], "the referral's contact task is on the worklist"
    with guarded.client("ops") as ops:
        assert ops.get("/v1/workflows", params={"stage": "referred", "limit": 200}).status_code == 200
    staff = guarded.new_staff("clinician", "Worklist Clinician")
    with browser(guarded.base_url, new_address()) as client:
        sign_in(client, staff)
        assert client.get("/console/worklist").status_code == 200
    routes = {e.route for e in entries(guarded, patient_id=made["patient_id"], actions=("listed",))}
    assert {"/v1/workflows", "/v1/escalations", "/console/worklist"} <= routes
    lists = [e for e in entries(guarded, actions=("list_viewed",)) if e.route == "/v1/workflows"]
    assert any("stage=referred" in e.detail for e in lists)
    assert guarded.user_ids["clinician"] in {e.user_id for e in lists}
    assert guarded.user_ids["ops"] not in {e.user_id for e in lists}, "ops saw ids only: no patient data to record"
