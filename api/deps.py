"""Typed dependencies: the services, the clock, the calling user and the roles a route admits."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import ApiError
from config.wiring import Services
from models.tables import User
from models.users import UserRole, authenticate

bearer = HTTPBearer(auto_error=False, description="An API token from `carepath users create`.")

# Roles that may see who a patient is (name, phone, texts). Ops work the dashboard by ids.
SEES_PATIENTS = frozenset({UserRole.COORDINATOR, UserRole.CLINICIAN, UserRole.ADMIN})


def get_services(request: Request) -> Services:
    return request.app.state.services


def get_now(request: Request) -> datetime:
    return request.app.state.clock()


ServicesDep = Annotated[Services, Depends(get_services)]
Now = Annotated[datetime, Depends(get_now)]


def current_user(request: Request, svc: ServicesDep,
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> User:
    """The user whose bearer token came with the request; 401 without one or with a bad one."""
    if credentials is None:
        raise ApiError(401, "this needs an 'Authorization: Bearer <token>' header",
                       headers={"WWW-Authenticate": "Bearer"})
    user = authenticate(svc.engine, credentials.credentials)
    if user is None:
        raise ApiError(401, "the token is not valid", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    request.state.user_id = user.id  # for the request log line: the id, never the name
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_roles(*roles: UserRole) -> Callable[[User], User]:
    """A dependency admitting these roles and admin; 403 for the others."""
    allowed = sorted({*roles, UserRole.ADMIN})

    def check(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise ApiError(403, f"role {user.role} may not do this (allowed roles: {', '.join(allowed)})",
                           details={"role": user.role, "allowed_roles": allowed})
        return user

    return check


StaffUser = Annotated[User, Depends(require_roles(UserRole.COORDINATOR, UserRole.CLINICIAN))]
WorklistUser = Annotated[User, Depends(require_roles(UserRole.COORDINATOR, UserRole.CLINICIAN, UserRole.OPS))]


def actor_of(user: User) -> dict[str, str]:
    """The actor recorded on every event the user causes."""
    return {"role": user.role, "name": user.name}


def sees_patients(user: User) -> bool:
    return user.role in SEES_PATIENTS


def known_id(value: str, what: str) -> str:
    """Ids are UUIDs: anything else is unknown (404) without asking the database."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ApiError(404, f"unknown {what}") from None
