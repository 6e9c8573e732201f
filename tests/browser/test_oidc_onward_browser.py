"""Signing in with the clinic's identity provider, in Chromium against `carepath standalone --demo` and the tests' own
provider on 127.0.0.1: the last page moves on by itself (a script of the app's own, no meta refresh) and the session
cookie it set is sent with the next page; without JavaScript its Continue link does the same."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser_support import new_staff
from oidc_provider import Provider, oidc_provider
from test_dashboard_browser import LAPTOP, chromium, running_standalone  # noqa: F401


@pytest.fixture(scope="module")
def idp() -> Iterator[Provider]:
    with oidc_provider() as provider:
        yield provider


@pytest.fixture(scope="module")
def clinic(idp: Provider, tmp_path_factory: pytest.TempPathFactory):
    def settings(base: str) -> dict[str, str]:  # the provider sends the browser back to the address registered
        return {"CAREPATH_PUBLIC_URL": base, "CAREPATH_OIDC_ISSUER": idp.issuer, "CAREPATH_OIDC_CLIENT_ID": idp.client_id,
                "CAREPATH_OIDC_CLIENT_SECRET": idp.client_secret, "CAREPATH_OIDC_LABEL": "Clinic SSO"}

    with running_standalone(tmp_path_factory.mktemp("oidc"), settings) as running:
        yield running


@pytest.mark.parametrize("javascript", [True, False], ids=["script", "no script"])
def test_the_last_page_of_the_providers_sign_in_moves_on(chromium, idp, clinic, javascript) -> None:  # noqa: F811
    from playwright.sync_api import expect

    base, log = clinic
    ops = new_staff(log, f"Federated Ops {javascript}", "ops")  # no second factor: straight to the overview
    idp.email = ops.email
    context = chromium.new_context(viewport=LAPTOP, base_url=base, java_script_enabled=javascript)
    try:
        page = context.new_page()
        page.goto("/login")
        page.get_by_role("button", name="Sign in with Clinic SSO").click()
        if not javascript:
            expect(page.get_by_role("heading", name="Signing in…")).to_be_visible()
            page.get_by_role("link", name="Continue").click()
        expect(page).to_have_url(f"{base}/dashboard")
        expect(page.get_by_role("heading", name="Clinic operations")).to_be_visible()  # signed in: the cookie was sent
    finally:
        context.close()
