"""`POST /console/clinic`: the clinic switcher's form (`api.dashboard.clinic_choice` says what the choice does)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response

from api.dashboard.access import PageRoute, SignedIn
from api.dashboard.clinic_choice import COOKIE, choices, offers_all
from api.deps import ServicesDep

BACK_DEFAULT = "/console/worklist"

router = APIRouter(route_class=PageRoute)


def _local_path(raw: str) -> str:
    """Where to go back to: a path on this site only (never another host), without its query."""
    path = raw.split("?", 1)[0].split("#", 1)[0]
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else BACK_DEFAULT


@router.post("/console/clinic")
async def switch(user: SignedIn, request: Request, svc: ServicesDep) -> Response:
    """Look at one clinic (`clinic` = its key) or at every clinic one works at (`clinic` empty)."""
    form = await request.form()
    key = str(form.get("clinic", "") or "")
    full_user = request.state.full_user
    allowed = dict(choices(svc, full_user))
    if key and key not in allowed:  # only a forged or stale form gets here: the switcher offers the allowed ones
        return PlainTextResponse(f"You cannot look at clinic {key!r}: choose one of {', '.join(sorted(allowed))}, "
                                 "or all of your clinics.", status_code=422)
    if not key and not offers_all(full_user):
        return PlainTextResponse("Your role is not the same at each of your clinics, so you look at one clinic at a "
                                 f"time: choose one of {', '.join(sorted(allowed))}.", status_code=422)
    back = RedirectResponse(_local_path(str(form.get("back", "") or "")), status_code=303)
    if key:
        back.set_cookie(COOKIE, key, httponly=True, samesite="lax", secure=request.url.scheme == "https", path="/")
    else:
        back.delete_cookie(COOKIE, path="/")
    return back
