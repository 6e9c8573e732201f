"""The overview's Rota panel: whether each role a page goes to is covered now, and the gaps coming up, in plain words.

Built only from roles, coverage and clinic-local times: no phone number of anyone reaches this panel, whoever looks.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from workers.runtime import Services
from workflows.coverage import ROLE_WORDS, covered_now, describe, upcoming_gaps


def rota_panel(svc: Services, now: datetime) -> dict[str, Any]:
    clinic, hours = svc.store.clinic, svc.settings.rota_gap_hours
    horizon = now + timedelta(hours=hours)
    gaps = upcoming_gaps(clinic, now, hours)
    return {
        "hours": hours,
        "roles": [{"role": ROLE_WORDS[role], "covered": covered} for role, covered in covered_now(clinic, now).items()],
        "gaps": [{"words": describe(gap, clinic.timezone, now, horizon), "role": ROLE_WORDS[gap.role],
                  "under_way": gap.start <= now} for gap in gaps],
        "manager_told": clinic.staff_number("clinic_manager", now) is not None,
    }
