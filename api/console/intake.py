"""Referral intake: a form generated from `referral.received`'s payload (patient details, phone, SMS consent, time zone,
language for texts, referrer, reason, prior treatments, urgency). Submitting starts the workflow and opens the patient's page."""

from __future__ import annotations

import logging
import uuid
from typing import Any
from zoneinfo import available_timezones

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api import policy
from api.console.fields import Choice, FormError, FormField, Sources, describe, parse, refill
from api.console.web import Staff, form_key, render
from api.dashboard.access import page_router
from api.deps import ServicesDep
from api.errors import status_of
from api.identity import user_event
from api.scope import referral_for_scope
from api.views import number_warnings
from models.tables import User
from workers.runtime import Services
from workflows.errors import Rejected
from workflows.events import ReferralReceived

log = logging.getLogger("carepath.console")
router = page_router()
EVENT = "referral.received"
ZONES = sorted(zone for zone in available_timezones() if "/" in zone and not zone.startswith(("Etc/", "SystemV/")))


def intake_fields(svc: Services, user: User) -> list[FormField]:
    scope = policy.clinic_scope(user)
    clinics = [Choice(c.key, c.name) for c in svc.store.network.clinics if scope is None or c.key in scope]
    suggested = {"clinic": clinics[0].value} if clinics else {}
    # The languages the clinic has a catalog for: the patient's texts are written in the one chosen.
    languages = [Choice(tag, f"{catalog.name or tag} ({tag})") for tag, catalog in sorted(svc.store.clinic.catalogs.items())]
    fields = describe(ReferralReceived, Sources(zone=svc.settings.clinic_timezone, ticked=frozenset({"sms_consent"}),
                                                choices={"clinic": clinics, "language": languages},
                                                suggested=suggested))
    if len(clinics) <= 1:  # one clinic: nothing to choose (a user of one clinic refers to it)
        fields = [item for item in fields if item.name != "clinic"]
    for item in fields:
        if item.name == "patient.timezone":
            item.attrs["list"] = "zones"  # suggestions as you type; any IANA zone is accepted
            item.attrs["placeholder"] = svc.settings.clinic_timezone
    return fields


def page(request: Request, svc: Services, user: User, fields: list[FormField], key: str,
         error: str | None = None, status_code: int = 200) -> Response:
    context = {"user": user, "fields": fields, "key": key, "error": error, "zones": ZONES,
               "clinic_zone": svc.settings.clinic_timezone}
    return render(request, svc, "intake.html", context, status_code=status_code)


@router.get("/console/referrals/new")
def intake_form(user: Staff, request: Request, svc: ServicesDep) -> Response:
    """The referral form (coordinators and clinicians)."""
    return page(request, svc, user, intake_fields(svc, user), str(uuid.uuid4()))


@router.post("/console/referrals")
async def take_referral(user: Staff, request: Request, svc: ServicesDep) -> Response:
    """Start a workflow from the form; refused: the form again with the reason beside the field, nothing written."""
    form = await request.form()
    return await run_in_threadpool(_take_referral, request, svc, user, form)


def _take_referral(request: Request, svc: Services, user: User, form: Any) -> Response:
    fields = intake_fields(svc, user)
    key = form_key(form) or str(uuid.uuid4())
    try:
        data = referral_for_scope(user, parse(fields, form, svc.settings.clinic_timezone))
        event = user_event(user, EVENT, data, idempotency_key=key)
        outcome = svc.store.start(event, request.app.state.clock())
    except FormError as exc:
        return _again(request, svc, user, fields, form, key, exc.name, exc.message, 422)
    except Rejected as exc:
        log.info("console: referral refused (%s, field %s)", exc.code, exc.field)  # never the values typed
        return _again(request, svc, user, fields, form, key, exc.field, _helpful(exc, form), status_of(exc))
    done = "duplicate" if outcome.duplicate else "recorded"
    # A number on file for another patient, or one that said STOP: accepted, and the page opens with the warning.
    check = "&check=number" if number_warnings(svc.engine, event.data.patient.phone, outcome.patient_id,
                                           policy.clinic_scope(user)) else ""
    return RedirectResponse(f"/console/patients/{outcome.workflow_id}?{done}={EVENT}{check}", status_code=303)


def _again(request: Request, svc: Services, user: User, fields: list[FormField], form: Any, key: str,
           field: str | None, message: str, status: int) -> Response:
    """The form again, as typed, with the reason beside the field and in the summary."""
    refill(fields, form, field, message)
    named = next((f.label for f in fields if f.name == field), None)
    summary = f"{named}: {message}" if named else message
    return page(request, svc, user, fields, key, error=summary, status_code=status)


def _helpful(exc: Rejected, form: Any) -> str:
    """The engine's message for the field, and for a phone typed without its country code, the likely number."""
    message = exc.message.split(": ", 2)[-1] if exc.field else exc.message
    if exc.field == "patient.phone":
        digits = "".join(ch for ch in str(form.get("patient.phone", "")) if ch.isdigit())
        guess = f"+1{digits}" if len(digits) == 10 else f"+{digits}" if len(digits) == 11 and digits[0] == "1" else None
        if guess:
            message += f". Did you mean {guess}?"
    return message[:1].upper() + message[1:]
