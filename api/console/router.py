"""All console routes, in one router for `create_app`."""

from fastapi import APIRouter

from api.console import (
    actions,
    board,
    calendar,
    chair,
    inbox,
    intake,
    outcomes,
    patients,
    rems_form,
    schedule,
    texting,
    web,
    worklist,
)

router = APIRouter(include_in_schema=False)
for _room in (web, intake, patients, actions, worklist, calendar, schedule, rems_form, chair, board, inbox, texting,
              outcomes):
    router.include_router(_room.router)
