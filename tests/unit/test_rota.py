"""The on-call rota: who a page reaches at a given moment, in clinic time across DST, and where nobody would be."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import ValidationError

from workflows.rota import Rota, RotaLine

ZONE = "America/New_York"
DAY, NIGHT, HOLIDAY, DIRECTOR = "+15555550190", "+15555550192", "+15555550193", "+15555550191"
# The network example of EVENTS.md: weekdays by day, every night, one medical director; Christmas Eve covered apart.
EXAMPLE = """
- {role: on_call, phone: "+15555550190", days: [mon, tue, wed, thu, fri], from: "08:00", to: "18:00"}
- {role: on_call, phone: "+15555550192", days: [mon, tue, wed, thu, fri, sat, sun], from: "18:00", to: "08:00"}
- {role: medical_director, phone: "+15555550191"}
"""


def rota(text: str = EXAMPLE) -> Rota:
    return Rota(lines=tuple(RotaLine.model_validate(line) for line in yaml.safe_load(text)))


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(ZONE)).astimezone(UTC)


MONDAY = date(2026, 12, 7)


@pytest.mark.parametrize(("moment", "phone"), [
    (at(MONDAY, 8), DAY), (at(MONDAY, 17, 59), DAY), (at(MONDAY, 18), NIGHT), (at(MONDAY, 23, 30), NIGHT),
    (at(MONDAY + timedelta(days=1), 3), NIGHT),  # Monday's night shift, after midnight
    (at(MONDAY + timedelta(days=1), 8), DAY),
    (at(MONDAY + timedelta(days=5), 7), NIGHT),  # Saturday morning: Friday's night shift
    (at(MONDAY + timedelta(days=5), 10), None),  # Saturday by day: nobody on call
])
def test_a_page_reaches_whoever_holds_the_role_at_that_clinic_time(moment: datetime, phone: str | None) -> None:
    assert rota().holder("on_call", moment, ZONE) == phone
    assert rota().holder("medical_director", moment, ZONE) == DIRECTOR


def test_a_later_dated_line_overrides_the_pattern_for_that_date_only() -> None:
    christmas_eve = date(2026, 12, 24)
    holiday = rota(EXAMPLE + f'- {{role: on_call, phone: "{HOLIDAY}", dates: ["2026-12-24"]}}\n')
    assert holiday.holder("on_call", at(christmas_eve, 10), ZONE) == HOLIDAY
    assert holiday.holder("on_call", at(christmas_eve, 20), ZONE) == HOLIDAY
    assert holiday.holder("on_call", at(christmas_eve + timedelta(days=1), 3), ZONE) == NIGHT  # the 24th's night line
    assert holiday.holder("on_call", at(christmas_eve - timedelta(days=1), 10), ZONE) == DAY


def test_shifts_change_at_the_same_wall_clock_time_across_a_dst_change() -> None:
    weekdays = rota(EXAMPLE.replace("days: [mon, tue, wed, thu, fri], ", ""))  # the day shift on every day
    spring_sunday = date(2026, 3, 8)  # clocks go forward at 02:00 in New York
    assert weekdays.holder("on_call", datetime(2026, 3, 8, 11, 59, tzinfo=UTC), ZONE) == NIGHT  # 07:59 EDT
    assert weekdays.holder("on_call", datetime(2026, 3, 8, 12, 0, tzinfo=UTC), ZONE) == DAY  # 08:00 EDT, not 09:00
    assert weekdays.holder("on_call", at(spring_sunday, 18), ZONE) == NIGHT
    assert weekdays.gaps(at(spring_sunday, 0), at(spring_sunday + timedelta(days=7), 0), ZONE) == []


def test_gaps_are_found_exactly_where_nobody_holds_a_role() -> None:
    saturday = MONDAY + timedelta(days=5)
    gaps = rota().gaps(at(MONDAY, 0), at(MONDAY + timedelta(days=7), 0), ZONE)
    assert [(g.role, g.start, g.end) for g in gaps] == [
        ("on_call", at(saturday, 8), at(saturday, 18)),
        ("on_call", at(saturday + timedelta(days=1), 8), at(saturday + timedelta(days=1), 18)),
    ]
    no_director = rota(EXAMPLE.replace('- {role: medical_director, phone: "+15555550191"}\n', ""))
    whole_week = no_director.gaps(at(MONDAY, 0), at(MONDAY, 12), ZONE)
    assert [(g.role, g.start, g.end) for g in whole_week if g.role == "medical_director"] == [
        ("medical_director", at(MONDAY, 0), at(MONDAY, 12))]


def test_an_unquoted_yaml_time_is_read_as_the_time_written() -> None:
    line = RotaLine.model_validate(yaml.safe_load('{role: on_call, phone: "+15555550190", from: 18:00, to: 08:00}'))
    assert (line.start, line.end) == (time(18), time(8))


@pytest.mark.parametrize(("line", "complaint"), [
    ({"role": "on_call", "phone": DAY, "from": "09:00", "to": "09:00"}, "no time at all"),
    ({"role": "on_call", "phone": DAY, "days": ["monday"]}, "days"),
    ({"role": "janitor", "phone": DAY}, "role"),
    ({"role": "on_call", "phone": "555-0190"}, "phone"),
    ({"role": "on_call", "phone": DAY, "days": []}, "days"),
])
def test_a_bad_rota_line_is_refused_with_what_is_wrong(line: dict, complaint: str) -> None:
    with pytest.raises(ValidationError) as refused:
        RotaLine.model_validate(line)
    assert complaint in str(refused.value)
