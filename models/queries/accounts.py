"""Reading staff accounts, their tokens and sessions (the admin pages, `carepath users list`, signing in)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select
from sqlmodel import Session

from models.tables import ApiToken, StaffSession, User, WorkflowRow
from models.users import AccountError, normal_email


@dataclass(frozen=True)
class AccountRow:
    """One account as the admin list shows it."""

    user: User
    sessions: int  # signed-in browsers now
    tokens: int  # tokens neither revoked nor expired


def by_email(engine: Engine, email: str) -> User | None:
    try:
        email = normal_email(email)
    except AccountError:
        return None
    with Session(engine) as db:
        user = db.execute(select(User).where(User.email == email)).scalars().first()
        if user is not None:
            db.expunge(user)
        return user


def user(engine: Engine, user_id: str) -> User | None:
    with Session(engine) as db:
        found = db.get(User, user_id)
        if found is not None:
            db.expunge(found)
        return found


def find_user(engine: Engine, who: str) -> User | None:
    """An account named by its email or its id (the CLI's USER argument)."""
    return by_email(engine, who) if "@" in who else user(engine, who)


def accounts(engine: Engine, now: datetime) -> list[AccountRow]:
    """Every account, by name, with its live sessions and tokens."""
    sessions = (select(StaffSession.user_id, func.count().label("n")).where(StaffSession.stage == "active")
                .group_by(StaffSession.user_id).subquery())
    tokens = (select(ApiToken.user_id, func.count().label("n"))
              .where(ApiToken.revoked_at.is_(None), ApiToken.expires_at > now).group_by(ApiToken.user_id).subquery())
    query = (select(User, func.coalesce(sessions.c.n, 0), func.coalesce(tokens.c.n, 0))
             .outerjoin(sessions, sessions.c.user_id == User.id).outerjoin(tokens, tokens.c.user_id == User.id)
             .order_by(User.name, User.id))
    with Session(engine) as db:
        rows = db.execute(query).all()
        db.expunge_all()
    return [AccountRow(user=row[0], sessions=row[1], tokens=row[2]) for row in rows]


def tokens_of(engine: Engine, user_id: str) -> list[ApiToken]:
    """The user's tokens, newest first (revoked and expired ones too: the admin page shows them as such)."""
    with Session(engine) as db:
        rows = db.execute(select(ApiToken).where(ApiToken.user_id == user_id)
                          .order_by(ApiToken.created_at.desc())).scalars().all()
        db.expunge_all()
        return list(rows)


def token(engine: Engine, token_id: str) -> ApiToken | None:
    with Session(engine) as db:
        found = db.get(ApiToken, token_id)
        if found is not None:
            db.expunge(found)
        return found


def sessions_of(engine: Engine, user_id: str) -> list[StaffSession]:
    with Session(engine) as db:
        rows = db.execute(select(StaffSession).where(StaffSession.user_id == user_id, StaffSession.stage == "active")
                          .order_by(StaffSession.created_at)).scalars().all()
        db.expunge_all()
        return list(rows)


def patient_of(engine: Engine, workflow_id: str) -> str | None:
    """The patient a workflow is about (the audit trail records both)."""
    with Session(engine) as db:
        return db.execute(select(WorkflowRow.patient_id).where(WorkflowRow.id == workflow_id)).scalar()
