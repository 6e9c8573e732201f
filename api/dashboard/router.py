"""All dashboard routes (and signing in, the account page and the admin pages), in one router for `create_app`."""

from fastapi import APIRouter

from api.dashboard import (
    account,
    admin_audit,
    admin_clinics,
    admin_users,
    clinic_switch,
    escalations,
    headers,
    network,
    oidc,
    overview,
    patient,
    second_factor,
    signin,
)

router = APIRouter(include_in_schema=False)
for _part in (signin, second_factor, oidc, account, headers, overview, network, patient, escalations, admin_users, admin_audit,
              admin_clinics, clinic_switch):
    router.include_router(_part.router)
