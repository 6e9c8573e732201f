"""The composition root: settings → database engine, protocols, clinic, workflow store and SMS gateway.

The only module that knows every layer. Entry points call `install()` (or build services explicitly for tests and
`standalone`); nothing is connected at import time.
"""

from __future__ import annotations

import gc
import logging
from functools import partial

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from tenacity import before_sleep_log, retry, retry_if_exception_type, stop_after_delay, wait_exponential

from config.clinic import build_clinic
from config.clinics import ClinicDefinitionError, StoredClinics, check_protocols, load_network
from config.messages import load_catalog, load_catalogs
from config.protocol import load_protocol, shipped_book
from config.rota import load_rota
from models import clinics as clinic_rows
from models.db import make_engine
from models.ports import SmsGateway
from models.store import WorkflowStore
from models.unit_of_work import UnitOfWork
from workers import runtime
from workers.runtime import Services
from workers.settings import Settings, worklist_link
from workflows.clinic import Clinic, StaffNumbers
from workflows.network import Network
from workflows.protocol import ProtocolBook
from workflows.rota import Rota


def protocol_book(settings: Settings) -> ProtocolBook:
    shipped = shipped_book()
    if settings.protocol_file is None:
        return shipped
    return ProtocolBook(load_protocol(settings.protocol_file), [shipped.current])


def clinic_rota(settings: Settings) -> Rota:
    """The rota file's lines (checked now, so a bad file stops the process at start), or none."""
    return load_rota(settings.rota_file) if settings.rota_file is not None else Rota()


def chosen_gateway(settings: Settings) -> SmsGateway:
    """The SMS gateway the settings choose; Twilio is imported only when it is used."""
    if settings.sms_backend == "twilio":
        from workers.twilio_gateway import TwilioGateway

        return TwilioGateway(
            account_sid=settings.twilio_account_sid, auth_token=settings.twilio_auth_token,
            from_number=settings.twilio_from_number, messaging_service_sid=settings.twilio_messaging_service_sid,
            api_base_url=settings.twilio_api_base_url, status_callback_base=settings.public_url,
        )
    from workers.gateways import ConsoleGateway

    return ConsoleGateway(show_bodies=settings.environment == "development")


def settings_clinic(settings: Settings) -> Clinic:
    """The install's own clinic, "main", from CAREPATH_CLINIC_* and CAREPATH_STAFF_* settings."""
    catalog = load_catalog(settings.messages_file) if settings.messages_file else None
    catalogs = load_catalogs(settings.catalogs_dir) if settings.catalogs_dir else None
    staff = StaffNumbers(on_call=settings.staff_on_call, medical_director=settings.staff_medical_director,
                         clinic_manager=settings.staff_clinic_manager)
    return build_clinic(catalog=catalog, catalogs=catalogs, name=settings.clinic_name, phone=settings.clinic_phone,
                        timezone=settings.clinic_timezone, staff=staff, rota=clinic_rota(settings),
                        holidays_country=settings.clinic_holidays_country,
                        holidays_subdivision=settings.clinic_holidays_subdivision,
                        closures=settings.clinic_closures, chairs=settings.clinic_chairs,
                        providers=settings.clinic_providers, languages=settings.clinic_languages or None,
                        protocol_version=settings.clinic_protocol_version or None,
                        worklist_url=worklist_link(settings.public_url))  # Settings checked it fits one SMS


log = logging.getLogger("carepath.startup")


def read_network(engine: Engine, clinic: Clinic, wait_seconds: float) -> Network:
    """The clinics added with `carepath clinics add`, after the settings' own, read from the database."""
    wait_for_database(engine, wait_seconds)
    with UnitOfWork(engine) as uow:
        return load_network(uow, clinic)


def wait_for_database(engine: Engine, wait_seconds: float) -> None:
    """Return once a connection opens; after `wait_seconds` of refusals, raise the last one.

    A scheduler or worker restarted while PostgreSQL is down waits for it rather than exiting (a supervisor restarting
    it in a loop only adds noise to the outage). Only opening the connection is retried: a database that answers but
    lacks the schema is an error at once.
    """
    @retry(retry=retry_if_exception_type(OperationalError), stop=stop_after_delay(wait_seconds),
           wait=wait_exponential(multiplier=0.2, max=5), reraise=True,
           before_sleep=before_sleep_log(log, logging.WARNING))
    def connect() -> None:
        with engine.connect():
            pass

    connect()


def build_services(settings: Settings | None = None, gateway: SmsGateway | None = None) -> Services:
    settings = settings or Settings()
    clinic = settings_clinic(settings)
    engine = make_engine(settings.database_url, pre_ping=settings.database_pre_ping)
    network = read_network(engine, clinic, settings.startup_wait_seconds)
    book = protocol_book(settings)
    check_protocols(network, book.get)  # a clinic on a protocol version this install lacks stops the start
    make_gateway = (lambda: gateway) if gateway is not None else partial(chosen_gateway, settings)
    svc = Services(settings=settings, engine=engine, store=WorkflowStore(engine, book, network),
                   make_gateway=make_gateway, changed_network=network_watch(engine, clinic, book),
                   clinic_book=StoredClinics(clinic, book.get))
    if settings.demo_replies:  # the demo's patients answer its texts (the settings refuse it outside a demo)
        svc.make_gateway = partial(demo_phones, make_gateway, svc)
    return svc


def demo_phones(make_inner, svc: Services) -> SmsGateway:
    from workers.demo_phones import DemoPhones

    return DemoPhones(make_inner(), svc, seed=svc.settings.demo_reply_seed,
                      reply_seconds=svc.settings.demo_reply_seconds)


def network_watch(engine: Engine, main: Clinic, book: ProtocolBook):
    """What `Services.refresh_network` asks: the stored network when the clinics changed since it last looked, else
    None. One that cannot be read or no longer validates is logged and not served (the running one stays)."""
    with UnitOfWork(engine) as uow:
        seen = [clinic_rows.fingerprint(uow)]

    def changed() -> Network | None:
        try:
            with UnitOfWork(engine) as uow:
                now_seen = clinic_rows.fingerprint(uow)
                if now_seen == seen[0]:
                    return None
                network = load_network(uow, main)
            check_protocols(network, book.get)
        except (SQLAlchemyError, ClinicDefinitionError) as exc:
            log.warning("the stored clinics could not be served; keeping the network in use: %s", exc)
            return None
        seen[0] = now_seen
        log.info("serving %d clinics (a clinic was added or changed)", len(network.clinics))
        return network

    return changed


def install(factory=build_services) -> None:
    """Make `workers.runtime.services()` build this process's services with `factory` (default: from the env)."""
    runtime.install(factory)


def services() -> Services:
    """This process's services (installing the environment's factory when no entry point has yet)."""
    if not runtime.installed():
        install()
    return runtime.services()


def asgi_app():
    """Factory for `uvicorn --factory config.wiring:asgi_app` (and `--workers N`): settings from CAREPATH_*."""
    from api.app import create_app

    install()
    app = create_app(runtime.services())
    # What exists now (modules, routes, schemas: some 170,000 objects) lives as long as the process. Frozen, a full
    # garbage collection skips it. Unfrozen, 10 s of webhooks at 500/s set off full collections of 125 and 230 ms on
    # the 2-core bench machine, each a stall of every request in flight (16 ms once frozen).
    gc.freeze()
    return app
