"""The coordinator commands, run as a coordinator would: referral create, event post, workflow show."""

import json
import os
import subprocess
import sys
from pathlib import Path

CAREPATH = str(Path(sys.executable).parent / "carepath")


def run(env, *args):
    return subprocess.run([CAREPATH, *args], capture_output=True, text=True, env=env, timeout=60)


def test_referral_event_and_show(tmp_path):
    env = {**os.environ, "CAREPATH_DATABASE_URL": f"sqlite:///{tmp_path / 'cp.db'}", "COLUMNS": "200"}
    assert run(env, "migrate").returncode == 0
    created = run(env, "referral", "create", "--name", "Test Patient", "--phone", "+15555550123", "--referrer", "Dr X",
                  "--prior-treatments", "3", "--sms-consent", "--as", "Casey")
    assert created.returncode == 0, created.stderr
    workflow_id = created.stdout.split()[1]

    posted = run(env, "event", "post", workflow_id, "evaluation.scheduled", "--data", '{"start": "2030-01-05T10:00:00"}',
                 "--idempotency-key", "book-1")
    again = run(env, "event", "post", workflow_id, "evaluation.scheduled", "--data", '{"start": "2030-01-05T10:00:00"}',
                "--idempotency-key", "book-1")
    refused = run(env, "event", "post", workflow_id, "session.scheduled", "--data",
                  '{"session": "s1", "start": "2030-01-09T10:00:00"}')
    shown = json.loads(run(env, "workflow", "show", workflow_id).stdout)

    assert "is evaluation_scheduled" in posted.stdout
    assert "already applied" in again.stdout
    assert refused.returncode == 1 and "stage: evaluation_scheduled" in " ".join(refused.stderr.split())
    assert shown["stage"] == "evaluation_scheduled"
    assert [t["kind"] for t in shown["pending_timers"]] == ["reminder", "reminder", "reminder"]
    assert shown["open_escalations"] == []  # booking the evaluation closed the contact task


def test_bad_phone_is_refused_with_the_field_named(tmp_path):
    env = {**os.environ, "CAREPATH_DATABASE_URL": f"sqlite:///{tmp_path / 'cp.db'}", "COLUMNS": "200"}
    run(env, "migrate")
    result = run(env, "referral", "create", "--name", "T", "--phone", "555-0123", "--referrer", "Dr X",
                 "--prior-treatments", "1")
    assert result.returncode == 1
    assert "patient.phone" in result.stderr and "E.164" in result.stderr
