"""The composition root: settings → database engine, protocols, clinic, pathway and SMS gateway, built once a process."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from sqlalchemy import Engine

from config.clinic import build_clinic
from config.messages import load_catalog
from config.protocol import ProtocolBook, load_protocol
from config.settings import Settings
from models.db import make_engine
from models.unit_of_work import Pathway
from workflows.clinic import StaffNumbers


@dataclass
class Services:
    settings: Settings
    engine: Engine
    pathway: Pathway
    _gateway: object | None = field(default=None, repr=False)

    @cached_property
    def gateway(self):
        """The SMS gateway the settings choose; Twilio is imported only when it is used."""
        if self._gateway is not None:
            return self._gateway
        if self.settings.sms_backend == "twilio":
            from workers.twilio_gateway import TwilioGateway

            s = self.settings
            return TwilioGateway(
                account_sid=s.twilio_account_sid, auth_token=s.twilio_auth_token, from_number=s.twilio_from_number,
                messaging_service_sid=s.twilio_messaging_service_sid, api_base_url=s.twilio_api_base_url,
                status_callback_base=s.public_url,
            )
        from workers.gateways import ConsoleGateway

        return ConsoleGateway(show_bodies=self.settings.environment == "development")


def protocol_book(settings: Settings) -> ProtocolBook:
    shipped = ProtocolBook.shipped()
    if settings.protocol_file is None:
        return shipped
    return ProtocolBook(load_protocol(settings.protocol_file), [shipped.current])


def build_services(settings: Settings | None = None, gateway=None) -> Services:
    settings = settings or Settings()
    catalog = load_catalog(settings.messages_file) if settings.messages_file else None
    staff = StaffNumbers(on_call=settings.staff_on_call, medical_director=settings.staff_medical_director,
                         clinic_manager=settings.staff_clinic_manager)
    clinic = build_clinic(catalog=catalog, name=settings.clinic_name, phone=settings.clinic_phone,
                          timezone=settings.clinic_timezone, staff=staff,
                          worklist_url=f"{settings.public_url.rstrip('/')}/worklist"[:40])
    engine = make_engine(settings.database_url)
    return Services(settings=settings, engine=engine, pathway=Pathway(engine, protocol_book(settings), clinic),
                    _gateway=gateway)


@lru_cache(maxsize=1)
def services() -> Services:
    """This process's services, built on first use from the environment."""
    return build_services()
