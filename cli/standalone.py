"""`carepath standalone`: the whole product in one process, for trying it out.

SQLite in `./carepath.db`, tasks run in-process, SMS printed to the console, the API on 127.0.0.1:8000 and the
scheduler ticking in a background thread. `--demo` seeds a small clinic and its demo staff the first time; the
accounts made at a start are printed with their passwords then, and never again. The demo's patients text back
(`workers/demo_phones.py`): its seed has a check-in due at once and a reminder leaving within a minute.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

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


def configure_demo_replies(demo: bool) -> None:
    """The demo's patients answer its texts unless CAREPATH_DEMO_REPLIES says no; without --demo, nobody simulated
    answers anything, whatever the environment says (a clinic trying standalone with its own numbers)."""
    if demo:
        os.environ.setdefault("CAREPATH_DEMO_REPLIES", "true")
    else:
        os.environ["CAREPATH_DEMO_REPLIES"] = "false"


def first_text(svc) -> None:
    """Demo Patient One, only referred, texts the clinic a question a few seconds after the first start: the staff
    inbox has a text at any hour (quiet hours hold the clinic's reminders, not a patient's own texts)."""
    svc.gateway.text_first(DEMO_PATIENT_PHONES[0], key="seed", to_phone=svc.settings.clinic_phone)


def scheduler_thread(stop: threading.Event, interval: float = 1.0) -> threading.Thread:
    from config.wiring import services
    from workers.scheduler import ROTA_WATCH_SECONDS, tick, watch_rota

    def loop() -> None:
        rota_watched = float("-inf")  # at start too, as the scheduler process does
        while not stop.wait(interval):
            try:
                tick(services())
                if time.monotonic() - rota_watched >= ROTA_WATCH_SECONDS:
                    rota_watched = time.monotonic()
                    watch_rota(services())  # gaps in each clinic's rota, texted to its manager
            except Exception:  # keep ticking: one bad round must not stop reminders
                log.exception("scheduler tick failed")

    thread = threading.Thread(target=loop, name="carepath-scheduler", daemon=True)
    thread.start()
    return thread


# The demo network's second clinic, three time zones west of the settings' own ("main", New York by default).
DEMO_CLINIC = {"key": "west", "name": "Westside demo clinic", "phone": "+15555550200",
               "timezone": "America/Los_Angeles",
               "rota": [{"role": "on_call", "phone": "+15555550290", "from": "08:00", "to": "20:00"},
                        {"role": "on_call", "phone": "+15555550292", "from": "20:00", "to": "08:00"},
                        {"role": "medical_director", "phone": "+15555550291"}],
               "chairs": ["West chair 1", "West chair 2"], "providers": ["Dr. Okafor"]}
DEMO_CHAIRS, DEMO_PROVIDERS = "Chair 1,Chair 2,Quiet room", "Dr. Rivera"


def add_demo_clinic(database_url: str) -> None:
    """The demo network's second clinic, once per database (before the services are built: they read the clinics)."""
    from config.clinics import add_clinic
    from config.wiring import settings_clinic
    from models.clinics import all_definitions
    from models.db import make_engine
    from models.unit_of_work import UnitOfWork
    from workers.settings import Settings

    engine = make_engine(database_url)
    try:
        with UnitOfWork(engine) as uow:
            if not any(d["key"] == DEMO_CLINIC["key"] for d in all_definitions(uow)):
                add_clinic(uow, settings_clinic(Settings()), DEMO_CLINIC)
                uow.commit()
    finally:
        engine.dispose()


DEMO_PATIENT_PHONES = ("+15555550101", "+15555550102", "+15555550103", "+15555550104")
REMINDER_SOON_SECONDS = 45  # how long after the start the seeded reminder leaves


def seed_demo(svc, now: datetime | None = None) -> int:
    """Four synthetic patients at different points of the pathway, one at the second clinic, once per database (as of
    `now`, the wall clock by default: a test seeds a few minutes back to find the first reminder due).

    A lively first minute: Demo Patient Two's session was yesterday, so the check-in falls due at once (its hour today
    has passed), and Demo Patient Three's session later today is booked just past the last reminder's lead, so the
    reminder leaves within a minute. Both ask for an answer, and the demo's patients give one (inside the clinic's
    allowed hours; at night the texts wait for 08:00)."""
    from models import queries
    from workflows.events import make_event

    if queries.has_workflows(svc.engine):
        return 0
    now = now or datetime.now(UTC)
    store = svc.store

    def referral(name: str, phone: str, clinic: str | None = None, at: datetime = now) -> str:
        data = {"patient": {"name": name, "phone": phone, "sms_consent": True}, "referrer": "Dr. Demo",
                "prior_treatments": 3, **({"clinic": clinic} if clinic else {})}
        return store.start(make_event("referral.received", data, actor=COORDINATOR), at).workflow_id

    def post(workflow_id: str, event_type: str, data: dict, actor=COORDINATOR, at: datetime = now) -> None:
        store.apply(workflow_id, make_event(event_type, data, actor=actor), at)

    def placed(clinic_key: str | None, chair: int = 0) -> dict:
        """A chair and provider of the clinic, so the schedule grid shows the demo's bookings in their columns (none
        when the install's settings list none)."""
        clinic = store.clinic_named(clinic_key)
        return {**({"chair": clinic.chairs[min(chair, len(clinic.chairs) - 1)]} if clinic.chairs else {}),
                **({"provider": clinic.providers[0]} if clinic.providers else {})}

    messaging = store.protocols.current.messaging
    referral("Demo Patient One", DEMO_PATIENT_PHONES[0])  # referred: a contact task on the worklist
    dosed = last_checkin_time(now, store.clinic.timezone, messaging.checkin_hour) - timedelta(days=1)
    second = referral("Demo Patient Two", DEMO_PATIENT_PHONES[1], at=dosed - timedelta(days=1))
    for minutes, event_type, data, actor in yesterdays_session(dosed):
        post(second, event_type, data, actor, at=dosed + timedelta(minutes=minutes))
    third = referral("Demo Patient Three", DEMO_PATIENT_PHONES[2])
    post(third, "evaluation.scheduled", {"start": now + timedelta(minutes=5)})
    post(third, "evaluation.completed", {"eligible": True, "route": "iv_ketamine", "weight_kg": 72,
                                         "clinician": "Demo Clinician", "brought_forward": "seen before the slot"}, CLINICIAN)
    later_today = now + timedelta(hours=min(messaging.reminder_hours_before), seconds=REMINDER_SOON_SECONDS)
    post(third, "session.scheduled", {"session": "iv1", "start": later_today, **placed(None)})
    post(third, "assessment.submitted", {"instrument": "phq9", "answers": [2, 2, 1, 1, 1, 1, 1, 1, 1]}, CLINICIAN)
    fourth = referral("Demo Patient Four", DEMO_PATIENT_PHONES[3], clinic=DEMO_CLINIC["key"])
    post(fourth, "evaluation.scheduled", {"start": now + timedelta(days=1), **placed(DEMO_CLINIC["key"], chair=1)})
    return 4


def last_checkin_time(now: datetime, zone: str, hour: int) -> datetime:
    """The latest check-in hour (clinic time) at or before `now`: a session discharged the day before is checked on
    then, so its check-in is due when the demo starts."""
    local = now.astimezone(ZoneInfo(zone))
    at = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    return (at if at <= local else at - timedelta(days=1)).astimezone(UTC)


def yesterdays_session(dosed: datetime) -> list[tuple[int, str, dict, dict]]:
    """(minutes from the dose, event, data, actor): evaluated the day before, then an IV session dosed at `dosed`,
    monitored and discharged (the order and readings the protocol asks for)."""
    day = 24 * 60
    return [(-day + 5, "evaluation.scheduled", {"start": dosed - timedelta(minutes=day - 30)}, COORDINATOR),
            (-day + 40, "evaluation.completed", {"eligible": True, "route": "iv_ketamine", "weight_kg": 80,
                                                 "clinician": "Demo Clinician"}, CLINICIAN),
            (-day + 50, "session.scheduled", {"session": "iv1", "start": dosed}, COORDINATOR),
            (-10, "session.arrived", {"session": "iv1"}, COORDINATOR),
            (-5, "vitals.recorded", {"session": "iv1", "phase": "pre_dose", "systolic": 122, "diastolic": 80}, CLINICIAN),
            (0, "dose.administered", {"session": "iv1", "fasting_confirmed": True}, CLINICIAN),
            (70, "vitals.recorded", {"session": "iv1", "phase": "pre_discharge", "systolic": 118, "diastolic": 76},
             CLINICIAN),
            (75, "session.discharged", {"session": "iv1", "sedation_resolved": True, "dissociation_resolved": True,
                                        "clinician": "Demo Clinician"}, CLINICIAN)]


# Demo staff for the README's walk-through, made once per database; their passwords are printed only then.
DEMO_STAFF = (("standalone admin", "admin@demo.carepath", "admin"), ("Casey Coordinator", "casey@demo.carepath", "coordinator"),
              ("Dr. Rivera", "rivera@demo.carepath", "clinician"), ("Demo Ops", "ops@demo.carepath", "ops"))
FIRST_ADMIN = ("carepath admin", "admin@carepath.local", "admin")


def ensure_accounts(svc, wanted, *, temporary: bool) -> list[tuple[str, str, str, str]]:
    """Make the accounts of `wanted` (name, email, role) that do not exist yet: (role, name, email, password) of each
    made now. A demo account's password is its own; a first admin's is temporary (changed at the first sign-in)."""
    from models import audit
    from models.accounts import create_account, temporary_password
    from models.queries.accounts import by_email

    made = []
    for name, email, role in wanted:
        if by_email(svc.engine, email) is not None:
            continue
        now = datetime.now(UTC)
        with svc.unit_of_work() as uow:
            password = None if temporary else temporary_password()
            user, shown = create_account(uow, email=email, name=name, role=role, now=now, password=password)
            audit.record(uow, "user_created", now, target_id=user.id, route="carepath standalone", detail=f"role {role}")
            uow.commit()
        made.append((role, name, email, shown or password))
    return made


def print_sign_ins(svc, host: str, port: int, demo: bool, console: Console) -> None:
    """How to sign in: the accounts made at this start with their passwords (shown once), else where they are."""
    from models.queries.accounts import accounts

    if demo:
        made = ensure_accounts(svc, DEMO_STAFF, temporary=False)
    else:
        made = ensure_accounts(svc, [FIRST_ADMIN], temporary=True) if not accounts(svc.engine, datetime.now(UTC)) else []
    console.print(f"  sign in  http://{host}:{port}/login")
    if made:
        console.print("  accounts made now; their passwords are shown only this once"
                      + ("" if demo else " (the first sign-in chooses a new one)") + ":")
        for role, name, email, password in made:
            print(f"    {role:<12} {name:<18} {email:<24} {password}", flush=True)
        console.print("  Coordinators, clinicians and admins set up an authenticator app (QR code) at their first sign-in.")
    elif demo:
        console.print("  demo accounts: " + ", ".join(email for _, email, _ in DEMO_STAFF) + " (passwords were printed "
                      "when they were made; `carepath users reset-password EMAIL` makes a new one)")
    else:
        console.print("  accounts: `carepath users list`; a forgotten password: `carepath users reset-password EMAIL`")
    console.print("  API token for curl: `carepath users token create EMAIL --name curl` (shown once)")


def run_standalone(host: str, port: int, demo: bool) -> None:
    import uvicorn

    configure_environment(host, port)
    from api.app import create_app
    from config.logging import configure_logging, logging_config
    from config.wiring import services
    from models.db import migrate
    from workers.settings import Settings

    database_url = Settings().database_url
    migrate(database_url)
    configure_demo_replies(demo)
    if demo:
        os.environ.setdefault("CAREPATH_CLINIC_CHAIRS", DEMO_CHAIRS)  # the demo clinic's rooms, unless set
        os.environ.setdefault("CAREPATH_CLINIC_PROVIDERS", DEMO_PROVIDERS)
        add_demo_clinic(database_url)
    svc = services()
    configure_logging(svc.settings)
    seeded = seed_demo(svc) if demo else 0
    if seeded and svc.settings.demo_replies:
        first_text(svc)
    stop = threading.Event()
    scheduler_thread(stop)
    console = Console()
    console.print(f"[bold]carepath standalone[/bold] on {svc.settings.database_url}"
                  + (f", {seeded} demo patients seeded" if seeded else ""))
    console.print(f"  API      http://{host}:{port}/v1   (docs: http://{host}:{port}/docs)")
    console.print(f"  health   http://{host}:{port}/healthz")
    console.print("  SMS are printed here (console backend); the scheduler ticks every second.")
    if svc.settings.demo_replies:
        console.print(f"  The demo's patients text back, after about {svc.settings.demo_reply_seconds:g} s.")
    print_sign_ins(svc, host, port, demo, console)
    try:
        # proxy_headers off: CAREPATH_TRUSTED_PROXIES decides whom X-Forwarded-* is believed from (api.forwarded).
        uvicorn.run(create_app(svc), host=host, port=port, log_config=logging_config(svc.settings),
                    log_level=svc.settings.log_level.lower(), proxy_headers=False)
    finally:
        stop.set()
