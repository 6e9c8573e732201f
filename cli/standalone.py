"""`carepath standalone`: the whole product in one process, for trying it out.

SQLite in `./carepath.db`, tasks run in-process, SMS printed to the console, the API on 127.0.0.1:8000 and the
scheduler ticking in a background thread. `--demo` seeds a small clinic the first time.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import UTC, datetime, timedelta

from rich.console import Console

log = logging.getLogger("carepath.standalone")
COORDINATOR = {"role": "coordinator", "name": "Demo Coordinator"}
CLINICIAN = {"role": "clinician", "name": "Demo Clinician"}


def configure_environment(host: str, port: int) -> None:
    """Standalone always means the embedded pieces; the database may still be pointed elsewhere."""
    os.environ["CAREPATH_TASKS"] = "inline"
    os.environ["CAREPATH_SMS_BACKEND"] = "console"
    os.environ.setdefault("CAREPATH_DATABASE_URL", "sqlite:///carepath.db")
    os.environ.setdefault("CAREPATH_PUBLIC_URL", f"http://{host}:{port}")


def scheduler_thread(stop: threading.Event, interval: float = 1.0) -> threading.Thread:
    from config.wiring import services
    from workers.scheduler import tick

    def loop() -> None:
        while not stop.wait(interval):
            try:
                tick(services())
            except Exception:  # keep ticking: one bad round must not stop reminders
                log.exception("scheduler tick failed")

    thread = threading.Thread(target=loop, name="carepath-scheduler", daemon=True)
    thread.start()
    return thread


def seed_demo(svc) -> int:
    """Three synthetic patients at different points of the pathway, once per database."""
    from models import queries
    from workflows.events import make_event

    if queries.has_workflows(svc.engine):
        return 0
    now = datetime.now(UTC)
    store = svc.store

    def referral(name: str, phone: str) -> str:
        data = {"patient": {"name": name, "phone": phone, "sms_consent": True}, "referrer": "Dr. Demo",
                "prior_treatments": 3}
        return store.start(make_event("referral.received", data, actor=COORDINATOR), now).workflow_id

    def post(workflow_id: str, event_type: str, data: dict, actor=COORDINATOR) -> None:
        store.apply(workflow_id, make_event(event_type, data, actor=actor), now)

    referral("Demo Patient One", "+15555550101")  # referred: a contact task on the worklist
    second = referral("Demo Patient Two", "+15555550102")
    post(second, "evaluation.scheduled", {"start": now + timedelta(days=2)})
    third = referral("Demo Patient Three", "+15555550103")
    post(third, "evaluation.scheduled", {"start": now + timedelta(minutes=5)})
    post(third, "evaluation.completed", {"eligible": True, "route": "iv_ketamine", "weight_kg": 72,
                                         "clinician": "Demo Clinician"}, CLINICIAN)
    post(third, "session.scheduled", {"session": "iv1", "start": now + timedelta(days=1)})
    post(third, "assessment.submitted", {"instrument": "phq9", "answers": [2, 2, 1, 1, 1, 1, 1, 1, 1]}, CLINICIAN)
    return 3


# Demo staff, so the README's console walk-through needs no extra command: new tokens at every start, shown once.
DEMO_STAFF = (("Casey Coordinator", "coordinator"), ("Dr. Rivera", "clinician"))


def print_demo_sign_ins(svc, host: str, port: int, console: Console) -> None:
    from models.users import create_user

    console.print(f"  console  http://{host}:{port}/login   demo sign-in tokens (shown once):")
    for name, role in DEMO_STAFF:
        _, token = create_user(svc.engine, name, role)
        print(f"  {role:<12} {name:<18} {token}", flush=True)


def run_standalone(host: str, port: int, demo: bool) -> None:
    import uvicorn

    configure_environment(host, port)
    from api.app import create_app
    from config.logging import configure_logging, logging_config
    from config.wiring import services
    from models.db import migrate
    from models.users import create_user

    svc = services()
    configure_logging(svc.settings)
    migrate(svc.settings.database_url)
    seeded = seed_demo(svc) if demo else 0
    _, token = create_user(svc.engine, "standalone admin", "admin")
    stop = threading.Event()
    scheduler_thread(stop)
    console = Console()
    console.print(f"[bold]carepath standalone[/bold] on {svc.settings.database_url}"
                  + (f", {seeded} demo patients seeded" if seeded else ""))
    console.print(f"  API      http://{host}:{port}/v1   (docs: http://{host}:{port}/docs)")
    console.print(f"  health   http://{host}:{port}/healthz")
    console.print("  SMS are printed here (console backend); the scheduler ticks every second.")
    console.print("  admin token (shown once):")
    print(token, flush=True)
    if demo:
        print_demo_sign_ins(svc, host, port, console)
    try:
        uvicorn.run(create_app(svc), host=host, port=port, log_config=logging_config(svc.settings),
                    log_level=svc.settings.log_level.lower())
    finally:
        stop.set()
