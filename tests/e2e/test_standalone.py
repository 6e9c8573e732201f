"""`carepath standalone` as a newcomer runs it: one process serves the API and sends due SMS by itself."""

import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from process_support import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
CAREPATH = str(Path(sys.executable).parent / "carepath")
TOKEN = re.compile(r"^[A-Za-z0-9_-]{40,}$", re.MULTILINE)


def test_standalone_serves_the_api_and_sends_due_reminders(tmp_path):
    port, log = free_port(), tmp_path / "standalone.log"
    env = {**os.environ, "CAREPATH_DATABASE_URL": f"sqlite:///{tmp_path / 'carepath.db'}"}
    with log.open("w") as out:
        process = subprocess.Popen([CAREPATH, "standalone", "--demo", "--port", str(port)], cwd=tmp_path, env=env,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"

        def healthy():
            try:
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, 60, "the standalone server")
        token = wait_for(lambda: TOKEN.findall(log.read_text()), 10, "the admin token")[-1]
        auth = {"Authorization": f"Bearer {token}"}
        demo = httpx.get(f"{base}/v1/workflows", headers=auth).json()["items"]
        assert len(demo) == 3, "--demo seeds three patients"
        for role in ("coordinator", "clinician"):  # the console walk-through signs in with these
            [staff_token] = re.findall(rf"^  {role} +.+ ([A-Za-z0-9_-]{{40,}})$", log.read_text(), re.MULTILINE)
            signed_in = httpx.post(f"{base}/login", data={"token": staff_token})
            assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/console/patients"), role

        referral = {"patient": {"name": "Walkthrough Patient", "phone": "+15555550177", "sms_consent": True},
                    "referrer": "Dr. Demo", "prior_treatments": 2}
        created = httpx.post(f"{base}/v1/referrals", json=referral, headers=auth)
        assert created.status_code == 201, created.text
        workflow_id = created.json()["workflow_id"]
        start = (datetime.now(UTC) + timedelta(hours=2, seconds=3)).isoformat()
        booked = httpx.post(f"{base}/v1/workflows/{workflow_id}/events", headers=auth,
                            json={"type": "evaluation.scheduled", "data": {"start": start}})
        assert booked.status_code == 200 and booked.json()["stage"] == "evaluation_scheduled"

        # The 2 h reminder falls due in 3 s: the in-process scheduler fires it and the console gateway sends it.
        wait_for(lambda: "kind=evaluation_reminder" in log.read_text(), 20, "the reminder to be sent")
        assert "Walkthrough Patient" not in log.read_text(), "no patient names in the logs"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
