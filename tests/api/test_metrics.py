"""`/metrics` over HTTP: ops and admin tokens only, Prometheus text with the clinic's numbers, no patient data."""

from __future__ import annotations

import pytest
from api_support import ApiServer, new_phone, referral_body
from prometheus_client.parser import text_string_to_metric_families

CANARY_NAME = "Metricsca Nary-Patient"


def scrape(api: ApiServer, role: str) -> dict[tuple[str, tuple], float]:
    with api.client(role) as client:
        response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def test_metrics_needs_a_token(api):
    with api.client() as client:
        response = client.get("/metrics")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    with api.client(token="not-a-token") as client:
        assert client.get("/metrics").status_code == 401


@pytest.mark.parametrize("role", ["coordinator", "clinician"])
def test_metrics_is_for_ops_and_admin(api, role):
    with api.client(role) as client:
        assert client.get("/metrics").status_code == 403


def test_metrics_show_the_clinics_numbers_and_no_patient_data(start_api):
    api = start_api()  # an empty database: the numbers are this test's alone
    phone = new_phone()
    with api.client("coordinator") as client:
        body = referral_body(phone=phone)
        body["patient"]["name"] = CANARY_NAME
        assert client.post("/v1/referrals", json=body).status_code == 201

    metrics = scrape(api, "ops")
    assert metrics[("carepath_workflows", (("stage", "referred"),))] == 1
    assert metrics[("carepath_workflows", (("stage", "discharged"),))] == 0
    assert metrics[("carepath_escalations_open", (("severity", "routine"),))] == 1  # the contact task
    assert metrics[("carepath_escalations_open", (("severity", "emergency"),))] == 0
    assert metrics[("carepath_escalations_overdue", ())] == 0
    for name in ("carepath_timer_lag_seconds", "carepath_timers_due_unclaimed", "carepath_timers_pending",
                 "carepath_outbox_pending", "carepath_outbox_sending"):
        assert (name, ()) in metrics
    # In-process tasks: reported as such, no invented worker numbers.
    assert metrics[("carepath_tasks_inline", ())] == 1
    assert metrics[("carepath_workers_reachable", ())] == 1
    assert scrape(api, "admin").keys() == metrics.keys()

    with api.client("ops") as client:
        text = client.get("/metrics").text
    digits = phone.lstrip("+")
    for secret in (CANARY_NAME, "Metricsca", phone, digits, digits[-7:]):
        assert secret not in text
