"""The ops dashboard over HTTP: the session cookie, pages behind it, what ops may see, acting on escalations, the trend."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from api_support import SSL_CONTEXT, ApiServer, new_phone
from signin_support import form_token, sign_in

PHQ9_WITH_ITEM9 = {"instrument": "phq9", "answers": [2, 2, 1, 1, 1, 1, 1, 1, 1]}


def browser(api: ApiServer) -> httpx.Client:
    """A client like a browser: keeps cookies, does not follow redirects by itself."""
    return httpx.Client(base_url=api.base_url, timeout=30, verify=SSL_CONTEXT, follow_redirects=False)


@contextmanager
def logged_in(api: ApiServer, role: str) -> Iterator[httpx.Client]:
    with browser(api) as client:
        response = sign_in(client, api.new_staff(role))
        landing = "/console/patients" if role in ("coordinator", "clinician") else "/dashboard"  # staff land on the console
        assert response.status_code == 303 and response.headers["location"] == landing, response.text
        yield client


def escalation_rows(html: str) -> dict[str, str]:
    """escalation id → status, as the worklist table shows them."""
    return dict(re.findall(r'data-escalation="([0-9a-f-]{36})" data-status="(\w+)"', html))


def named_referral(api: ApiServer, name: str) -> tuple[str, str]:
    phone = new_phone()
    body = api.referral(patient={"name": name, "phone": phone, "timezone": "America/New_York", "sms_consent": True})
    return body["workflow_id"], phone


def test_login_sets_an_httponly_strict_session_cookie(api: ApiServer) -> None:
    staff = api.new_staff("ops")
    with browser(api) as client:
        form = client.get("/login")
        assert form.status_code == 200
        assert '<label for="email">' in form.text and '<label for="password">' in form.text
        response = client.post("/login", data={"email": staff.email, "password": staff.password,
                                               "csrf_token": form_token(form.text)})
        assert response.status_code == 303 and response.headers["location"] == "/dashboard"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("carepath_session=")
        assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Path=/" in cookie
        page = client.get("/dashboard")
        assert page.status_code == 200 and "Escalations worklist" in page.text
        assert client.get("/login").headers["location"] == "/dashboard"  # already logged in


@pytest.mark.parametrize("role", ["coordinator", "clinician", "ops", "admin"])
def test_every_dashboard_role_may_log_in(api: ApiServer, role: str) -> None:
    with logged_in(api, role) as client:
        page = client.get("/dashboard")
    assert page.status_code == 200 and api.names[role] in page.text


def test_a_wrong_password_is_refused_without_a_session(api: ApiServer) -> None:
    staff = api.new_staff("ops")
    with browser(api) as client:
        response = client.post("/login", data={"email": staff.email, "password": "not the password",
                                               "csrf_token": form_token(client.get("/login").text)})
        assert response.status_code == 401 and "do not match an account" in response.text
        assert "carepath_session" not in response.headers.get("set-cookie", "")
        assert client.get("/dashboard").status_code == 303


def test_pages_need_the_cookie(api: ApiServer) -> None:
    workflow_id = api.referral()["workflow_id"]
    with browser(api) as client:
        for path in ("/dashboard", f"/dashboard/patients/{workflow_id}"):
            response = client.get(path)
            assert response.status_code == 303 and response.headers["location"] == "/login", path
        client.cookies.set("carepath_session", "forged")
        assert client.get("/dashboard").headers["location"] == "/login"
    with api.client("coordinator") as client:  # a bearer header is the API's credential, not the dashboard's
        assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_logout_ends_the_session(api: ApiServer) -> None:
    with logged_in(api, "clinician") as client:
        out = client.post("/logout")
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert 'carepath_session=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers["set-cookie"]
        assert client.get("/dashboard").status_code == 303


def test_ops_see_ids_and_no_names_or_phones_others_see_the_patient(api: ApiServer) -> None:
    name = "Dashboard Privacy Patient"
    workflow_id, phone = named_referral(api, name)
    with logged_in(api, "ops") as ops:
        overview, patient = ops.get("/dashboard"), ops.get(f"/dashboard/patients/{workflow_id}")
    assert overview.status_code == patient.status_code == 200
    for html in (overview.text, patient.text):
        assert name not in html and phone not in html
    assert f"workflow {workflow_id[:8]}" in overview.text and workflow_id in patient.text

    with logged_in(api, "coordinator") as coordinator:
        overview, patient = coordinator.get("/dashboard"), coordinator.get(f"/dashboard/patients/{workflow_id}")
    assert name in overview.text and name in patient.text and phone in patient.text


def test_acknowledge_and_resolve_through_the_forms(api: ApiServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    name = "Dashboard Worklist Patient"
    workflow_id, phone = named_referral(api, name)
    with logged_in(api, "ops") as client:
        page = client.get(f"/dashboard/patients/{workflow_id}")
        [(task_id, status)] = escalation_rows(page.text).items()
        assert status == "open"
        assert f'action="/dashboard/escalations/{task_id}/acknowledge"' in page.text
        assert f'<label for="note-{task_id}">' in page.text

        acked = client.post(f"/dashboard/escalations/{task_id}/acknowledge",
                            data={"back": f"/dashboard/patients/{workflow_id}"})
        assert acked.status_code == 303
        assert acked.headers["location"].startswith(f"/dashboard/patients/{workflow_id}?msg=acknowledged")
        page = client.get(acked.headers["location"])
        assert escalation_rows(page.text)[task_id] == "acknowledged" and "Escalation acknowledged." in page.text
        again = client.post(f"/dashboard/escalations/{task_id}/acknowledge")
        assert again.headers["location"].startswith("/dashboard?msg=rejected")

    with logged_in(api, "coordinator") as client:
        resolved = client.post(f"/dashboard/escalations/{task_id}/resolve", data={"note": "called back, booked"})
        assert resolved.status_code == 303 and resolved.headers["location"].startswith("/dashboard?msg=resolved")
        assert task_id not in escalation_rows(client.get("/dashboard").text)  # the worklist is unresolved items only

    with api.client("coordinator") as client:
        history = client.get(f"/v1/workflows/{workflow_id}/events").json()["items"]
    acted = [(e["type"], e["actor"]["role"], e["data"]["by"], e["data"].get("note"))
             for e in history if e["type"].startswith("escalation.")]
    assert acted == [("escalation.acknowledged", "ops", api.names["ops"], None),
                     ("escalation.resolved", "coordinator", api.names["coordinator"], "called back, booked")]
    assert name not in caplog.text and phone not in caplog.text, "no patient data in the logs"


def test_forms_need_a_session_and_redirects_stay_on_the_dashboard(api: ApiServer) -> None:
    workflow_id = api.referral()["workflow_id"]
    with logged_in(api, "clinician") as client:
        [task_id] = escalation_rows(client.get(f"/dashboard/patients/{workflow_id}").text)
        offsite = client.post(f"/dashboard/escalations/{task_id}/acknowledge", data={"back": "https://evil.example"})
        assert offsite.headers["location"].startswith("/dashboard?msg=acknowledged")
        unknown = client.post("/dashboard/escalations/00000000-0000-0000-0000-000000000000/resolve")
        assert unknown.headers["location"].startswith("/dashboard?msg=unknown")
    with browser(api) as anonymous:
        response = anonymous.post(f"/dashboard/escalations/{task_id}/resolve", data={"note": "x"})
        assert response.status_code == 303 and response.headers["location"] == "/login"
    with logged_in(api, "clinician") as client:
        assert escalation_rows(client.get(f"/dashboard/patients/{workflow_id}").text)[task_id] == "acknowledged"


def test_the_patient_page_plots_scores_as_inline_svg(api: ApiServer) -> None:
    workflow_id = api.workflow_in("treatment_planned")
    response = api.post_event(workflow_id, "assessment.submitted", PHQ9_WITH_ITEM9, role="clinician")
    assert response.status_code == 200, response.text
    with logged_in(api, "clinician") as client:
        page = client.get(f"/dashboard/patients/{workflow_id}")
        overview = client.get("/dashboard")
    assert page.status_code == 200
    svg = re.search(r"<svg[^>]*>.*?</svg>", page.text, re.S)
    assert svg is not None and 'role="img"' in svg.group(0)
    assert "<title" in svg.group(0) and "PHQ-9: 11 on" in svg.group(0)  # the text alternative
    assert 'class="series-phq9"' in svg.group(0)
    assert "phq9 item9" in page.text  # the item-9 escalation, on the patient's page
    assert "phq9 item9" in overview.text
    assert "sev-urgent" in overview.text or "sev-emergency" in overview.text


def test_the_overview_has_every_panel_and_refreshes(api: ApiServer) -> None:
    with logged_in(api, "admin") as client:
        page = client.get("/dashboard")
        css = client.get("/dashboard/static/dashboard.css")
        script = client.get("/dashboard/static/live.js")
        fragment = client.get("/dashboard", params={"auto": "1", "live": "1"})
    html = page.text
    for heading in ("Workers and queues", "Timers", "Messages today", "Escalations worklist", "Workflows by stage"):
        assert heading in html, heading
    # Live panels, not a reload of the page: no meta refresh; the script (allowed by the CSP: our own scripts only)
    # fetches the page's main part and swaps in the panels marked data-live.
    assert "http-equiv" not in html
    assert '<body data-live-every="15" data-live-url="/dashboard?auto=1&amp;live=1">' in html
    assert '<script src="/dashboard/static/live.js" defer></script>' in html
    assert "script-src 'self'; connect-src 'self';" in page.headers["content-security-policy"]
    assert html.count(" data-live>") == 8  # seven panels and the "shown at" line
    assert '<a href="/dashboard">Refresh</a>' in html  # without JavaScript
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert fragment.status_code == 200 and "<html" not in fragment.text and "<header" not in fragment.text
    assert 'id="worklist" data-live>' in fragment.text and 'id="live-status" data-live>' in fragment.text
    assert "in-process mode" in html  # the test server runs tasks inline
    assert "Lag of the oldest due timer" in html and "unavailable" not in html
    assert page.headers["cache-control"] == "no-store" and "default-src 'none'" in page.headers["content-security-policy"]
    assert "http://" not in re.sub(r'xmlns="http://www.w3.org/2000/svg"', "", html.split("<body")[0]), "no CDN"
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert ":focus-visible" in css.text
