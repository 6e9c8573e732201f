"""A network of clinics over HTTP: a referral names its clinic, the network overview shows ops each clinic's numbers
and on-call cover (ids, counts and times only), and the clinic's own number routes a text to it."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import httpx
import pytest
from api_support import SSL_CONTEXT, ApiServer, new_phone, referral_body
from signin_support import sign_in

from models import accounts
from models.tokens import create_token
from models.users import AccountError

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


def test_the_referral_form_offers_the_clinics_and_starts_the_patient_at_the_chosen_one(network: ApiServer) -> None:
    from console_support import console, unlabelled_controls
    from sqlmodel import Session

    from models.tables import WorkflowRow

    with console(network, "coordinator") as client:
        form = client.get("/console/referrals/new")
        assert 'name="clinic"' in form.text and ">Westside Care Clinic</option>" in form.text
        assert unlabelled_controls(form.text) == []
        key = form.text.split('name="idempotency_key" value="', 1)[1].split('"', 1)[0]
        saved = client.post("/console/referrals", data={
            "idempotency_key": key, "patient.name": "Network Intake Patient", "patient.phone": new_phone(),
            "patient.sms_consent": "yes", "referrer": "Dr. Alvarez", "prior_treatments": "2", "urgency": "routine",
            "clinic": "west"})
    assert saved.status_code == 303, saved.text
    workflow_id = saved.headers["location"].split("/console/patients/", 1)[1].split("?", 1)[0]
    with Session(network.services.engine) as db:
        assert db.get(WorkflowRow, workflow_id).clinic_id == "west"


def test_with_one_clinic_the_referral_form_asks_for_none(api: ApiServer) -> None:
    from console_support import console

    with console(api, "coordinator") as client:
        assert 'name="clinic"' not in client.get("/console/referrals/new").text


def test_a_patient_page_at_another_clinic_shows_and_reads_times_in_that_clinics_zone(network: ApiServer) -> None:
    from datetime import UTC, datetime, timedelta

    from console_support import console

    workflow_id = network.referral(**referral_body(clinic="west"))["workflow_id"]
    start = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    local = start.astimezone(__import__("zoneinfo").ZoneInfo("America/Los_Angeles"))
    with network.client("coordinator") as client:  # the API reads a time without an offset as the clinic's
        booked = client.post(f"/v1/workflows/{workflow_id}/events", json={
            "type": "evaluation.scheduled", "data": {"start": local.replace(tzinfo=None).isoformat()}})
        assert booked.status_code == 200, booked.text
        stored = client.get(f"/v1/workflows/{workflow_id}").json()
    assert datetime.fromisoformat(stored["appointments"][0]["start"]) == start, "10:00 in Los Angeles, not New York"
    with console(network, "coordinator") as client:
        page = client.get(f"/console/patients/{workflow_id}").text
    assert "At Westside Care Clinic; times on this page are its time (America/Los_Angeles)." in page
    assert local.strftime("%H:%M") in page


def named_referral(network: ApiServer, clinic: str) -> tuple[str, str]:
    """A patient with a name found nowhere else, referred to `clinic`: (workflow id, name)."""
    name = f"Switcher {clinic.title()} {secrets.token_hex(3)}"
    body = referral_body(clinic=clinic)
    body["patient"]["name"] = name
    return network.referral(**body)["workflow_id"], name


def test_the_clinic_switcher_shows_one_clinic_at_a_time_and_never_widens(network: ApiServer) -> None:
    _, at_main = named_referral(network, "main")
    _, at_west = named_referral(network, "west")
    with network.browser() as client:
        network.sign_in(client, "coordinator")  # works at every clinic
        everything = client.get("/console/patients", params={"q": "Switcher"}).text
        assert at_main in everything and at_west in everything
        assert '<label for="clinic-switch">Clinic</label>' in everything and "Westside Care Clinic" in everything

        switched = client.post("/console/clinic", data={"clinic": "west", "back": "/console/patients"})
        assert (switched.status_code, switched.headers["location"]) == (303, "/console/patients")
        west_only = client.get("/console/patients", params={"q": "Switcher"}).text
        assert at_west in west_only and at_main not in west_only
        assert '<option value="west" selected>' in west_only

        refused = client.post("/console/clinic", data={"clinic": "south"})
        assert refused.status_code == 422 and "choose one of main, west" in refused.text
        assert at_main not in client.get("/console/patients", params={"q": "Switcher"}).text, "a refusal changes nothing"

        back_to_all = client.post("/console/clinic", data={"clinic": "", "back": "https://elsewhere.example/x"})
        assert back_to_all.headers["location"] == "/console/worklist", "never back to another site"
        assert at_main in client.get("/console/patients", params={"q": "Switcher"}).text


def test_a_one_clinic_user_has_no_switcher_and_a_forged_choice_does_not_widen(network: ApiServer) -> None:
    _, at_west = named_referral(network, "west")
    staff = network.new_staff("coordinator")
    with network.services.unit_of_work() as uow:
        accounts.set_clinics(uow, staff.id, ["main"])
        uow.commit()
    with network.browser() as client:
        sign_in(client, staff)
        client.cookies.set("carepath_clinic", "west")
        page = client.get("/console/patients", params={"q": "Switcher"}).text
        assert 'id="clinic-switch"' not in page and at_west not in page


def test_the_rota_panel_shows_each_clinic_and_follows_the_switcher(network: ApiServer) -> None:
    with network.browser() as client:
        network.sign_in(client, "ops")
        both = " ".join(client.get("/dashboard").text.split())
        assert '<h3 class="clinic-name">Westside Care Clinic</h3>' in both
        assert "<caption>Covered now at Westside Care Clinic</caption>" in both
        assert both.count("<caption>Covered now at ") == 2
        west = both.split('<h3 class="clinic-name">Westside Care Clinic</h3>')[1].split("</section>")[0]
        assert "No on-call doctor from " in west and " 08:00 to " in west, "west's days are uncovered, in its time"
        assert WEST_ON_CALL[2:] not in both and WEST_DIRECTOR[2:] not in both

        client.post("/console/clinic", data={"clinic": "west", "back": "/dashboard"})
        one = " ".join(client.get("/dashboard").text.split())
        assert "<caption>Covered now</caption>" in one and 'class="clinic-name"' not in one
        assert "No on-call doctor from " in one


def test_a_role_per_clinic_is_the_role_at_the_clinic_looked_at(network: ApiServer) -> None:
    _, at_main = named_referral(network, "main")
    west_id, at_west = named_referral(network, "west")
    staff = network.new_staff("coordinator")
    with network.services.unit_of_work() as uow:
        accounts.set_clinics(uow, staff.id, ["main", "west"], {"west": "ops"})  # ops at west: ids only there
        uow.commit()
    with network.browser() as client:
        sign_in(client, staff)  # a second factor: they see patients at main
        main = client.get("/console/patients", params={"q": "Switcher"})
        assert at_main in main.text and at_west not in main.text, "one clinic at a time: the first, without a choice"
        assert '<span class="role">(coordinator)</span>' in main.text
        assert 'value="">All my clinics</option>' not in main.text, "two roles: no view of both at once"

        refused = client.post("/console/clinic", data={"clinic": ""})
        assert refused.status_code == 422 and "one clinic at a time" in refused.text

        client.post("/console/clinic", data={"clinic": "west", "back": "/dashboard"})
        dashboard = client.get("/dashboard")
        assert dashboard.status_code == 200 and '<span class="role">(ops)</span>' in dashboard.text
        assert client.get(f"/console/patients/{west_id}").status_code == 403, "ops at west see no patient"
        assert at_west not in client.get("/console/patients", params={"q": "Switcher"}).text


def test_a_token_of_someone_with_a_role_per_clinic_reaches_the_clinics_of_its_role(network: ApiServer) -> None:
    main_id, _ = named_referral(network, "main")
    west_id, _ = named_referral(network, "west")
    staff = network.new_staff("coordinator")
    now = datetime.now(UTC)
    with network.services.unit_of_work() as uow:
        accounts.set_clinics(uow, staff.id, ["main", "west"], {"west": "clinician"})
        coordinator_token = create_token(uow, staff.id, "coordinator work", now, role="coordinator")[1]
        clinician_token = create_token(uow, staff.id, "clinician work", now, role="clinician")[1]
        with pytest.raises(AccountError, match="clinician or coordinator"):
            create_token(uow, staff.id, "more", now, role="ops")
        uow.commit()
    with network.client(token=coordinator_token) as api:
        assert api.get(f"/v1/workflows/{main_id}").status_code == 200
        assert api.get(f"/v1/workflows/{west_id}").status_code == 404, "a coordinator's token: main only"
    with network.client(token=clinician_token) as api:
        assert api.get(f"/v1/workflows/{west_id}").status_code == 200
        assert api.get(f"/v1/workflows/{main_id}").status_code == 404, "a clinician's token: west only"


def test_a_role_per_clinic_is_refused_for_a_clinic_not_theirs_or_a_network_account(network: ApiServer) -> None:
    staff = network.new_staff("coordinator")
    with network.services.unit_of_work() as uow:
        with pytest.raises(AccountError, match="west, which is not one of the account's clinics"):
            accounts.set_clinics(uow, staff.id, ["main"], {"west": "ops"})
        with pytest.raises(AccountError, match="one role everywhere"):
            accounts.set_clinics(uow, staff.id, None, {"west": "ops"})
        same = accounts.set_clinics(uow, staff.id, ["main", "west"], {"main": "clinician", "west": "clinician"})
        assert (same.role, same.clinic_roles) == ("clinician", None), "the same role at each is one role"


def test_carepath_users_clinics_sets_a_role_per_clinic_and_refuses_a_role_that_is_none(network: ApiServer) -> None:
    from typer.testing import CliRunner

    from cli.users import users_app

    url = network.services.settings.database_url
    staff = network.new_staff("coordinator")
    done = CliRunner().invoke(users_app, ["clinics", staff.email, "--clinic", "main", "--clinic", "west:ops",
                                          "--database-url", url])
    assert done.exit_code == 0, done.output
    assert "works at main, west (ops) as coordinator" in done.output
    listed = CliRunner().invoke(users_app, ["list", "--database-url", url])
    assert "main, west (ops)" in next(line for line in listed.output.splitlines() if staff.email in line)

    wrong = CliRunner().invoke(users_app, ["clinics", staff.email, "--clinic", "main", "--clinic", "west:janitor",
                                           "--database-url", url])
    assert wrong.exit_code != 0 and "A role is one of coordinator, clinician, ops, admin" in wrong.output
    again = CliRunner().invoke(users_app, ["list", "--database-url", url])
    assert "main, west (ops)" in again.output, "a refusal changes nothing"
