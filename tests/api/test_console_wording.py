"""What staff read on the console, word for word: refusals without codes (the codes kept for support) and history
entries as sentences in clinic time. Pure: no server, no database."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest

from api.console.history import Reader, sentence
from api.console.refusals import from_rejected
from workflows.errors import Rejected
from workflows.stages import EVENT_RULES, Role
from workflows.state import WorkflowState

CLINIC = ZoneInfo("America/New_York")
PEOPLE = {Role.COORDINATOR, Role.CLINICIAN, Role.OPS}
POSTED_BY_PEOPLE = sorted(event for event, rule in EVENT_RULES.items() if rule.roles & PEOPLE)
CODE = re.compile(r"[a-z]+[._][a-z]+")  # an event type or a rule id: `session.scheduled`, `start_in_future`


def reader() -> Reader:
    return Reader(WorkflowState(workflow_id="w1", protocol_version="t", clinic="main",
                                patient={"id": "p1", "phone": "+15555550101", "timezone": "America/New_York"}), CLINIC)


@pytest.mark.parametrize("event_type", POSTED_BY_PEOPLE)
def test_every_event_people_post_reads_as_a_sentence_without_its_type(event_type: str) -> None:
    said = sentence(event_type, {}, reader())
    assert said[0].isupper() and said.endswith(".") and not CODE.search(said), said


def test_a_payload_time_reads_in_clinic_time() -> None:
    said = sentence("session.scheduled", {"session": "s1", "start": "2026-03-04T15:00:00+00:00", "dose_mg": 56}, reader())
    assert said == "Dosing session booked for 2026-03-04 10:00, 56 mg."


def test_an_early_evaluation_says_why_it_was_brought_forward() -> None:
    said = sentence("evaluation.completed", {"eligible": True, "route": "iv_ketamine", "brought_forward": "a slot opened"},
                    reader())
    assert said == "Evaluation done: eligible for IV ketamine (brought forward: a slot opened)."


def test_a_stage_refusal_names_the_action_and_the_stage_in_words_and_keeps_the_codes_for_support() -> None:
    refused = Rejected("session.scheduled is not allowed in stage referred", code="not_allowed", stage="referred",
                       rule="stage_allows_event", allowed=["evaluation.scheduled"])
    shown = from_rejected(refused, "session.scheduled")
    assert shown.what == "“Book a session” does not apply while the patient is at stage “referred”."
    assert not CODE.search(shown.what + shown.next)
    assert shown.details == {"rule": "stage_allows_event",
                             "protocol rule": "What each stage allows (PROTOCOL.md §2 Stages of a patient's workflow)",
                             "event": "session.scheduled", "stage": "referred", "allowed now": "evaluation.scheduled"}


def test_a_payload_error_names_the_field_as_the_form_labels_it() -> None:
    refused = Rejected("invalid vitals.recorded data: systolic: Input should be greater than 0", code="invalid_data",
                       field="systolic")
    shown = from_rejected(refused, "vitals.recorded", {"systolic": "Systolic (mmHg)"})
    assert shown.what == "Systolic (mmHg): Input should be greater than 0."
