"""A network of clinics over HTTP: a referral names its clinic, the network overview shows ops each clinic's numbers
and on-call cover (ids, counts and times only), and the clinic's own number routes a text to it."""

from __future__ import annotations

import httpx
import pytest
from api_support import SSL_CONTEXT, ApiServer, new_phone, referral_body
from signin_support import sign_in

WEST_ON_CALL, WEST_DIRECTOR = "+15555550290", "+15555550291"
WEST = {"key": "west", "name": "Westside Care Clinic", "phone": "+15555550200", "timezone": "America/Los_Angeles",
        # Nights only: from 08:00 to 20:00 Los Angeles time nobody is on call, so the overview shows a gap.
        "rota": [{"role": "on_call", "phone": WEST_ON_CALL, "from": "20:00", "to": "08:00"},
                 {"role": "medical_director", "phone": WEST_DIRECTOR}]}


@pytest.fixture(scope="module")
def network(postgres_server_url):
    from api_support import fresh_database, serve

    with fresh_database(postgres_server_url) as url, serve(url, clinics=(WEST,), staff_on_call="+15555550190",
                                                           staff_medical_director="+15555550191") as server:
        yield server


def test_a_referral_names_its_clinic_and_an_unknown_one_is_refused(network: ApiServer) -> None:
    with network.client("coordinator") as client:
        made = client.post("/v1/referrals", json=referral_body(clinic="west"))
        assert made.status_code == 201, made.text
        refused = client.post("/v1/referrals", json=referral_body(clinic="south"))
        assert refused.status_code == 422
        assert "unknown clinic 'south'; this carepath serves main, west" in refused.text
        assert refused.json()["error"]["details"]["field"] == "clinic"


def test_ops_see_each_clinic_and_its_on_call_cover_without_phone_numbers(network: ApiServer) -> None:
    phone = new_phone()
    network.referral(**referral_body(phone=phone, clinic="west"))
    with network.client("ops") as client:
        body = client.get("/v1/ops/network").json()
    rows = {row["clinic"]: row for row in body["clinics"]}
    assert set(rows) == {"main", "west"}
    assert rows["west"]["workflows_in_care"] >= 1 and rows["west"]["timezone"] == "America/Los_Angeles"
    west_on_call = next(c for c in rows["west"]["rota"] if c["role"] == "on_call")
    assert west_on_call["next_gap_start"] is not None, "a nights-only rota leaves the days uncovered"
    assert all(c["covered_now"] and c["next_gap_start"] is None for c in rows["main"]["rota"]), \
        "one number for each role: covered at every hour"
    text = str(body)
    assert WEST_ON_CALL not in text and WEST_DIRECTOR not in text and phone not in text

    with httpx.Client(base_url=network.base_url, timeout=30, verify=SSL_CONTEXT, follow_redirects=False) as browser:
        sign_in(browser, network.new_staff("ops"))
        page = browser.get("/dashboard/network")
    assert page.status_code == 200
    assert "Westside Care Clinic" in page.text and "America/Los_Angeles" in page.text
    assert "no on-call clinician from" in page.text
    assert WEST_ON_CALL not in page.text and phone not in page.text


def test_the_network_overview_is_for_ops_and_admins(network: ApiServer) -> None:
    with network.client("coordinator") as client:
        assert client.get("/v1/ops/network").status_code == 403
    with network.client("admin") as client:
        assert client.get("/v1/ops/network").status_code == 200


def test_a_text_to_the_west_number_reaches_the_west_patient_not_the_main_one(network: ApiServer) -> None:
    phone = new_phone()  # one family phone at both clinics
    main_id = network.referral(**referral_body(phone=phone))["workflow_id"]
    west_id = network.referral(**referral_body(phone=phone, clinic="west"))["workflow_id"]
    params = {"MessageSid": "SM" + "7" * 32, "From": phone, "To": WEST["phone"], "Body": "hello", "AccountSid": "AC1"}
    with network.client() as client:
        answered = client.post("/v1/webhooks/twilio/sms", data=params,
                               headers={"X-Twilio-Signature": network.sign("/v1/webhooks/twilio/sms", params)})
        assert answered.status_code == 200, answered.text
    with network.client("coordinator") as client:
        west = client.get(f"/v1/workflows/{west_id}/events").json()["items"]
        main = client.get(f"/v1/workflows/{main_id}/events").json()["items"]
    assert any(e["type"] == "sms.received" for e in west)
    assert not any(e["type"] == "sms.received" for e in main)
