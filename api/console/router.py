"""All console routes, in one router for `create_app`."""

from fastapi import APIRouter

from api.console import actions, calendar, chair, intake, patients, web, worklist

router = APIRouter(include_in_schema=False)
for _room in (web, intake, patients, actions, worklist, calendar, chair):
    router.include_router(_room.router)
