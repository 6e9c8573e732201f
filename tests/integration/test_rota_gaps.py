"""A gap in the on-call rota is texted to the clinic manager once, whatever the number of ticks (issue #15)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from config import wiring
from models.tables import OutboxMessage
from models.unit_of_work import run_committed
from workers.gateways import ConsoleGateway
from workers.scheduler import tick, watch_rota
from workers.settings import Settings

ZONE = "America/New_York"
MANAGER = "+15555550194"
# Every day by day and every night but Tuesday's: nobody is on call from Tuesday 18:00 to Wednesday 08:00.
ROTA = """
- {role: on_call, phone: "+15555550190", from: "08:00", to: "18:00"}
- {role: on_call, phone: "+15555550192", days: [mon, wed, thu, fri, sat, sun], from: "18:00", to: "08:00"}
- {role: medical_director, phone: "+15555550191"}
"""
MONDAY = date(2026, 12, 7)


def new_york(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(ZONE)).astimezone(UTC)


def migrated_settings(database_url: str, tmp_path) -> Settings:
    """A migrated database and settings with the ROTA file and the clinic manager's number."""
    from models.db import migrate

    migrate(database_url)
    rota_file = tmp_path / "rota.yaml"
    rota_file.write_text(ROTA, encoding="utf-8")
    return Settings(database_url=database_url, tasks="inline", sms_backend="console", clinic_timezone=ZONE,
                    rota_file=rota_file, staff_clinic_manager=MANAGER)


@pytest.fixture
def services(database_url: str, tmp_path):
    svc = wiring.build_services(migrated_settings(database_url, tmp_path), gateway=ConsoleGateway(quiet=True))
    wiring.install(lambda: svc)  # the inline tasks reach these services
    yield svc
    wiring.install()
    svc.engine.dispose()


def rota_texts(svc) -> list[OutboxMessage]:
    def query(uow):
        rows = uow.db.execute(select(OutboxMessage).where(OutboxMessage.kind == "rota_gap")).scalars().all()
        for row in rows:
            uow.db.expunge(row)
        return rows
    return run_committed(svc.engine, query)


def test_a_gap_tomorrow_night_texts_the_clinic_manager_exactly_once_across_two_ticks(services) -> None:
    now = new_york(MONDAY, 12)
    assert watch_rota(services, now) == 1
    tick(services, now)
    assert watch_rota(services, now + timedelta(minutes=5)) == 0  # the second round finds it told already
    tick(services, now + timedelta(minutes=5))
    [text] = rota_texts(services)
    assert (text.to_phone, text.recipient, text.status) == (MANAGER, "clinic_manager", "sent")
    assert text.body == "carepath: carepath demo clinic has no on-call doctor on the rota from Tue 18:00. Please fill the gap."
    assert text.dedupe_key == "rota_gap:on_call:2026-12-08T23:00:00+00:00"
    assert [kind for _, kind in services.gateway.sent] == ["rota_gap"]


def test_a_gap_found_at_night_is_told_in_the_managers_morning(services) -> None:
    late = new_york(MONDAY, 23)
    assert watch_rota(services, late) == 1
    [text] = rota_texts(services)
    assert text.not_before == new_york(MONDAY + timedelta(days=1), 8)  # before the gap at Tue 18:00, after quiet hours


WEST_MANAGER = "+15555550294"
# West's doctors cover days only: nobody is on call at night in Los Angeles. Its manager is on its own rota.
WEST = {"key": "west", "name": "Westside Care Clinic", "phone": "+15555550200", "timezone": "America/Los_Angeles",
        "rota": [{"role": "on_call", "phone": "+15555550290", "from": "08:00", "to": "20:00"},
                 {"role": "medical_director", "phone": "+15555550291"},
                 {"role": "clinic_manager", "phone": WEST_MANAGER}]}


def test_each_clinic_of_a_network_has_its_gaps_told_to_its_own_manager(database_url: str, tmp_path) -> None:
    from config.clinics import add_clinic

    settings = migrated_settings(database_url, tmp_path)
    first = wiring.build_services(settings, gateway=ConsoleGateway(quiet=True))
    with first.unit_of_work() as uow:
        add_clinic(uow, first.store.clinic, WEST)
        uow.commit()
    first.engine.dispose()
    svc = wiring.build_services(settings, gateway=ConsoleGateway(quiet=True))  # processes read the clinics at start
    try:
        now = new_york(MONDAY, 12)
        queued = watch_rota(svc, now)
        assert watch_rota(svc, now + timedelta(minutes=5)) == 0, "a second round tells nobody again"
        texts = rota_texts(svc)
        main = [text for text in texts if text.to_phone == MANAGER]
        west = sorted((text for text in texts if text.to_phone == WEST_MANAGER), key=lambda text: text.dedupe_key)
        assert queued == len(texts) == len(main) + len(west)
        assert [text.dedupe_key for text in main] == ["rota_gap:on_call:2026-12-08T23:00:00+00:00"], "main's old key"
        # Every night within the 72 hours: Monday's, Tuesday's and Wednesday's, each told once, in Los Angeles time.
        assert [text.body.split(" from ")[1][:9] for text in west] == ["Mon 20:00", "Tue 20:00", "Wed 20:00"]
        assert all(t.clinic_id == "west" and t.dedupe_key.endswith(":west") and "Westside Care Clinic" in t.body
                   for t in west)
        assert main[0].clinic_id == "main"
    finally:
        svc.engine.dispose()
