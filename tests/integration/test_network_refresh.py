"""A clinic added or changed while carepath runs is served by every running process without a restart: each looks
at the stored clinics at most every NETWORK_CHECK_SECONDS (one small query when nothing changed), and one that no
longer validates is not served (the network in use stays)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from config import wiring
from config.clinics import add_clinic
from models.db import migrate
from models.tables import ClinicRow
from workers.settings import Settings

WEST = {"key": "west", "name": "Westside Care Clinic", "phone": "+15555550200", "timezone": "America/Los_Angeles"}


def running(database_url: str):
    return wiring.build_services(Settings(environment="test", database_url=database_url, tasks="inline",
                                          sms_backend="console"))


def test_a_clinic_added_by_another_process_is_served_at_the_next_look(database_url) -> None:
    migrate(database_url)
    worker, admin = running(database_url), running(database_url)
    try:
        assert worker.store.network.keys == ["main"]
        assert worker.refresh_network(now=True) is False, "nothing changed: the network in use stays"
        with admin.unit_of_work() as uow:
            add_clinic(uow, admin.store.clinic, WEST)
            uow.commit()
        assert worker.refresh_network() is False, "not yet time to look again"
        assert worker.store.network.keys == ["main"]
        assert worker.refresh_network(now=True) is True
        assert worker.store.network.keys == ["main", "west"]
        assert worker.store.network.get("west").timezone == "America/Los_Angeles"
    finally:
        worker.engine.dispose()
        admin.engine.dispose()


def test_a_stored_clinic_that_no_longer_validates_is_not_served(database_url) -> None:
    migrate(database_url)
    svc = running(database_url)
    try:
        with svc.unit_of_work() as uow:
            add_clinic(uow, svc.store.clinic, WEST)
            uow.commit()
        assert svc.refresh_network(now=True) and "west" in svc.store.network.keys
        with svc.unit_of_work() as uow:  # a hand edit in the database: a time zone that does not exist
            broken = {"name": WEST["name"], "phone": WEST["phone"], "timezone": "Mars/Olympus"}
            uow.db.execute(update(ClinicRow).where(ClinicRow.key == "west").values(
                definition=broken, updated_at=datetime.now(UTC) + timedelta(seconds=1)))
            uow.commit()
        assert svc.refresh_network(now=True) is False
        assert svc.store.network.get("west").timezone == "America/Los_Angeles", "the network in use stays"
    finally:
        svc.engine.dispose()
