"""The console's form generator over every payload people post: a form for each event, parsed back into data the
engine accepts, with typing mistakes named by field. Pure: no server, no database."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from starlette.datastructures import FormData

from api.console.fields import FormError, Sources, describe, parse
from workflows.events import IDENTITY_FIELDS, PAYLOADS, make_event
from workflows.stages import EVENT_RULES, Role

PEOPLE = {Role.COORDINATOR, Role.CLINICIAN, Role.OPS}
POSTED_BY_PEOPLE = sorted(event for event, rule in EVENT_RULES.items() if rule.roles & PEOPLE)
ZONE = "America/New_York"


def form(**values: str | list[str]) -> FormData:
    pairs = []
    for name, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((name.replace("__", "."), item))
    return FormData(pairs)


@pytest.mark.parametrize("event_type", POSTED_BY_PEOPLE)
def test_every_event_people_post_gets_a_field_for_each_payload_field_but_who(event_type: str) -> None:
    model = PAYLOADS[event_type]
    names = {f.name for f in describe(model, Sources(zone=ZONE))}
    expected = set()
    for name, info in model.model_fields.items():
        nested = getattr(info.annotation, "model_fields", None)
        expected |= {f"{name}.{inner}" for inner in nested} if nested else {info.alias or name}
    # `by` and `clinician` are the signed-in user, filled by api.identity: a form never asks for them.
    assert names == expected - set(IDENTITY_FIELDS)
    assert all(f.label and f.kind for f in describe(model, Sources(zone=ZONE)))


def test_an_empty_form_of_optional_fields_lets_the_payloads_defaults_apply() -> None:
    fields = describe(PAYLOADS["rems.enrolled"], Sources(zone=ZONE))
    assert fields[0].value == "on-file"
    event = make_event("rems.enrolled", parse(fields, form(enrollment_id=""), ZONE))
    assert event.data.enrollment_id == "on-file"


def test_times_are_clinic_local_and_numbers_and_yes_no_are_typed() -> None:
    fields = describe(PAYLOADS["session.discharged"], Sources(zone=ZONE))
    data = parse(fields, form(session="s1", sedation_resolved="yes", dissociation_resolved="no"), ZONE)
    assert data == {"session": "s1", "sedation_resolved": True, "dissociation_resolved": False}
    fields = describe(PAYLOADS["session.scheduled"], Sources(zone=ZONE))
    data = parse(fields, form(session="s2", start="2030-01-07T10:00", dose_mg="56"), ZONE)
    assert data["start"] == datetime(2030, 1, 7, 10, 0, tzinfo=ZoneInfo(ZONE)) and data["dose_mg"] == 56
    assert make_event("session.scheduled", data).data.start == datetime(2030, 1, 7, 15, 0, tzinfo=UTC)


def test_answers_are_scores_or_name_value_pairs() -> None:
    fields = describe(PAYLOADS["assessment.submitted"], Sources(zone=ZONE))
    scores = parse(fields, form(instrument="phq9", answers="2, 2, 1,1,1,1,1,1,0"), ZONE)
    assert scores["answers"] == [2, 2, 1, 1, 1, 1, 1, 1, 0]
    cssrs = parse(fields, form(instrument="cssrs", answers="q1=yes, q2=no, q6=no; q6_recency=lifetime"), ZONE)
    assert cssrs["answers"] == {"q1": True, "q2": False, "q6": False, "q6_recency": "lifetime"}
    with pytest.raises(FormError, match="not both"):
        parse(fields, form(instrument="phq9", answers="1, q2=no"), ZONE)


def test_ticked_codes_become_a_list_and_nested_fields_a_nested_payload() -> None:
    sources = Sources(zone=ZONE, multiple={"contraindications": []})
    fields = describe(PAYLOADS["evaluation.completed"], sources)
    data = parse(fields, form(eligible="no", contraindications=["psychosis_or_mania", "pregnancy_or_lactation"],
                              reason="contraindicated"), ZONE)
    assert data["contraindications"] == ["psychosis_or_mania", "pregnancy_or_lactation"]
    fields = describe(PAYLOADS["referral.received"], Sources(zone=ZONE, ticked=frozenset({"sms_consent"})))
    data = parse(fields, form(patient__name="Test Patient", patient__phone="+15555550199", referrer="Dr. A",
                              prior_treatments="2"), ZONE)
    assert data["patient"] == {"name": "Test Patient", "phone": "+15555550199", "sms_consent": False}


@pytest.mark.parametrize(("values", "field", "message"), [
    ({"session": "s1", "phase": "pre_dose", "systolic": "high", "diastolic": "80"}, "systolic", "whole number"),
    ({"session": "s1", "phase": "pre_dose", "systolic": "120", "diastolic": "8\x000"}, "diastolic", "NUL"),
    ({"session": "s1", "phase": "pre_dose", "systolic": "1e999", "diastolic": "80"}, "systolic", "whole number"),
])
def test_typing_mistakes_name_their_field(values, field, message) -> None:
    fields = describe(PAYLOADS["vitals.recorded"], Sources(zone=ZONE))
    with pytest.raises(FormError, match=message) as caught:
        parse(fields, form(**values), ZONE)
    assert caught.value.name == field


def test_a_time_that_is_not_one_is_named() -> None:
    fields = describe(PAYLOADS["evaluation.rescheduled"], Sources(zone=ZONE))
    with pytest.raises(FormError, match="date and time") as caught:
        parse(fields, form(start="next tuesday"), ZONE)
    assert caught.value.name == "start"
