"""The REMS Patient Monitoring Form over HTTP: the page and the PDF carry what was charted at the chair and say "not
recorded" for what was not; "Mark submitted" records `rems.form_submitted` and closes the session's worklist item."""

from __future__ import annotations

import html as htmllib
import io
import re
import uuid
from datetime import UTC, datetime, timedelta

from api_support import CLINIC_ZONE, ApiServer
from console_rooms_support import at_the_chair, form_key, history, logged_in, minutes_ago, refusal, workflow
from pypdf import PdfReader

NORMAL = {"systolic": "122", "diastolic": "78", "heart_rate": "72"}


def chair_url(workflow_id: str) -> str:
    return f"/console/chair/{workflow_id}/s1"


def form_url(workflow_id: str) -> str:
    return f"{chair_url(workflow_id)}/rems-form"


def submit(client, workflow_id: str, action: str, data: dict):
    key = form_key(client.get(chair_url(workflow_id)).text)
    response = client.post(f"{chair_url(workflow_id)}/{action}", data={"key": key, **data})
    assert response.status_code == 303, refusal(response.text)


def field(page: str, name: str) -> str:
    found = re.search(rf'id="field-{name}">(.*?)</dd>', page, re.S)
    assert found, f"no field {name} on the page"
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


def monitored(client, workflow_id: str, discharge: dict | None = None) -> None:
    """Charted late, as a clinician does after a busy morning: arrival, the three readings, the dose, discharge."""
    submit(client, workflow_id, "arrived", {"at": minutes_ago(130)})
    submit(client, workflow_id, "vitals", {"phase": "pre_dose", "systolic": "128", "diastolic": "82",
                                           "heart_rate": "70", "spo2": "98", "at": minutes_ago(128)})
    submit(client, workflow_id, "dose", {"dose": "56", "ride_confirmed": "yes", "fasting_confirmed": "yes",
                                         "at": minutes_ago(125)})
    submit(client, workflow_id, "vitals", {"phase": "post_dose", "systolic": "134", "diastolic": "86", "spo2": "94",
                                           "respiratory_status": "normal", "sedation": "present",
                                           "dissociation": "present", "at": minutes_ago(85)})
    submit(client, workflow_id, "vitals", {"phase": "pre_discharge", **NORMAL, "sedation": "none",
                                           "dissociation": "none"})
    if discharge is not None:
        submit(client, workflow_id, "discharge", {"sedation_resolved": "yes", "dissociation_resolved": "yes",
                                                  **discharge})


def test_the_form_page_carries_what_was_charted(api: ApiServer) -> None:
    workflow_id, name = at_the_chair(api, arrived=False)
    with logged_in(api, "clinician") as client:
        monitored(client, workflow_id, {"adverse_events": "nausea, settled by discharge"})
        page = client.get(form_url(workflow_id))
    assert page.status_code == 200
    text = page.text
    assert name in text and field(text, "enrollment") == "REMS-TEST" and field(text, "dose") == "56 mg"
    assert field(text, "bp-pre_dose").startswith("128/82 mmHg at ")
    assert field(text, "bp-post_dose").startswith("134/86 mmHg at ")
    assert field(text, "bp-pre_discharge").startswith("122/78 mmHg at ")
    assert field(text, "spo2") == "94%"  # the lowest of the readings that had one
    assert (field(text, "sedation"), field(text, "dissociation"), field(text, "respiratory")) == ("yes", "yes", "no")
    assert field(text, "adverse") == "nausea, settled by discharge"
    discharged = next(e for e in history(api, workflow_id) if e["type"] == "session.discharged")
    assert field(text, "clinician") == discharged["data"]["clinician"]
    assert field(text, "ready") != "not recorded"
    # The pre-discharge reading had no SpO2: its row says so rather than repeating another reading's.
    rows = re.findall(r"<tr><td>[^<]+</td><td>Before discharge</td>(.*?)</tr>", text)
    assert rows and "<td>not recorded</td>" in rows[0]
    # Day 7 after the discharge, in clinic time, is the last day (the engine's overdue timer is the midnight after it).
    discharged_on = datetime.fromisoformat(discharged["occurred_at"]).astimezone(CLINIC_ZONE).date()
    last_day = (discharged_on + timedelta(days=7)).strftime("%a %Y-%m-%d")
    assert f"send it by the end of <strong>{last_day}</strong>" in text and 'id="mark-submitted"' in text


def test_what_was_not_recorded_reads_not_recorded(api: ApiServer) -> None:
    workflow_id, _ = at_the_chair(api, arrived=False)
    with logged_in(api, "clinician") as client:
        submit(client, workflow_id, "arrived", {"at": minutes_ago(30)})
        submit(client, workflow_id, "vitals", {"phase": "pre_dose", **NORMAL, "at": minutes_ago(25)})
        submit(client, workflow_id, "dose", {"dose": "56", "ride_confirmed": "yes", "fasting_confirmed": "yes",
                                             "at": minutes_ago(20)})
        page = client.get(form_url(workflow_id)).text
    for name in ("bp-post_dose", "bp-pre_discharge", "spo2", "sedation", "dissociation", "respiratory", "ready",
                 "clinician", "adverse"):
        assert field(page, name) == "not recorded", name
    assert "The patient is not discharged yet" in page and 'id="mark-submitted"' not in page


def test_the_pdf_has_the_same_fields(api: ApiServer) -> None:
    workflow_id, name = at_the_chair(api, arrived=False)
    with logged_in(api, "clinician") as client:
        monitored(client, workflow_id, {})
        response = client.get(f"{form_url(workflow_id)}.pdf")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert name not in response.headers["content-disposition"] and workflow_id in response.headers["content-disposition"]
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    text = " ".join(text.split())
    for expected in ("SPRAVATO REMS Patient Monitoring Form", name, "REMS-TEST", "56 mg", "128/82 mmHg",
                     "134/86 mmHg", "122/78 mmHg", "Lowest SpO2 (pulse oximetry) 94%", "Sedation yes",
                     "Respiratory depression no", "Adverse events none recorded", "Submitted to the REMS not yet",
                     "Due by the end of "):
        assert expected in text, expected


def test_mark_submitted_records_the_event_and_closes_the_forms_worklist_item(api: ApiServer) -> None:
    workflow_id, _ = at_the_chair(api, arrived=False)
    with logged_in(api, "coordinator") as coordinator, logged_in(api, "clinician") as clinician:
        monitored(clinician, workflow_id, {})
        assert [e["reason"] for e in workflow(api, workflow_id)["open_escalations"]] == ["rems_form_due"]
        assert f'href="{form_url(workflow_id)}">the REMS form</a>' in coordinator.get("/console/worklist").text
        page = coordinator.get(form_url(workflow_id)).text
        done = coordinator.post(f"{form_url(workflow_id)}/submitted", data={"key": form_key(page)})
        assert done.status_code == 303 and done.headers["location"].endswith("/rems-form?msg=submitted")
        after = coordinator.get(done.headers["location"]).text
        patient_page = coordinator.get(f"/console/patients/{workflow_id}").text
        assert f'<a href="{form_url(workflow_id)}">REMS form</a> submitted' in patient_page
        assert "The REMS form is marked submitted." in after and 'id="mark-submitted"' not in after
        before = history(api, workflow_id)
        again = coordinator.post(f"{form_url(workflow_id)}/submitted", data={"key": str(uuid.uuid4())})
    submitted = [e for e in history(api, workflow_id) if e["type"] == "rems.form_submitted"]
    assert len(submitted) == 1 and submitted[0]["data"] == {"session": "s1"}
    assert submitted[0]["actor"]["role"] == "coordinator"
    assert workflow(api, workflow_id)["open_escalations"] == []
    assert again.status_code == 409 and "already" in refusal(again.text)
    assert history(api, workflow_id) == before


def test_only_esketamine_sessions_have_a_form(api: ApiServer) -> None:
    workflow_id, name = at_the_chair(api, route="iv_ketamine")
    with logged_in(api, "clinician") as client:
        page = client.get(form_url(workflow_id))
        chair = client.get(chair_url(workflow_id)).text
    assert page.status_code == 404 and name not in page.text and 'id="rems-form-link"' not in chair


def test_the_pdf_draws_names_beyond_latin_1_without_failing() -> None:
    from zoneinfo import ZoneInfo

    from api.console.rems_pdf import render_pdf
    from workflows.rems import RemsForm

    form = RemsForm(date_of_birth=None, enrollment_id="REMS-1", session_id="s1",
                    session_day=datetime(2026, 3, 3, 15, tzinfo=UTC),
                    dose="56 mg", dosed_at=None, bp={"pre_dose": None, "post_dose": None, "pre_discharge": None},
                    readings=[], lowest_spo2="not recorded", sedation="not recorded", dissociation="not recorded",
                    respiratory_depression="not recorded", ready_for_discharge=None, monitored_minutes=None,
                    adverse_events="not recorded", clinician="Dr. Łukasz Wróbel", deadline=None, submitted=False)
    body = render_pdf(form, "Nguyễn Thị Zoë", "Riverside — Clinic", ZoneInfo("America/New_York"))
    text = " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages).split())
    assert "Nguyen Thi Zoë" in text and "Dr. Lukasz Wróbel" in text and "Riverside - Clinic" in text
    assert "Session date 2026-03-03" in text and "Dose given at not recorded" in text


def test_ops_cannot_open_the_form_or_its_pdf_or_mark_it(api: ApiServer) -> None:
    workflow_id, name = at_the_chair(api)
    with logged_in(api, "ops") as ops:
        for response in (ops.get(form_url(workflow_id)), ops.get(f"{form_url(workflow_id)}.pdf"),
                         ops.post(f"{form_url(workflow_id)}/submitted", data={})):
            assert response.status_code == 403 and name not in response.text
    assert not any(e["type"] == "rems.form_submitted" for e in history(api, workflow_id))


def test_the_api_shows_the_monitoring_record_but_not_to_ops(api: ApiServer) -> None:
    workflow_id, _ = at_the_chair(api, arrived=False)
    with logged_in(api, "clinician") as client:
        monitored(client, workflow_id, {"adverse_events": "headache"})
    session = next(s for s in workflow(api, workflow_id)["sessions"] if s["session"] == "s1")
    assert [(v["phase"], v["spo2"], v["sedation"], v["respiratory_status"]) for v in session["vitals"]] == [
        ("pre_dose", 98, None, None), ("post_dose", 94, "present", "normal"), ("pre_discharge", None, "none", None)]
    assert (session["adverse_events"], session["rems_form_submitted"]) == ("headache", False)
    with api.client("ops") as ops:
        seen = next(s for s in ops.get(f"/v1/workflows/{workflow_id}").json()["sessions"] if s["session"] == "s1")
    assert seen["vitals"] == [] and seen["adverse_events"] is None
