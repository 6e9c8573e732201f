"""The admin pages (admin role only) and API tokens: accounts made with a temporary password shown once, disabling
one throws its user out at the next click and stops its tokens, a reset (and a new password) ends every session;
tokens are named, scoped to at most their owner's role, expire, are revocable, are shown once and stored hashed, and
the Bearer API takes tokens only while the cookie takes sessions only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
from accounts_support import browser, clock_app, entries, new_address, utcnow
from api_support import ApiServer, referral_body
from signin_support import Staff, sign_in
from sqlalchemy import select
from sqlmodel import Session

from models.tables import ApiToken
from models.users import hash_token

SECRET = re.compile(r'<code class="secret" id="secret">([^<]+)</code>')


@contextmanager
def admin_client(api: ApiServer) -> Iterator[httpx.Client]:
    with browser(api.base_url, new_address()) as client:
        sign_in(client, api.new_staff("admin", "Avery Admin"))
        yield client


def test_only_admins_open_the_admin_pages(guarded: ApiServer) -> None:
    for role in ("coordinator", "clinician", "ops"):
        with browser(guarded.base_url, new_address()) as client:
            sign_in(client, guarded.new_staff(role))
            for path in ("/admin/users", "/admin/audit"):
                refused = client.get(path)
                assert refused.status_code == 403 and "Not for your role" in refused.text, (role, path)
            assert 'href="/admin/users"' not in client.get("/console/worklist").text
    with browser(guarded.base_url) as anonymous:
        assert anonymous.get("/admin/users").headers["location"] == "/login"


def test_an_admin_adds_an_account_whose_temporary_password_must_be_changed(guarded: ApiServer) -> None:
    with admin_client(guarded) as admin:
        page = admin.get("/admin/users")
        assert page.status_code == 200 and "Add an account" in page.text
        made = admin.post("/admin/users", data={"name": "Jo Newhire", "email": "Jo.Newhire@clinic.example.test",
                                                "role": "ops"})
        assert made.status_code == 201 and "cannot show it again" in made.text
        temporary = SECRET.search(made.text).group(1)
        again = admin.post("/admin/users", data={"name": "Jo Again", "email": "jo.newhire@clinic.example.test",
                                                 "role": "ops"})
        assert again.status_code == 422 and "There is already an account with that email." in again.text
    newhire = Staff(email="jo.newhire@clinic.example.test", password=temporary)
    with browser(guarded.base_url, new_address()) as client:
        landed = sign_in(client, newhire, new_password="a password of my own")
        assert landed.headers["location"] == "/dashboard" and newhire.password == "a password of my own"
    [made_entry] = entries(guarded, actions=("user_created",), limit=1)
    assert made_entry.detail == "role ops" and made_entry.route == "/admin/users"


def test_disabling_throws_the_user_out_at_the_next_click_and_stops_their_tokens(guarded: ApiServer) -> None:
    staff = guarded.new_staff("coordinator", "Leaving Coordinator", token=True)
    with browser(guarded.base_url, new_address()) as client, admin_client(guarded) as admin:
        sign_in(client, staff)
        assert client.get("/console/patients").status_code == 200
        assert admin.post(f"/admin/users/{staff.id}/disable").headers["location"].endswith("done=disabled")
        out = client.get("/console/patients")
        assert out.status_code == 303 and out.headers["location"] == "/login"
        with guarded.client(token=staff.token) as api:
            assert api.get("/v1/workflows").status_code == 401
        assert admin.post(f"/admin/users/{staff.id}/enable").status_code == 303
        with guarded.client(token=staff.token) as api:
            assert api.get("/v1/workflows").status_code == 200
        sign_in(client, staff)
        assert client.get("/console/patients").status_code == 200
    assert [e.action for e in entries(guarded, actions=("user_disabled", "user_enabled"), limit=2)] == [
        "user_enabled", "user_disabled"]


def test_a_reset_ends_every_session_and_the_new_password_is_chosen_at_sign_in(guarded: ApiServer) -> None:
    staff = guarded.new_staff("clinician", "Forgetful Clinician")
    with browser(guarded.base_url, new_address()) as client, admin_client(guarded) as admin:
        sign_in(client, staff)
        reset = admin.post(f"/admin/users/{staff.id}/reset-password", data={})
        assert reset.status_code == 201
        assert client.get("/console/patients").headers["location"] == "/login"
        staff.password = SECRET.search(reset.text).group(1)
        landed = sign_in(client, staff, new_password="my brand new password")
        assert landed.headers["location"] == "/console/patients"
        # Changing it oneself ends every session too, this one included.
        changed = client.post("/account/password", data={"current": "my brand new password",
                                                         "password": "yet another passphrase",
                                                         "confirm": "yet another passphrase"})
        assert changed.headers["location"] == "/login?msg=password-changed"
        assert client.get("/console/patients").headers["location"] == "/login"
    actions = [e.action for e in entries(guarded, user_id=staff.id)]
    assert actions.count("password_changed") == 2


def test_a_lost_phone_reset_enrols_a_new_authenticator(guarded: ApiServer) -> None:
    staff = guarded.new_staff("coordinator")
    old_secret = staff.secret
    with admin_client(guarded) as admin:
        reset = admin.post(f"/admin/users/{staff.id}/reset-password", data={"second_factor": "yes"})
    staff.password = SECRET.search(reset.text).group(1)
    with browser(guarded.base_url, new_address()) as client:
        sign_in(client, staff, new_password="after the lost phone")
    assert staff.secret != old_secret


def test_tokens_are_named_scoped_shown_once_expire_and_are_revoked(guarded: ApiServer) -> None:
    owner = guarded.new_staff("admin", "Token Owner")
    clinician = guarded.new_staff("clinician", "Token Clinician")
    with admin_client(guarded) as admin:
        made = admin.post(f"/admin/users/{owner.id}/tokens", data={"name": "prometheus", "role": "ops", "days": "1"})
        assert made.status_code == 201 and "prometheus" in made.text
        ops_token = SECRET.search(made.text).group(1)
        above = admin.post(f"/admin/users/{clinician.id}/tokens", data={"name": "x", "role": "admin", "days": "30"})
        assert above.status_code == 422 and "can only have the role clinician" in above.text
        user_page = admin.get(f"/admin/users/{owner.id}").text
        assert ops_token not in user_page and "prometheus" in user_page
    with Session(guarded.services.engine) as db:
        stored = db.execute(select(ApiToken).where(ApiToken.token_hash == hash_token(ops_token))).scalars().one()
    assert (stored.name, stored.role, stored.user_id) == ("prometheus", "ops", owner.id)
    with guarded.client(token=ops_token) as api:
        assert api.get("/metrics").status_code == 200
        refused = api.post("/v1/referrals", json=referral_body())  # the owner may; this token is ops
        assert refused.status_code == 403 and "role ops" in refused.json()["error"]["message"]

    now = [utcnow() + timedelta(days=1, minutes=1)]
    with clock_app(guarded, now) as later, httpx.Client(base_url=later, headers={"Authorization": f"Bearer {ops_token}"}) as api:
        assert api.get("/metrics").status_code == 401, "expired"

    with admin_client(guarded) as admin:
        assert admin.post(f"/admin/tokens/{stored.id}/revoke").headers["location"].endswith("done=revoked")
    with guarded.client(token=ops_token) as api:
        assert api.get("/metrics").status_code == 401, "revoked"
    assert entries(guarded, actions=("token_revoked",), limit=1)[0].target_id == stored.id


def test_the_api_takes_tokens_only_and_the_pages_sessions_only(guarded: ApiServer) -> None:
    staff = guarded.new_staff("coordinator", token=True)
    with browser(guarded.base_url, new_address()) as client:
        sign_in(client, staff)
        session_id = client.cookies["carepath_session"]
    with guarded.client(token=session_id) as api:
        assert api.get("/v1/workflows").status_code == 401, "a session id is not an API token"
    with browser(guarded.base_url, new_address()) as client:
        client.cookies.set("carepath_session", staff.token)
        assert client.get("/console/patients").headers["location"] == "/login", "a token is not a session"
