"""Staff roles, and the hashes carepath keeps of the secrets it hands out.

API tokens and session ids are 32 random bytes, so a fast unsalted SHA-256 is enough for them: there is nothing to
guess, and a lookup by hash stays one indexed query. Passwords are chosen by people and get argon2id
(`models.accounts`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from enum import StrEnum


class UserRole(StrEnum):
    COORDINATOR = "coordinator"
    CLINICIAN = "clinician"
    OPS = "ops"
    ADMIN = "admin"


def role_at(user, clinic: str) -> str:
    """The role an account (`models.tables.User`) holds at a clinic: `users.clinic_roles` where it names one, else its
    role."""
    return (user.clinic_roles or {}).get(clinic, user.role)


MAX_TOKEN_LENGTH = 200  # a presented token or session id longer than this is refused without hashing
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


class AccountError(ValueError):
    """A request about an account that cannot be done; the message is written for staff and names no secret."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_secret() -> str:
    """A fresh token or session id: 32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


def presentable(token: str | None) -> bool:
    """Whether a presented token or session id is worth hashing and looking up."""
    return bool(token) and len(token) <= MAX_TOKEN_LENGTH


def normal_email(email: str) -> str:
    """The email as accounts store it (trimmed, lower case); AccountError when it is not one."""
    email = (email or "").strip().lower()
    if len(email) > 254 or not EMAIL.match(email):
        raise AccountError("That is not an email address (name@example.org).")
    return email
