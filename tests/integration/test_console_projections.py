"""The console's projections (calendar items, flags) follow every apply, and the console's queries read them: a moved
or cancelled session shows as the state says, an elevated-risk flag is found in SQL and drops out when it expires, and
the booking picker finds a patient by part of the name and offers at most its limit. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from pathway_support import DAY, PHQ9_ITEM9, T0, ev, hours, referral, to_treatment_planned
from sqlalchemy import Engine

from api.console.agenda import BOOKABLE_STAGES, items_between
from models.queries.agenda import bookable_matching
from models.queries.listing import patients_page, workflows_page
from models.store import WorkflowStore


def test_the_calendar_shows_a_moved_and_a_cancelled_session_as_the_state_has_them(engine: Engine,
                                                                                  pathway: WorkflowStore) -> None:
    workflow_id = to_treatment_planned(pathway)
    first, second = T0 + 5 * DAY, T0 + 6 * DAY
    pathway.apply(workflow_id, ev("session.scheduled", {"session": "s1", "start": first}), T0 + DAY + hours(1))
    pathway.apply(workflow_id, ev("session.scheduled", {"session": "s2", "start": second}), T0 + DAY + hours(1))
    pathway.apply(workflow_id, ev("session.confirmed", {"session": "s2"}), T0 + DAY + hours(2))
    moved = second + 2 * DAY
    pathway.apply(workflow_id, ev("session.rescheduled", {"session": "s2", "start": moved}), T0 + DAY + hours(3))
    pathway.apply(workflow_id, ev("session.cancelled", {"session": "s1", "reason": "flu"}), T0 + DAY + hours(4))

    def on(day):
        return {(i.item_id, i.status, i.label) for i in items_between(engine, day, day + DAY) if i.workflow_id == workflow_id}

    assert on(first.replace(hour=0)) == {("s1", "cancelled", "cancelled")}
    assert on(second.replace(hour=0)) == set()  # moved away from its old day
    assert on(moved.replace(hour=0)) == {("s2", "scheduled", "unconfirmed")}  # a moved session needs confirming again
    evaluation = {i.kind for i in items_between(engine, T0, T0 + 2 * DAY) if i.workflow_id == workflow_id}
    assert evaluation == {"evaluation"}


def test_the_elevated_risk_filter_finds_flagged_patients_in_sql_until_the_flag_expires(engine: Engine,
                                                                                      pathway: WorkflowStore) -> None:
    flagged = to_treatment_planned(pathway)
    plain = to_treatment_planned(pathway)
    at = T0 + DAY + hours(2)
    pathway.apply(flagged, ev("assessment.submitted", {"instrument": "phq9", "answers": PHQ9_ITEM9}), at)
    found = patients_page(engine, now=at + hours(1), state_flag="elevated_risk")
    assert [w.id for w, _ in found.rows] == [flagged] and found.total == 1
    assert workflows_page(engine, now=at + hours(1), flag="elevated_risk").total == 1
    assert plain in [w.id for w, _ in patients_page(engine, now=at + hours(1)).rows]
    assert patients_page(engine, now=at + timedelta(days=400), state_flag="elevated_risk").total == 0  # expired


def test_the_booking_picker_matches_part_of_a_name_any_case_and_stops_at_its_limit(engine: Engine,
                                                                                  pathway: WorkflowStore) -> None:
    ids = [pathway.start(referral(phone=f"+1 (555) 555-01{n:02d}"), T0).workflow_id for n in range(5)]
    assert {row[0] for row in bookable_matching(engine, BOOKABLE_STAGES, "tEsT pAt", 20)} == set(ids)
    assert len(bookable_matching(engine, BOOKABLE_STAGES, "patient", 3)) == 3
    assert bookable_matching(engine, BOOKABLE_STAGES, ids[0][:8], 20)[0][0] == ids[0]
    assert bookable_matching(engine, BOOKABLE_STAGES, "50%_", 20) == []  # wildcards typed are matched as themselves


def test_the_patient_search_finds_by_part_of_the_name_phone_digits_or_id_start(engine: Engine,
                                                                             pathway: WorkflowStore) -> None:
    first = pathway.start(referral(phone="+1 (555) 555-0177"), T0).workflow_id
    pathway.start(referral(phone="+1 (555) 555-0188"), T0 + hours(1))
    assert patients_page(engine, now=T0, search="ST PATI").total == 2  # part of the name, any case
    assert [w.id for w, _ in patients_page(engine, now=T0, search="0177").rows] == [first]
    assert [w.id for w, _ in patients_page(engine, now=T0, search=first[:8]).rows] == [first]
    assert patients_page(engine, now=T0, search="%").total == 0  # a wildcard typed is a character
    newest_first = [w.id for w, _ in patients_page(engine, now=T0, search="test patient").rows]
    assert newest_first[-1] == first
