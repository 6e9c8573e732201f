"""The ops dashboard's Rota panel: roles covered now and the gaps coming, in plain words, and no phone numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from workflows.rota import WEEKDAYS

ZONE = "America/New_York"
ON_CALL, DIRECTOR, MANAGER = "+15555550190", "+15555550191", "+15555550194"


def test_ops_see_tomorrows_gap_in_plain_words_and_no_staff_phone(start_api, tmp_path) -> None:
    tomorrow = datetime.now(UTC).astimezone(ZoneInfo(ZONE)).date() + timedelta(days=1)
    others = [day for day in WEEKDAYS if day != WEEKDAYS[tomorrow.weekday()]]  # nobody on call all of tomorrow
    rota = tmp_path / "rota.yaml"
    rota.write_text(f'- {{role: on_call, phone: "{ON_CALL}", days: [{", ".join(others)}]}}\n'
                    f'- {{role: medical_director, phone: "{DIRECTOR}"}}\n', encoding="utf-8")
    api = start_api(rota_file=rota, staff_clinic_manager=MANAGER, clinic_timezone=ZONE)
    with api.browser() as client:
        api.sign_in(client, "ops")
        page = client.get("/dashboard")
    assert page.status_code == 200
    html = " ".join(page.text.split())
    assert '<h2 id="rota-h">Rota</h2>' in html
    assert "<td>on-call doctor</td><td class=\"\">covered</td>" in html
    after = tomorrow + timedelta(days=1)
    assert f"No on-call doctor from {tomorrow:%a} 00:00 to {after:%a} 00:00" in html
    for phone in (ON_CALL, DIRECTOR, MANAGER):
        assert phone[2:] not in page.text and f"{phone[5:8]}-{phone[8:]}" not in page.text


def test_the_api_lists_the_gaps_with_roles_and_times_only(start_api, tmp_path) -> None:
    rota = tmp_path / "rota.yaml"
    rota.write_text(f'- {{role: on_call, phone: "{ON_CALL}", from: "08:00", to: "18:00"}}\n', encoding="utf-8")
    api = start_api(rota_file=rota, staff_medical_director=DIRECTOR, clinic_timezone=ZONE)
    with api.client("ops") as client:
        answer = client.get("/v1/rota/coverage")
    assert answer.status_code == 200
    body = answer.json()
    assert body["hours"] == 72 and {item["role"] for item in body["now"]} == {"on_call", "medical_director"}
    nights = [gap for gap in body["gaps"] if gap["role"] == "on_call"]
    assert nights and all(" 18:00 to " in gap["words"] or "from now" in gap["words"] for gap in nights)
    assert all(phone[2:] not in answer.text for phone in (ON_CALL, DIRECTOR))
    with api.client() as anonymous:
        assert anonymous.get("/v1/rota/coverage").status_code == 401
