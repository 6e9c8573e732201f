"""The pages' door: the signed-in user a page admits, by the roles `api.policy` declares, with the form token checked
on every POST and every view of a patient recorded in the audit trail; and how a page answers what its dependencies
refuse (sign in first, not for your role, a form not from our page, no such thing) — as a page, where the API
answers JSON."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from api import policy
from api.dashboard import csrf
from api.dashboard.clinic_choice import narrowed
from api.dashboard.signin import look_up, note, remember_return, to_login
from api.dashboard.templating import page
from api.deps import ServicesDep
from api.ids import UnknownId, parse_id
from models.queries import accounts as account_queries
from models.staff_sessions import ACTIVE
from models.tables import User
from workers.runtime import Services

AUTO_REFRESH = "auto"  # `?auto=1`: the page reloading itself, not someone using it (the idle clock keeps running)
PATIENT_PARAMS = ("workflow_id",)  # a route taking one of these shows or changes one patient's data


class SignInFirst(Exception):
    """No valid session cookie: the page answers with the way to the login (saying why, when the session ended)."""

    def __init__(self, why: str | None = None) -> None:
        super().__init__("sign in first")
        self.why = why


class NotForYourRole(Exception):
    """Signed in, with a role the page does not admit."""

    def __init__(self, user: User, why: str | None = None) -> None:
        super().__init__(f"role {user.role} may not open this page")
        self.user, self.why = user, why  # `why`: what the page says instead of the patient pages' reason


class FormNotFromUs(Exception):
    """A POST without this session's form token: sent by another site, or from a page of an earlier session."""

    def __init__(self, user: User) -> None:
        super().__init__("the form token is missing or wrong")
        self.user = user


def page_user(roles: policy.Roles) -> Callable[..., User]:
    """A dependency: the user of the session cookie when the policy's `roles` include theirs."""

    def admitted(request: Request, svc: ServicesDep,
                 sent: Annotated[str | None, Depends(csrf.sent_token)]) -> User:
        found = look_up(request, svc, touch=request.query_params.get(AUTO_REFRESH) != "1")
        if found.session is None or found.session.stage != ACTIVE or not policy.allows(policy.SIGNS_IN, found.user):
            raise SignInFirst({"idle": "idle", "disabled": "disabled", "expired": "expired"}.get(found.ended or ""))
        user = found.user
        request.state.user = user  # so that a refusal further on is drawn in the signed-in layout
        request.state.csrf_token = found.session.csrf_token  # every form the page draws carries it
        if request.method == "POST" and not csrf.matches(found.session.csrf_token, sent):
            raise FormNotFromUs(user)
        request.state.full_user = user  # every clinic they work at: the switcher offers these
        # The switcher's one clinic, if one is chosen, and the role there: what the page admits is that role.
        user = request.state.user = narrowed(request, svc, user)
        if not policy.allows(roles, user):
            raise NotForYourRole(user)
        record_patient_access(request, svc, user)
        return user

    return admitted


def record_patient_access(request: Request, svc: Services, user: User) -> None:
    """A route about one patient (it takes a workflow id): who saw or changed whose data, where from, when."""
    raw = next((request.path_params[name] for name in PATIENT_PARAMS if name in request.path_params), None)
    workflow_id = parse_id(raw) if isinstance(raw, str) else None
    if workflow_id is None or (request.method == "GET" and request.query_params.get(AUTO_REFRESH) == "1"):
        return  # no patient here (an id that cannot exist is answered 404 without a query), or the same view reloading
    patient_id = account_queries.patient_of(svc.engine, workflow_id)
    if patient_id is not None:
        note(request, svc, "view" if request.method in ("GET", "HEAD") else "change", user_id=user.id,
             patient_id=patient_id, workflow_id=workflow_id)


SignedIn = Annotated[User, Depends(page_user(policy.SIGNS_IN))]
Admin = Annotated[User, Depends(page_user(policy.ADMINISTERS))]


class PageRoute(APIRoute):
    """A page's route: a refusal raised by its dependencies is answered with a page (JSON is the API's answer)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answered(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInFirst as refused:
                response = to_login(refused.why)
                remember_return(response, request)
                if refused.why:
                    response.delete_cookie("carepath_session", path="/")
                return response
            except NotForYourRole as refused:
                return refusal_page(request, "forbidden.html", {"user": refused.user, "why": refused.why}, 403)
            except FormNotFromUs as refused:
                return refusal_page(request, "form_refused.html", {"user": refused.user}, 403)
            except UnknownId as unknown:
                user = getattr(request.state, "user", None)
                return refusal_page(request, "not_found.html", {"user": user, "what": unknown.what}, 404)

        return answered


def refusal_page(request: Request, name: str, context: dict[str, Any], status_code: int) -> Response:
    return page(request, request.app.state.services, name, {"refresh": None, **context}, status_code=status_code)


def page_router() -> APIRouter:
    """A router of pages: kept out of the API's OpenAPI document, refusals answered as pages."""
    return APIRouter(include_in_schema=False, route_class=PageRoute)
