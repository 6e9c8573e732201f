"""One error shape for every 4xx/5xx, the body-size limit, no patient data in logs, /healthz and /readyz."""

from __future__ import annotations

import logging
import socket
import uuid

from api_support import CRASH_SECRETS, ApiServer, local_time, new_phone, referral_body

from api.middleware import MAX_BODY_BYTES
from models.db import make_engine


def assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]


def test_framework_errors_use_the_one_shape(api: ApiServer) -> None:
    with api.client("admin") as client:
        assert_error_shape(client.get("/v1/nothing-here"), 404, "not_found")
        assert_error_shape(client.get(f"/v1/workflows/{uuid.uuid4()}"), 404, "not_found")
        not_allowed = client.delete("/v1/referrals")
        assert_error_shape(not_allowed, 405, "method_not_allowed")
        assert "POST" in not_allowed.headers["allow"]
        invalid_json = client.post("/v1/referrals", content=b"{not json", headers={"content-type": "application/json"})
        assert assert_error_shape(invalid_json, 422, "invalid_data")["details"]["errors"][0]["type"] == "json_invalid"
        missing = client.post("/v1/referrals", json={"referrer": "Dr. A"})
        assert assert_error_shape(missing, 422, "invalid_data")["details"]["field"] == "patient"
        extra = client.post("/v1/referrals", json={**referral_body(), "favourite_colour": "blue"})
        assert assert_error_shape(extra, 422, "invalid_data")["details"]["field"] == "favourite_colour"
    with api.client() as anonymous:
        assert_error_shape(anonymous.get("/v1/workflows"), 401, "unauthorized")
    with api.client("ops") as ops:
        assert_error_shape(ops.post("/v1/referrals", json=referral_body()), 403, "forbidden")


def test_bodies_over_the_limit_are_413_declared_or_streamed(api: ApiServer) -> None:
    big = b'{"referrer": "' + b"x" * MAX_BODY_BYTES + b'"}'
    with api.client("admin") as client:
        declared = client.post("/v1/referrals", content=big, headers={"content-type": "application/json"})
        streamed = client.post("/v1/referrals", content=iter([big[:40_000], big[40_000:]]),
                               headers={"content-type": "application/json"})
        assert "content-length" not in streamed.request.headers
        webhook = client.post("/v1/webhooks/twilio/sms", content=big,
                              headers={"content-type": "application/x-www-form-urlencoded"})
        assert client.get("/healthz").status_code == 200  # the server is fine afterwards
    for response in (declared, streamed, webhook):
        assert_error_shape(response, 413, "payload_too_large")


def test_a_crash_is_a_bare_500_and_its_message_stays_out_of_the_logs(api: ApiServer, caplog) -> None:
    caplog.set_level(logging.INFO)
    with api.client("admin") as client:
        response = client.get("/test/boom")
    error = assert_error_shape(response, 500, "internal_error")
    assert "Traceback" not in response.text and "RuntimeError" not in response.text
    assert error["details"] == {}
    assert "unhandled RuntimeError in GET /test/boom" in caplog.text
    for secret in CRASH_SECRETS:
        assert secret not in response.text and secret not in caplog.text


def test_logs_carry_ids_not_patient_names_phones_or_texts(api: ApiServer, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    phone, name, words = new_phone(), "Zebulon Quartermaine", "I feel much better thanks"
    patient = {"name": name, "phone": phone, "sms_consent": True}
    workflow_id = api.referral(patient=patient)["workflow_id"]
    api.post_event(workflow_id, "evaluation.scheduled", {"start": local_time(2)})
    with api.client("coordinator") as client:
        client.post("/v1/referrals", json=referral_body(patient={**patient, "phone": "not a phone"}))
        client.get(f"/v1/workflows/{workflow_id}")
    params = {"From": phone, "Body": words, "MessageSid": "SMlogs"}
    with api.client() as client:
        assert client.post("/v1/webhooks/twilio/sms", data=params,
                           headers={"X-Twilio-Signature": api.sign("/v1/webhooks/twilio/sms", params)}).status_code == 200
        client.post("/v1/webhooks/twilio/sms", data={**params, "MessageSid": "SMforged"},
                    headers={"X-Twilio-Signature": "forged"})
    assert workflow_id in caplog.text or "/v1/workflows/{workflow_id}" in caplog.text  # requests are logged...
    for secret in (name, phone, phone.lstrip("+"), words):
        assert secret not in caplog.text  # ...but never who the patient is or what they wrote


def test_healthz_and_readyz(api: ApiServer) -> None:
    with api.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "redis": "not used"}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_readyz_is_503_naming_redis_when_celery_cannot_reach_it(start_api) -> None:
    server = start_api(tasks="celery", redis_url=f"redis://127.0.0.1:{closed_port()}/0")
    with server.client() as client:
        response = client.get("/readyz")
    error = assert_error_shape(response, 503, "unavailable")
    assert "redis" in error["message"] and "database" not in error["message"]
    assert error["details"]["checks"] == {"database": "ok", "redis": "unreachable"}


def test_readyz_is_503_naming_the_database_when_it_is_gone(start_api) -> None:
    server = start_api()
    server.services.engine.dispose()
    server.services.engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/gone")
    with server.client() as client:
        response = client.get("/readyz")
    error = assert_error_shape(response, 503, "unavailable")
    assert "database" in error["message"] and error["details"]["checks"]["database"] == "unreachable"
