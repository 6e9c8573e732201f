"""Typed dependencies of the JSON API: the services, the clock, the caller (by bearer token) and the roles a route admits.

Which roles those are is `api.policy`'s; the pages ask the same policy through the session cookie
(`api.dashboard.access`). The Bearer header takes API tokens only (`models.tokens`: named, expiring, revocable,
with a role of at most their owner's), never a session id; a route about one workflow records the call in the
audit trail.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api import policy
from api.errors import ApiError
from api.forwarded import client_address
from api.ids import parse_id
from models import audit
from models.queries.accounts import patient_of
from models.tables import User
from models.tokens import authenticate
from workers.runtime import Services

bearer = HTTPBearer(auto_error=False, description="An API token (`carepath users token create`, or the admin pages).")


# Both are async only so that FastAPI calls them on the event loop: a plain `def` dependency costs every request a
# round trip through the thread pool, for an attribute read.
async def get_services(request: Request) -> Services:
    svc = request.app.state.services
    if svc.network_check_due():  # a clinic added or changed elsewhere: one small query, off the event loop
        await run_in_threadpool(svc.refresh_network)
    return svc


async def get_now(request: Request) -> datetime:
    return request.app.state.clock()


ServicesDep = Annotated[Services, Depends(get_services)]
Now = Annotated[datetime, Depends(get_now)]


def current_user(request: Request, svc: ServicesDep,
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> User:
    """The user whose bearer token came with the request; 401 without one or with a bad one."""
    if credentials is None:
        raise ApiError(401, "this needs an 'Authorization: Bearer <token>' header",
                       headers={"WWW-Authenticate": "Bearer"})
    user = authenticate(svc.engine, credentials.credentials, request.app.state.clock())
    if user is None:
        raise ApiError(401, "the token is not valid (unknown, expired or revoked)",
                       headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    request.state.user_id = user.id  # for the request log line: the id, never the name
    record_workflow_call(request, svc, user)
    return user


def record_workflow_call(request: Request, svc: Services, user: User) -> None:
    """A call about one workflow (`/v1/workflows/{workflow_id}…`): who read or changed whose data, in the audit trail."""
    raw = request.path_params.get("workflow_id")
    workflow_id = parse_id(raw) if isinstance(raw, str) else None
    if workflow_id is None:
        return  # an id that cannot exist is answered 404 without a query
    patient_id = patient_of(svc.engine, workflow_id)
    if patient_id is None:
        return
    route = getattr(request.scope.get("route"), "path", None) or request.url.path
    svc.run(audit.record, "view" if request.method in ("GET", "HEAD") else "change", request.app.state.clock(),
            user_id=user.id, patient_id=patient_id, workflow_id=workflow_id, route=route, method=request.method,
            address=client_address(request), detail="api")


CurrentUser = Annotated[User, Depends(current_user)]


def require_roles(roles: policy.Roles) -> Callable[[User], User]:
    """A dependency admitting the caller when the policy's `roles` include theirs; 403 for the others."""
    allowed = sorted(roles)

    def check(user: CurrentUser) -> User:
        if not policy.allows(roles, user):
            raise ApiError(403, f"role {user.role} may not do this (allowed roles: {', '.join(allowed)})",
                           details={"role": user.role, "allowed_roles": allowed})
        return user

    return check


StaffUser = Annotated[User, Depends(require_roles(policy.STARTS_REFERRALS))]
WorklistUser = Annotated[User, Depends(require_roles(policy.ACTS_ON_ESCALATIONS))]
OpsUser = Annotated[User, Depends(require_roles(policy.READS_METRICS))]

