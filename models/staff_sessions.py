"""Signed-in browsers. The cookie holds a random id; the row keeps its SHA-256, the user, the form (CSRF) token, how far
signing in got, and when it was made and last used.

A session ends when it has been idle too long, when it is too old, at sign-out (every session of the user), and when
the user's password changes or the account is disabled. Operations take the caller's unit of work.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from models.tables import StaffSession, User
from models.unit_of_work import UnitOfWork
from models.users import hash_token, new_secret, presentable

ACTIVE = "active"
# Stages before `active`: the password (or the identity provider) is done and the next step is the code (`code`),
# enrolling a second factor (`enrol`) or choosing a new password (`new_password`).
PENDING_STAGES = frozenset({"code", "enrol", "new_password"})
PENDING_SECONDS = 600  # a half-finished sign-in is forgotten after ten minutes


@dataclass
class Found:
    """What a presented session id turned out to be: a live session and its user, or why there is none."""

    session: StaffSession | None = None
    user: User | None = None
    ended: str | None = None  # "idle", "expired" or "disabled" when this lookup ended it


def open_session(uow: UnitOfWork, user_id: str, stage: str, method: str, now: datetime, address: str | None,
                 pending_secret: str | None = None) -> tuple[StaffSession, str]:
    """A new session (and the id for the cookie, which is not kept)."""
    token = new_secret()
    session = StaffSession(id=str(uuid.uuid4()), token_hash=hash_token(token), user_id=user_id, stage=stage,
                           method=method, csrf_token=new_secret(), pending_secret=pending_secret, address=address,
                           created_at=now, last_seen_at=now)
    uow.db.add(session)
    return session, token


def find(uow: UnitOfWork, token: str | None, now: datetime, idle_seconds: int, max_seconds: int,
         touch: bool = True) -> Found:
    """The session of this cookie, ended here if it is past its time or its user is disabled; `touch` marks it used."""
    if not presentable(token):
        return Found()
    row = uow.db.execute(select(StaffSession, User).join(User, User.id == StaffSession.user_id)
                         .where(StaffSession.token_hash == hash_token(token))).first()
    if row is None:
        return Found()
    session, user = row
    ended = _why_over(session, user, now, idle_seconds, max_seconds)
    if ended:
        uow.db.delete(session)
        return Found(user=user, ended=ended)
    if touch:
        session.last_seen_at = now
    return Found(session=session, user=user)


def _why_over(session: StaffSession, user: User, now: datetime, idle_seconds: int, max_seconds: int) -> str | None:
    if user.disabled:
        return "disabled"
    if session.stage != ACTIVE:
        return "expired" if now - session.created_at > timedelta(seconds=PENDING_SECONDS) else None
    if now - session.created_at > timedelta(seconds=max_seconds):
        return "expired"
    if now - session.last_seen_at > timedelta(seconds=idle_seconds):
        return "idle"
    return None


def advance(uow: UnitOfWork, session: StaffSession, stage: str, now: datetime, pending_secret: str | None = None) -> str:
    """Move a session on to `stage` under a new id (so an id seen before a step is worthless after it)."""
    token = new_secret()
    session.token_hash, session.stage, session.pending_secret = hash_token(token), stage, pending_secret
    session.last_seen_at = now
    if stage == ACTIVE:
        session.created_at = now  # the 12 hours count from the finished sign-in
    return token


def end(uow: UnitOfWork, session_id: str) -> None:
    uow.db.execute(delete(StaffSession).where(StaffSession.id == session_id))


def end_all(uow: UnitOfWork, user_id: str) -> int:
    """End every session of the user (sign-out, a password change, disabling); how many there were."""
    return uow.db.execute(delete(StaffSession).where(StaffSession.user_id == user_id)).rowcount or 0
