"""`GET /v1/rota/coverage`: whether the roles a page goes to are covered now, and the rota's gaps coming up.

Roles, coverage and times only, for every role that may call the API: no phone number of anyone is in the answer.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import CurrentUser, Now, ServicesDep
from api.schemas import Instant, error_responses
from workflows.coverage import covered_now, describe, upcoming_gaps

router = APIRouter(prefix="/v1/rota", tags=["rota"])


class RoleCoverage(BaseModel):
    role: str  # on_call, medical_director
    covered: bool


class GapView(BaseModel):
    role: str
    start: Instant  # may be before now: a gap under way
    end: Instant  # the end of the window looked at, when the gap runs on beyond it
    words: str  # "No on-call doctor from Sat 18:00 to Sun 08:00", clinic time


class Coverage(BaseModel):
    hours: int  # how far ahead gaps are looked for (CAREPATH_ROTA_GAP_HOURS)
    now: list[RoleCoverage]
    gaps: list[GapView]


@router.get("/coverage", response_model=Coverage, operation_id="rotaCoverage", responses=error_responses(401))
def coverage(user: CurrentUser, svc: ServicesDep, now: Now) -> Coverage:
    """Who-role is covered now (never who), and every gap in the next CAREPATH_ROTA_GAP_HOURS."""
    clinic, hours = svc.store.clinic, svc.settings.rota_gap_hours
    horizon = now + timedelta(hours=hours)
    return Coverage(
        hours=hours,
        now=[RoleCoverage(role=role, covered=covered) for role, covered in covered_now(clinic, now).items()],
        gaps=[GapView(role=gap.role, start=gap.start, end=gap.end, words=describe(gap, clinic.timezone, now, horizon))
              for gap in upcoming_gaps(clinic, now, hours)],
    )
