"""`carepath simulate` as a user runs it: the example scenarios' reports show the pathway's behaviour."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CAREPATH = str(Path(sys.executable).parent / "carepath")


def simulate(tmp_path, scenario, *extra):
    report = tmp_path / "report.json"
    result = subprocess.run([CAREPATH, "simulate", str(scenario), "--report", str(report), "--quiet", *extra],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(report.read_text()), result.stdout


def test_esketamine_example_refuses_the_early_discharge(tmp_path):
    report, summary = simulate(tmp_path, ROOT / "examples/esketamine_induction.yaml")
    [workflow] = report["workflows"]
    assert workflow["stage"] == "induction"
    statuses = {s["session"]: s["status"] for s in workflow["sessions"]}
    assert statuses == {"s1": "discharged", "s2": "discharged", "s3": "no_show"}
    [rejected] = report["rejected"]
    assert rejected["type"] == "session.discharged"
    assert "minimum monitoring time not reached" in rejected["error"] and "rule: min_monitoring" in rejected["error"]
    discharges = [e for e in report["events"] if e["type"] == "session.discharged"]
    assert [e["data"]["session"] for e in discharges] == ["s1", "s2"]
    assert discharges[0]["at"] == "2026-03-05T17:10:00+00:00"  # 12:10 clinic-local, after the refused 11:30 attempt
    assert any(e["type"] == "session.no_show" for e in report["events"])
    assert {"reason": "no_show", "status": "open"}.items() <= next(
        e for e in report["escalations"] if e["reason"] == "no_show").items()
    flat = " ".join(summary.split())
    assert "rejected" in flat and "session.discharged: minimum monitoring time not reached" in flat


def test_iv_example_holds_the_session_and_alerts_on_call(tmp_path):
    report, _ = simulate(tmp_path, ROOT / "examples/iv_bp_hold.yaml")
    statuses = {s["session"]: s["status"] for s in report["workflows"][0]["sessions"]}
    assert statuses == {"iv1": "held", "iv2": "discharged"}
    reasons = {e["reason"]: e for e in report["escalations"]}
    assert reasons["bp_hold"]["severity"] == "urgent" and reasons["bp_hold"]["status"] == "acknowledged"
    assert reasons["bp_critical"]["status"] == "resolved"
    alerts = [m for m in report["messages"] if m["kind"] == "staff_alert"]
    bp_alerts = [m for m in alerts if "(vital signs alert)" in m["body"] or "(visit on hold)" in m["body"]]
    assert len(bp_alerts) == 2 and all(m["to"] == "+15555550190" for m in bp_alerts)  # on-call, at once
    assert {m["to"] for m in alerts} <= {"+15555550190", "+15555550191"}
    assert all("ketamine" not in m["body"].lower() and "182" not in m["body"] for m in alerts)
    assert [r["type"] for r in report["rejected"]] == ["dose.administered"]


def test_declined_example_ends_with_nothing_pending(tmp_path):
    report, _ = simulate(tmp_path, ROOT / "examples/declined_referral.yaml")
    assert report["workflows"][0]["stage"] == "declined"
    assert not [t for t in report["timers"] if t["status"] == "pending"]
    assert [r["type"] for r in report["rejected"]] == ["evaluation.completed", "session.scheduled"]
    assert "contradiction" in report["rejected"][0]["error"]


def test_report_sections_follow_the_contract(tmp_path):
    report, _ = simulate(tmp_path, ROOT / "examples/esketamine_induction.yaml")
    assert set(report) == {"scenario", "workflows", "events", "messages", "escalations", "timers", "rejected"}
    event = report["events"][0]
    assert set(event) == {"at", "patient", "type", "actor", "data"} and event["at"].endswith("+00:00")
    timer = report["timers"][0]
    assert set(timer) == {"patient", "kind", "due_at", "status"}


def test_scenario_on_postgres(tmp_path, fresh_postgres_url):
    report, _ = simulate(tmp_path, ROOT / "examples/esketamine_induction.yaml", "--database-url", fresh_postgres_url)
    assert report["workflows"][0]["stage"] == "induction"


@pytest.mark.parametrize("broken, expected", [
    ("name: x\nstart: 2026-03-02T08:00:00\nuntil: 2026-03-01T08:00:00\npatients: []\ntimeline: []\n", "until"),
    ("name: x\nstart: nonsense\nuntil: 2026-03-01T08:00:00\npatients: []\ntimeline: []\n", ":2:"),
])
def test_invalid_scenario_names_the_line(tmp_path, broken, expected):
    scenario = tmp_path / "broken.yaml"
    scenario.write_text(broken)
    result = subprocess.run([CAREPATH, "simulate", str(scenario), "--quiet"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "broken.yaml:" in result.stderr and expected in result.stderr
