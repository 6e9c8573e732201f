"""The network's clinics managed from the admin pages by a network admin: added and changed with the whole network
validated first (a refusal says what is wrong and stores nothing), served by this server at once, and closed to
anyone who is not an administrator of every clinic."""

from __future__ import annotations

import pytest
from api_support import ApiServer, referral_body
from signin_support import sign_in
from sqlalchemy import select

from models import accounts
from models.tables import AuditEntry, ClinicRow, WorkflowRow

WEST = {"key": "west", "name": "Westside Care Clinic", "phone": "+15555550200", "timezone": "America/Los_Angeles"}


@pytest.fixture(scope="module")
def network(postgres_server_url):
    from api_support import fresh_database, serve

    with fresh_database(postgres_server_url) as url, serve(url, clinics=(WEST,)) as server:
        yield server


def south(**changes) -> dict:
    form = {"key": "south", "name": "Southside Care Clinic", "phone": "+15555550300", "timezone": "America/Chicago",
            "open_days": ["mon", "tue", "wed", "thu"], "day_ends_at_hour": "16", "holidays_country": "US",
            "closures": "2026-12-24\n2026-12-31", "chairs": "Chair 1\nChair 2\nQuiet room",
            "providers": "Dr Ana Ruiz", "languages": ["en", "es"], "default_language": "es",
            "staff_medical_director": "+15555550391",
            "rota": '- {role: on_call, phone: "+15555550390", days: [mon, tue, wed, thu], from: "08:00", to: "16:00"}'}
    form.update(changes)
    return form


def stored_keys(network: ApiServer) -> list[str]:
    with network.services.unit_of_work() as uow:
        return list(uow.db.execute(select(ClinicRow.key)).scalars())


def test_a_network_admin_adds_a_clinic_and_it_takes_referrals_at_once(network: ApiServer) -> None:
    with network.browser() as client:
        network.sign_in(client, "admin")
        listed = client.get("/admin/clinics")
        assert listed.status_code == 200 and "Westside Care Clinic" in listed.text
        assert '<a href="/admin/clinics">Clinics</a>' in listed.text, "the network admin's navigation has it"
        added = client.post("/admin/clinics", data=south())
        assert (added.status_code, added.headers["location"]) == (303, "/admin/clinics?done=added")
        after = client.get("/admin/clinics?done=added").text
        assert "Clinic added." in after and 'data-clinic="south"' in after

        shown = client.get("/admin/clinics/south").text
        assert "Quiet room" in shown and "Dr Ana Ruiz" in shown and 'value="thu" checked' in shown
        assert 'value="fri" checked' not in shown and 'value="16"' in shown
    served = network.services.store.network.get("south")
    assert served.hours.business_days == (0, 1, 2, 3) and served.chairs == ("Chair 1", "Chair 2", "Quiet room")
    assert served.default_language == "es" and served.staff_number("medical_director", served_now()) == "+15555550391"
    started = network.referral(**referral_body(clinic="south"))  # this server serves the new clinic at once
    with network.services.unit_of_work() as uow:
        assert uow.db.get(WorkflowRow, started["workflow_id"]).clinic_id == "south"
    with network.services.unit_of_work() as uow:
        trail = uow.db.execute(select(AuditEntry).where(AuditEntry.action == "clinic_added")).scalars().all()
        assert [entry.detail for entry in trail] == ["clinic south"]


def served_now():
    from datetime import UTC, datetime

    return datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # a Monday, 09:00 in Chicago


@pytest.mark.parametrize(("change", "said"), [
    ({"timezone": "Mars/Olympus"}, "Time zone: "),
    ({"phone": "+15555550200"}, "number +15555550200 is used by clinics west and"),
    ({"rota": "- {role: on_call, phone: [unclosed"}, "Rota: cannot read it"),
    ({"rota": '- {role: janitor, phone: "+15555550390"}'}, "Rota, line 1: "),
    ({"chairs": "Chair 1\nchair 1"}, "chairs: chair 1 is listed twice"),
    ({"protocol_version": "v999"}, "Protocol version: protocol version &#39;v999&#39; is not installed"),
    ({"open_days": []}, "Opening days"),
    ({"name": "Ketamine Care"}, "must not contain"),
], ids=["zone", "number-of-west", "rota-unreadable", "rota-role", "chair-twice", "protocol", "no-open-day", "name"])
def test_a_clinic_that_cannot_be_used_is_refused_saying_why_and_nothing_is_stored(network: ApiServer, change: dict,
                                                                                  said: str) -> None:
    before = stored_keys(network)
    with network.browser() as client:
        network.sign_in(client, "admin")
        refused = client.post("/admin/clinics", data=south(key="north", phone="+15555550400", **{
            k: v for k, v in change.items() if k != "phone"}) | ({"phone": change["phone"]} if "phone" in change else {}))
        assert refused.status_code == 422, refused.text
        assert said in " ".join(refused.text.split()), refused.text
        assert 'value="north"' in refused.text, "the form comes back as it was sent"
    assert stored_keys(network) == before and network.services.store.network.find("north") is None


def test_a_clinic_is_changed_in_place_and_its_short_name_stays(network: ApiServer) -> None:
    with network.browser() as client:
        network.sign_in(client, "admin")
        client.post("/admin/clinics", data=south(key="east", phone="+15555550500", name="Eastside Care Clinic"))
        changed = client.post("/admin/clinics/east", data=south(key="renamed", phone="+15555550500",
                                                                name="Eastside Care Clinic", chairs="Room A"))
        assert changed.status_code == 303
        again = client.post("/admin/clinics", data=south(key="east", phone="+15555550501"))
        assert again.status_code == 409 and "already a clinic with the short name" in again.text
    served = network.services.store.network.get("east")
    assert served.chairs == ("Room A",) and served.phone == "+15555550500"
    assert network.services.store.network.find("renamed") is None


def test_the_installs_own_clinic_is_shown_not_changed(network: ApiServer) -> None:
    with network.browser() as client:
        network.sign_in(client, "admin")
        shown = client.get("/admin/clinics/main")
        assert shown.status_code == 200 and "its settings (<code>CAREPATH_CLINIC_*</code>) define it" in shown.text
        refused = client.post("/admin/clinics/main", data=south(key="main"))
        assert refused.status_code == 409 and "install's own clinic" in refused.text
        assert client.get("/admin/clinics/nowhere").status_code == 404


def test_only_an_administrator_of_every_clinic_manages_clinics(network: ApiServer) -> None:
    one_clinic_admin = network.new_staff("admin")
    with network.services.unit_of_work() as uow:
        accounts.set_clinics(uow, one_clinic_admin.id, ["west"])
        uow.commit()
    with network.browser() as client:
        sign_in(client, one_clinic_admin)
        refused = client.post("/admin/clinics", data=south(key="sneaky", phone="+15555550600"))
        assert refused.status_code == 403 and "administrator of every clinic" in refused.text
        assert client.get("/admin/clinics").status_code == 403
        assert '<a href="/admin/clinics">' not in client.get("/admin/users").text
    with network.browser() as client:
        network.sign_in(client, "coordinator")
        assert client.get("/admin/clinics").status_code == 403
    assert "sneaky" not in stored_keys(network)


def test_saving_the_form_keeps_what_it_does_not_send_and_changes_the_schedule_lengths(network: ApiServer) -> None:
    with network.browser() as client:
        network.sign_in(client, "admin")
        added = client.post("/admin/clinics", data=south(key="lake", phone="+15555550700", name="Lakeside Care Clinic",
                                                         evaluation_minutes="45", therapy_minutes="40"))
        assert added.status_code == 303
        shown = client.get("/admin/clinics/lake").text
        assert 'name="evaluation_minutes" inputmode="numeric" value="45"' in shown
        # A form sent without the lengths (an older page) keeps them; one that names them changes them.
        kept = client.post("/admin/clinics/lake", data=south(key="lake", phone="+15555550700",
                                                            name="Lakeside Care Clinic", chairs="Room A"))
        assert kept.status_code == 303
        lake = network.services.store.network.get("lake")
        assert (lake.evaluation_minutes, lake.therapy_minutes, lake.chairs) == (45, 40, ("Room A",))
        client.post("/admin/clinics/lake", data=south(key="lake", phone="+15555550700", name="Lakeside Care Clinic",
                                                      evaluation_minutes="90"))
        assert network.services.store.network.get("lake").evaluation_minutes == 90
        refused = client.post("/admin/clinics/lake", data=south(key="lake", phone="+15555550700",
                                                                name="Lakeside Care Clinic", therapy_minutes="an hour"))
        assert refused.status_code == 422 and "Therapy length (minutes): give whole minutes" in refused.text
        assert network.services.store.network.get("lake").therapy_minutes == 40
