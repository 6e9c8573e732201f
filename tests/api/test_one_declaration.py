"""One declaration per rule: a refusal answers the same status on the API and on the pages, an id that cannot exist is
unknown everywhere without a query, and who may act on escalations is the pathway's own declaration."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from api_support import ApiServer
from console_rooms_support import logged_in, patient
from console_support import history
from sqlalchemy import event

from api import policy
from api.errors import status_of
from workflows.errors import Rejected
from workflows.stages import EVENT_RULES

NOT_AN_ID = "not-a-uuid"


@contextmanager
def statements(api: ApiServer) -> Iterator[list[str]]:
    """The SQL the server runs meanwhile."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    event.listen(api.services.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(api.services.engine, "before_cursor_execute", record)


def about_workflows(seen: list[str]) -> list[str]:
    return [sql for sql in seen if re.search(r"\b(workflows|escalations|events)\b", sql)]


@pytest.mark.parametrize(("code", "status"), [("invalid_data", 422), ("not_allowed", 409), ("rule", 409),
                                              ("not_found", 404), ("forbidden", 403), ("something_new", 409)])
def test_one_map_from_refusal_code_to_status(code: str, status: int) -> None:
    assert status_of(Rejected("refused", code=code)) == status


def test_the_console_answers_an_engine_refusal_with_the_apis_status(api: ApiServer) -> None:
    workflow_id, _ = patient(api)
    api_answer = api.post_event(workflow_id, "session.arrived", {"session": "s9"})
    with logged_in(api, "coordinator") as client:
        page = client.post(f"/console/patients/{workflow_id}/actions/session.arrived",
                           data={"session": "s9", "idempotency_key": "arrive-unknown-session"})
    assert api_answer.status_code == page.status_code == 404
    assert api_answer.json()["error"]["code"] == "not_found" and "unknown session 's9'" in html.unescape(page.text).lower()
    assert "session.arrived" not in history(api, workflow_id)


@pytest.mark.parametrize(("method", "path"), [
    ("GET", f"/dashboard/patients/{NOT_AN_ID}"),
    ("POST", f"/dashboard/escalations/{NOT_AN_ID}/acknowledge"),
    ("GET", f"/console/patients/{NOT_AN_ID}"),
    ("POST", f"/console/patients/{NOT_AN_ID}/actions/session.arrived"),
    ("GET", f"/console/chair/{NOT_AN_ID}/s1"),
    ("POST", f"/console/worklist/{NOT_AN_ID}/claim"),
    ("POST", f"/console/calendar/{NOT_AN_ID}/session/s1/cancel"),
])
def test_a_page_answers_an_id_that_cannot_exist_with_404_without_a_query(api: ApiServer, method: str, path: str) -> None:
    with logged_in(api, "admin") as client, statements(api) as seen:
        response = client.request(method, path, data={} if method == "POST" else None)
    assert response.status_code == 404 and "Not found" in response.text, response.text[:300]
    assert about_workflows(seen) == []
    with logged_in(api, "admin") as client:
        client.cookies.clear()
        assert client.request(method, path).headers["location"] == "/login", "signing in comes first"


@pytest.mark.parametrize(("method", "path", "what"), [
    ("GET", f"/v1/workflows/{NOT_AN_ID}", "workflow"),
    ("GET", f"/v1/workflows/{NOT_AN_ID}/events", "workflow"),
    ("POST", f"/v1/escalations/{NOT_AN_ID}/resolve", "escalation"),
])
def test_the_api_answers_an_id_that_cannot_exist_after_the_token(api: ApiServer, method: str, path: str,
                                                                 what: str) -> None:
    with api.client() as anonymous:
        assert anonymous.request(method, path).status_code == 401
    with api.client("admin") as client, statements(api) as seen:
        response = client.request(method, path)
    assert response.status_code == 404 and response.json()["error"]["message"] == f"unknown {what}"
    assert about_workflows(seen) == []


def test_who_acts_on_escalations_is_the_pathways_declaration() -> None:
    declared = {role.value for role in EVENT_RULES["escalation.acknowledged"].roles} | {"admin"}
    assert policy.ACTS_ON_ESCALATIONS == declared
    assert policy.posting("escalation.resolved") == declared
    assert policy.STARTS_REFERRALS == {"coordinator", "clinician", "admin"}

