"""Signing in to the pages: an API token, kept in a session cookie.

The cookie holds the user's API token (HttpOnly, SameSite=Strict, so page scripts cannot read it and other sites cannot
send it); every request re-checks it, so disabling a user signs them out.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import policy
from api.dashboard.templating import templates
from api.deps import ServicesDep
from models.tables import User
from models.users import UserRole, authenticate
from workers.runtime import Services

COOKIE = "carepath_session"
SESSION_SECONDS = 12 * 3600
# Coordinators and clinicians work from the console's patients; ops and admin from the overview.
CONSOLE_FIRST = frozenset({UserRole.COORDINATOR, UserRole.CLINICIAN})

router = APIRouter(include_in_schema=False)


def session_user(request: Request, svc: Services) -> User | None:
    """The user of the session cookie, if it is still a valid token of a role that may sign in."""
    user = authenticate(svc.engine, request.cookies.get(COOKIE))
    if user is None or not policy.allows(policy.SIGNS_IN, user):
        return None
    request.state.user_id = user.id  # the request log line carries the id, never the name
    return user


def to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


def landing(user: User) -> str:
    """Where signing in lands."""
    return "/console/patients" if user.role in CONSOLE_FIRST else "/dashboard"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, svc: ServicesDep) -> Response:
    """The token form; someone already signed in goes straight to their landing page."""
    if (user := session_user(request, svc)) is not None:
        return RedirectResponse(landing(user), status_code=303)
    return templates.TemplateResponse(request, "login.html", {"error": None})


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, svc: ServicesDep, token: Annotated[str, Form(max_length=500)] = "") -> Response:
    """Check the token and keep it in the session cookie."""
    token = token.strip()
    user = authenticate(svc.engine, token)
    if user is None or not policy.allows(policy.SIGNS_IN, user):
        return templates.TemplateResponse(request, "login.html", {"error": "That token is not valid for the dashboard."},
                                          status_code=401)
    request.state.user_id = user.id
    response = RedirectResponse(landing(user), status_code=303)
    response.set_cookie(COOKIE, token, max_age=SESSION_SECONDS, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")
    return response


@router.post("/logout")
def logout() -> Response:
    """Forget the session cookie."""
    response = to_login()
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
