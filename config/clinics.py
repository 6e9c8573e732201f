"""The clinics this carepath serves: the settings' own clinic ("main") and every clinic added with `carepath clinics`.

A clinic definition is YAML or JSON with the fields of `workflows.clinic.Clinic` (key, name, phone, numbers,
timezone, staff, rota, sends_from, …) except its wording, which comes from the shipped catalogs. It is validated as a
whole network before it is stored, so an unknown time zone, a key or a number used by two clinics is refused with
what is wrong and nothing written.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from config.clinic import UnknownLanguage, build_clinic, shipped_catalogs
from config.protocol import describe
from models import clinics as clinic_rows
from models.ports import ClinicDefinitionError
from models.unit_of_work import UnitOfWork
from workflows.clinic import DEFAULT_CLINIC, Clinic
from workflows.network import Network
from workflows.protocol import ProtocolError

__all__ = ["ClinicDefinitionError", "StoredClinics", "add_clinic", "check_protocols", "clinic_from", "load_network",
           "network_of", "read_definition"]


def clinic_from(definition: dict[str, Any], worklist_url: str | None = None) -> Clinic:
    """A Clinic from its stored or given definition (the shipped wording; the install's worklist address)."""
    extra = {"worklist_url": worklist_url} if worklist_url else {}
    if isinstance(definition.get("rota"), list):  # written as a list of lines, as in a scenario
        definition = {**definition, "rota": {"lines": definition["rota"]}}
    if "catalogs" in definition:  # stored before `languages`: the wording itself, which is the shipped one's to give
        definition = {"languages": sorted(definition["catalogs"]), **definition}
        del definition["catalogs"]
    try:
        return build_clinic(**{**definition, **extra})
    except ValidationError as exc:
        raise ClinicDefinitionError(describe(exc)) from None
    except (TypeError, UnknownLanguage) as exc:
        raise ClinicDefinitionError(str(exc)) from None


def check_protocols(network: Network, installed: Callable[[str], object]) -> None:
    """Refuse a clinic whose protocol version is not installed (`installed` raises for one that is not)."""
    for clinic in network.clinics:
        if clinic.protocol_version:
            try:
                installed(clinic.protocol_version)
            except ProtocolError as exc:
                raise ClinicDefinitionError(f"protocol_version: {exc} (clinic {clinic.key})") from None


def network_of(main: Clinic, definitions: list[dict[str, Any]]) -> Network:
    """The settings' clinic first, then the stored ones; the whole checked together (keys and numbers unique)."""
    others = [clinic_from(d, main.worklist_url) for d in definitions if d.get("key") != DEFAULT_CLINIC]
    try:
        return Network(clinics=(main, *others))
    except ValidationError as exc:  # about the network as a whole: no field to name
        raise ClinicDefinitionError("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())) from None


def load_network(uow: UnitOfWork, main: Clinic) -> Network:
    return network_of(main, clinic_rows.all_definitions(uow))


def read_definition(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ClinicDefinitionError(f"{path}: cannot read the clinic definition: {exc}") from None
    if not isinstance(raw, dict) or not raw.get("key"):
        raise ClinicDefinitionError(f"{path}: a clinic definition is a mapping with at least `key` and `name`")
    return raw


def add_clinic(uow: UnitOfWork, main: Clinic, definition: dict[str, Any], now: datetime | None = None,
               protocols: Callable[[str], object] | None = None) -> Clinic:
    """Validate the clinic with the rest of the network (and its protocol version against `protocols`, the installed
    book's `get`), then store it (the caller commits); returns the Clinic."""
    if definition.get("key") == DEFAULT_CLINIC:
        raise ClinicDefinitionError(f"key: {DEFAULT_CLINIC!r} is this install's own clinic, set by CAREPATH_CLINIC_* "
                                    "settings; give the new clinic another key")
    clinic = clinic_from(definition, main.worklist_url)
    stored = [d for d in clinic_rows.all_definitions(uow) if d["key"] != clinic.key]
    network = network_of(main, [*stored, definition])  # refuses a number another clinic already has
    if protocols is not None:
        check_protocols(network, protocols)
    clinic_rows.save(uow, clinic.key, clinic.name, _stored_form(clinic), now or datetime.now(UTC))
    return clinic


def _stored_form(clinic: Clinic) -> dict[str, Any]:
    # What defines the clinic, without its wording (the shipped catalogs) or the install's address (the settings).
    # Its languages are named, not copied, so the shipped wording stays the one it speaks.
    stored = clinic.model_dump(mode="json", exclude={"catalog", "catalogs", "worklist_url", "key"},
                               exclude_defaults=True)
    if set(clinic.languages) != set(shipped_catalogs()):
        stored["languages"] = list(clinic.languages)
    return stored


class StoredClinics:
    """The admin pages' way to add and change clinics (`models.ports.ClinicBook`): the install's own clinic and its
    protocol book are what every definition is checked with."""

    def __init__(self, main: Clinic, protocols: Callable[[str], object]) -> None:
        self.main, self.protocols = main, protocols

    @property
    def languages(self) -> list[str]:
        return sorted(shipped_catalogs())

    def save(self, uow: UnitOfWork, definition: dict[str, Any], now: datetime) -> Clinic:
        return add_clinic(uow, self.main, definition, now, protocols=self.protocols)
