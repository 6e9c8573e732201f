"""API tokens: named, with a role of at most their owner's, an expiry, revocable; only their SHA-256 is kept.

The Bearer API accepts these and nothing else (a session id is not a token), and the session cookie accepts only
sessions (`models.staff_sessions`).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import Engine, select
from sqlmodel import Session

from models.tables import ApiToken, User
from models.unit_of_work import UnitOfWork
from models.users import AccountError, UserRole, hash_token, new_secret, presentable, role_at

DEFAULT_DAYS, MAX_DAYS = 90, 366


def allowed_roles(owner_role: str) -> frozenset[str]:
    """The roles a token of this owner's role may have: an admin's any, everyone else's their own."""
    return frozenset(UserRole) if owner_role == UserRole.ADMIN else frozenset({owner_role})


def roles_at(owner: User) -> dict[str | None, str]:
    """The owner's role by clinic ({None: role} for one role at every clinic)."""
    if not owner.clinic_roles:
        return {None: owner.role}
    return {clinic: role_at(owner, clinic) for clinic in owner.clinics or ()}


def token_roles(owner: User) -> frozenset[str]:
    """The roles a token of this owner may have: what any of their roles allows at one clinic or another."""
    return frozenset().union(*(allowed_roles(role) for role in roles_at(owner).values()))


def reach(owner: User, token_role: str) -> list[str] | None:
    """The clinics a token with this role reaches: the owner's clinics where they may hold it (all of them, for an
    owner of one role)."""
    if not owner.clinic_roles:
        return owner.clinics
    return [clinic for clinic, role in roles_at(owner).items() if token_role in allowed_roles(role)]


def create_token(uow: UnitOfWork, user_id: str, name: str, now: datetime, *, role: str | None = None,
                 days: int = DEFAULT_DAYS) -> tuple[ApiToken, str]:
    """A new token for the user (the value is returned once and never kept)."""
    owner = uow.db.get(User, user_id)
    if owner is None or owner.disabled:
        raise AccountError("Tokens are made for an enabled account.")
    name, role = (name or "").strip(), role or owner.role
    if not name or len(name) > 100:
        raise AccountError("A token's name is 1 to 100 characters (what it is for, e.g. prometheus).")
    if role not in token_roles(owner):
        if not owner.clinic_roles:
            raise AccountError(f"A token of a {owner.role} can only have the role {owner.role}.")
        raise AccountError(f"A token of this account can have the role {' or '.join(sorted(token_roles(owner)))} "
                           "(the roles it holds at its clinics).")
    if not 1 <= days <= MAX_DAYS:
        raise AccountError(f"A token lasts 1 to {MAX_DAYS} days.")
    value = new_secret()
    token = ApiToken(id=str(uuid.uuid4()), user_id=owner.id, name=name, role=role, token_hash=hash_token(value),
                     created_at=now, expires_at=now + timedelta(days=days))
    uow.db.add(token)
    return token, value


def revoke_token(uow: UnitOfWork, token_id: str, now: datetime) -> ApiToken:
    token = uow.db.get(ApiToken, token_id)
    if token is None:
        raise AccountError("There is no such token.")
    token.revoked_at = token.revoked_at or now
    return token


def authenticate(engine: Engine, value: str | None, now: datetime) -> User | None:
    """The caller a presented token stands for, with the token's role (not necessarily the owner's); None when the
    token is unknown, revoked, expired or its owner is disabled. The User returned is a detached copy: not saved."""
    if not presentable(value):
        return None
    query = (select(ApiToken, User).join(User, User.id == ApiToken.user_id)
             .where(ApiToken.token_hash == hash_token(value), ApiToken.revoked_at.is_(None), ApiToken.expires_at > now))
    with Session(engine) as db:
        row = db.execute(query).first()
    if row is None or row[1].disabled:
        return None
    token, owner = row
    # The owner's clinics come along: a token of a one-clinic user reaches that clinic's records only, and a token of
    # someone with a role per clinic only the clinics where they hold its role.
    return User(id=owner.id, name=owner.name, email=owner.email, role=token.role, clinics=reach(owner, token.role),
                created_at=owner.created_at)
