"""All console routes, in one router for `create_app`."""

from fastapi import APIRouter

from api.console import (
    actions,
    calendar,
    chair,
    inbox,
    intake,
    outcomes,
    patients,
    schedule,
    texting,
    web,
    worklist,
)

router = APIRouter(include_in_schema=False)
for _room in (web, intake, patients, actions, worklist, calendar, schedule, chair, inbox, texting, outcomes):
    router.include_router(_room.router)
