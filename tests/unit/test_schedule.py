"""The schedule grid's rules (`workflows.schedule`): booking lengths from the route and the clinic, chairs and providers
checked against the clinic's lists, and the clash rules with their boundaries (back-to-back bookings do not clash)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pathway_helpers import PROTOCOL, PatientDriver

from config.clinic import build_clinic
from workflows.schedule import Booking, first_clash, length_minutes

NINE = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # Monday 09:00 in New York
ZONE = "America/New_York"
CLINIC = build_clinic(staff={"on_call": "+15555550190"}, chairs=("Chair 1", "Chair 2", "Quiet room"),
                      providers=("Dr. Rivera", "Dr. Okafor"), evaluation_minutes=45, therapy_minutes=50)


def booking(item: str, minutes_after_nine: int, minutes: int, chair: str | None = "Chair 1",
            provider: str | None = None, kind: str = "session", clinic: str = "main", workflow: str = "w1") -> Booking:
    return Booking(workflow, kind, item, clinic, NINE + timedelta(minutes=minutes_after_nine), minutes, chair, provider)


# --- lengths -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("route", "minutes"), [("esketamine", 120), ("iv_ketamine", 70), ("im_ketamine", 30)])
def test_a_dosing_session_holds_its_chair_for_its_routes_infusion_and_monitoring(route, minutes):
    # PROTOCOL.md §3: esketamine ≥ 2 h of monitoring; IV a 40-minute infusion + 30 min; IM 30 min.
    assert length_minutes("session", route, PROTOCOL, CLINIC) == minutes


def test_evaluations_and_therapy_last_as_long_as_the_clinic_says():
    assert length_minutes("evaluation", None, PROTOCOL, CLINIC) == 45
    assert length_minutes("therapy", None, PROTOCOL, CLINIC) == 50


# --- the chair rule ------------------------------------------------------------------------------------------------

def test_a_chair_holds_one_patient_at_a_time():
    clash = first_clash(booking("s1", 60, 120, workflow="w2"), [booking("s1", 0, 120)], ZONE)
    assert clash is not None and clash.rule == "chair_one_patient"
    assert clash.message == ("Chair 1 is taken Mon 02 Mar 09:00–11:00 EST by another patient's dosing session: a "
                             "chair or room holds one patient at a time. Choose another chair or room, or a time "
                             "from 11:00.")


def test_back_to_back_in_one_chair_does_not_clash():
    earlier = booking("s1", 0, 120)
    assert first_clash(booking("s1", 120, 120, workflow="w2"), [earlier], ZONE) is None  # starts as it ends
    assert first_clash(booking("s1", -120, 120, workflow="w2"), [earlier], ZONE) is None  # ends as it starts
    assert first_clash(booking("s1", 119, 120, workflow="w2"), [earlier], ZONE) is not None  # one minute over


def test_another_chair_or_another_clinics_chair_of_the_same_name_is_free():
    taken = booking("s1", 0, 120)
    assert first_clash(booking("s1", 0, 120, chair="Chair 2", workflow="w2"), [taken], ZONE) is None
    assert first_clash(booking("s1", 0, 120, clinic="west", workflow="w2"), [taken], ZONE) is None


def test_a_booking_does_not_clash_with_itself_when_moved_within_its_own_time():
    assert first_clash(booking("s1", 30, 120), [booking("s1", 0, 120)], ZONE) is None


# --- the provider rules --------------------------------------------------------------------------------------------

def test_a_provider_is_on_site_at_one_clinic_at_a_time():
    there = booking("s1", 0, 120, chair="West chair 1", provider="Dr. Okafor", clinic="west")
    clash = first_clash(booking("s1", 90, 120, chair="Chair 1", provider="Dr. Okafor", workflow="w2"), [there], ZONE)
    assert clash is not None and clash.rule == "provider_on_site"
    assert "Dr. Okafor is booked at another clinic Mon 02 Mar 09:00–11:00 EST" in clash.message
    assert first_clash(booking("s1", 120, 120, provider="Dr. Okafor", workflow="w2"), [there], ZONE) is None  # after


def test_one_provider_supervises_overlapping_dosing_sessions_at_their_own_site():
    other_chair = booking("s1", 0, 120, chair="Chair 2", provider="Dr. Rivera")
    assert first_clash(booking("s1", 30, 120, provider="Dr. Rivera", workflow="w2"), [other_chair], ZONE) is None


def test_a_provider_holds_one_evaluation_or_therapy_at_a_time():
    evaluation = booking("evaluation", 0, 45, chair="Quiet room", provider="Dr. Rivera", kind="evaluation")
    therapy = booking("therapy1", 30, 50, chair=None, provider="Dr. Rivera", kind="therapy", workflow="w2")
    clash = first_clash(therapy, [evaluation], ZONE)
    assert clash is not None and clash.rule == "provider_one_appointment"
    assert first_clash(booking("therapy1", 45, 50, chair=None, provider="Dr. Rivera", kind="therapy", workflow="w2"),
                       [evaluation], ZONE) is None


# --- bookings in the pathway: lists and lengths --------------------------------------------------------------------

def planned(route: str = "esketamine") -> PatientDriver:
    return PatientDriver(clinic=CLINIC).plan(route)


def test_a_booking_takes_the_clinics_spelling_of_its_chair_and_provider_and_the_routes_length():
    patient = planned("iv_ketamine")
    patient.post("session.scheduled", {"session": "s1", "start": patient.now + timedelta(days=2),
                                       "chair": "chair 2", "provider": "DR. RIVERA"})
    session = patient.session("s1")
    assert (session.chair, session.provider, session.minutes) == ("Chair 2", "Dr. Rivera", 70)


def test_a_chair_or_provider_the_clinic_does_not_list_is_refused_naming_the_ones_it_does():
    patient = planned()
    start = patient.now + timedelta(days=2)
    error = patient.refuse("session.scheduled", {"session": "s1", "start": start, "chair": "Chair 9",
                                                 "provider": "Dr. Rivera"})
    assert (error.rule, error.code) == ("chair_known", "invalid_data")
    assert error.message == "Chair 9 is not one of this clinic's chairs or rooms (Chair 1, Chair 2, Quiet room)."
    error = patient.refuse("session.scheduled", {"session": "s1", "start": start, "provider": "Dr. Who"})
    assert error.rule == "provider_known"


def test_an_esketamine_session_in_a_chair_needs_its_supervising_provider():
    patient = planned()
    start = patient.now + timedelta(days=2)
    error = patient.refuse("session.scheduled", {"session": "s1", "start": start, "chair": "Chair 1"})
    assert error.rule == "esketamine_provider_on_site"
    patient.post("session.scheduled", {"session": "s1", "start": start, "chair": "Chair 1", "provider": "Dr. Okafor"})


def test_a_move_that_names_no_chair_keeps_the_one_booked():
    patient = planned()
    start = patient.now + timedelta(days=2)
    patient.post("session.scheduled", {"session": "s1", "start": start, "chair": "Chair 1", "provider": "Dr. Okafor"})
    patient.post("session.rescheduled", {"session": "s1", "start": start + timedelta(hours=3)})
    assert (patient.session("s1").chair, patient.session("s1").provider) == ("Chair 1", "Dr. Okafor")
    patient.post("session.rescheduled", {"session": "s1", "start": start, "chair": "Quiet room"})
    assert patient.session("s1").chair == "Quiet room"


def test_an_evaluation_and_therapy_take_the_clinics_lengths():
    patient = PatientDriver(clinic=CLINIC)
    patient.post("evaluation.scheduled", {"start": patient.now + timedelta(days=1), "chair": "Quiet room",
                                          "provider": "Dr. Rivera"})
    evaluation = patient.state.appointments["evaluation"]
    assert (evaluation.chair, evaluation.provider, evaluation.minutes) == ("Quiet room", "Dr. Rivera", 45)
