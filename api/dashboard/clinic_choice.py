"""Which clinic a page looks at: the clinic switcher's choice, for staff who work at several clinics.

The choice is a cookie holding a clinic key, nothing else. A page's user is narrowed to the chosen clinic for that
request (`narrowed`), so every list and every record door already scoped by `api.policy.clinic_scope` shows that clinic
only, with no page knowing the switcher exists. A key the user does not work at, or a clinic no longer in the network,
is ignored: the cookie can narrow what a user sees, never widen it.

Someone whose role differs between their clinics (a coordinator at one, a clinician at another) looks at one clinic at
a time, with their role there: without a choice, their first clinic. "All my clinics" is for one role everywhere.
"""

from __future__ import annotations

from fastapi import Request

from api import policy
from models.tables import User
from workers.runtime import Services

COOKIE = "carepath_clinic"


def choices(svc: Services, user: User) -> list[tuple[str, str]]:
    """The clinics this user may switch between, as (key, name); none when there is only one to see."""
    scope = policy.clinic_scope(user)
    clinics = [(c.key, c.name) for c in svc.store.network.clinics if scope is None or c.key in scope]
    return clinics if len(clinics) > 1 else []


def chosen(request: Request, svc: Services, user: User) -> str | None:
    """The clinic the switcher narrows to: the cookie's, if it names one this user may see; for a user of several
    roles, their first clinic when it names none."""
    key = request.cookies.get(COOKIE)
    options = choices(svc, user)
    if key and key in dict(options):
        return key
    if policy.one_role(user):
        return None
    return options[0][0] if options else sorted(user.clinics or ())[0]


def offers_all(user: User) -> bool:
    """Whether the switcher offers "All my clinics" (one role at every clinic)."""
    return policy.one_role(user)


def narrowed(request: Request, svc: Services, user: User) -> User:
    """The user as this request sees: their clinics, or only the one chosen in the switcher (a detached copy)."""
    key = chosen(request, svc, user)
    return user if key is None else policy.at_clinic(user, key)
