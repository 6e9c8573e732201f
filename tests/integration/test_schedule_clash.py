"""The schedule's clash check in the store's unit of work, on SQLite and PostgreSQL: another patient's booking in the
same chair (or the same provider at another clinic) refuses the booking, writing nothing; back-to-back is accepted;
and on PostgreSQL two coordinators booking the same chair at the same moment cannot both win."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pathway_support import CLINICIAN, DAY, T0, ev, event_rows, hours, referral
from sqlalchemy import Engine
from test_concurrency import BarrierBook, run_together

from config.clinic import build_clinic
from models.db import make_engine, migrate
from models.store import Outcome, WorkflowStore
from workflows.errors import Rejected
from workflows.network import Network

STAFF = {"on_call": "+15555550190", "medical_director": "+15555550191"}
MAIN = build_clinic(staff=STAFF, chairs=("Chair 1", "Chair 2"), providers=("Dr. Rivera", "Dr. Okafor"))
WEST = build_clinic(key="west", name="Westside test clinic", phone="+15555550200", staff=STAFF,
                    chairs=("West chair 1",), providers=("Dr. Okafor",))
NETWORK = Network(clinics=(MAIN, WEST))
START = T0 + 3 * DAY  # Thursday 09:00 in New York


def planned(store: WorkflowStore, phone: str, clinic: str | None = None) -> str:
    """An esketamine patient evaluated eligible (at `clinic`); returns the workflow id."""
    event = referral(phone=phone)
    if clinic:
        event = ev("referral.received", {**event.data.model_dump(mode="json"), "clinic": clinic})
    workflow_id = store.start(event, T0).workflow_id
    store.apply(workflow_id, ev("evaluation.scheduled", {"start": T0 + DAY}), T0 + hours(1))
    store.apply(workflow_id, ev("evaluation.completed", {"eligible": True, "route": "esketamine",
                                                         "clinician": "Dr B"}, CLINICIAN), T0 + DAY)
    return workflow_id


def book(store: WorkflowStore, workflow_id: str, start, chair: str, provider: str = "Dr. Rivera") -> Outcome:
    return store.apply(workflow_id, ev("session.scheduled", {"session": "s1", "start": start, "chair": chair,
                                                             "provider": provider}), T0 + DAY)


@pytest.fixture
def network_store(engine: Engine) -> WorkflowStore:
    return WorkflowStore(engine, BarrierBook(), NETWORK)


def test_another_patient_in_the_same_chair_is_refused_with_the_reason_and_nothing_written(engine, network_store):
    first, second = planned(network_store, "+15555550101"), planned(network_store, "+15555550102")
    book(network_store, first, START, "Chair 1")
    events_before = len(event_rows(engine, second))

    with pytest.raises(Rejected) as refused:
        book(network_store, second, START + timedelta(minutes=60), "chair 1")

    assert refused.value.rule == "chair_one_patient"
    assert refused.value.message.startswith("Chair 1 is taken Thu 05 Mar 09:00–11:00 EST by another patient's "
                                            "dosing session")
    assert len(event_rows(engine, second)) == events_before  # nothing of the refused booking
    book(network_store, second, START + timedelta(minutes=120), "Chair 1")  # back-to-back: accepted


def test_moving_into_a_taken_chair_is_refused_and_a_cancelled_booking_frees_it(network_store):
    first, second = planned(network_store, "+15555550101"), planned(network_store, "+15555550102")
    book(network_store, first, START, "Chair 1")
    book(network_store, second, START, "Chair 2")
    move = ev("session.rescheduled", {"session": "s1", "start": START + timedelta(minutes=30), "chair": "Chair 1"})
    with pytest.raises(Rejected, match="Chair 1 is taken"):
        network_store.apply(second, move, T0 + DAY)
    network_store.apply(first, ev("session.cancelled", {"session": "s1"}), T0 + DAY)
    network_store.apply(second, move, T0 + DAY)


def test_a_provider_booked_at_another_clinic_at_the_same_time_is_refused(network_store):
    here, west = planned(network_store, "+15555550101"), planned(network_store, "+15555550103", clinic="west")
    book(network_store, west, START, "West chair 1", provider="Dr. Okafor")
    with pytest.raises(Rejected) as refused:
        book(network_store, here, START + timedelta(minutes=30), "Chair 1", provider="Dr. Okafor")
    assert refused.value.rule == "provider_on_site"
    book(network_store, here, START + timedelta(minutes=30), "Chair 1", provider="Dr. Rivera")


@pytest.mark.postgres
def test_two_coordinators_booking_one_chair_at_once_cannot_both_win(fresh_postgres_url):
    migrate(fresh_postgres_url)
    engine = make_engine(fresh_postgres_url)
    try:
        protocols = BarrierBook()
        store = WorkflowStore(engine, protocols, NETWORK)
        for round_number in range(3):
            first = planned(store, f"+155555502{round_number}1")
            second = planned(store, f"+155555502{round_number}2")
            start = START + round_number * DAY
            protocols.arm(2)  # both read their workflow before either decides and writes
            results = run_together(lambda w=first, s=start: book(store, w, s, "Chair 1"),
                                   lambda w=second, s=start: book(store, w, s + timedelta(minutes=30), "Chair 1"))
            assert sorted(type(result).__name__ for result in results) == ["Outcome", "Rejected"], results
            [refused] = [result for result in results if isinstance(result, Rejected)]
            assert refused.rule == "chair_one_patient"
    finally:
        engine.dispose()
