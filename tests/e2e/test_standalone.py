"""`carepath standalone` as a newcomer runs it: one process serves the API and sends due SMS by itself."""

import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from process_support import free_port, wait_for, zone_where_it_is_midday
from signin_support import Staff, sign_in

ROOT = Path(__file__).resolve().parents[2]
CAREPATH = str(Path(sys.executable).parent / "carepath")
TOKEN = re.compile(r"^[A-Za-z0-9_-]{40,}$", re.MULTILINE)
DEMO_LINE = re.compile(r"^ {4}(admin|coordinator|clinician|ops) +(.+?) +(\S+@\S+) +(\S+)$", re.MULTILINE)


def demo_accounts(log: Path) -> dict[str, Staff]:
    """role → the demo account (and password) standalone printed when it made them."""
    return demo_accounts_in(log.read_text())


def api_token(tmp_path: Path, email: str) -> str:
    """`carepath users token create` on the standalone's database, as the README's walk-through does."""
    env = {**os.environ, "CAREPATH_DATABASE_URL": f"sqlite:///{tmp_path / 'carepath.db'}",
           "CAREPATH_CLINIC_TIMEZONE": zone_where_it_is_midday()}  # a reminder in quiet hours would wait
    done = subprocess.run([CAREPATH, "users", "token", "create", email, "--name", "curl"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=True)
    return TOKEN.findall(done.stdout)[-1]


def test_standalone_serves_the_api_and_sends_due_reminders(tmp_path):
    port, log = free_port(), tmp_path / "standalone.log"
    env = {**os.environ, "CAREPATH_DATABASE_URL": f"sqlite:///{tmp_path / 'carepath.db'}",
           "CAREPATH_CLINIC_TIMEZONE": zone_where_it_is_midday()}  # a reminder in quiet hours would wait
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
        accounts = wait_for(lambda: demo_accounts(log), 10, "the demo accounts")
        auth = {"Authorization": f"Bearer {api_token(tmp_path, accounts['admin'].email)}"}
        demo = httpx.get(f"{base}/v1/workflows", headers=auth).json()["items"]
        assert len(demo) == 4, "--demo seeds four patients, one at the second clinic"
        for role in ("coordinator", "clinician"):  # the console walk-through signs in with these
            with httpx.Client(base_url=base, timeout=30) as browser:
                signed_in = sign_in(browser, accounts[role])  # password, then the authenticator enrolled by its key
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


def test_a_second_start_makes_no_new_accounts_and_prints_no_secrets(tmp_path):
    env = {**os.environ, "CAREPATH_DATABASE_URL": f"sqlite:///{tmp_path / 'carepath.db'}",
           "CAREPATH_CLINIC_TIMEZONE": zone_where_it_is_midday()}  # a reminder in quiet hours would wait
    logs = []
    for run in (1, 2):
        port, log = free_port(), tmp_path / f"standalone-{run}.log"
        with log.open("w") as out:
            process = subprocess.Popen([CAREPATH, "standalone", "--demo", "--port", str(port)], cwd=tmp_path, env=env,
                                       stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(lambda log=log: "sign in" in log.read_text() and "API token" in log.read_text(), 60,
                     "standalone to say how to sign in")
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        logs.append(log.read_text())
    first, second = (demo_accounts_in(text) for text in logs)
    assert set(first) == {"admin", "coordinator", "clinician", "ops"} and second == {}
    assert "demo accounts: admin@demo.carepath" in logs[1]
    assert not any(account.password in logs[1] for account in first.values()), "passwords are printed once"
    assert not TOKEN.findall(logs[0] + logs[1]), "no API token is printed at a start"


def demo_accounts_in(text: str) -> dict[str, Staff]:
    return {role: Staff(email=email, password=password, name=name, role=role)
            for role, name, email, password in DEMO_LINE.findall(text)}
