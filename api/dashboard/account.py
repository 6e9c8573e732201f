"""A signed-in user's own account: changing the password (which ends every session of theirs, this one too)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response

from api.dashboard.access import SignedIn, page_router
from api.dashboard.signin import forget_session_cookie, note, now_of, to_login
from api.dashboard.templating import page
from api.dashboard.throttle import paused_message, paused_until
from api.deps import ServicesDep
from models import accounts
from models.accounts import password_matches
from models.users import AccountError

router = page_router()
Password = Annotated[str, Form(max_length=1000)]


def form(request: Request, svc, user, error: str | None = None, status_code: int = 200) -> Response:
    return page(request, svc, "account_password.html", {"user": user, "error": error, "refresh": None},
                status_code=status_code)


@router.get("/account/password", response_class=HTMLResponse)
def password_form(user: SignedIn, request: Request, svc: ServicesDep) -> Response:
    """The form to change your password."""
    return form(request, svc, user)


@router.post("/account/password", response_class=HTMLResponse)
def change_password(user: SignedIn, request: Request, svc: ServicesDep, current: Password = "", password: Password = "",
                    confirm: Password = "") -> Response:
    """Change your password: every session of yours ends, so you sign in again with the new one."""
    now = now_of(request)
    if (until := paused_until(svc, now, user_id=user.id, address=None)) is not None:
        return form(request, svc, user, paused_message(until, now), 429)
    if not password_matches(user, current):
        note(request, svc, "sign_in_failed", user_id=user.id, detail="wrong password when changing it")
        return form(request, svc, user, "Your current password is not right.", 401)
    if password != confirm:
        return form(request, svc, user, "The two new passwords are not the same.", 422)
    try:
        with svc.unit_of_work() as uow:
            accounts.change_password(uow, user.id, password, now)
            uow.commit()
    except AccountError as exc:
        return form(request, svc, user, str(exc), 422)
    note(request, svc, "password_changed", user_id=user.id, target_id=user.id, detail="by the user")
    response = to_login("password-changed")
    forget_session_cookie(response)
    return response
