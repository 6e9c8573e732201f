"""Gaps in the on-call rota: found across a DST change, keyed stably from tick to tick, said in plain words."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import yaml

from config.clinic import build_clinic
from workflows.coverage import covered_now, describe, gap_alert, gap_key, upcoming_gaps
from workflows.rota import Rota, RotaLine

ZONE = "America/New_York"
# Weekdays by day, weeknights (Mon-Thu evenings, into the next morning): Friday night to Monday 08:00 is uncovered.
WEEKDAY_ROTA = """
- {role: on_call, phone: "+15555550190", days: [mon, tue, wed, thu, fri], from: "08:00", to: "18:00"}
- {role: on_call, phone: "+15555550192", days: [mon, tue, wed, thu], from: "18:00", to: "08:00"}
- {role: medical_director, phone: "+15555550191"}
"""


def clinic(text: str = WEEKDAY_ROTA, **fields):
    lines = tuple(RotaLine.model_validate(line) for line in yaml.safe_load(text))
    return build_clinic(rota=Rota(lines=lines), **fields)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(ZONE)).astimezone(UTC)


FRIDAY_BEFORE_DST_ENDS = date(2026, 10, 30)  # clocks go back at 02:00 on Sunday 2026-11-01


def test_a_weekend_gap_across_the_end_of_dst_has_its_wall_clock_ends() -> None:
    now = at(FRIDAY_BEFORE_DST_ENDS, 12)
    gaps = upcoming_gaps(clinic(), now, 72)
    assert [(g.role, g.start, g.end) for g in gaps] == [("on_call", at(FRIDAY_BEFORE_DST_ENDS, 18),
                                                         at(date(2026, 11, 2), 8))]
    # 18:00 EDT is 22:00 UTC; 08:00 EST on Monday is 13:00 UTC: the gap is 63 hours, not 62, because of the extra hour.
    assert gaps[0].start == datetime(2026, 10, 30, 22, tzinfo=UTC)
    assert gaps[0].end == datetime(2026, 11, 2, 13, tzinfo=UTC)
    assert gaps[0].end - gaps[0].start == timedelta(hours=63)
    assert describe(gaps[0], ZONE, now) == "No on-call doctor from Fri 18:00 to Mon 08:00"


def test_a_gap_under_way_keeps_its_start_and_key_from_tick_to_tick() -> None:
    saturday_night = at(date(2026, 10, 31), 23)
    first = upcoming_gaps(clinic(), saturday_night, 72)
    later = upcoming_gaps(clinic(), saturday_night + timedelta(hours=5), 72)  # after the clocks went back
    assert [gap_key(g) for g in first] == [gap_key(g) for g in later] == ["rota_gap:on_call:2026-10-30T22:00:00+00:00"]
    assert describe(first[0], ZONE, saturday_night) == "No on-call doctor from now to Mon 08:00"
    assert covered_now(clinic(), saturday_night) == {"on_call": False, "medical_director": True}


def test_a_gap_beyond_the_window_waits_and_one_reaching_its_edge_says_at_least() -> None:
    monday = at(date(2026, 11, 2), 9)
    assert upcoming_gaps(clinic(), monday, 72) == []  # Friday 18:00 is 105 hours away
    gaps = upcoming_gaps(clinic(), monday, 120)
    horizon = monday + timedelta(hours=120)
    assert describe(gaps[0], ZONE, monday, horizon) == "No on-call doctor from Fri 18:00 to at least Sat 09:00"


def test_the_clinics_own_number_covers_a_role_the_rota_does_not_name_and_no_number_is_a_gap() -> None:
    by_number = build_clinic(staff={"on_call": "+15555550190", "medical_director": "+15555550191"})
    now = at(date(2026, 11, 2), 9)
    assert upcoming_gaps(by_number, now, 72) == []
    nobody = build_clinic(staff={"on_call": "+15555550190"})
    gaps = upcoming_gaps(nobody, now, 72)
    assert [g.role for g in gaps] == ["medical_director"] and gaps[0].start < now
    assert upcoming_gaps(nobody, now + timedelta(days=1), 72)[0].start == gaps[0].start  # one alert a week, not a tick


def test_the_managers_text_names_the_role_and_start_in_one_sms_and_survives_a_catalog_without_it() -> None:
    from workflows.catalog import segments

    now = at(FRIDAY_BEFORE_DST_ENDS, 12)
    with_template = clinic(name="C" * 40)
    [gap] = upcoming_gaps(with_template, now, 72)
    text = gap_alert(with_template, gap, now)
    assert text == f"carepath: {'C' * 40} has no on-call doctor on the rota from Fri 18:00. Please fill the gap."
    assert segments(text) == 1 and "+1555" not in text
    templates = {k: v for k, v in with_template.catalog.templates.items() if k != "rota_gap"}
    bare = with_template.model_copy(update={"catalog": with_template.catalog.model_copy(update={"templates": templates})})
    assert gap_alert(bare, gap, now) == text
