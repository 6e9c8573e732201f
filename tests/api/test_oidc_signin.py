"""Signing in with the clinic's identity provider (OpenID Connect), against a provider the test runs on 127.0.0.1:
the email it vouches for finds an existing account (no one signs themselves up), the second factor still follows, and
a forged id_token, a replayed state or an unknown email sign no one in."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlparse

import httpx
import pytest
from api_support import ApiServer, fresh_database, serve
from oidc_provider import Provider, oidc_provider
from signin_support import code_for, form_token

from models.queries import audit as audit_queries


@pytest.fixture(scope="module")
def idp() -> Iterator[Provider]:
    with oidc_provider() as provider:
        yield provider


@pytest.fixture(scope="module")
def clinic(postgres_server_url: str, idp: Provider) -> Iterator[ApiServer]:
    with fresh_database(postgres_server_url) as url, serve(url, oidc_issuer=idp.issuer, oidc_client_id=idp.client_id,
                                                           oidc_client_secret=idp.client_secret,
                                                           oidc_label="Clinic SSO") as server:
        yield server


def through_the_provider(clinic: ApiServer, client: httpx.Client) -> httpx.Response:
    """The button on the sign-in page, the provider's authorize step, and back to carepath's callback."""
    login = client.get("/login")
    assert "Sign in with Clinic SSO" in login.text
    # The button's form is answered with a redirect to the provider: the CSP lets a form go there (Chromium checks).
    assert f"form-action 'self' {clinic.services.settings.oidc_issuer};" in login.headers["content-security-policy"]
    started = client.post("/login/oidc", data={"csrf_token": form_token(login.text)})
    assert started.status_code == 303, started.text
    authorize = started.headers["location"]
    assert authorize.startswith(f"{clinic.services.settings.oidc_issuer}/authorize?") and "code_challenge=" in authorize
    back = httpx.get(authorize, follow_redirects=False)
    assert back.status_code == 302, back.text
    callback = urlparse(back.headers["location"])
    assert f"{callback.scheme}://{callback.netloc}" == clinic.services.settings.public_url  # the address it registered
    return client.get(f"{callback.path}?{callback.query}")


def test_the_provider_vouches_the_account_signs_in_with_its_second_factor(clinic: ApiServer, idp: Provider) -> None:
    staff = clinic.new_staff("clinician", "Dr. Federated")
    idp.email = staff.email.upper()  # providers differ in case; accounts are matched without it
    with clinic.browser() as client:
        onward = through_the_provider(clinic, client)
        assert onward.status_code == 200 and '<a href="/login/code" id="onward">' in onward.text
        code_page = client.get("/login/code")
        assert code_page.status_code == 200 and staff.email in code_page.text
        done = client.post("/login/code", data={"code": code_for(staff.secret), "csrf_token": form_token(code_page.text)})
        assert done.status_code == 303 and done.headers["location"] == "/console/patients"
        assert client.get("/console/patients").status_code == 200
    [entry] = [e for e, _ in audit_queries.search(clinic.services.engine, user_id=staff.id, actions=("sign_in",))]
    assert entry.detail == "oidc and authenticator code"


def test_no_account_for_the_email_signs_no_one_in(clinic: ApiServer, idp: Provider) -> None:
    idp.email = "stranger@elsewhere.example"
    with clinic.browser() as client:
        refused = through_the_provider(clinic, client)
        assert refused.status_code == 403 and "Ask an administrator to add you" in refused.text
        assert "carepath_session" not in refused.headers.get("set-cookie", "")
        assert client.get("/console/patients").headers["location"] == "/login"


def test_a_forged_id_token_or_another_audience_is_refused(clinic: ApiServer, idp: Provider) -> None:
    staff = clinic.new_staff("ops", "Ops Federated")
    idp.email = staff.email
    for setting in ({"forge": True}, {"audience": "another-app"}):
        for name, value in setting.items():
            setattr(idp, name, value)
        try:
            with clinic.browser() as client:
                refused = through_the_provider(clinic, client)
                assert refused.status_code == 401 and "did not work" in refused.text, setting
                assert client.get("/dashboard").headers["location"] == "/login"
        finally:
            idp.forge, idp.audience = False, None
    with clinic.browser() as client:  # the same account, honestly vouched for: in (ops need no second factor)
        onward = through_the_provider(clinic, client)
        assert '<a href="/dashboard" id="onward">' in onward.text and client.get("/dashboard").status_code == 200
        assert "http-equiv" not in onward.text and "script-src 'self'" in onward.headers["content-security-policy"]


def test_a_callback_without_its_state_is_refused_before_the_provider_is_asked(clinic: ApiServer, idp: Provider) -> None:
    asked = idp.token_requests
    with clinic.browser() as client:
        refused = client.get("/login/oidc/callback", params={"code": "anything", "state": "made-up"})
    assert refused.status_code == 400 and idp.token_requests == asked


def test_without_a_provider_configured_there_is_no_button(api: ApiServer) -> None:
    with api.browser() as client:
        login = client.get("/login")
        assert "Sign in with" not in login.text
        assert client.post("/login/oidc", data={"csrf_token": form_token(login.text)}).status_code == 404
