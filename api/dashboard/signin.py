"""Signing in to the pages: email and password (or the clinic's identity provider), then the second factor, into a
server-side session.

The cookie holds a random session id (HttpOnly, SameSite=Strict, Secure over HTTPS); the database keeps its hash with
the user (`models.staff_sessions`). Every request checks it: a session idle longer than `session_idle_seconds`, older
than `session_max_seconds`, or of a disabled user ends there. Signing out ends every session of the user.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import policy
from api.dashboard import csrf
from api.dashboard.templating import page
from api.dashboard.throttle import paused_message, paused_until
from api.deps import ServicesDep
from api.forwarded import client_address, is_https
from api.ids import parse_id
from models import audit
from models.accounts import password_matches
from models.queries import accounts as account_queries
from models.staff_sessions import ACTIVE, Found, end_all, find, open_session
from models.tables import User
from models.users import UserRole, new_secret
from workers.runtime import Services

COOKIE = "carepath_session"
# Coordinators and clinicians work from the console's patients; ops and admin from the overview.
CONSOLE_FIRST = frozenset({UserRole.COORDINATOR, UserRole.CLINICIAN})
STAGE_PAGES = {"code": "/login/code", "enrol": "/login/enrol", "new_password": "/login/new-password"}
NOTICES = {
    "idle": "You were signed out because the page was left unused. Sign in again to go on.",
    "expired": "Your sign-in has expired. Sign in again.",
    "disabled": "This account is disabled. Ask an administrator if you need it back.",
    "password-changed": "Your password is changed, and every other sign-in has ended. Sign in with the new password.",
    "form": "That form had expired. Sign in again.",
}
# The page someone was sent to sign in from (a staff alert's link to its worklist item, say): a path on our pages
# with a query of ids and codes, kept in a short-lived cookie (never in the URL) and gone to once signing in is done.
# Lax, not Strict: the identity provider's callback is a navigation another site starts.
RETURN_COOKIE = "carepath_return"
RETURN_SECONDS = 15 * 60
RETURN_PATH = re.compile(r"/(console|dashboard|admin|account)(/[A-Za-z0-9_.-]+)*/?")
RETURN_PARAM = re.compile(r"(item|view|date|severity|owner|mine|show|stage|flag|page|done)=[A-Za-z0-9_.-]{1,60}")
WRONG = "That email and password do not match an account. Check both and try again."
DISABLED = NOTICES["disabled"]

router = APIRouter(include_in_schema=False)


def now_of(request: Request) -> datetime:
    return request.app.state.clock()


def note(request: Request, svc: Services, action: str, **fields: Any) -> None:
    """One audit entry about this request (its route and client address), in a unit of work of its own."""
    route = getattr(request.scope.get("route"), "path", None) or request.url.path
    svc.run(audit.record, action, now_of(request), route=route, method=request.method,
            address=client_address(request), **fields)


def look_up(request: Request, svc: Services, *, touch: bool = True) -> Found:
    """The session of the request's cookie; ending it here (and saying so in the audit trail) when it is over."""
    settings = svc.settings
    with svc.unit_of_work() as uow:
        found = find(uow, request.cookies.get(COOKIE), now_of(request), settings.session_idle_seconds,
                     settings.session_max_seconds, touch=touch)
        if found.ended:
            audit.record(uow, "sign_out", now_of(request), user_id=found.user.id, address=client_address(request),
                         route=request.url.path, method=request.method, detail=f"session ended: {found.ended}")
        uow.commit()
    if found.session is not None:
        request.state.user_id = found.user.id  # the request log line carries the id, never the name
    return found


def session_user(request: Request, svc: Services) -> User | None:
    """The user of a finished sign-in (an active session) of a role that may sign in."""
    found = look_up(request, svc, touch=False)
    if found.session is None or found.session.stage != ACTIVE or not policy.allows(policy.SIGNS_IN, found.user):
        return None
    return found.user


def to_login(msg: str | None = None) -> RedirectResponse:
    return RedirectResponse(f"/login?msg={msg}" if msg in NOTICES else "/login", status_code=303)


def landing(user: User) -> str:
    """Where signing in lands."""
    return "/console/patients" if user.role in CONSOLE_FIRST else "/dashboard"


def return_target(path: str, query: str) -> str | None:
    """`path?query` when the path is one of our pages (None for anything else: another site, `//host`, the API), the
    query cut to the parameters that carry ids and codes, so the cookie can never send anyone elsewhere nor hold a
    name someone typed."""
    if not RETURN_PATH.fullmatch(path):
        return None
    kept = [part for part in query.split("&") if RETURN_PARAM.fullmatch(part)]
    return f"{path}?{'&'.join(kept)}" if kept else path


def remember_return(response: Response, request: Request) -> None:
    """A page asked for a sign-in: come back to it after (GET only: a form is not resent)."""
    target = return_target(request.url.path, request.url.query) if request.method == "GET" else None
    if target is not None:
        response.set_cookie(RETURN_COOKIE, target, max_age=RETURN_SECONDS, httponly=True, samesite="lax",
                            secure=is_https(request), path="/login")


def onward_from(request: Request, user: User) -> str:
    """Where a finished sign-in goes: back to the page that asked for it, else the role's landing page."""
    raw = request.cookies.get(RETURN_COOKIE) or ""
    path, _, query = raw.partition("?")
    return return_target(path, query) or landing(user)


def forget_return(response: Response) -> None:
    response.delete_cookie(RETURN_COOKIE, path="/login", httponly=True, samesite="lax")


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    """The session id, for this browser session only (the server ends it; closing the browser forgets it)."""
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=is_https(request), path="/")


def forget_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")


def first_stage(user: User, method: str) -> str:
    """What signing in asks next, once the password (or the identity provider) has said who this is."""
    if policy.needs_second_factor(user):
        return "code" if user.totp_secret else "enrol"
    return after_second_factor(user, method)


def after_second_factor(user: User, method: str) -> str:
    return "new_password" if user.must_change_password and method == "password" else ACTIVE


def go_to(request: Request, stage: str, token: str, user: User) -> Response:
    response = RedirectResponse(onward_from(request, user) if stage == ACTIVE else STAGE_PAGES[stage], status_code=303)
    set_session_cookie(response, request, token)
    if stage == ACTIVE:
        forget_return(response)
    return response


def begin(request: Request, svc: Services, user: User, method: str) -> tuple[str, str]:
    """Open the session a first factor earned, at its next stage: (stage, session id for the cookie)."""
    stage, now = first_stage(user, method), now_of(request)
    with svc.unit_of_work() as uow:
        _session, token = open_session(uow, user.id, stage, method, now, client_address(request))
        if stage == ACTIVE:
            audit.record(uow, "sign_in", now, user_id=user.id, route=request.url.path, method=request.method,
                         address=client_address(request), detail=method)
        uow.commit()
    return stage, token


def login_page(request: Request, svc: Services, *, error: str | None = None, email: str = "",
               status_code: int = 200, msg: str | None = None) -> Response:
    """The sign-in form, with a fresh form token in its cookie."""
    token = request.cookies.get(csrf.LOGIN_COOKIE) or new_secret()
    request.state.csrf_token = token
    context = {"error": error, "email": email, "notice": NOTICES.get(msg or ""), "refresh": None,
               "oidc_label": svc.settings.oidc_label if svc.settings.oidc_enabled else None}
    # "Sign in with …" posts here and is sent on to the identity provider: the CSP's form-action must allow where it
    # goes (Chromium checks a form's redirects too), or the button does nothing.
    provider = (origin_of(svc.settings.oidc_issuer),) if svc.settings.oidc_enabled else ()
    response = page(request, svc, "login.html", context, status_code=status_code, forms_to=provider)
    response.set_cookie(csrf.LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=is_https(request),
                        path="/login")
    return response


def origin_of(url: str) -> str:
    """scheme://host[:port] of an address (what a CSP source names)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def login_form_ok(request: Request, sent: str) -> bool:
    return csrf.matches(request.cookies.get(csrf.LOGIN_COOKIE), sent)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, svc: ServicesDep, msg: str | None = None) -> Response:
    """The sign-in form; someone already signed in goes straight to their landing page."""
    if (user := session_user(request, svc)) is not None:
        return RedirectResponse(landing(user), status_code=303)
    return login_page(request, svc, msg=msg)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, svc: ServicesDep, email: Annotated[str, Form(max_length=320)] = "",
          password: Annotated[str, Form(max_length=1000)] = "",
          csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Check the email and password (paused after repeated failures), then on to the second factor."""
    if not login_form_ok(request, csrf_token):
        return login_page(request, svc, error=NOTICES["form"], email=email, status_code=403)
    now, address = now_of(request), client_address(request)
    user = account_queries.by_email(svc.engine, email)
    user_id = user.id if user is not None else None
    if (until := paused_until(svc, now, user_id=user_id, address=address)) is not None:
        note(request, svc, "sign_in_refused", user_id=user_id, detail="paused after failed sign-ins")
        return login_page(request, svc, error=paused_message(until, now), email=email, status_code=429)
    if not password_matches(user, password):
        note(request, svc, "sign_in_failed", user_id=user_id, detail="wrong password" if user else "unknown account")
        until = paused_until(svc, now, user_id=user_id, address=address)
        return login_page(request, svc, error=paused_message(until, now) if until else WRONG, email=email,
                          status_code=429 if until else 401)
    if user.disabled or not policy.allows(policy.SIGNS_IN, user):
        note(request, svc, "sign_in_failed", user_id=user.id, detail="account disabled")
        return login_page(request, svc, error=DISABLED, email=email, status_code=403)
    stage, token = begin(request, svc, user, "password")
    request.state.user_id = user.id
    return go_to(request, stage, token, user)


@router.post("/logout")
def logout(request: Request, svc: ServicesDep, csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Sign out: every session of this user ends, in every browser."""
    found = look_up(request, svc, touch=False)
    if found.session is not None:
        if not csrf.matches(found.session.csrf_token, request.headers.get(csrf.HEADER) or csrf_token):
            return RedirectResponse(landing(found.user), status_code=303)  # not from our page: nothing happens
        with svc.unit_of_work() as uow:
            ended = end_all(uow, found.user.id)
            audit.record(uow, "sign_out", now_of(request), user_id=found.user.id, route="/logout", method="POST",
                         address=client_address(request), detail=f"signed out ({ended} session{'s' * (ended != 1)})")
            uow.commit()
    response = to_login()
    forget_session_cookie(response)
    return response


@router.get("/worklist")
def worklist_link() -> RedirectResponse:
    """The worklist's short address (`CAREPATH_PUBLIC_URL/worklist`): on to the console's worklist."""
    return RedirectResponse("/console/worklist", status_code=303)


@router.get("/worklist/{escalation_id}")
def worklist_item_link(escalation_id: str) -> RedirectResponse:
    """The link a staff alert carries (`CAREPATH_PUBLIC_URL/worklist/{item id}`): on to the console's worklist with
    that item marked. Ids only; a value that cannot be an id goes to the worklist as it is."""
    item = parse_id(escalation_id)
    if item is None:
        return RedirectResponse("/console/worklist", status_code=303)
    return RedirectResponse(f"/console/worklist?item={item}#esc-{item}", status_code=303)
