"""What a clinic's definition holds beyond its numbers and rota (issue #15): its own opening days and closing hour,
the languages it writes in, its chairs and providers, the protocol version its new patients start on; and what of it
is stored (the languages by name, never a copy of the wording)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from pathway_helpers import PatientDriver
from pydantic import ValidationError

from config.clinic import build_clinic
from config.clinics import ClinicDefinitionError, _stored_form, check_protocols, clinic_from
from config.protocol import shipped_book
from workflows.errors import Rejected
from workflows.network import Network
from workflows.protocol import ClinicHours

ZONE = "America/New_York"


def new_york(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(ZONE)).astimezone(UTC)


def test_a_clinic_open_on_saturdays_counts_saturday_as_a_business_day() -> None:
    friday = new_york(date(2026, 12, 11), 10)
    weekdays = PatientDriver(now=friday, clinic=build_clinic())
    six_days = PatientDriver(now=friday, clinic=build_clinic(hours=ClinicHours(business_days=(0, 1, 2, 3, 4, 5))))
    # Two business days to contact a referral: Mon and Tue for the protocol's week, Sat and Mon for the clinic's own.
    assert weekdays.escalation("referral_contact").ack_deadline == new_york(date(2026, 12, 15), 10)
    assert six_days.escalation("referral_contact").ack_deadline == new_york(date(2026, 12, 14), 10)


def test_an_urgent_referral_is_due_by_the_end_of_the_clinics_own_day() -> None:
    morning = new_york(date(2026, 12, 7), 9)
    early = build_clinic(hours=ClinicHours(day_ends_at_hour=13))
    urgent = {"urgency": "urgent"}
    assert PatientDriver(now=morning, clinic=early, **urgent).escalation("referral_contact").ack_deadline == \
        new_york(date(2026, 12, 7), 13)
    assert PatientDriver(now=morning, clinic=build_clinic(), **urgent).escalation("referral_contact").ack_deadline == \
        new_york(date(2026, 12, 7), 17)


@pytest.mark.parametrize("days", [(), (7,), (-1,)], ids=["none", "eight", "negative"])
def test_opening_days_are_days_of_the_week_and_at_least_one(days: tuple) -> None:
    with pytest.raises(ValidationError):
        ClinicHours(business_days=days)


def test_a_clinic_writes_in_its_own_languages_and_refuses_a_patient_in_another() -> None:
    english_only = clinic_from({"key": "north", "name": "North", "phone": "+15555550300", "languages": ["en"]})
    assert english_only.languages == ("en",)
    with pytest.raises(Rejected, match="has no message catalog; the clinic writes in en"):
        PatientDriver(now=new_york(date(2026, 12, 7), 9), clinic=english_only, patient={"language": "es"})
    with pytest.raises(ClinicDefinitionError, match="no catalog is shipped for fr"):
        clinic_from({"key": "north", "name": "North", "phone": "+15555550300", "languages": ["en", "fr"]})


def test_the_stored_form_names_languages_and_keeps_no_wording() -> None:
    clinic = clinic_from({"key": "north", "name": "North", "phone": "+15555550300", "languages": ["en"],
                          "chairs": ["Chair 1"], "providers": ["Dr Ana Ruiz"], "hours": {"day_ends_at_hour": 15}})
    stored = _stored_form(clinic)
    assert "catalogs" not in stored and stored["languages"] == ["en"]
    assert clinic_from({**stored, "key": "north"}) == clinic, "what is stored builds the same clinic"
    every = _stored_form(clinic_from({"key": "west", "name": "West", "phone": "+15555550200"}))
    assert "languages" not in every, "a clinic of every shipped language follows the shipped catalogs"


def test_a_definition_stored_with_its_wording_reads_as_its_languages() -> None:
    # Clinics added before `languages` were stored with the catalogs themselves: they keep those languages, and
    # speak the shipped wording.
    old = {"key": "west", "name": "West", "phone": "+15555550200",
           "catalogs": {"en": {"whatever": "was stored"}, "es": {}}}
    assert clinic_from(old).languages == ("en", "es")


def test_chairs_and_providers_are_named_once_each() -> None:
    with pytest.raises(ValidationError, match="chairs: chair 2 is listed twice"):
        build_clinic(chairs=("Chair 1", "Chair 2", "chair 2"))
    with pytest.raises(ValidationError):
        build_clinic(providers=("",))


def test_a_clinic_on_a_protocol_version_not_installed_is_refused() -> None:
    book = shipped_book()
    on_current = Network(clinics=(build_clinic(protocol_version=book.current.version),))
    check_protocols(on_current, book.get)
    with pytest.raises(ClinicDefinitionError, match="protocol version 'v0' is not installed"):
        check_protocols(Network(clinics=(build_clinic(protocol_version="v0"),)), book.get)
