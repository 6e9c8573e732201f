"""Helpers for the calendar and chair tests: a cookie session like a browser's, patients moved along through the API
(as a coordinator and a clinician would have done before), and reading the pages' data attributes."""

from __future__ import annotations

import html as htmllib
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
from api_support import CLINIC_ZONE, ApiServer, local_time, new_phone


@contextmanager
def logged_in(api: ApiServer, role: str) -> Iterator[httpx.Client]:
    """A browser-like client (cookies kept, redirects not followed) signed in to the console."""
    with api.browser() as client:
        api.sign_in(client, role)
        yield client


def patient(api: ApiServer, stage: str = "treatment_planned", route: str = "esketamine", rems: bool = True) -> tuple[str, str]:
    """A new, uniquely named patient moved through the API to `referred` or `treatment_planned`: (workflow id, name)."""
    name = f"Console Patient {uuid.uuid4().hex[:8]}"
    body = api.referral(patient={"name": name, "phone": new_phone(), "timezone": "America/New_York", "sms_consent": True})
    workflow_id = body["workflow_id"]
    if stage == "referred":
        return workflow_id, name
    post_ok(api, workflow_id, "evaluation.scheduled", {"start": local_time(1)})
    post_ok(api, workflow_id, "evaluation.completed", {"eligible": True, "route": route, "weight_kg": 80,
                                                 "brought_forward": "seen early"},
            "clinician")
    if rems and route == "esketamine":
        post_ok(api, workflow_id, "rems.enrolled", {"enrollment_id": "REMS-TEST"})
    return workflow_id, name


def at_the_chair(api: ApiServer, route: str = "esketamine", rems: bool = True, arrived: bool = True) -> tuple[str, str]:
    """A patient with session s1 booked for later today (or early tomorrow), checked in unless `arrived` is False."""
    workflow_id, name = patient(api, route=route, rems=rems)
    dose = {"dose_mg": 56} if route == "esketamine" else {}
    post_ok(api, workflow_id, "session.scheduled", {"session": "s1", "start": local_time(0.02), **dose})
    if arrived:
        post_ok(api, workflow_id, "session.arrived", {"session": "s1"})
    return workflow_id, name


def post_ok(api: ApiServer, workflow_id: str, event_type: str, data: dict, role: str = "coordinator") -> None:
    response = api.post_event(workflow_id, event_type, data, role)
    assert response.status_code == 200, response.text


def workflow(api: ApiServer, workflow_id: str) -> dict:
    with api.client("coordinator") as client:
        return client.get(f"/v1/workflows/{workflow_id}").json()


def history(api: ApiServer, workflow_id: str) -> list[dict]:
    with api.client("coordinator") as client:
        return client.get(f"/v1/workflows/{workflow_id}/events", params={"limit": 200}).json()["items"]


def session_of(api: ApiServer, workflow_id: str, session_id: str = "s1") -> dict:
    return next(s for s in workflow(api, workflow_id)["sessions"] if s["session"] == session_id)


def clinic_input(moment: datetime) -> str:
    """A moment as a datetime-local field's value, in clinic time."""
    return moment.astimezone(CLINIC_ZONE).strftime("%Y-%m-%dT%H:%M")


def minutes_ago(minutes: float) -> str:
    return clinic_input(datetime.now(UTC) - timedelta(minutes=minutes))


def form_key(html: str) -> str:
    """The idempotency key of the page's forms."""
    return re.search(r'name="key" value="([0-9a-f-]{36})"', html).group(1)


def gate_states(html: str) -> dict[str, str]:
    """gate name → open / passed / not_required, as the chair's gates panel shows them."""
    return dict(re.findall(r'data-gate="(\w+)" data-rule="\w+" data-state="(\w+)"', html))


def open_rules(html: str) -> set[str]:
    return {rule for rule, state in re.findall(r'data-rule="(\w+)" data-state="(\w+)"', html) if state == "open"}


def refusal(html: str) -> str:
    """The refusal banner's text, tags stripped."""
    found = re.search(r'<div class="error refusal" role="alert" id="refusal">(.*?)</div>', html, re.S)
    assert found, "no refusal on the page"
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())
