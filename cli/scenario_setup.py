"""What a scenario runs on: its protocol (the shipped file or another, with the scenario's overrides) and its clinics."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cli.scenario import ClinicSpec, NetworkClinicSpec, Scenario
from config.clinic import build_clinic
from config.protocol import ProtocolBook, load_protocol, shipped_book
from workflows.clinic import Clinic, StaffNumbers
from workflows.network import Network
from workflows.rota import Rota


def protocol_book(scenario: Scenario, protocol_file: Path | None = None) -> ProtocolBook:
    """The shipped protocol (or `protocol_file`) with the scenario's overrides; overridden numbers get their own
    version name."""
    if protocol_file is None and not scenario.protocol:
        return shipped_book()
    base = load_protocol(protocol_file)
    if not scenario.protocol:
        return ProtocolBook(base)
    digest = hashlib.sha256(json.dumps(scenario.protocol, sort_keys=True, default=str).encode()).hexdigest()[:8]
    overrides = {**scenario.protocol, "version": f"{base.version}+scenario-{digest}"}
    return ProtocolBook(load_protocol(protocol_file, overrides=overrides), [base])


def clinic_of(scenario: Scenario) -> Clinic:
    staff = StaffNumbers(**scenario.staff.model_dump(exclude={"rota"}))
    return build_clinic(name=scenario.clinic.name, phone=scenario.clinic.phone, timezone=scenario.clinic.timezone,
                        staff=staff, rota=Rota(lines=tuple(scenario.staff.rota)),
                        closures=tuple(scenario.clinic.closures), holidays_country=scenario.clinic.holidays_country,
                        holidays_subdivision=scenario.clinic.holidays_subdivision, **_schedule(scenario.clinic))


def network_of(scenario: Scenario) -> Network:
    """The scenario's clinics: its one `clinic:`, or each of `clinics:` with its numbers, zone, closures and rota."""
    if scenario.clinics is None:
        return Network(clinics=(clinic_of(scenario),))
    return Network(clinics=tuple(_network_clinic(spec) for spec in scenario.clinics))


def _network_clinic(spec: NetworkClinicSpec) -> Clinic:
    first, *others = spec.numbers
    extra = spec.model_dump(include={"closures", "holidays_country"}, exclude_defaults=True, exclude_none=True)
    return build_clinic(key=spec.key, name=spec.name, phone=first, numbers=tuple(others), sends_from=first,
                        timezone=spec.timezone, rota=Rota(lines=tuple(spec.rota)), **extra, **_schedule(spec))


def _schedule(spec: ClinicSpec | NetworkClinicSpec) -> dict:
    """The clinic's schedule grid lists and lengths, as far as the scenario gives them (the clinic's defaults else)."""
    given = spec.model_dump(include={"chairs", "providers", "evaluation_minutes", "therapy_minutes"},
                            exclude_defaults=True, exclude_none=True)
    return {name: tuple(value) if isinstance(value, list) else value for name, value in given.items()}
