"""Administering accounts (admin role only): list, create (a temporary password shown once), disable and enable,
reset a password (and the second factor), end someone's sessions, create and revoke their API tokens. Every change is
recorded in the audit trail; ids only in addresses."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.dashboard.access import Admin, page_router
from api.dashboard.signin import note, now_of
from api.dashboard.templating import page
from api.deps import ServicesDep
from api.ids import UnknownId, known
from models import accounts
from models.queries import accounts as account_queries
from models.staff_sessions import end_all
from models.tables import User
from models.tokens import DEFAULT_DAYS, MAX_DAYS, create_token, revoke_token, token_roles
from models.users import AccountError, UserRole
from workers.runtime import Services

router = page_router()
DONE = {
    "disabled": "Account disabled: every session and token of it stopped working.",
    "enabled": "Account enabled. Its tokens work again until they expire.",
    "sessions-ended": "Every session of this account has ended.",
    "revoked": "Token revoked.",
}
Text = Annotated[str, Form(max_length=320)]


def account_id(user_id: str) -> str:
    return known(user_id, "account")


def token_id(token_id: str) -> str:
    return known(token_id, "token")


AccountId = Annotated[str, Depends(account_id)]
TokenId = Annotated[str, Depends(token_id)]


def users_page(request: Request, svc: Services, admin: User, *, error: str | None = None, form: dict | None = None,
               status_code: int = 200) -> Response:
    context = {"user": admin, "accounts": account_queries.accounts(svc.engine, now_of(request)), "roles": list(UserRole),
               "error": error, "form": form or {}, "refresh": None}
    return page(request, svc, "admin_users.html", context, status_code=status_code)


def user_page(request: Request, svc: Services, admin: User, target: User, *, error: str | None = None,
              done: str | None = None, status_code: int = 200) -> Response:
    context = {"user": admin, "account": target, "tokens": account_queries.tokens_of(svc.engine, target.id),
               "sessions": account_queries.sessions_of(svc.engine, target.id), "now": now_of(request),
               "token_roles": sorted(token_roles(target)), "default_days": DEFAULT_DAYS, "max_days": MAX_DAYS,
               "error": error, "notice": DONE.get(done or ""), "refresh": None}
    return page(request, svc, "admin_user.html", context, status_code=status_code)


def secret_page(request: Request, svc: Services, admin: User, target: User, what: str, secret: str) -> Response:
    """A new password or token, shown this once (the page is never cached)."""
    return page(request, svc, "admin_secret.html", {"user": admin, "account": target, "what": what, "secret": secret,
                                                    "refresh": None}, status_code=201)


def target_of(svc: Services, user_id: str) -> User:
    target = account_queries.user(svc.engine, user_id)
    if target is None:
        raise UnknownId("account")
    return target


def back(user_id: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"/admin/users/{user_id}?done={done}", status_code=303)


@router.get("/admin/users", response_class=HTMLResponse)
def users(admin: Admin, request: Request, svc: ServicesDep) -> Response:
    """Every account, and the form to add one."""
    return users_page(request, svc, admin)


@router.post("/admin/users", response_class=HTMLResponse)
def create(admin: Admin, request: Request, svc: ServicesDep, email: Text = "", name: Text = "", role: Text = "") -> Response:
    """Add an account with a temporary password, shown once, to be changed at its first sign-in."""
    form = {"email": email, "name": name, "role": role}
    if role not in set(UserRole):
        return users_page(request, svc, admin, error="Choose a role.", form=form, status_code=422)
    try:
        with svc.unit_of_work() as uow:
            created, temporary = accounts.create_account(uow, email=email, name=name, role=role, now=now_of(request))
            uow.commit()
    except AccountError as exc:
        return users_page(request, svc, admin, error=str(exc), form=form, status_code=422)
    note(request, svc, "user_created", user_id=admin.id, target_id=created.id, detail=f"role {created.role}")
    return secret_page(request, svc, admin, created, "temporary password", temporary)


@router.get("/admin/users/{user_id}", response_class=HTMLResponse)
def user(admin: Admin, user_id: AccountId, request: Request, svc: ServicesDep, done: str | None = None) -> Response:
    """One account: its state, sessions and tokens, and what an administrator can do to it."""
    return user_page(request, svc, admin, target_of(svc, user_id), done=done)


@router.post("/admin/users/{user_id}/disable")
def disable(admin: Admin, user_id: AccountId, request: Request, svc: ServicesDep) -> Response:
    """Disable an account: its sessions end and its tokens stop working at once."""
    target = target_of(svc, user_id)
    if target.id == admin.id:
        return user_page(request, svc, admin, target, error="You cannot disable your own account: ask another "
                         "administrator.", status_code=409)
    with svc.unit_of_work() as uow:
        accounts.set_disabled(uow, target.id, True)
        uow.commit()
    note(request, svc, "user_disabled", user_id=admin.id, target_id=target.id)
    return back(target.id, "disabled")


@router.post("/admin/users/{user_id}/enable")
def enable(admin: Admin, user_id: AccountId, request: Request, svc: ServicesDep) -> Response:
    """Enable a disabled account again."""
    target = target_of(svc, user_id)
    with svc.unit_of_work() as uow:
        accounts.set_disabled(uow, target.id, False)
        uow.commit()
    note(request, svc, "user_enabled", user_id=admin.id, target_id=target.id)
    return back(target.id, "enabled")


@router.post("/admin/users/{user_id}/reset-password", response_class=HTMLResponse)
def reset_password(admin: Admin, user_id: AccountId, request: Request, svc: ServicesDep,
                   second_factor: Text = "") -> Response:
    """A temporary password (shown once; changed at the next sign-in); with `second_factor`, enrol again too."""
    target = target_of(svc, user_id)
    with svc.unit_of_work() as uow:
        temporary = accounts.reset_password(uow, target.id, now_of(request), second_factor=second_factor == "yes")
        uow.commit()
    note(request, svc, "password_reset", user_id=admin.id, target_id=target.id)
    if second_factor == "yes":
        note(request, svc, "second_factor_reset", user_id=admin.id, target_id=target.id)
    return secret_page(request, svc, admin, target, "temporary password", temporary)


@router.post("/admin/users/{user_id}/end-sessions")
def end_sessions(admin: Admin, user_id: AccountId, request: Request, svc: ServicesDep) -> Response:
    """Sign the account out everywhere."""
    target = target_of(svc, user_id)
    with svc.unit_of_work() as uow:
        ended = end_all(uow, target.id)
        uow.commit()
    note(request, svc, "sessions_ended", user_id=admin.id, target_id=target.id, detail=f"{ended} ended")
    return back(target.id, "sessions-ended")


@router.post("/admin/users/{user_id}/tokens", response_class=HTMLResponse)
def new_token(admin: Admin, user_id: AccountId, request: Request, svc: ServicesDep, name: Text = "", role: Text = "",
              days: Annotated[int, Form(ge=1, le=MAX_DAYS)] = DEFAULT_DAYS) -> Response:
    """A new API token for the account (shown once), with a role of at most the account's and an expiry."""
    target = target_of(svc, user_id)
    try:
        with svc.unit_of_work() as uow:
            token, value = create_token(uow, target.id, name, now_of(request), role=role or None, days=days)
            uow.commit()
    except AccountError as exc:
        return user_page(request, svc, admin, target, error=str(exc), status_code=422)
    note(request, svc, "token_created", user_id=admin.id, target_id=token.id,
         detail=f"for account {target.id}, role {token.role}, {days} days")
    return secret_page(request, svc, admin, target, f"API token “{token.name}” (role {token.role})", value)


@router.post("/admin/tokens/{token_id}/revoke")
def revoke(admin: Admin, token_id: TokenId, request: Request, svc: ServicesDep) -> Response:
    """Revoke a token: it stops working at once."""
    found = account_queries.token(svc.engine, token_id)
    if found is None:
        raise UnknownId("token")
    with svc.unit_of_work() as uow:
        revoke_token(uow, found.id, now_of(request))
        uow.commit()
    note(request, svc, "token_revoked", user_id=admin.id, target_id=found.id, detail=f"of account {found.user_id}")
    return back(found.user_id, "revoked")
