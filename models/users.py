"""API users: create one with a fresh token, and find the user a presented token belongs to.

Only the SHA-256 of a token is stored. Tokens are 32 random bytes, so a fast unsalted hash is enough: there is nothing
to guess, and a lookup by hash keeps authentication one indexed query.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Engine, select
from sqlmodel import Session

from models.tables import User


class UserRole(StrEnum):
    COORDINATOR = "coordinator"
    CLINICIAN = "clinician"
    OPS = "ops"
    ADMIN = "admin"


MAX_TOKEN_LENGTH = 200  # a presented token longer than this is refused without hashing


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_user(engine: Engine, name: str, role: str | UserRole, now: datetime | None = None) -> tuple[User, str]:
    """Create a user with a new token; returns the user and the token, which is shown once and never stored."""
    role = UserRole(role)
    name = name.strip()
    if not name or len(name) > 200:
        raise ValueError("a user's name is 1 to 200 characters")
    token = secrets.token_urlsafe(32)
    user = User(id=str(uuid.uuid4()), name=name, role=role.value, token_hash=hash_token(token),
                created_at=now or datetime.now(UTC), disabled=False)
    with Session(engine) as db:
        db.add(user)
        db.commit()
        db.refresh(user)
        db.expunge(user)
    return user, token


def authenticate(engine: Engine, token: str | None) -> User | None:
    """The enabled user whose token this is, or None."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    with Session(engine) as db:
        user = db.execute(select(User).where(User.token_hash == hash_token(token))).scalars().first()
        if user is None or user.disabled:
            return None
        db.expunge(user)
        return user
