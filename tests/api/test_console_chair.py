"""The chair over HTTP: the gates panel agrees with the engine's refusals, an early discharge is refused with its reason
and nothing written, a charted-late session is discharged, and roles see and do only what the pathway allows."""

from __future__ import annotations

import re

from api_support import ApiServer
from console_rooms_support import (
    at_the_chair,
    form_key,
    gate_states,
    history,
    logged_in,
    minutes_ago,
    open_rules,
    refusal,
    session_of,
)
from console_support import unlabelled_controls

NORMAL = {"systolic": "122", "diastolic": "78", "heart_rate": "72", "spo2": "98"}


def chair_url(workflow_id: str) -> str:
    return f"/console/chair/{workflow_id}/s1"


def submit(client, workflow_id: str, action: str, data: dict):
    """Fill a chair form the way a browser does: with the page's own idempotency key."""
    key = form_key(client.get(chair_url(workflow_id)).text)
    return client.post(f"{chair_url(workflow_id)}/{action}", data={"key": key, **data})


def test_the_chair_needs_a_staff_login(api: ApiServer) -> None:
    workflow_id, name = at_the_chair(api)
    with logged_in(api, "ops") as ops:
        page = ops.get(chair_url(workflow_id))
        assert page.status_code == 403 and name not in page.text
        assert ops.post(f"{chair_url(workflow_id)}/dose", data={}).status_code == 403
    with logged_in(api, "clinician") as client:
        client.cookies.clear()
        assert client.get(chair_url(workflow_id)).headers["location"] == "/login"
    with logged_in(api, "clinician") as client:
        assert client.get(f"/console/chair/{workflow_id}/nope").status_code == 404
        assert client.get("/console/chair/not-a-uuid/s1").status_code == 404


def test_a_dose_without_a_ride_home_is_refused_with_the_gate_the_panel_shows_open(api: ApiServer) -> None:
    workflow_id, name = at_the_chair(api)
    with logged_in(api, "clinician") as client:
        assert submit(client, workflow_id, "vitals", {"phase": "pre_dose", **NORMAL}).status_code == 303
        page = client.get(chair_url(workflow_id))
        assert name in page.text and unlabelled_controls(page.text) == []  # vitals and dose forms
        assert gate_states(page.text) == {"one_dose_at_a_time": "passed", "bp_pre_dose": "passed",
                                          "rems_enrollment": "passed", "ride_home": "open", "fasting": "open"}
        before = history(api, workflow_id)
        refused = submit(client, workflow_id, "dose", {"dose": "56", "unit": "mg", "fasting_confirmed": "yes"})
    assert refused.status_code == 409
    shown = refusal(refused.text).lower()
    assert "ride home not confirmed" in shown and "nothing was recorded" in shown
    # The engine itself, asked through the API, refuses for a rule the chair showed open.
    engine = api.post_event(workflow_id, "dose.administered", {"session": "s1", "dose_mg": 56, "fasting_confirmed": True},
                            "clinician").json()["error"]
    assert engine["details"]["rule"] in open_rules(refused.text) and engine["details"]["rule"] == "ride_home"
    assert history(api, workflow_id) == before and session_of(api, workflow_id)["status"] == "arrived"
    assert 'id="dose-fasting" name="fasting_confirmed" value="yes" checked' in refused.text  # what was ticked stays


def test_without_rems_enrollment_the_gate_is_open_and_the_engine_refuses_for_it(api: ApiServer) -> None:
    workflow_id, _ = at_the_chair(api, rems=False)
    with logged_in(api, "clinician") as client:
        submit(client, workflow_id, "vitals", {"phase": "pre_dose", **NORMAL})
        assert gate_states(client.get(chair_url(workflow_id)).text)["rems_enrollment"] == "open"
        refused = submit(client, workflow_id, "dose", {"dose": "56", "ride_confirmed": "yes", "fasting_confirmed": "yes"})
    assert refused.status_code == 409 and "rule: rems_enrollment" in refusal(refused.text)
    assert "rems_enrollment" in open_rules(refused.text)


def test_an_early_discharge_is_refused_with_its_reason_and_the_countdown_and_nothing_is_written(api: ApiServer) -> None:
    workflow_id, _ = at_the_chair(api)
    with logged_in(api, "clinician") as client:
        submit(client, workflow_id, "vitals", {"phase": "pre_dose", **NORMAL})
        dosed = submit(client, workflow_id, "dose", {"dose": "56", "ride_confirmed": "yes", "fasting_confirmed": "yes"})
        assert dosed.status_code == 303 and dosed.headers["location"].endswith("?msg=dose")
        page = client.get(dosed.headers["location"])
        assert "Dose recorded." in page.text
        assert re.search(r'id="countdown-left" class="open"[^>]*>in (1h 5\dm|2h 0m)<', page.text), "server-side countdown"
        assert unlabelled_controls(page.text) == []  # vitals and discharge forms
        assert gate_states(page.text)["min_monitoring"] == "open"
        before = history(api, workflow_id)
        refused = submit(client, workflow_id, "discharge", {"sedation_resolved": "yes", "dissociation_resolved": "yes"})
    assert refused.status_code == 409
    shown = refusal(refused.text).lower()
    assert "minimum monitoring time not reached" in shown and "rule: min_monitoring" in shown
    assert history(api, workflow_id) == before and session_of(api, workflow_id)["status"] == "dosed"


def test_breathing_charted_as_depressed_holds_discharge_until_charted_normal(api: ApiServer) -> None:
    workflow_id, _ = at_the_chair(api, arrived=False)
    with api.browser() as client:
        api.sign_in(client, "clinician")
        for action, data in [("arrived", {"at": minutes_ago(130)}),
                             ("vitals", {"phase": "pre_dose", **NORMAL, "at": minutes_ago(128)}),
                             ("dose", {"dose": "56", "ride_confirmed": "yes", "fasting_confirmed": "yes",
                                       "at": minutes_ago(125)}),
                             ("vitals", {"phase": "post_dose", **NORMAL, "respiratory_status": "depressed",
                                         "at": minutes_ago(85)}),
                             ("vitals", {"phase": "pre_discharge", **NORMAL})]:
            response = submit(client, workflow_id, action, data)
            assert response.status_code == 303, refusal(response.text)
        page = client.get(chair_url(workflow_id))
        assert unlabelled_controls(page.text) == []  # the breathing select is labelled
        assert gate_states(page.text)["respiratory_resolved"] == "open"
        refused = submit(client, workflow_id, "discharge", {"sedation_resolved": "yes", "dissociation_resolved": "yes"})
        assert refused.status_code == 409 and "rule: respiratory_resolved" in refusal(refused.text)
        assert submit(client, workflow_id, "vitals", {"phase": "pre_discharge", **NORMAL,
                                                      "respiratory_status": "normal"}).status_code == 303
        done = submit(client, workflow_id, "discharge", {"sedation_resolved": "yes", "dissociation_resolved": "yes"})
        assert done.status_code == 303, refusal(done.text)


def test_a_session_charted_late_is_discharged_once_its_gates_are_closed(api: ApiServer) -> None:
    workflow_id, _ = at_the_chair(api, arrived=False)
    with api.browser() as client:
        staff = api.sign_in(client, "clinician")
        for action, data in [("arrived", {"at": minutes_ago(130)}),
                             ("vitals", {"phase": "pre_dose", **NORMAL, "at": minutes_ago(128)}),
                             ("dose", {"dose": "56", "ride_confirmed": "yes", "fasting_confirmed": "yes",
                                       "at": minutes_ago(125)}),
                             ("vitals", {"phase": "post_dose", **NORMAL, "at": minutes_ago(85)}),
                             ("vitals", {"phase": "pre_discharge", **NORMAL})]:
            response = submit(client, workflow_id, action, data)
            assert response.status_code == 303, refusal(response.text)
        page = client.get(chair_url(workflow_id))
        assert {name for name, state in gate_states(page.text).items() if state == "open"} == {
            "sedation_resolved", "dissociation_resolved"}
        assert 'id="countdown-left" class="passed"' in page.text
        done = submit(client, workflow_id, "discharge", {"sedation_resolved": "yes", "dissociation_resolved": "yes"})
        assert done.status_code == 303
        page = client.get(done.headers["location"])
    assert "Patient discharged." in page.text and 'id="session-status">discharged<' in page.text
    assert session_of(api, workflow_id)["status"] == "discharged"
    dose_event = next(e for e in history(api, workflow_id) if e["type"] == "dose.administered")
    assert dose_event["actor"] == {"role": "clinician", "name": staff.name, "user_id": staff.id}
    discharged = next(e for e in history(api, workflow_id) if e["type"] == "session.discharged")
    assert discharged["data"]["clinician"] == staff.name  # the signed-in clinician, from the session


def test_a_dose_charted_before_its_pre_dose_reading_is_refused_by_the_engine(api: ApiServer) -> None:
    workflow_id, _ = at_the_chair(api, arrived=False)
    with logged_in(api, "clinician") as client:
        for action, data in [("arrived", {"at": minutes_ago(40)}), ("vitals", {"phase": "pre_dose", **NORMAL,
                                                                                "at": minutes_ago(20)})]:
            assert submit(client, workflow_id, action, data).status_code == 303
        before = history(api, workflow_id)
        refused = submit(client, workflow_id, "dose", {"dose": "56", "ride_confirmed": "yes", "fasting_confirmed": "yes",
                                                       "at": minutes_ago(30)})
        assert "before the pre-dose reading" in refusal(refused.text) and "charted_in_order" in refused.text
    assert history(api, workflow_id) == before


def test_a_double_submitted_dose_is_recorded_once(api: ApiServer) -> None:
    workflow_id, _ = at_the_chair(api)
    with logged_in(api, "clinician") as client:
        submit(client, workflow_id, "vitals", {"phase": "pre_dose", **NORMAL})
        key = form_key(client.get(chair_url(workflow_id)).text)
        data = {"key": key, "dose": "56", "ride_confirmed": "yes", "fasting_confirmed": "yes"}
        first = client.post(f"{chair_url(workflow_id)}/dose", data=data)
        second = client.post(f"{chair_url(workflow_id)}/dose", data=data)
    assert first.status_code == second.status_code == 303
    assert [e["type"] for e in history(api, workflow_id)].count("dose.administered") == 1


def test_bad_input_is_refused_with_a_clear_message_and_nothing_is_written(api: ApiServer) -> None:
    workflow_id, _ = at_the_chair(api)
    before = history(api, workflow_id)
    with logged_in(api, "clinician") as client:
        cases = [({"phase": "pre_dose", **NORMAL, "systolic": "high"}, "Systolic must be a whole number"),
                 ({"phase": "pre_dose", **NORMAL, "at": minutes_ago(-30)}, "must not be in the future"),
                 ({"phase": "pre_dose", **NORMAL, "at": minutes_ago(60 * 13)}, "more than 12 hours ago"),
                 ({"phase": "pre_dose", **NORMAL, "diastolic": "130"}, "diastolic must be below systolic"),
                 ({"phase": "pre_dose", **NORMAL, "spo2": "101"},
                  "SpO₂ (%): 101% is not a pulse oximetry reading: give a whole percentage from 50 to 100"),
                 ({"phase": "post_dose", **NORMAL}, "not dosed yet")]
        for data, message in cases:
            response = submit(client, workflow_id, "vitals", data)
            assert response.status_code in (409, 422) and message.lower() in refusal(response.text).lower(), message
    assert history(api, workflow_id) == before


def test_a_coordinator_checks_the_patient_in_but_vitals_and_doses_are_a_clinicians(api: ApiServer) -> None:
    workflow_id, _ = at_the_chair(api, arrived=False)
    with logged_in(api, "coordinator") as client:
        assert submit(client, workflow_id, "arrived", {}).status_code == 303
        page = client.get(chair_url(workflow_id))
        assert 'id="vitals-locked"' in page.text and 'id="dose-locked"' in page.text
        before = history(api, workflow_id)
        forged = submit(client, workflow_id, "vitals", {"phase": "pre_dose", **NORMAL})
    assert forged.status_code == 403
    assert refusal(forged.text).startswith("Nothing was recorded: Your role cannot record “Blood pressure and vitals”.")
    assert history(api, workflow_id) == before and session_of(api, workflow_id)["status"] == "arrived"
