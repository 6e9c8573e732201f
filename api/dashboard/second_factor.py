"""The steps of signing in after the password: the authenticator code (or enrolling one, by QR code), and choosing a
new password after an administrator's reset. Each step works on a session not yet active (`StaffSession.stage`),
renamed at every step; failed codes count towards the pause on signing in like failed passwords."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from api.dashboard import csrf
from api.dashboard.signin import (
    after_second_factor,
    go_to,
    look_up,
    note,
    now_of,
    to_login,
)
from api.dashboard.templating import page
from api.dashboard.throttle import paused_message, paused_until
from api.deps import ServicesDep
from api.forwarded import client_address
from models import accounts, audit
from models.staff_sessions import ACTIVE, Found, advance, open_session
from models.users import AccountError
from workers.runtime import Services

router = APIRouter(include_in_schema=False)
Code = Annotated[str, Form(max_length=20)]
Token = Annotated[str, Form(max_length=200)]
WRONG_CODE = "That code is not right, or was already used. Enter the 6-digit code your authenticator app shows now."


def phone_time() -> datetime:
    """Codes are checked against the real time, which the phone's app uses (not the app's clock, which tests move)."""
    return datetime.now(UTC)


def pending(request: Request, svc: Services, stage: str) -> Found | None:
    """The half-finished sign-in of this browser, when it is at `stage`."""
    found = look_up(request, svc, touch=False)
    if found.session is None or found.session.stage != stage:
        return None
    request.state.csrf_token = found.session.csrf_token
    return found


def step_page(request: Request, svc: Services, name: str, status_code: int = 200, **context) -> Response:
    return page(request, svc, name, {"refresh": None, "error": None, **context}, status_code=status_code)


def finish(request: Request, svc: Services, found: Found, stage: str) -> Response:
    """Move the session on to `stage` (recording the finished sign-in) and go there."""
    now = now_of(request)
    with svc.unit_of_work() as uow:
        session = uow.db.merge(found.session)
        token = advance(uow, session, stage, now)
        if stage == ACTIVE:
            audit.record(uow, "sign_in", now, user_id=found.user.id, route=request.url.path, method="POST",
                         address=client_address(request), detail=f"{session.method} and authenticator code")
        uow.commit()
    return go_to(request, stage, token, found.user)


def refused_code(request: Request, svc: Services, found: Found, name: str, detail: str, **context) -> Response:
    """A wrong code: recorded, and the sign-in paused when it was one too many."""
    note(request, svc, "sign_in_failed", user_id=found.user.id, detail=detail)
    now = now_of(request)
    until = paused_until(svc, now, user_id=found.user.id, address=client_address(request))
    if until is not None:
        response = step_page(request, svc, "login_paused.html", 429, message=paused_message(until, now))
        response.delete_cookie("carepath_session", path="/")
        return response
    return step_page(request, svc, name, 401, error=WRONG_CODE, **context)


@router.get("/login/code", response_class=HTMLResponse)
def code_form(request: Request, svc: ServicesDep) -> Response:
    """Ask for the authenticator app's code."""
    if (found := pending(request, svc, "code")) is None:
        return to_login("expired")
    return step_page(request, svc, "login_code.html", email=found.user.email)


@router.post("/login/code", response_class=HTMLResponse)
def check_code(request: Request, svc: ServicesDep, code: Code = "", csrf_token: Token = "") -> Response:
    """Check the code (each one works once); then a new password if one is due, else signed in."""
    if (found := pending(request, svc, "code")) is None or not csrf.matches(found.session.csrf_token, csrf_token):
        return to_login("expired")
    if (until := paused_until(svc, now_of(request), user_id=found.user.id, address=client_address(request))):
        return step_page(request, svc, "login_paused.html", 429, message=paused_message(until, now_of(request)))
    with svc.unit_of_work() as uow:
        accepted = accounts.use_code(uow, found.user.id, code, phone_time())
        uow.commit()
    if not accepted:
        return refused_code(request, svc, found, "login_code.html", "wrong authenticator code", email=found.user.email)
    return finish(request, svc, found, after_second_factor(found.user, found.session.method))


def enrol_context(found: Found, secret: str) -> dict:
    uri = accounts.totp_uri(secret, found.user.email or found.user.id)
    qr = segno.make(uri, error="m")
    svg = qr.svg_inline(scale=5, dark="#111827", light="#ffffff", border=4, omitsize=False)
    return {"qr": Markup(svg), "key": " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)),
            "email": found.user.email}


@router.get("/login/enrol", response_class=HTMLResponse)
def enrol_form(request: Request, svc: ServicesDep) -> Response:
    """Set up the second factor: a QR code (and the same key as text) for an authenticator app, then one code."""
    if (found := pending(request, svc, "enrol")) is None:
        return to_login("expired")
    secret = found.session.pending_secret
    if not secret:
        secret = accounts.new_totp_secret()
        with svc.unit_of_work() as uow:
            uow.db.merge(found.session).pending_secret = secret
            uow.commit()
    return step_page(request, svc, "login_enrol.html", **enrol_context(found, secret))


@router.post("/login/enrol", response_class=HTMLResponse)
def confirm_enrolment(request: Request, svc: ServicesDep, code: Code = "", csrf_token: Token = "") -> Response:
    """Keep the new second factor once the app's first code checks out."""
    found = pending(request, svc, "enrol")
    if found is None or not found.session.pending_secret or not csrf.matches(found.session.csrf_token, csrf_token):
        return to_login("expired")
    secret = found.session.pending_secret
    with svc.unit_of_work() as uow:
        enrolled = accounts.enrol(uow, found.user.id, secret, code, phone_time())
        if enrolled:
            audit.record(uow, "second_factor_enrolled", now_of(request), user_id=found.user.id, target_id=found.user.id,
                         route=request.url.path, method="POST", address=client_address(request))
        uow.commit()
    if not enrolled:
        return refused_code(request, svc, found, "login_enrol.html", "wrong code at enrolment",
                            **enrol_context(found, secret))
    return finish(request, svc, found, after_second_factor(found.user, found.session.method))


@router.get("/login/new-password", response_class=HTMLResponse)
def new_password_form(request: Request, svc: ServicesDep) -> Response:
    """Choose a password of your own after an administrator's reset."""
    if (found := pending(request, svc, "new_password")) is None:
        return to_login("expired")
    return step_page(request, svc, "login_new_password.html", email=found.user.email)


@router.post("/login/new-password", response_class=HTMLResponse)
def set_new_password(request: Request, svc: ServicesDep, password: Annotated[str, Form(max_length=1000)] = "",
                     confirm: Annotated[str, Form(max_length=1000)] = "", csrf_token: Token = "") -> Response:
    """Keep the new password (every other session of the user ends) and finish signing in."""
    found = pending(request, svc, "new_password")
    if found is None or not csrf.matches(found.session.csrf_token, csrf_token):
        return to_login("expired")
    error = "The two passwords are not the same." if password != confirm else None
    now, address = now_of(request), client_address(request)
    if error is None:
        try:
            with svc.unit_of_work() as uow:
                accounts.change_password(uow, found.user.id, password, now)  # ends every session, this one too
                _session, token = open_session(uow, found.user.id, ACTIVE, found.session.method, now, address)
                for action, detail in (("password_changed", "at sign-in, after a reset"),
                                       ("sign_in", f"{found.session.method} and a new password")):
                    audit.record(uow, action, now, user_id=found.user.id, target_id=found.user.id,
                                 route=request.url.path, method="POST", address=address, detail=detail)
                uow.commit()
        except AccountError as exc:
            error = str(exc)
    if error is not None:
        return step_page(request, svc, "login_new_password.html", 422, error=error, email=found.user.email)
    return go_to(request, ACTIVE, token, found.user)
