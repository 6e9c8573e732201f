"""Interfaces the store needs from the outside, declared here so that models/ never imports an adapter.

The adapters live above: `workers.gateways.ConsoleGateway` and `workers.twilio_gateway.TwilioGateway` implement
`SmsGateway`; the protocol book is the pure `workflows.protocol.ProtocolBook`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from models.unit_of_work import UnitOfWork
    from workflows.clinic import Clinic


class SmsGateway(Protocol):
    def send(self, message_id: str, kind: str, to: str, body: str, sender: str | None = None) -> str:
        """Hand one SMS to the provider, from `sender` (the clinic's number or messaging service; None: the provider's
        configured one); returns the provider's id for it."""

    def find_sent(self, message_id: str, to: str, body: str, since: datetime) -> str | None:
        """The provider's id of a message it accepted for `to` with exactly `body` at or after `since`, else None.

        How a send whose outcome is unknown is reconciled before any resend. Raises `SmsError` subclasses when the
        provider cannot answer (`TransientSmsError`: ask again later).
        """


class ClinicDefinitionError(ValueError):
    """A clinic definition that cannot be used; the message says which field and what is allowed."""


class ClinicBook(Protocol):
    """Where the network's clinics are added and changed (the composition root's `config.clinics.StoredClinics`)."""

    @property
    def languages(self) -> list[str]:
        """The languages a clinic may write in (the shipped catalogs' tags)."""
        ...

    def save(self, uow: UnitOfWork, definition: dict, now: datetime) -> Clinic:
        """Validate the clinic with the whole network, then store it (the caller commits); `ClinicDefinitionError`
        when it cannot be used."""
        ...
