"""The network's clinics, managed by a network admin (an administrator of every clinic): list them, add one, change
one. A definition is validated with the whole network before anything is stored (`config.clinics.add_clinic`, as
`carepath clinics add` does), so an unknown time zone or a number another clinic has is refused and nothing changes.

This server serves the change at once; the workers, the scheduler and the other API processes within
`workers.runtime.NETWORK_CHECK_SECONDS`. The install's own clinic (`main`) comes from its settings and is shown, not
edited, here.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import policy
from api.dashboard.access import Admin, NotForYourRole, page_router
from api.dashboard.clinic_form import ClinicFields, FormError, definition_of, fields_from, fields_of, kept_from, plain
from api.dashboard.signin import note, now_of
from api.dashboard.templating import page
from api.deps import ServicesDep
from api.ids import UnknownId
from models import clinics as clinic_rows
from models.ports import ClinicDefinitionError
from models.tables import User
from workers.runtime import NETWORK_CHECK_SECONDS, Services
from workflows.clinic import DEFAULT_CLINIC, Clinic

router = page_router()
SERVED = (f"This server uses it now; the workers, the scheduler and any other server within "
          f"{int(NETWORK_CHECK_SECONDS)} seconds.")
SAVED = {"added": f"Clinic added. {SERVED}", "changed": f"Clinic saved. {SERVED}"}


def network_admin(user: User) -> User:
    """Only an administrator of every clinic manages the network's clinics (one clinic's admin manages accounts)."""
    if not policy.manages_network(user):
        raise NotForYourRole(user, "The network's clinics are added and changed by an administrator of every clinic. "
                                   "Ask one of them, or manage your clinic's accounts under Accounts.")
    return user


def clinic_of(svc: Services, key: str) -> Clinic:
    clinic = svc.store.network.find(key)
    if clinic is None:
        raise UnknownId("clinic")
    return clinic


def form_page(request: Request, svc: Services, admin: User, fields: ClinicFields, *, new: bool,
              error: str | None = None, status_code: int = 200) -> Response:
    protocols = svc.store.protocols
    context = {"user": admin, "fields": fields, "new": new, "error": error, "refresh": None,
               "languages": svc.clinic_book.languages, "current_protocol": protocols.current.version,
               "protocol_versions": protocols.versions, "main": fields.key == DEFAULT_CLINIC}
    return page(request, svc, "admin_clinic.html", context, status_code=status_code)


@router.get("/admin/clinics", response_class=HTMLResponse)
def clinics(admin: Admin, request: Request, svc: ServicesDep, done: str | None = None) -> Response:
    """Every clinic of the network, and where to add one."""
    network_admin(admin)
    context = {"user": admin, "clinics": svc.store.network.clinics, "notice": SAVED.get(done or ""),
               "refresh": None}
    return page(request, svc, "admin_clinics.html", context)


@router.get("/admin/clinics/new", response_class=HTMLResponse)
def new_clinic(admin: Admin, request: Request, svc: ServicesDep) -> Response:
    network_admin(admin)
    return form_page(request, svc, admin, ClinicFields(), new=True)


@router.get("/admin/clinics/{key}", response_class=HTMLResponse)
def clinic(admin: Admin, key: str, request: Request, svc: ServicesDep) -> Response:
    """One clinic's definition as a form (the install's own clinic read-only: its settings define it)."""
    network_admin(admin)
    return form_page(request, svc, admin, fields_of(clinic_of(svc, key), svc.store.protocols.current.clinic_hours),
                     new=False)


@router.post("/admin/clinics", response_class=HTMLResponse)
async def add(admin: Admin, request: Request, svc: ServicesDep) -> Response:
    """Add a clinic; refused, with nothing stored, when its key is taken."""
    network_admin(admin)
    fields = fields_from(await request.form())
    if fields.key == "new" or svc.store.network.find(fields.key):
        return form_page(request, svc, admin, fields, new=True, status_code=409,
                         error=f"There is already a clinic with the short name {fields.key!r}: choose another, or "
                               "change that clinic from the list.")
    return save(request, svc, admin, fields, new=True)


@router.post("/admin/clinics/{key}", response_class=HTMLResponse)
async def change(admin: Admin, key: str, request: Request, svc: ServicesDep) -> Response:
    """Change a clinic's definition (its short name stays: records carry it)."""
    network_admin(admin)
    existing = clinic_of(svc, key)
    fields = fields_from(await request.form())
    fields.key = existing.key
    return save(request, svc, admin, fields, new=False, kept=kept_from(stored_definition(svc, existing.key)))


def stored_definition(svc: Services, key: str) -> dict:
    """The clinic's definition as stored (what the form's save starts from)."""
    with svc.unit_of_work() as uow:
        return next((d for d in clinic_rows.all_definitions(uow) if d["key"] == key), {})


def save(request: Request, svc: Services, admin: User, fields: ClinicFields, *, new: bool,
         kept: dict | None = None) -> Response:
    if fields.key == DEFAULT_CLINIC:
        return form_page(request, svc, admin, fields, new=new, status_code=409,
                         error="This is the install's own clinic: its settings (CAREPATH_CLINIC_*) define it. Change "
                               "them where carepath is deployed, then restart it.")
    try:
        definition = {**(kept or {}), **definition_of(fields, svc.store.protocols.current.clinic_hours)}
        with svc.unit_of_work() as uow:
            svc.clinic_book.save(uow, definition, now_of(request))
            uow.commit()
    except FormError as exc:
        return form_page(request, svc, admin, fields, new=new, error=str(exc), status_code=422)
    except ClinicDefinitionError as exc:
        return form_page(request, svc, admin, fields, new=new, error=plain(str(exc)), status_code=422)
    svc.refresh_network(now=True)
    note(request, svc, "clinic_added" if new else "clinic_changed", user_id=admin.id, detail=f"clinic {fields.key}")
    return RedirectResponse(f"/admin/clinics?done={'added' if new else 'changed'}", status_code=303)
