"""The overview's Rota panel: whether each role a page goes to is covered now, and the gaps coming up, in plain words.

Built only from roles, coverage and clinic-local times: no phone number of anyone reaches this panel, whoever looks.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from api import policy
from models.tables import User
from workers.runtime import Services
from workflows.clinic import Clinic
from workflows.coverage import ROLE_WORDS, covered_now, describe, upcoming_gaps


def rota_panels(svc: Services, user: User, now: datetime) -> list[dict[str, Any]]:
    """One panel per clinic the user looks at (all of a network role's, or the one the switcher chose)."""
    scope = policy.clinic_scope(user)
    return [rota_panel(svc, clinic, now) for clinic in svc.store.network.clinics if scope is None or clinic.key in scope]


def rota_panel(svc: Services, clinic: Clinic, now: datetime) -> dict[str, Any]:
    hours = svc.settings.rota_gap_hours
    horizon = now + timedelta(hours=hours)
    gaps = upcoming_gaps(clinic, now, hours)
    return {
        "clinic": clinic.name,
        "hours": hours,
        "roles": [{"role": ROLE_WORDS[role], "covered": covered} for role, covered in covered_now(clinic, now).items()],
        "gaps": [{"words": describe(gap, clinic.timezone, now, horizon), "role": ROLE_WORDS[gap.role],
                  "under_way": gap.start <= now} for gap in gaps],
        "manager_told": clinic.staff_number("clinic_manager", now) is not None,
    }
