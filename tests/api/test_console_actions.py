"""Actions on the patient page come from the pathway itself: the events its rules allow in the stage for the role,
forms generated from the payloads, the engine's refusal shown beside the form with nothing written, one apply per form."""

from __future__ import annotations

import html as html_text
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from api_support import ApiServer, local_time
from console_support import (
    action_key,
    action_section,
    console,
    expected_actions,
    history,
    named_referral,
    offered,
    refusal_shown,
    unlabelled_controls,
)

from models.queries import load_state
from workflows.events import PAYLOADS
from workflows.stages import Stage

CLINIC = ZoneInfo("America/New_York")


def page(client, workflow_id: str) -> str:
    response = client.get(f"/console/patients/{workflow_id}")
    assert response.status_code == 200, response.text
    return response.text


def post(client, workflow_id: str, event: str, data: dict[str, str], key: str):
    return client.post(f"/console/patients/{workflow_id}/actions/{event}", data={"idempotency_key": key, **data})


@pytest.mark.parametrize("stage", ["referred", "evaluation_scheduled", "treatment_planned"])
@pytest.mark.parametrize("role", ["coordinator", "clinician", "admin"])
def test_the_actions_offered_are_the_events_the_rules_allow_for_the_stage_and_role(api: ApiServer, stage, role) -> None:
    workflow_id = api.workflow_in(stage)
    with console(api, role) as client:
        html = page(client, workflow_id)
    # Referred: the contact task is open (acknowledge, resolve); booking the evaluation closes it.
    assert set(offered(html)) == expected_actions(Stage(stage), role, open_escalation=stage == "referred")
    assert len(offered(html)) == len(set(offered(html)))
    assert unlabelled_controls(html) == []


def test_a_clinicians_only_event_is_not_offered_to_a_coordinator_and_refused_if_posted(api: ApiServer) -> None:
    workflow_id = api.workflow_in("evaluation_scheduled")
    with console(api, "coordinator") as client:
        assert "evaluation.completed" not in offered(page(client, workflow_id))
        response = post(client, workflow_id, "evaluation.completed",
                        {"eligible": "yes", "route": "esketamine"}, "k-coordinator")
    assert response.status_code == 403
    visible, details = refusal_shown(response.text)
    assert visible == ("Nothing was recorded: Your role (coordinator) cannot record “Eligibility and route”. "
                       "Ask a colleague who is a clinician.")
    assert "evaluation.completed" in details and "role_may_post" in details, "the codes only behind the toggle"
    assert "protocol rule: Who may record what (PROTOCOL.md §1 Who does what)" in details
    assert history(api, workflow_id) == ["referral.received", "evaluation.scheduled"]


def test_a_form_asks_for_its_payloads_fields_with_the_right_inputs(api: ApiServer) -> None:
    workflow_id = api.workflow_in("evaluation_scheduled")
    with console(api, "clinician") as client:
        form = action_section(page(client, workflow_id), "evaluation.completed")
    names = set(re.findall(r'name="([a-z_.]+)"', form)) - {"idempotency_key", "csrf_token"}
    assert names == set(PAYLOADS["evaluation.completed"].model_fields) - {"clinician"}  # the session says who
    assert re.search(r'<select id="evaluation-completed-eligible" name="eligible" required', form), "yes/no, required"
    assert '<option value="esketamine">esketamine</option>' in form and 'value="iv_ketamine"' in form
    assert 'type="checkbox" id="evaluation-completed-contraindications-1" name="contraindications"' in form
    assert "Recorded as Test Clinician" in form, "the signed-in user, never a typed name"
    assert 'type="number" id="evaluation-completed-weight-kg"' in form and 'step="any"' in form


def test_booking_the_evaluation_through_its_form_records_clinic_time(api: ApiServer) -> None:
    workflow_id = api.workflow_in("referred")
    start = local_time(3)[:16]  # what a datetime-local input sends: clinic time, minutes
    with console(api, "coordinator") as client:
        html = page(client, workflow_id)
        assert 'type="datetime-local" id="evaluation-scheduled-start"' in html
        response = post(client, workflow_id, "evaluation.scheduled", {"start": start, "appointment": "evaluation"},
                        action_key(html, "evaluation.scheduled"))
        assert response.status_code == 303
        assert response.headers["location"] == f"/console/patients/{workflow_id}?recorded=evaluation.scheduled#actions"
        after = client.get(response.headers["location"]).text
    assert "Recorded: book the evaluation." in after
    state = load_state(api.services.engine, workflow_id)
    assert state.stage == "evaluation_scheduled"
    assert state.appointments["evaluation"].start == datetime.fromisoformat(start).replace(tzinfo=CLINIC)
    assert set(offered(after)) == expected_actions(Stage.EVALUATION_SCHEDULED, "coordinator")


def test_a_refused_action_shows_the_engines_reason_keeps_the_input_and_writes_nothing(api: ApiServer) -> None:
    workflow_id = api.workflow_in("evaluation_scheduled")
    before = history(api, workflow_id)
    with console(api, "clinician") as client:
        html = page(client, workflow_id)
        key = action_key(html, "evaluation.completed")
        refused = post(client, workflow_id, "evaluation.completed",
                       {"eligible": "yes", "route": "", "weight_kg": "71.5"}, key)
    assert refused.status_code == 422
    form = action_section(refused.text, "evaluation.completed")
    assert form.startswith('" open>') or ' open>' in form.split("\n", 1)[0], "the refused form is drawn open"
    visible, _details = refusal_shown(refused.text)
    assert "Route is required when eligible" in visible and "invalid" not in visible and "evaluation." not in visible
    assert 'value="71.5"' in form and f'value="{key}"' in form, "input and key kept"
    assert history(api, workflow_id) == before


def test_an_event_the_stage_does_not_allow_is_refused_with_the_stage_and_the_allowed_events(api: ApiServer) -> None:
    workflow_id = api.workflow_in("evaluation_scheduled")
    with console(api, "coordinator") as client:
        # A form drawn while the patient was still `referred` (another tab), sent after the evaluation was booked.
        refused = post(client, workflow_id, "evaluation.scheduled", {"start": local_time(4)[:16]}, "stale-tab")
    assert refused.status_code == 409
    visible, details = refusal_shown(refused.text)
    assert visible == ("Nothing was recorded: “Book the evaluation” does not apply while the patient is at stage "
                       "“evaluation scheduled”. Open the patient's page: it offers only what applies to the patient "
                       "now.")
    assert "_" not in visible and "evaluation.scheduled" not in visible, "no codes in what staff read"
    assert "stage_allows_event" in details and "evaluation_scheduled" in details and "evaluation.rescheduled" in details
    assert "What each stage allows (PROTOCOL.md §2 Stages of a patient's workflow)" in details
    assert history(api, workflow_id) == ["referral.received", "evaluation.scheduled"]


def test_a_word_in_a_number_box_is_refused_before_the_engine(api: ApiServer) -> None:
    workflow_id = api.workflow_in("evaluation_scheduled")
    with console(api, "clinician") as client:
        refused = post(client, workflow_id, "evaluation.completed",
                       {"eligible": "yes", "route": "iv_ketamine", "weight_kg": "seventy"}, "k1")
    assert refused.status_code == 422
    assert '<p class="field-error" id="evaluation-completed-weight-kg-error">must be a number</p>' in refused.text
    assert history(api, workflow_id) == ["referral.received", "evaluation.scheduled"]


def test_the_same_form_sent_twice_is_applied_once(api: ApiServer) -> None:
    workflow_id = api.workflow_in("treatment_planned")
    with console(api, "coordinator") as client:
        html = page(client, workflow_id)
        booking = action_section(html, "session.scheduled")
        assert '<input type="hidden" name="session" value="s1">' in booking, "the id is generated, never typed"
        assert not re.search(r'<label for="[^"]*session"', booking)
        data = {"session": "s1", "start": local_time(2)[:16]}
        key = action_key(html, "session.scheduled")
        first, second = (post(client, workflow_id, "session.scheduled", data, key) for _ in range(2))
    assert first.headers["location"].endswith("?recorded=session.scheduled#actions")
    assert second.headers["location"].endswith("?duplicate=session.scheduled#actions")
    assert history(api, workflow_id).count("session.scheduled") == 1
    assert load_state(api.services.engine, workflow_id).stage == "induction"


def test_session_fields_offer_the_workflows_sessions_and_link_them_to_the_chair(api: ApiServer) -> None:
    workflow_id = api.workflow_in("treatment_planned")
    assert api.post_event(workflow_id, "session.scheduled", {"session": "s1", "start": local_time(2)}).status_code == 200
    with console(api, "clinician") as client:
        html = page(client, workflow_id)
    arrived = action_section(html, "session.arrived")
    assert re.search(r'<option value="s1" selected>\w{3} \d\d \w{3} \d\d:\d\d · induction session · scheduled</option>',
                     arrived)
    assert '<input type="hidden" name="session" value="s2">' in action_section(html, "session.scheduled"), \
        "a new session gets the next free id"
    assert f'href="/console/chair/{workflow_id}/s1"' in html and 'href="/console/calendar"' in html


def test_an_assessment_form_scores_the_answers_and_the_trend_shows_them(api: ApiServer) -> None:
    workflow_id, _phone = named_referral(api, "Console Assessment Patient")
    with console(api, "clinician") as client:
        html = page(client, workflow_id)
        response = post(client, workflow_id, "assessment.submitted",
                        {"instrument": "phq9", "answers": "2, 2, 1, 1, 1, 1, 1, 1, 0"},
                        action_key(html, "assessment.submitted"))
        assert response.status_code == 303
        after = page(client, workflow_id)
    assert "PCL-5 and PHQ-9 trend" in after and '<svg class="trend"' in after
    assert re.search(r"<td>PHQ-9</td><td class=\"num\">10</td>", after)


def test_ops_cannot_open_patient_pages_or_post_actions(api: ApiServer) -> None:
    workflow_id, phone = named_referral(api, "Console Ops Privacy Patient")
    with console(api, "ops") as client:
        html = client.get(f"/console/patients/{workflow_id}")
        refused = post(client, workflow_id, "evaluation.scheduled", {"start": local_time(2)[:16]}, "k-ops")
    assert html.status_code == refused.status_code == 403
    for text in (html.text, refused.text):
        assert "Console Ops Privacy Patient" not in text and phone not in text
    assert history(api, workflow_id) == ["referral.received"]


def test_odd_ids_and_keys_are_answered_not_crashed_on(api: ApiServer) -> None:
    workflow_id = api.workflow_in("referred")
    with console(api, "coordinator") as client:
        assert client.get("/console/patients/not-a-workflow").status_code == 404
        assert client.get("/console/patients/%00").status_code == 404
        assert post(client, "nope", "evaluation.scheduled", {"start": local_time(2)[:16]}, "k").status_code == 404
        assert post(client, workflow_id, "sms.received", {"from": "+15555550100", "body": "hi"}, "k").status_code == 404
        nul_key = post(client, workflow_id, "evaluation.scheduled", {"start": local_time(2)[:16]}, "bad\x00key")
    assert nul_key.status_code == 303, "an unstorable key is dropped, the event still recorded once"
    assert history(api, workflow_id) == ["referral.received", "evaluation.scheduled"]


def test_actions_about_a_session_or_an_escalation_are_offered_only_when_one_applies(api: ApiServer) -> None:
    workflow_id = api.workflow_in("treatment_planned")
    with console(api, "clinician") as client:
        before = set(offered(page(client, workflow_id)))
        assert api.post_event(workflow_id, "session.scheduled", {"session": "s1", "start": local_time(2)}).status_code == 200
        booked = set(offered(page(client, workflow_id)))
        assert api.post_event(workflow_id, "session.confirmed", {"session": "s1"}).status_code == 200
        confirmed = set(offered(page(client, workflow_id)))
    at_the_desk = {"session.confirmed", "session.arrived", "session.cancelled", "session.rescheduled"}
    at_the_chair = {"vitals.recorded", "dose.administered", "session.discharged", "rems.form_submitted"}
    assert not before & (at_the_desk | at_the_chair), "no session yet: nothing to confirm, cancel or chart"
    assert not before & {"escalation.acknowledged", "escalation.resolved"}, "no open escalation: nothing to take"
    assert at_the_desk <= booked and not booked & at_the_chair
    assert "session.confirmed" not in confirmed and {"session.arrived", "session.cancelled"} <= confirmed


def test_labels_and_history_read_as_sentences_in_clinic_time_with_the_codes_behind_a_toggle(api: ApiServer) -> None:
    workflow_id = api.workflow_in("treatment_planned")
    start = local_time(2)[:16]
    assert api.post_event(workflow_id, "session.scheduled", {"session": "s1", "start": start}).status_code == 200
    with console(api, "coordinator") as client:
        html = page(client, workflow_id)
    summaries = re.findall(r'<details class="action"[^>]*>\s*<summary>(.*?)</summary>', html, re.S)
    assert summaries and not [s for s in summaries if re.search(r"\w\.\w|<code>", s)], "no event type as a label"
    entries = re.findall(r'<li id="event-\d+" class="[^"]*" data-type="([a-z_.]+)">(.*?)</li>', html, re.S)
    newest_type, newest = entries[0]
    assert newest_type == "session.scheduled"
    said = re.search(r'<span class="what">(.*?)</span>', newest).group(1)
    assert said == f"Dosing session booked for {start.replace('T', ' ')}.", "a sentence, in clinic time"
    toggle = html_text.unescape(
        re.search(r'<details class="data"><summary>Recorded data</summary>(.*?)</details>', newest, re.S).group(1))
    assert "session.scheduled" in toggle and '"session": "s1"' in toggle, "the raw payload, behind the toggle"
    oldest = re.search(r'<span class="what">(.*?)</span>', entries[-1][1]).group(1)
    assert oldest.startswith("Referral received from Dr. Alvarez")
