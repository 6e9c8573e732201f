"""The console's patients: search by name, phone or id; filters by stage, flag and open escalations; paging; and the
patient's page with the history as a timeline, sessions, messages, escalations and the trend; staff only."""

from __future__ import annotations

import re
import uuid

from api_support import ApiServer, local_time
from console_support import console, named_referral, unlabelled_controls

PHQ9_WITH_ITEM9 = {"instrument": "phq9", "answers": [2, 2, 1, 1, 1, 1, 1, 1, 1]}


def text_from(api: ApiServer, phone: str, body: str) -> None:
    """The patient texts the clinic, through the signed Twilio webhook."""
    text = {"From": phone, "To": "+15555550100", "Body": body, "MessageSid": f"SM{uuid.uuid4().hex}",
            "AccountSid": "AC" + "0" * 32, "NumMedia": "0"}
    with api.client() as twilio:
        signed = {"X-Twilio-Signature": api.sign("/v1/webhooks/twilio/sms", text)}
        assert twilio.post("/v1/webhooks/twilio/sms", data=text, headers=signed).status_code == 200


def search(client, **fields: str):
    """The list page searched and filtered: by POST, as the page's form sends it (a search is never in the address)."""
    return client.post("/console/patients", data=fields)


def listed(client, **fields: str) -> list[str]:
    """Workflow ids on the list page for these fields."""
    response = search(client, **fields)
    assert response.status_code == 200, response.text
    return re.findall(r'<tr data-workflow="([0-9a-f-]{36})">', response.text)


def test_search_finds_a_patient_by_part_of_the_name_phone_digits_or_id(api: ApiServer) -> None:
    tag = uuid.uuid4().hex[:8]
    wanted, phone = named_referral(api, f"Searchable {tag} Person")
    other, _ = named_referral(api, f"Other {tag} Person")
    with console(api, "coordinator") as client:
        assert listed(client, q=f"searchable {tag.upper()}") == [wanted]
        assert set(listed(client, q=tag)) == {wanted, other}
        assert listed(client, q=phone[-7:]) == [wanted]
        assert listed(client, q=phone) == [wanted]
        assert listed(client, q=wanted[:8]) == [wanted]
        assert listed(client, q="%_") == [] or all(w not in (wanted, other) for w in listed(client, q="%_"))


def test_filters_by_stage_flag_and_open_escalation(api: ApiServer) -> None:
    tag = uuid.uuid4().hex[:8]
    referred, _ = named_referral(api, f"Filter {tag} Referred")
    at_risk, _ = named_referral(api, f"Filter {tag} Risk")
    assert api.post_event(at_risk, "assessment.submitted", PHQ9_WITH_ITEM9, "clinician").status_code == 200
    booked, _ = named_referral(api, f"Filter {tag} Booked", sms_consent=False)
    assert api.post_event(booked, "evaluation.scheduled", {"start": local_time(2)}).status_code == 200  # closes the task
    stopped, stop_phone = named_referral(api, f"Filter {tag} Stopped")
    text_from(api, stop_phone, "STOP")
    with console(api, "coordinator") as client:
        assert set(listed(client, q=tag, stage="referred")) == {referred, at_risk, stopped}
        assert listed(client, q=tag, stage="evaluation_scheduled") == [booked]
        assert listed(client, q=tag, flag="elevated_risk") == [at_risk]
        assert listed(client, q=tag, flag="no_sms_consent") == [booked]
        assert listed(client, q=tag, flag="opted_out") == [stopped]
        assert set(listed(client, q=tag, escalation="open")) == {referred, at_risk, stopped}
        page = search(client, q=tag, flag="elevated_risk").text
    assert '<span class="badge flag">elevated risk</span>' in page
    # phq9 item 9, the C-SSRS it requests and the contact task
    assert '<span class="badge sev-urgent">3 · urgent</span>' in page
    assert unlabelled_controls(page) == []


def test_a_bad_filter_is_explained_and_ignored(api: ApiServer) -> None:
    with console(api, "clinician") as client:
        response = client.get("/console/patients", params={"stage": "limbo", "flag": "purple", "page": "-3"})
    assert response.status_code == 200
    assert "There is no stage called &#39;limbo&#39;; showing every stage." in response.text
    assert "That flag is not one of the filters" in response.text


def test_the_list_is_paged(api: ApiServer) -> None:
    tag = uuid.uuid4().hex[:8]
    made = [named_referral(api, f"Paged {tag} {n:02d}")[0] for n in range(27)]
    with console(api, "coordinator") as client:
        first, second = listed(client, q=tag), listed(client, q=tag, page="2")
        html = search(client, q=tag).text
        unsearched = client.get("/console/patients", params={"stage": "referred"}).text
    assert len(first) == 25 and len(second) == 2 and set(first + second) == set(made)
    assert first[0] == made[-1], "most recently changed first"
    # A search's next page is a POST as well (it used to be a link carrying ?q=): the search stays out of addresses.
    pager = html.split('<nav class="pager"', 1)[1].split("</nav>", 1)[0]
    assert "Page 1 of 2" in pager and tag not in pager.split('name="q"', 1)[0] and "href=" not in pager
    assert f'<input type="hidden" name="q" value="{tag}">' in pager and 'name="page" value="2"' in pager
    assert 'name="csrf_token"' in pager
    if "Page 1 of" in unsearched and "Next" in unsearched:  # filters alone (codes) stay links
        assert 'href="?stage=referred&amp;flag=&amp;escalation=&amp;page=2"' in unsearched


def test_the_patient_page_shows_timeline_sessions_messages_escalations_and_trend(api: ApiServer) -> None:
    workflow_id, phone = named_referral(api, "Console Page Patient")
    for event, data, role in [("evaluation.scheduled", {"start": local_time(1)}, "coordinator"),
                              ("evaluation.completed", {"eligible": True, "route": "esketamine", "brought_forward": "seen early"},
                               "clinician"),
                              ("session.scheduled", {"session": "s1", "start": local_time(2)}, "coordinator"),
                              ("assessment.submitted", PHQ9_WITH_ITEM9, "clinician")]:
        assert api.post_event(workflow_id, event, data, role).status_code == 200
    text_from(api, phone, "HELP")  # the reply is a message on the page
    with console(api, "clinician") as client:
        html = client.get(f"/console/patients/{workflow_id}").text
    timeline = re.findall(r'<li id="event-\d+" class="[^"]*" data-type="([a-z_.]+)">', html)
    assert timeline == ["sms.received", "assessment.submitted", "session.scheduled", "evaluation.completed",
                        "evaluation.scheduled", "referral.received"], "newest first"
    assert '<span class="stage-change">treatment planned → induction</span>' in html
    assert f'<a href="/console/chair/{workflow_id}/s1">' in html
    assert "PCL-5 and PHQ-9 trend" in html and '<svg class="trend"' in html
    assert re.search(r'data-escalation="[0-9a-f-]{36}" data-status="open"', html) and "phq9 item9" in html
    assert re.search(r"<td>help</td><td>patient</td>\s*<td>(pending|sent)</td>", html), "the HELP reply, with its status"
    assert "Reply STOP to opt out" in html, "staff read the texts"


def test_ops_see_no_console_patient_pages_and_staff_dashboard_links_lead_to_the_console(api: ApiServer) -> None:
    name = f"Console Privacy {uuid.uuid4().hex[:6]}"
    workflow_id, phone = named_referral(api, name)
    with console(api, "ops") as client:
        for path in ("/console/patients", f"/console/patients/{workflow_id}", f"/console/patients?q={name}"):
            response = client.get(path)
            assert response.status_code == 403 and name not in response.text and phone not in response.text, path
        refused = search(client, q=name)
        assert refused.status_code == 403 and name not in refused.text
        dashboard = client.get("/dashboard").text
        assert f'href="/dashboard/patients/{workflow_id}"' in dashboard and 'href="/console/patients"' not in dashboard
    with console(api, "coordinator") as client:
        assert f'href="/console/patients/{workflow_id}"' in client.get("/dashboard").text
        assert client.get("/login").headers["location"] == "/console/patients"
    with console(api, "coordinator") as client:
        client.cookies.clear()
        assert client.get(f"/console/patients/{workflow_id}").headers["location"] == "/login"


def test_an_unknown_patient_is_a_404_page(api: ApiServer) -> None:
    with console(api, "coordinator") as client:
        response = client.get(f"/console/patients/{uuid.uuid4()}")
    assert response.status_code == 404 and "There is no such patient" in response.text


def test_a_search_in_the_address_is_not_used(api: ApiServer) -> None:
    """Issue #14 item 7: searches are POSTs; `?q=` (typed or bookmarked) searches nothing and says why, plainly."""
    tag = uuid.uuid4().hex[:8]
    named_referral(api, f"Addressed {tag} Person")
    with console(api, "coordinator") as client:
        response = client.get("/console/patients", params={"q": tag})
    assert response.status_code == 200 and "A search in the address is not used" in response.text
    assert f'value="{tag}"' not in response.text and 'method="post" action="/console/patients"' in response.text
