"""Signing in with the clinic's identity provider (OpenID Connect, authorization code with PKCE), when configured
(`CAREPATH_OIDC_ISSUER`, `_CLIENT_ID`, `_CLIENT_SECRET`).

The provider says who this is; carepath matches the email it vouches for to an existing, enabled account (no one
signs themselves up) and then asks for the second factor like a password sign-in does. Authlib (its requests
client) speaks OAuth 2 to the provider; joserfc checks the RS256 id_token against the provider's published keys
(issuer, audience, expiry, nonce).
"""

from __future__ import annotations

import secrets
from typing import Annotated

import httpx
from authlib.integrations.requests_client import OAuth2Session
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from api.dashboard.signin import (
    DISABLED,
    STAGE_PAGES,
    begin,
    forget_return,
    login_form_ok,
    login_page,
    note,
    now_of,
    onward_from,
    set_session_cookie,
)
from api.dashboard.templating import page
from api.dashboard.throttle import paused_message, paused_until
from api.deps import ServicesDep
from api.forwarded import client_address, is_https
from models.queries import accounts as account_queries
from models.staff_sessions import ACTIVE
from workers.runtime import Services
from workers.settings import Settings

router = APIRouter(include_in_schema=False)
STATE_COOKIE = "carepath_oidc"
CALLBACK = "/login/oidc/callback"
TIMEOUT_SECONDS = 10
NOT_CONFIGURED = "Signing in with an identity provider is not set up here. Use your email and password."
FAILED = "Signing in with {label} did not work. Try again, or use your email and password."


class ProviderError(Exception):
    """The provider could not be asked, or its answer does not check out (the reason is for the log, not the page)."""


def discover(settings: Settings) -> dict:
    """The provider's endpoints, from its discovery document."""
    url = settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        document = httpx.get(url, timeout=TIMEOUT_SECONDS).raise_for_status().json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ProviderError(f"discovery failed: {type(exc).__name__}") from None
    if document.get("issuer") != settings.oidc_issuer:
        raise ProviderError("the discovery document names another issuer")
    return document


def client(settings: Settings) -> OAuth2Session:
    return OAuth2Session(settings.oidc_client_id, settings.oidc_client_secret, scope="openid email",
                         redirect_uri=settings.public_url.rstrip("/") + CALLBACK, code_challenge_method="S256")


def verified_email(settings: Settings, provider: dict, id_token: str, nonce: str) -> str:
    """The email an id_token vouches for, once its signature and claims check out."""
    try:
        keys = KeySet.import_key_set(httpx.get(provider["jwks_uri"], timeout=TIMEOUT_SECONDS).raise_for_status().json())
        token = jwt.decode(id_token, keys, algorithms=["RS256", "ES256", "PS256"])
        jwt.JWTClaimsRegistry(leeway=60, iss={"essential": True, "value": settings.oidc_issuer},
                              aud={"essential": True, "value": settings.oidc_client_id}, exp={"essential": True},
                              nonce={"essential": True, "value": nonce}).validate(token.claims)
    except (httpx.HTTPError, ValueError, KeyError, JoseError) as exc:
        raise ProviderError(f"id_token refused: {type(exc).__name__}") from None
    email = token.claims.get("email")
    if not isinstance(email, str) or token.claims.get("email_verified") is False:
        raise ProviderError("the id_token has no verified email")
    return email


@router.post("/login/oidc")
def start(request: Request, svc: ServicesDep, csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Off to the identity provider, with a fresh state, nonce and PKCE verifier kept in a short-lived cookie."""
    settings = svc.settings
    if not settings.oidc_enabled:
        return login_page(request, svc, error=NOT_CONFIGURED, status_code=404)
    if not login_form_ok(request, csrf_token):
        return login_page(request, svc, error="That form had expired. Sign in again.", status_code=403)
    try:
        provider = discover(settings)
    except ProviderError:
        return login_page(request, svc, error=FAILED.format(label=settings.oidc_label), status_code=502)
    state, nonce, verifier = (secrets.token_urlsafe(24) for _ in range(3))
    url, _ = client(settings).create_authorization_url(provider["authorization_endpoint"], state=state, nonce=nonce,
                                                       code_verifier=verifier)
    response = RedirectResponse(url, status_code=303)
    # Lax, not Strict: the provider's redirect back is a navigation from another site, and must bring it along.
    response.set_cookie(STATE_COOKIE, f"{state}.{nonce}.{verifier}", max_age=600, httponly=True, samesite="lax",
                        secure=is_https(request), path="/login/oidc")
    return response


@router.get(CALLBACK, response_class=HTMLResponse)
def callback(request: Request, svc: ServicesDep, state: str = "", code: str = "") -> Response:
    """Back from the provider: check the answer, match the email to an account, and on to the second factor."""
    settings = svc.settings
    if not settings.oidc_enabled:
        return login_page(request, svc, error=NOT_CONFIGURED, status_code=404)
    kept = request.cookies.get(STATE_COOKIE, "").split(".")
    failed = FAILED.format(label=settings.oidc_label)
    if len(kept) != 3 or not state or not secrets.compare_digest(kept[0], state[:100]) or not code:
        return login_page(request, svc, error=failed, status_code=400)
    _, nonce, verifier = kept
    try:
        provider = discover(settings)
        with client(settings) as session:
            tokens = session.fetch_token(provider["token_endpoint"], code=code[:2000], code_verifier=verifier,
                                         timeout=TIMEOUT_SECONDS)
        email = verified_email(settings, provider, tokens.get("id_token", ""), nonce)
    except Exception as exc:  # noqa: BLE001 - ours (ProviderError) or Authlib's for a refused code: the page says one thing
        reason = str(exc)[:120] if isinstance(exc, ProviderError) else type(exc).__name__
        note(request, svc, "sign_in_failed", detail=f"identity provider: {reason}")
        return login_page(request, svc, error=failed, status_code=401)
    return signed_in_as(request, svc, email)


def signed_in_as(request: Request, svc: Services, email: str) -> Response:
    now = now_of(request)
    user = account_queries.by_email(svc.engine, email)
    if user is None:
        note(request, svc, "sign_in_failed", detail="identity provider: no account with that email")
        return login_page(request, svc, error=f"No carepath account uses {email}. Ask an administrator to add you.",
                          status_code=403)
    if (until := paused_until(svc, now, user_id=user.id, address=client_address(request))) is not None:
        note(request, svc, "sign_in_refused", user_id=user.id, detail="paused after failed sign-ins")
        return login_page(request, svc, error=paused_message(until, now), status_code=429)
    if user.disabled:
        note(request, svc, "sign_in_failed", user_id=user.id, detail="account disabled")
        return login_page(request, svc, error=DISABLED, status_code=403)
    stage, token = begin(request, svc, user, "oidc")
    # A page that moves on by itself: the SameSite=Strict session cookie set on a redirect chain that another site
    # started would not be sent with the next request; from our own page it is.
    onward = onward_from(request, user) if stage == ACTIVE else STAGE_PAGES[stage]
    response = page(request, svc, "login_onward.html", {"onward": onward, "refresh": None})
    set_session_cookie(response, request, token)
    if stage == ACTIVE:
        forget_return(response)
    response.delete_cookie(STATE_COOKIE, path="/login/oidc")
    return response
