"""The pages' door: the signed-in user a page admits, by the roles `api.policy` declares, and how a page answers what
its dependencies refuse (sign in first, not for your role, no such thing) — as a page, where the API answers JSON."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from api import policy
from api.dashboard.signin import session_user, to_login
from api.dashboard.templating import page
from api.deps import ServicesDep
from api.ids import UnknownId
from models.tables import User


class SignInFirst(Exception):
    """No valid session cookie: the page answers with the way to the login."""


class NotForYourRole(Exception):
    """Signed in, with a role the page does not admit."""

    def __init__(self, user: User) -> None:
        super().__init__(f"role {user.role} may not open this page")
        self.user = user


def page_user(roles: policy.Roles) -> Callable[..., User]:
    """A dependency: the user of the session cookie when the policy's `roles` include theirs."""

    def admitted(request: Request, svc: ServicesDep) -> User:
        user = session_user(request, svc)
        if user is None:
            raise SignInFirst()
        request.state.user = user  # so that a refusal further on is drawn in the signed-in layout
        if not policy.allows(roles, user):
            raise NotForYourRole(user)
        return user

    return admitted


SignedIn = Annotated[User, Depends(page_user(policy.SIGNS_IN))]


class PageRoute(APIRoute):
    """A page's route: a refusal raised by its dependencies is answered with a page (JSON is the API's answer)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answered(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInFirst:
                return to_login()
            except NotForYourRole as refused:
                return refusal_page(request, "forbidden.html", {"user": refused.user}, 403)
            except UnknownId as unknown:
                user = getattr(request.state, "user", None)
                return refusal_page(request, "not_found.html", {"user": user, "what": unknown.what}, 404)

        return answered


def refusal_page(request: Request, name: str, context: dict[str, Any], status_code: int) -> Response:
    return page(request, request.app.state.services, name, {"refresh": None, **context}, status_code=status_code)


def page_router() -> APIRouter:
    """A router of pages: kept out of the API's OpenAPI document, refusals answered as pages."""
    return APIRouter(include_in_schema=False, route_class=PageRoute)
