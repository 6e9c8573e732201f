"""The messaging examples, simulated through the real engine and database, show each behaviour of PROTOCOL.md §5–§6."""

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

ROOT = Path(__file__).resolve().parents[2]
CAREPATH = str(Path(sys.executable).parent / "carepath")
NEW_YORK = ZoneInfo("America/New_York")
AUTOMATED = {"session_reminder", "evaluation_reminder", "therapy_reminder", "checkin", "checkin_nudge", "no_show"}
ON_CALL, DIRECTOR = "+15555550190", "+15555550191"


_REPORTS: dict[str, dict] = {}


def simulate(tmp_path, name):
    """Each example is simulated once per test run; the report is read-only for the tests."""
    if name not in _REPORTS:
        _REPORTS[name] = _run(tmp_path, name)
    return _REPORTS[name]


def _run(tmp_path, name):
    report = tmp_path / f"{name}.json"
    result = subprocess.run([CAREPATH, "simulate", f"examples/{name}.yaml", "--report", str(report), "--quiet"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(report.read_text())


def at(message):
    return datetime.fromisoformat(message["at"])


def outbound(report, status="sent"):
    return [m for m in report["messages"] if m["direction"] == "outbound" and m["status"] == status]


def test_opt_out_and_back_in(tmp_path):
    report = simulate(tmp_path, "opt_out_and_back")
    stop = next(m for m in report["messages"] if m["direction"] == "inbound" and m["body"].strip().lower() == "stop")
    start = next(m for m in report["messages"] if m["direction"] == "inbound" and m["body"].lower() == "start")
    assert not [m for m in outbound(report) if at(stop) < at(m) < at(start)], "nothing is sent while opted out"
    assert {m["reason"] for m in outbound(report, "dropped")} == {"opted_out"}
    [confirm] = [m for m in outbound(report) if m["kind"] == "opt_in_confirm"]
    assert confirm["at"] == start["at"]
    assert [m for m in outbound(report) if m["kind"] == "session_reminder" and at(m) > at(start)]
    reasons = {e["reason"] for e in report["escalations"]}
    assert {"opted_out", "call_patient"} <= reasons


def test_crisis_text_at_night_pages_until_acknowledged(tmp_path):
    report = simulate(tmp_path, "crisis_at_night")
    text = next(m for m in report["messages"] if m["direction"] == "inbound")
    assert at(text).astimezone(NEW_YORK).hour == 2
    [crisis] = [m for m in outbound(report) if m["kind"] == "crisis"]
    assert crisis["at"] == text["at"] and "988" in crisis["body"], "the crisis line goes back at once, at 2 a.m."
    alerts = [m for m in outbound(report) if m["kind"] == "staff_alert"]
    assert alerts[0]["to"] == ON_CALL and alerts[0]["at"] == text["at"]
    minutes_after = [(at(m) - at(text)).total_seconds() / 60 for m in alerts[1:]]
    assert minutes_after == [15, 30] and all(m["to"] == DIRECTOR for m in alerts[1:])  # acknowledged at 40 min
    [escalation] = [e for e in report["escalations"] if e["reason"] == "crisis_language"]
    assert (escalation["severity"], escalation["tier"], escalation["status"]) == ("emergency", 2, "resolved")


def test_elevated_risk_missed_checkin_goes_to_on_call_without_a_nudge(tmp_path):
    report = simulate(tmp_path, "elevated_risk_missed_checkin")
    assert "elevated_risk" in report["workflows"][0]["flags"]
    [checkin] = [m for m in outbound(report) if m["kind"] == "checkin"]
    assert at(checkin).astimezone(NEW_YORK).hour == 10
    assert not [m for m in report["messages"] if m["kind"] == "checkin_nudge"]
    [missed] = [e for e in report["escalations"] if e["reason"] == "checkin_missed"]
    assert missed["severity"] == "urgent"
    assert (datetime.fromisoformat(missed["raised_at"]) - at(checkin)).total_seconds() == 6 * 3600
    assert any(m["kind"] == "staff_alert" and m["to"] == ON_CALL and m["at"] == missed["raised_at"]
               for m in outbound(report))


def test_nothing_is_sent_for_a_cancelled_or_moved_visit(tmp_path):
    report = simulate(tmp_path, "cancelled_session")
    changed = datetime.fromisoformat("2026-03-04T14:00:00+00:00")  # 09:00 clinic-local: iv1 cancelled, iv2 moved
    later = [m for m in outbound(report) if at(m) >= changed]
    assert not [m for m in later if "Mar 6" in m["body"]], "no reminder for the cancelled session"
    assert not [m for m in later if "Mar 9" in m["body"]], "no reminder for the moved session's old time"
    assert [m for m in later if "Mar 10 at 2:00 PM" in m["body"]], "reminders for the new time"
    [obsolete] = outbound(report, "dropped")
    assert (obsolete["kind"], obsolete["reason"]) == ("session_reminder", "quiet_hours_obsolete")


def test_each_patient_is_written_to_in_their_own_language(tmp_path):
    report = simulate(tmp_path, "two_languages")
    spanish, english = "+15555550111", "+15555550112"
    to_spanish = [m for m in report["messages"] if m["direction"] == "outbound" and m["to"] == spanish]
    to_english = [m for m in outbound(report) if m["to"] == english]
    [checkin] = [m for m in to_spanish if m["kind"] == "checkin"]
    assert "¿qué tal se siente hoy?" in checkin["body"] and "marque 2 para español" in checkin["body"]
    reminders = [m for m in to_spanish if m["kind"] in {"session_reminder", "evaluation_reminder"}]
    assert reminders and all("Responda 1 para confirmar" in m["body"] or "Necesita quien lo lleve" in m["body"]
                             for m in reminders)
    assert "lun 9 mar, 11:00" in reminders[-1]["body"], "the visit's time in Spanish words, 24-hour"
    assert [m for m in to_spanish if m["kind"] == "reply_ack" and "gracias por contarnos" in m["body"]]
    assert all("Reply" in m["body"] or "your visit" in m["body"] or "thank you" in m["body"] or "missed you" in m["body"]
               for m in to_english), "the English patient's texts stay English"
    assert not [m for m in to_english if "Responda" in m["body"]]


def test_a_spanish_crisis_text_is_an_emergency_answered_in_spanish(tmp_path):
    report = simulate(tmp_path, "two_languages")
    text = next(m for m in report["messages"] if m["direction"] == "inbound" and "no quiero vivir" in m["body"])
    [crisis] = [m for m in outbound(report) if m["kind"] == "crisis"]
    assert crisis["at"] == text["at"] and crisis["body"].startswith("Riverside Interventional Psychiatry: Si se encuentra")
    alert = next(m for m in outbound(report) if m["kind"] == "staff_alert")
    assert alert["to"] == ON_CALL and alert["body"].startswith("carepath: patient #"), "staff alerts stay in English"
    assert [e for e in report["escalations"] if e["reason"] == "crisis_language"]


def test_alto_opts_a_spanish_speaking_patient_out_like_stop(tmp_path):
    report = simulate(tmp_path, "two_languages")
    alto = next(m for m in report["messages"] if m["direction"] == "inbound" and m["body"] == "Alto")
    after = [m for m in report["messages"] if m["direction"] == "outbound" and m["to"] == "+15555550111"
             and at(m) > at(alto)]
    assert after and {(m["status"], m["reason"]) for m in after} == {("dropped", "opted_out")}
    assert "opted_out" in {e["reason"] for e in report["escalations"]}
    assert [m for m in outbound(report) if m["to"] == "+15555550112" and at(m) > at(alto)], "the other patient is not"


@pytest.mark.parametrize("name", ["esketamine_induction", "opt_out_and_back", "crisis_at_night",
                                  "elevated_risk_missed_checkin", "cancelled_session", "iv_bp_hold", "two_languages"])
def test_no_automated_message_leaves_in_quiet_hours_or_names_a_drug(tmp_path, name):
    report = simulate(tmp_path, name)
    for message in outbound(report):
        if message["kind"] in AUTOMATED:
            assert 8 <= at(message).astimezone(NEW_YORK).hour < 21, message
        for word in ("ketamine", "esketamine", "spravato", "ptsd", "phq", "pcl", "score", " mg", "ketamina", "tept",
                     "depresi", "dosis"):
            assert word not in message["body"].lower()


def test_the_rota_pages_the_day_doctor_at_ten_and_the_night_doctor_at_seven_and_skips_thanksgiving(tmp_path):
    report = simulate(tmp_path, "rota_day_and_night")
    pages = [(m["patient"], at(m).astimezone(NEW_YORK).hour, m["to"]) for m in outbound(report)
             if m["kind"] == "staff_alert" and "safety follow-up" in m["body"]]
    assert pages == [("day", 10, "+15555550190"), ("night", 19, "+15555550192")]
    # Wed 25 Nov + 2 business days: Thanksgiving (Thu) and the clinic's closure (Fri) skipped, then the weekend.
    [deadline] = [t for t in report["timers"] if t["patient"] == "holiday" and t["kind"] == "escalation_deadline"]
    assert datetime.fromisoformat(deadline["due_at"]).astimezone(NEW_YORK) == datetime(2026, 12, 1, 10, tzinfo=NEW_YORK)
