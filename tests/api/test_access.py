"""Access control over HTTP: the role matrix, 401 without or with a bad token, tokens made by `carepath users token
create`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from api_support import ApiServer, local_time, referral_body
from sqlalchemy import select
from sqlmodel import Session
from typer.testing import CliRunner

from cli.users import users_app
from models import accounts
from models.tables import ApiToken
from models.tokens import authenticate
from models.users import hash_token

Call = Callable[[ApiServer, httpx.Client], httpx.Response]


def referral(api: ApiServer, client: httpx.Client) -> httpx.Response:
    return client.post("/v1/referrals", json=referral_body())


def read_workflow(api: ApiServer, client: httpx.Client) -> httpx.Response:
    return client.get(f"/v1/workflows/{api.workflow_in('referred')}")


def read_history(api: ApiServer, client: httpx.Client) -> httpx.Response:
    return client.get(f"/v1/workflows/{api.workflow_in('referred')}/events")


def list_workflows(api: ApiServer, client: httpx.Client) -> httpx.Response:
    return client.get("/v1/workflows", params={"limit": 1})


def worklist(api: ApiServer, client: httpx.Client) -> httpx.Response:
    return client.get("/v1/escalations", params={"limit": 1})


def event(event_type: str, stage: str, data: dict) -> Call:
    def post(api: ApiServer, client: httpx.Client) -> httpx.Response:
        workflow_id = api.workflow_in(stage)
        return client.post(f"/v1/workflows/{workflow_id}/events", json={"type": event_type, "data": data})

    post.__name__ = event_type
    return post


def acknowledge(api: ApiServer, client: httpx.Client) -> httpx.Response:
    workflow_id = api.workflow_in("referred")
    with api.client("admin") as admin:
        [task] = admin.get("/v1/escalations", params={"workflow_id": workflow_id}).json()["items"]
    return client.post(f"/v1/escalations/{task['id']}/acknowledge")


schedule_evaluation = event("evaluation.scheduled", "referred", {"start": local_time(2)})
complete_evaluation = event("evaluation.completed", "evaluation_scheduled",
                            {"eligible": True, "route": "esketamine", "brought_forward": "seen early"})
safety_hold = event("safety.hold", "referred", {"reason": "awaiting labs"})
withdraw = event("patient.withdrew", "referred", {"reason": "moved away"})

#                               coordinator clinician ops  admin
MATRIX: list[tuple[Call, tuple[int, int, int, int]]] = [
    (referral,                  (201, 201, 403, 201)),
    (read_workflow,             (200, 200, 200, 200)),
    (read_history,              (200, 200, 200, 200)),
    (list_workflows,            (200, 200, 200, 200)),
    (worklist,                  (200, 200, 200, 200)),
    (schedule_evaluation,       (200, 200, 403, 200)),
    (withdraw,                  (200, 200, 403, 200)),
    (complete_evaluation,       (403, 200, 403, 200)),
    (safety_hold,               (403, 200, 403, 200)),
    (acknowledge,               (200, 200, 200, 200)),
]
ROLES = ("coordinator", "clinician", "ops", "admin")
CASES = [pytest.param(call, role, expected[index], id=f"{call.__name__}-{role}")
         for call, expected in MATRIX for index, role in enumerate(ROLES)]


@pytest.mark.parametrize(("call", "role", "expected"), CASES)
def test_role_matrix(api: ApiServer, call: Call, role: str, expected: int) -> None:
    with api.client(role) as client:
        response = call(api, client)
    assert response.status_code == expected, response.text
    if expected == 403:
        error = response.json()["error"]
        assert error["code"] == "forbidden" and role in error["message"]


@pytest.mark.parametrize("call", [call for call, _ in MATRIX], ids=[call.__name__ for call, _ in MATRIX])
def test_no_token_or_a_bad_token_is_401(api: ApiServer, call: Call) -> None:
    for client in (api.client(), api.client(token="not-a-real-token"), api.client(token="x" * 500)):
        with client:
            response = call(api, client)
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["error"]["code"] == "unauthorized"
    with api.client() as client:
        client.headers["Authorization"] = f"Basic {api.tokens['admin']}"
        assert call(api, client).status_code == 401


def test_a_disabled_user_is_401(api: ApiServer) -> None:
    leaver = api.new_staff("admin", "Leaver", token=True)
    with api.client(token=leaver.token) as client:
        assert client.get("/v1/workflows").status_code == 200
        with api.services.unit_of_work() as uow:
            accounts.set_disabled(uow, leaver.id, True)
            uow.commit()
        assert client.get("/v1/workflows").status_code == 401


def test_ops_see_workflows_by_id_without_who_the_patient_is(api: ApiServer) -> None:
    workflow_id = api.workflow_in("referred")
    with api.client("ops") as ops, api.client("clinician") as clinician:
        hidden, shown = ops.get(f"/v1/workflows/{workflow_id}").json(), clinician.get(f"/v1/workflows/{workflow_id}").json()
    assert hidden["patient"] is None and hidden["patient_name"] is None
    assert shown["patient"]["name"] == "Test Patient" and shown["patient"]["phone"].startswith("+1555555")


def test_users_token_create_prints_the_token_alone_on_the_last_line_and_it_works(api: ApiServer) -> None:
    url = api.services.settings.database_url
    rivera = api.new_staff("clinician", "Dr. Rivera")
    result = CliRunner().invoke(users_app, ["token", "create", rivera.email, "--name", "scripts", "--database-url", url])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert token and " " not in token and len(token) >= 40
    user = authenticate(api.services.engine, token, datetime.now(UTC))
    assert user is not None and (user.name, user.role) == ("Dr. Rivera", "clinician")
    with Session(api.services.engine) as db:
        stored = db.execute(select(ApiToken).where(ApiToken.user_id == rivera.id)).scalars().one()
        assert stored.token_hash == hash_token(token) and token not in stored.token_hash and stored.name == "scripts"
    with api.client(token=token) as client:
        assert client.get("/v1/workflows", params={"limit": 1}).status_code == 200

    above = CliRunner().invoke(users_app, ["token", "create", rivera.email, "--name", "x", "--role", "admin",
                                           "--database-url", url])
    assert above.exit_code != 0 and "can only have the role clinician" in above.output
    refused = CliRunner().invoke(users_app, ["create", "--email", "x@clinic.example.test", "--name", "X", "--role",
                                             "janitor", "--database-url", url])
    assert refused.exit_code != 0
