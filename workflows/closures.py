"""Days a clinic is closed besides its protocol's weekend: the country's public holidays and the clinic's own closures.

Business-day deadlines (a referral's first contact, a routine item's acknowledgement) skip them, so a deadline that
would fall on Thanksgiving or a closed Christmas Eve moves to the next open day. The `holidays` package is a pure
library (tables of dates, no I/O), so the core may use it.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import holidays


def check_country(country: str, subdivision: str | None = None,
                  names: tuple[str, str] = ("holidays_country", "holidays_subdivision")) -> str:
    """The country code if the `holidays` package knows it (and the subdivision, if given); a clear error otherwise,
    naming the setting (`names`) as the caller calls it."""
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise ValueError(f"{names[0]}: {country!r} is not a country the holidays package knows; use an ISO "
                         "3166-1 code such as US, CA or GB")
    if subdivision is not None and subdivision not in supported[country]:
        known = ", ".join(supported[country][:12]) or "none"
        raise ValueError(f"{names[1]}: {subdivision!r} is not a subdivision of {country} "
                         f"(known: {known}{', ...' if len(supported[country]) > 12 else ''})")
    return country


@lru_cache(maxsize=16)
def _public_holidays(country: str, subdivision: str | None) -> holidays.HolidayBase:
    # One table per country: it fills in each year the first time a date of that year is asked about.
    return holidays.country_holidays(country, subdiv=subdivision)


def public_holiday(day: date, country: str, subdivision: str | None = None) -> str | None:
    """The holiday's name if `day` is a public holiday (or its observed day) there, else None."""
    return _public_holidays(country, subdivision).get(day)
