"""All dashboard routes, in one router for `create_app`."""

from fastapi import APIRouter

from api.dashboard import escalations, headers, overview, patient, signin

router = APIRouter(include_in_schema=False)
for _part in (signin, headers, overview, patient, escalations):
    router.include_router(_part.router)
