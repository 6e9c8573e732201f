"""Business days skip the country's public holidays and the clinic's own closures (issue #15)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from pathway_helpers import PatientDriver
from pydantic import ValidationError

from config.clinic import build_clinic
from workers.settings import Settings
from workflows.clock import add_business_days

ZONE = "America/New_York"
WEEKDAYS = (0, 1, 2, 3, 4)


def new_york(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(ZONE)).astimezone(UTC)


def test_thanksgiving_is_skipped_by_a_two_business_day_deadline() -> None:
    clinic = build_clinic()
    wednesday = new_york(date(2026, 11, 25), 10)
    assert clinic.is_closed(date(2026, 11, 26)) and not clinic.is_closed(date(2026, 11, 27))
    due = add_business_days(wednesday, 2, ZONE, WEEKDAYS, closed=clinic.is_closed)
    assert due == new_york(date(2026, 11, 30), 10)  # Thu is Thanksgiving, Fri counts, then the weekend
    assert add_business_days(wednesday, 2, ZONE, WEEKDAYS) == new_york(date(2026, 11, 27), 10)  # without holidays


def test_a_referral_over_thanksgiving_is_due_for_contact_on_the_next_open_days() -> None:
    patient = PatientDriver(now=new_york(date(2026, 11, 25), 10), clinic=build_clinic())
    assert patient.escalation("referral_contact").ack_deadline == new_york(date(2026, 11, 30), 10)


def test_a_closure_is_skipped_like_a_holiday() -> None:
    clinic = build_clinic(closures=(date(2026, 12, 8),))
    monday = new_york(date(2026, 12, 7), 9)
    assert clinic.is_open_day(date(2026, 12, 7)) and not clinic.is_open_day(date(2026, 12, 8))
    assert add_business_days(monday, 1, ZONE, WEEKDAYS, closed=clinic.is_closed) == new_york(date(2026, 12, 9), 9)
    patient = PatientDriver(now=monday, clinic=clinic)
    assert patient.escalation("referral_contact").ack_deadline == new_york(date(2026, 12, 10), 9)  # 2 business days: Wed, Thu


def test_another_country_has_its_own_holidays() -> None:
    canada_day, thanksgiving_us = date(2026, 7, 1), date(2026, 11, 26)
    canada = build_clinic(holidays_country="CA")
    assert canada.is_closed(canada_day) and not canada.is_closed(thanksgiving_us)
    assert not build_clinic().is_closed(canada_day)


@pytest.mark.parametrize(("fields", "complaint"), [
    ({"holidays_country": "XX"}, "'XX' is not a country the holidays package knows"),
    ({"holidays_subdivision": "ZZ"}, "'ZZ' is not a subdivision of US"),
])
def test_an_unknown_country_or_subdivision_is_refused(fields: dict, complaint: str) -> None:
    with pytest.raises(ValidationError) as refused:
        build_clinic(**fields)
    assert complaint in str(refused.value)


def test_settings_read_the_country_and_comma_separated_closures() -> None:
    settings = Settings(clinic_holidays_country="GB", clinic_closures="2026-12-24, 2026-12-31")
    assert settings.clinic_closures == (date(2026, 12, 24), date(2026, 12, 31))
    with pytest.raises(ValidationError, match="CAREPATH_CLINIC_CLOSURES: '24/12/2026' is not a date"):
        Settings(clinic_closures="24/12/2026")
    with pytest.raises(ValidationError, match="CAREPATH_CLINIC_HOLIDAYS_COUNTRY: 'Narnia'"):
        Settings(clinic_holidays_country="Narnia")
