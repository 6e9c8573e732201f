"""Staff accounts: created with a temporary password, passwords (argon2id) and their changes, the TOTP second factor,
disabling. Every operation takes the caller's unit of work and leaves the commit to it.

Changing a password, resetting one and disabling an account end every session of the account at once
(`models.staff_sessions.end_all`).
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from datetime import datetime

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from models.staff_sessions import end_all
from models.tables import User
from models.unit_of_work import UnitOfWork
from models.users import AccountError, UserRole, normal_email

PASSWORD_MIN, PASSWORD_MAX = 12, 128
TOTP_STEP_SECONDS = 30
# Readable temporary passwords: no 0/O, 1/l/I. Five groups of four from 31 characters is about 99 bits.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_hasher = PasswordHasher()  # argon2id, the RFC 9106 low-memory profile (64 MiB, 3 passes)
_unknown_hash: list[str] = []


def temporary_password() -> str:
    return "-".join("".join(secrets.choice(_ALPHABET) for _ in range(4)) for _ in range(5))


def password_problem(password: str, user: User | None = None) -> str | None:
    """Why a new password will not do, in words for staff; None when it is fine."""
    if len(password) < PASSWORD_MIN:
        return f"A password needs at least {PASSWORD_MIN} characters (a few words with spaces work well)."
    if len(password) > PASSWORD_MAX:
        return f"A password can have at most {PASSWORD_MAX} characters."
    if user is not None and user.email and password.strip().lower() == user.email:
        return "Your password cannot be your email address."
    if user is not None and password_matches(user, password):
        return "Choose a password you have not used here."
    return None


def password_matches(user: User | None, password: str) -> bool:
    """Whether the password is the account's. Without an account (or a password) a hash is still checked, so an
    unknown email takes as long to refuse as a wrong password."""
    stored = user.password_hash if user is not None else None
    if not stored:
        if not _unknown_hash:
            _unknown_hash.append(_hasher.hash(secrets.token_urlsafe(16)))
        stored = _unknown_hash[0]
        user = None
    try:
        return _hasher.verify(stored, password[:PASSWORD_MAX * 4]) and user is not None
    except (VerificationError, InvalidHashError):
        return False


def create_account(uow: UnitOfWork, *, email: str, name: str, role: str | UserRole, now: datetime,
                   password: str | None = None, clinics: list[str] | None = None,
                   roles: dict[str, str] | None = None) -> tuple[User, str | None]:
    """A new account (at these `clinics`; None: every clinic), `role` at each but where `roles` names another for a
    clinic. Without `password`, a temporary one is made (returned once, changed at first sign-in)."""
    role, clinics, clinic_roles = placement(UserRole(role), clinics, roles)
    email, name = normal_email(email), (name or "").strip()
    if not name or len(name) > 200:
        raise AccountError("A name is 1 to 200 characters.")
    if uow.db.execute(select(User.id).where(User.email == email)).first() is not None:
        raise AccountError("There is already an account with that email.")
    temporary = None
    if password is None:
        password = temporary = temporary_password()
    elif problem := password_problem(password):
        raise AccountError(problem)
    user = User(id=str(uuid.uuid4()), name=name, email=email, role=role, clinics=clinics, clinic_roles=clinic_roles,
                created_at=now, disabled=False,
                password_hash=_hasher.hash(password), must_change_password=temporary is not None,
                password_changed_at=now)
    uow.db.add(user)
    return user, temporary


def _clinic_list(clinics: list[str] | None) -> list[str] | None:
    if clinics is None:
        return None
    if not clinics:
        raise AccountError("An account works at one clinic at least; leave the clinics out for every clinic.")
    return sorted(set(clinics))


def placement(role: str, clinics: list[str] | None,
              roles: dict[str, str] | None) -> tuple[str, list[str] | None, dict[str, str] | None]:
    """(role, clinics, clinic_roles) as stored: `roles` names a clinic's role where it is not `role`. When every
    clinic has the same role that is the one role; otherwise `role` is the first clinic's and the others differ."""
    clinics = _clinic_list(clinics)
    if not roles:
        return str(UserRole(role)), clinics, None
    if clinics is None:
        raise AccountError("A role per clinic is for an account of named clinics; an account of every clinic (a "
                           "network role) has one role everywhere.")
    if stray := sorted(set(roles) - set(clinics)):
        raise AccountError(f"A role is given at {', '.join(stray)}, which is not one of the account's clinics "
                           f"({', '.join(clinics)}).")
    try:
        held = {clinic: str(UserRole(roles.get(clinic) or role)) for clinic in clinics}
    except ValueError:
        raise AccountError(f"A role is one of {', '.join(UserRole)}.") from None
    first = held[clinics[0]]
    differing = {clinic: held_role for clinic, held_role in held.items() if held_role != first}
    return first, clinics, differing or None


def set_clinics(uow: UnitOfWork, user_id: str, clinics: list[str] | None, roles: dict[str, str] | None = None) -> User:
    """Where the account works from now on (None: every clinic), and its role at each (`roles`: where it is not the
    account's role); its sessions end, so no page shows the old scope."""
    user = account(uow, user_id)
    user.role, user.clinics, user.clinic_roles = placement(user.role, clinics, roles)
    uow.db.add(user)
    end_all(uow, user.id)
    return user


def account(uow: UnitOfWork, user_id: str) -> User:
    user = uow.db.get(User, user_id)
    if user is None:
        raise AccountError("There is no such account.")
    return user


def change_password(uow: UnitOfWork, user_id: str, password: str, now: datetime) -> User:
    """Set a password the user chose; every session of theirs ends."""
    user = account(uow, user_id)
    if problem := password_problem(password, user):
        raise AccountError(problem)
    user.password_hash, user.must_change_password, user.password_changed_at = _hasher.hash(password), False, now
    end_all(uow, user.id)
    return user


def reset_password(uow: UnitOfWork, user_id: str, now: datetime, *, second_factor: bool = False) -> str:
    """An admin's reset: a temporary password (returned once) to be changed at the next sign-in; every session ends.
    `second_factor` also forgets the TOTP secret (a lost phone): the user enrols again at the next sign-in."""
    user = account(uow, user_id)
    temporary = temporary_password()
    user.password_hash, user.must_change_password, user.password_changed_at = _hasher.hash(temporary), True, now
    if second_factor:
        user.totp_secret = user.totp_enrolled_at = user.totp_last_step = None
    end_all(uow, user.id)
    return temporary


def set_disabled(uow: UnitOfWork, user_id: str, disabled: bool) -> User:
    """Disable (every session and token stops working at once) or enable an account."""
    user = account(uow, user_id)
    user.disabled = disabled
    if disabled:
        end_all(uow, user.id)
    return user


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, email: str, issuer: str = "carepath") -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


def matching_step(secret: str, code: str, now: datetime, after: int | None) -> int | None:
    """The time step whose code this is (now, or one step either side for a slow typist or clock), if newer than
    `after`: a code is accepted once."""
    code = "".join(code.split())
    if len(code) != 6 or not code.isdigit():
        return None
    totp, current = pyotp.TOTP(secret), int(now.timestamp()) // TOTP_STEP_SECONDS
    for step in (current - 1, current, current + 1):
        if (after is None or step > after) and hmac.compare_digest(totp.at(step * TOTP_STEP_SECONDS), code):
            return step
    return None


def use_code(uow: UnitOfWork, user_id: str, code: str, now: datetime) -> bool:
    """Check an enrolled user's code and spend it."""
    user = account(uow, user_id)
    if not user.totp_secret:
        return False
    step = matching_step(user.totp_secret, code, now, user.totp_last_step)
    if step is None:
        return False
    user.totp_last_step = step
    return True


def enrol(uow: UnitOfWork, user_id: str, secret: str, code: str, now: datetime) -> bool:
    """Keep the secret the user's app was given, once a code from it checks out."""
    user = account(uow, user_id)
    step = matching_step(secret, code, now, None)
    if step is None:
        return False
    user.totp_secret, user.totp_enrolled_at, user.totp_last_step = secret, now, step
    return True
