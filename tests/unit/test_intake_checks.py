"""Input checks of the pure core: a plausible date of birth at referral, and an evaluation done no earlier than its
booked start unless the clinician says why it was brought forward."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from pathway_helpers import CLINIC, PROTOCOL, T0, PatientDriver, referral_data

from workflows.errors import Rejected
from workflows.events import make_event
from workflows.pathway import decide, start

ELIGIBLE = {"eligible": True, "route": "esketamine", "clinician": "Dr. Berg", "weight_kg": 80}
TODAY = date(2026, 3, 2)  # T0's day in New York


def refer(born: date) -> Rejected | None:
    event = make_event("referral.received", referral_data(patient={"date_of_birth": born.isoformat()}),
                       actor={"role": "coordinator", "name": "Sam"})
    try:
        start(str(uuid.uuid4()), "p1", event, T0, PROTOCOL, CLINIC)
    except Rejected as refused:
        return refused
    return None


@pytest.mark.parametrize("born", [TODAY, TODAY + timedelta(days=1), date(2199, 1, 1), date(1905, 3, 1)])
def test_a_date_of_birth_today_in_the_future_or_over_120_years_ago_is_refused(born):
    refused = refer(born)
    assert refused is not None
    assert (refused.code, refused.rule, refused.field) == ("invalid_data", "date_of_birth_plausible",
                                                           "patient.date_of_birth")
    assert born.isoformat() not in str(refused)  # a date of birth identifies a patient: never in a message or log
    assert "Check it with the referral" in refused.message


@pytest.mark.parametrize("born", [TODAY - timedelta(days=1), date(1906, 3, 2), date(1980, 4, 1)])
def test_a_date_of_birth_yesterday_or_exactly_120_years_ago_is_accepted(born):
    assert refer(born) is None


def test_an_evaluation_recorded_before_its_booked_start_is_refused_in_clinic_time():
    patient = PatientDriver()
    patient.schedule_evaluation(days=1)  # Tuesday 3 March, 09:00 New York
    refused = patient.refuse("evaluation.completed", ELIGIBLE, role="clinician")
    assert (refused.code, refused.rule, refused.field) == ("rule", "evaluation_not_before_booked", "brought_forward")
    assert "2026-03-03 09:00 EST" in refused.message
    assert patient.stage == "evaluation_scheduled"


def test_an_evaluation_at_its_booked_start_is_accepted():
    patient = PatientDriver()
    patient.schedule_evaluation(days=1)
    patient.advance(days=1)  # exactly the booked start
    patient.post("evaluation.completed", ELIGIBLE, role="clinician")
    assert patient.stage == "treatment_planned"


def test_an_evaluation_brought_forward_with_a_reason_is_accepted_early():
    patient = PatientDriver()
    patient.schedule_evaluation(days=1)
    patient.post("evaluation.completed", {**ELIGIBLE, "brought_forward": "a slot opened this morning"}, role="clinician")
    assert patient.stage == "treatment_planned"


def test_an_early_not_eligible_evaluation_is_refused_too():
    patient = PatientDriver()
    patient.schedule_evaluation(days=1)
    refused = patient.refuse("evaluation.completed", {"eligible": False, "clinician": "Dr. Berg", "reason": "psychosis"},
                             role="clinician")
    assert refused.rule == "evaluation_not_before_booked"


def test_the_booked_start_that_counts_is_the_moved_one():
    patient = PatientDriver()
    patient.schedule_evaluation(days=3)
    patient.post("evaluation.rescheduled", {"start": patient.now + timedelta(hours=2)})
    patient.advance(hours=2)
    patient.post("evaluation.completed", ELIGIBLE, role="clinician")
    assert patient.stage == "treatment_planned"


def test_a_time_in_the_future_is_refused_in_clinic_time_not_utc():
    patient = PatientDriver()
    ahead = T0 + timedelta(hours=1)  # 15:00 UTC is 10:00 in New York
    event = make_event("safety.hold", {"reason": "labs", "clinician": "Dr. Berg"},
                       actor={"role": "clinician", "name": "Dr. Berg"}, occurred_at=ahead)
    with pytest.raises(Rejected) as info:
        decide(patient.state, event, patient.now, PROTOCOL, CLINIC)
    assert info.value.rule == "occurred_at_past"
    assert "2026-03-02 10:00 EST" in info.value.message and "+00:00" not in info.value.message
