"""Figure i: the console's pages over a network-sized database: p50 / p95 of the patient list (first page, a name
search, the elevated-risk filter), the worklist, the calendar day and the patient page, against GET /healthz.

Ours: `carepath api --workers 2` on a migrated throwaway PostgreSQL database holding 100,000 patients (10,000 with
`--quick`). A few hundred template workflows are made through the store, as coordinators and clinicians would: referred,
evaluation booked, treatment planned with sessions booked and confirmed, one moved and one cancelled, and one in ten
with a PHQ-9 item-9 answer (an elevated-risk flag and open worklist items). Each template's rows (patient,
workflow state, history, calendar items, flags, escalations) are then cloned by COPY with new ids, names and phones,
so every row is shaped as the store writes it. Templates are spread over 30 days around today, so the calendar table
has a realistic density; the measured day is outside those, with one clinic's day of bookings (`DAY_BOOKINGS`, made
through the store), because in the network each clinic's calendar shows its own day. `busy day` in the details is a
cloned day holding one-thirtieth of everything, for scale (no goal).

The network: `CLINICS` clinics (stored as `carepath clinics add` stores them), each round of clones at one clinic, the
rounds round robin over the clinics (its patients, workflows, states and escalations alike), so each clinic has the
templates' mix; the templates and the day's bookings are `main`'s. Every page is requested by two coordinators, each
signed in (a staff session made in the database, as the sign-in would leave it): one at `main` only (one clinic's
view, 1/CLINICS of the clones) and one of the network (every clinic: the 10,000 open worklist items). In turns with
/healthz, `ROUNDS` times each after a warm-up. The goal is on ours alone: p95 ≤ 200 ms for every page, as either.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bench.core import BenchContext, Figure, figure, ratio
from bench.figures._procs import UVICORN_READY, Procs, load_average, throwaway_database, tool
from bench.figures.webhooks import API_WORKERS, api_env, free_port, wait_until_answering
from bench.support import connect, percentile

GOAL_P95_MS = 200.0
ROUNDS = 60
OFFSET_DAYS = 30  # templates are spread over this many days around today
MEASURED_DAY_AHEAD = 40  # outside the templates' days: only the clinic's day of bookings is on it
DAY_BOOKINGS = 40  # one clinic's day of sessions and evaluations
CLINICS = 100
COORDINATOR = {"role": "coordinator", "name": "Bench Coordinator"}
CLINICIAN = {"role": "clinician", "name": "Dr Bench"}
PHQ9_ITEM9 = [1, 1, 1, 1, 1, 1, 0, 0, 1]  # item 9 answered: elevated risk and an urgent safety follow-up
FIRST = ("Amara", "Bao", "Carmen", "Dmitri", "Esi", "Farid", "Greta", "Hiro", "Ines", "Jamal", "Kaia", "Luis", "Mei",
         "Nikos", "Olu", "Priya", "Quinn", "Rosa", "Sami", "Tova", "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zora")
LAST = ("Okafor", "Nguyen", "Garcia", "Ivanova", "Mensah", "Haddad", "Lindqvist", "Tanaka", "Moreau", "Wright",
        "Kowalski", "Silva", "Chen", "Papadakis", "Adeyemi", "Sharma", "Byrne", "Romero", "Khalil", "Levi", "Das",
        "Horvath", "Zhou", "Castillo", "Demir", "Novak", "Brennan", "Ferreira", "Yamamoto", "Osei")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# The templates' mix, in twentieths: one at elevated risk (a flag and an urgent worklist item), one referred and not
# yet contacted (an open contact item); the other referrals were contacted (item resolved). About 10,000 open items
# and 5,000 elevated-risk flags at full size.
KINDS = ("at_risk", "referred", *["contacted"] * 5, *["evaluation"] * 4, *["planned"] * 6, *["moved"] * 3)


# --- templates through the store -----------------------------------------------------------------------------------

def template(svc, kind: str, number: int, base: datetime) -> str:
    """One workflow of `kind`, made through the store as if it were `base` now (its bookings a few days later)."""
    from workflows.events import make_event

    def apply(workflow_id: str, event_type: str, data: dict, actor=COORDINATOR, hours: float = 0) -> None:
        svc.store.apply(workflow_id, make_event(event_type, data, actor=actor), base + timedelta(hours=hours))

    referral = make_event("referral.received", {
        "patient": {"name": f"Tmpl{number:04d} Patient", "phone": f"+1555000{number:04d}", "sms_consent": True,
                    "timezone": "America/New_York"}, "referrer": "Dr Referrer", "prior_treatments": 3}, actor=COORDINATOR)
    workflow_id = svc.store.start(referral, base).workflow_id
    if kind == "referred":
        return workflow_id
    if kind == "contacted":
        from models.queries.listing import escalations_page

        [(contact, _patient)] = escalations_page(svc.engine, workflow_id=workflow_id).rows
        apply(workflow_id, "escalation.resolved", {"escalation": contact.id, "note": "called, booking next week"},
              hours=2)
        return workflow_id
    apply(workflow_id, "evaluation.scheduled", {"start": base + timedelta(days=1, hours=1)})
    if kind == "evaluation":
        return workflow_id
    apply(workflow_id, "evaluation.completed",
          {"eligible": True, "route": "esketamine", "weight_kg": 80, "clinician": "Dr Bench"}, CLINICIAN, hours=26)
    apply(workflow_id, "rems.enrolled", {"enrollment_id": f"REMS-{number}"}, hours=27)
    for n, day in ((1, 3), (2, 6)):
        apply(workflow_id, "session.scheduled", {"session": f"s{n}", "start": base + timedelta(days=day, hours=2)},
              hours=28)
    apply(workflow_id, "session.confirmed", {"session": "s1"}, hours=29)
    if kind == "at_risk":
        apply(workflow_id, "assessment.submitted", {"instrument": "phq9", "answers": PHQ9_ITEM9}, hours=30)
    if kind == "moved":
        apply(workflow_id, "session.rescheduled", {"session": "s2", "start": base + timedelta(days=7, hours=3)}, hours=30)
        apply(workflow_id, "session.cancelled", {"session": "s1", "reason": "unwell"}, hours=31)
    return workflow_id


def templates(svc, now: datetime, quick: bool) -> list[tuple[str, str]]:
    """(kind, workflow id) of every template: each kind on each offset day around today."""
    days = range(-OFFSET_DAYS // 2, OFFSET_DAYS // 2, 2 if not quick else 10)
    made, number = [], 0
    for offset in days:
        for kind in KINDS:
            number += 1
            made.append((kind, template(svc, kind, number, now + timedelta(days=offset - 2))))
    return made


def day_bookings(svc, day_start: datetime, count: int) -> list[str]:
    """One clinic's day on the measured day: sessions and evaluations every few minutes, through the store."""
    from workflows.events import make_event

    made = []
    for n in range(count):
        base = day_start - timedelta(days=3)
        kind = "planned" if n % 4 else "evaluation"
        workflow_id = template(svc, kind, 9000 + n, base)
        at = day_start + timedelta(hours=13, minutes=12 * n)  # 08:00 New York on, every 12 minutes
        event = (make_event("session.rescheduled", {"session": "s1", "start": at}, actor=COORDINATOR) if kind == "planned"
                 else make_event("evaluation.rescheduled", {"start": at}, actor=COORDINATOR))
        svc.store.apply(workflow_id, event, base + timedelta(days=1, hours=8))
        made.append(workflow_id)
    return made


# --- cloning by COPY -----------------------------------------------------------------------------------------------

TABLES = {  # what a patient's pages read, and the columns cloned (ids and names are rewritten)
    "patients": ("id", "clinic_id", "name", "phone", "timezone", "date_of_birth", "sms_consent", "opted_out",
                 "created_at"),
    "workflows": ("id", "clinic_id", "patient_id", "stage", "version", "protocol_version", "state", "created_at",
                  "updated_at"),
    "events": ("workflow_id", "seq", "type", "data", "actor_role", "actor_name", "idempotency_key", "occurred_at",
               "recorded_at", "stage_after"),
    "calendar_items": ("workflow_id", "kind", "item_id", "start", "status", "item"),
    "workflow_flags": ("workflow_id", "flag", "until"),
    "escalations": ("id", "clinic_id", "workflow_id", "patient_id", "reason", "severity", "tier", "owner_role", "status",
                    "session_key", "count", "raised_at", "updated_at", "ack_deadline"),
}
KEYS = {"patients": "id", "workflows": "id", "escalations": "workflow_id"}


def template_rows(conn, workflow_ids: list[str]) -> dict[str, list[tuple]]:
    """Each table's rows of the templates, as text (JSON documents as their JSON)."""
    rows = {}
    for table, columns in TABLES.items():
        key = {"patients": "id IN (SELECT patient_id FROM workflows WHERE id = ANY(%s))"}.get(
            table, f"{'id' if table == 'workflows' else 'workflow_id'} = ANY(%s)")
        listed = ", ".join(f"{c}::text" for c in columns)
        rows[table] = conn.execute(f"SELECT {listed} FROM {table} WHERE {key}", (workflow_ids,)).fetchall()
    return rows


def by_workflow(rows: dict[str, list[tuple]], workflow_id: str) -> dict[str, list[tuple]]:
    """One template's rows in each table."""
    patient_id = next(row[2] for row in rows["workflows"] if row[0] == workflow_id)
    found = {}
    for table, columns in TABLES.items():
        position = columns.index("id" if table in ("patients", "workflows") else "workflow_id")
        wanted = patient_id if table == "patients" else workflow_id
        found[table] = [row for row in rows[table] if row[position] == wanted]
    return found


def clone_text(own: dict[str, list[tuple]]) -> tuple[str, list[str]]:
    """The template's rows as one COPY-ready text per table (joined by a marker), and the ids to replace in it."""
    text = json.dumps({table: [list(row) for row in table_rows] for table, table_rows in own.items()})
    return text, sorted(set(UUID.findall(text)))


def name_of(i: int) -> str:
    return f"{FIRST[i % len(FIRST)]} {LAST[(i // len(FIRST)) % len(LAST)]}-{i}"


def clinic_key(n: int) -> str:
    """The network's clinic n: `main` first (the install's own), then c001, c002, …"""
    return "main" if n == 0 else f"c{n:03d}"


def add_clinics(svc, count: int) -> None:
    """The network's other clinics, stored as `carepath clinics add` stores them (validated with the rest)."""
    from config.clinics import add_clinic
    from models.unit_of_work import UnitOfWork

    zones = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")
    with UnitOfWork(svc.engine) as uow:
        for n in range(1, count):
            add_clinic(uow, svc.store.network.default, {"key": clinic_key(n), "name": f"Bench Clinic {n:03d}",
                                                  "phone": f"+155555{6000 + n:05d}", "timezone": zones[n % 4]})
        uow.commit()


def at_clinic(table: str, row: list, clinic: str) -> list:
    """A cloned row moved to `clinic`: its clinic_id column, and the workflow state's own clinic."""
    columns = TABLES[table]
    if "clinic_id" in columns:
        row[columns.index("clinic_id")] = clinic
    if table == "workflows" and clinic != "main":
        state = columns.index("state")
        moved = row[state].replace('"clinic": "main"', f'"clinic": "{clinic}"', 1)
        assert moved != row[state], "a template's state names no clinic: the clone would stay at main"
        row[state] = moved
    return row


def generate(conn, shapes: list[tuple[str, dict[str, list[tuple]]]], patients: int, clinics: int = 1) -> None:
    """`patients` clones of the templates, round robin, each with new ids, name and phone, written by COPY. Each round
    of the templates goes to one clinic, the rounds round robin over `clinics` (`clinic_key`, which must exist), so
    every clinic has the templates' mix. (Clone i at clinic i % clinics would alias: with 340 templates and 100
    clinics, `main` would get only the templates 20 apart, all of one kind.)"""
    prepared = [(kind, *clone_text(own), own) for kind, own in shapes]
    buffers: dict[str, list[list]] = {table: [] for table in TABLES}
    for i in range(patients):
        _kind, text, ids, own = prepared[i % len(prepared)]
        patient_row = own["patients"][0]
        fresh = text
        for old in ids:
            fresh = fresh.replace(old, str(uuid.uuid4()))
        columns = TABLES["patients"]
        fresh = (fresh.replace(patient_row[columns.index("name")], name_of(i))
                 .replace(patient_row[columns.index("phone")], f"+1556{i:07d}"))
        clinic = clinic_key((i // len(prepared)) % clinics)
        for table, table_rows in json.loads(fresh).items():
            buffers[table].extend(at_clinic(table, row, clinic) for row in table_rows)
        if i % 5000 == 4999 or i == patients - 1:
            flush(conn, buffers)


def flush(conn, buffers: dict[str, list[list]]) -> None:
    for table, columns in TABLES.items():  # in this order: patients before workflows before their rows
        with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in buffers[table]:
                copy.write_row(row)
        buffers[table].clear()
    conn.commit()


# --- the measurement -----------------------------------------------------------------------------------------------

def staff_session(database_url: str, clinics: list[str] | None, label: str) -> tuple[str, str]:
    """A coordinator at `clinics` (None: the network's) signed in as the sign-in would leave them: (session cookie,
    form token)."""
    from models.accounts import create_account
    from models.db import make_engine
    from models.staff_sessions import open_session
    from models.unit_of_work import UnitOfWork

    engine = make_engine(database_url)
    try:
        with UnitOfWork(engine) as uow:
            now = datetime.now(UTC)
            user, _ = create_account(uow, email=f"bench.{label}@example.org", name=f"Bench Coordinator {label}",
                                     role="coordinator", now=now, password="a long bench passphrase 42",
                                     clinics=clinics)
            uow.db.flush()
            session, token = open_session(uow, user.id, "active", "password", now, None)
            csrf = session.csrf_token
            uow.commit()
        return token, csrf
    finally:
        engine.dispose()


def requests_of(measured_day: str, search: str) -> dict[str, tuple]:
    """What each page is asked: (method, path, form)."""
    return {
        "patient list": ("GET", "/console/patients", None),
        "name search": ("POST", "/console/patients", {"q": search}),
        "elevated risk": ("GET", "/console/patients?flag=elevated_risk", None),
        "worklist": ("GET", "/console/worklist", None),
        "calendar day": ("GET", f"/console/calendar?view=day&date={measured_day}", None),
        "booking search": ("POST", "/console/calendar/find", {"view": "day", "date": measured_day, "find": search}),
        "patient page": ("GET", "/console/patients/{id}", None),
    }


def measure(base_url: str, cookie: str, csrf: str, asks: dict[str, tuple], workflow_ids: list[str],
            rounds: int) -> tuple[dict[str, list[float]], list[float], dict[str, int]]:
    """Each page and /healthz in turns, `rounds` times after one warm-up round: latencies in ms, and page sizes."""
    import httpx

    timings: dict[str, list[float]] = {name: [] for name in asks}
    health: list[float] = []
    sizes: dict[str, int] = {}
    with httpx.Client(base_url=base_url, cookies={"carepath_session": cookie}, headers={"x-csrf-token": csrf},
                      timeout=60) as client:
        for n in range(rounds + 1):
            for name, (method, path, form) in asks.items():
                path = path.replace("{id}", workflow_ids[n % len(workflow_ids)])
                health_ms, _ = timed(client.get, "/healthz")
                page_ms, response = timed(client.request, method, path, data=form)
                if response.status_code != 200:
                    raise RuntimeError(f"{name}: {method} {path} answered {response.status_code}")
                if n:  # the first round warms the caches and the connection pool
                    timings[name].append(page_ms)
                    health.append(health_ms)
                sizes[name] = len(response.content)
    return timings, health, sizes


def timed(call, *args, **kwargs):
    """(milliseconds, the response) of one request."""
    started = time.perf_counter()
    response = call(*args, **kwargs)
    return (time.perf_counter() - started) * 1000, response


def measured_day_of(now: datetime, zone: ZoneInfo) -> tuple[str, datetime]:
    """The measured day (clinic time) and its midnight in UTC."""
    day = (now.astimezone(zone) + timedelta(days=MEASURED_DAY_AHEAD)).date()
    return day.isoformat(), datetime.combine(day, datetime.min.time(), zone).astimezone(UTC)


def row_counts(conn) -> dict[str, int]:
    counted = {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES}
    counted["open worklist items"] = conn.execute(
        "SELECT count(*) FROM escalations WHERE status IN ('open', 'acknowledged')").fetchone()[0]
    return counted


def busiest_day(conn, zone: ZoneInfo) -> tuple[str, int]:
    day, count = conn.execute(
        "SELECT (start AT TIME ZONE %s)::date AS day, count(*) FROM calendar_items GROUP BY day ORDER BY 2 DESC LIMIT 1",
        (str(zone),)).fetchone()
    return day.isoformat(), count


VIEWERS = {"one clinic": ["main"], "network": None}  # who asks: a coordinator at main only, one at every clinic


@figure("i")
def console_pages(ctx: BenchContext) -> Figure:
    from bench.figures.delivery import bench_services

    patients = ctx.size(100_000, 10_000, 300)
    rounds = ctx.size(ROUNDS, 30, 3)
    clinics = ctx.size(CLINICS, CLINICS, 3)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with throwaway_database(ctx.postgres_server_url) as database_url, Procs(ctx.workdir / "i") as procs:
        svc = bench_services(database_url)
        zone = ZoneInfo(svc.settings.clinic_timezone)
        now = datetime.now(UTC)
        measured_day, day_start = measured_day_of(now, zone)
        started = time.perf_counter()
        try:
            add_clinics(svc, clinics)
            made = templates(svc, now, ctx.quick or ctx.smoke)
            day_ids = day_bookings(svc, day_start, ctx.size(DAY_BOOKINGS, DAY_BOOKINGS, 4))
        finally:
            svc.engine.dispose()
        with connect(database_url) as conn:
            rows = template_rows(conn, [workflow_id for _kind, workflow_id in made])
            generate(conn, [(kind, by_workflow(rows, workflow_id)) for kind, workflow_id in made],
                     patients - len(made) - len(day_ids), clinics)
        with connect(database_url, autocommit=True) as conn:
            # As autovacuum would leave a database in use: statistics, and the visibility map for index-only scans.
            conn.execute("VACUUM ANALYZE")
        with connect(database_url) as conn:
            counts = row_counts(conn)
            busy = busiest_day(conn, zone)
            samples = {viewer: sample_of(conn, scope) for viewer, scope in VIEWERS.items()}
        generated_s = time.perf_counter() - started
        signed_in = {viewer: staff_session(database_url, scope, viewer.replace(" ", "-"))
                     for viewer, scope in VIEWERS.items()}
        api = procs.start("api", [tool("carepath"), "api", "--port", str(port), "--workers", str(API_WORKERS)],
                          api_env(database_url, ctx.redis_url, base_url), UVICORN_READY)
        wait_until_answering(base_url, api)
        asks = requests_of(measured_day, "okafor")
        timings, health, sizes = {}, [], {}
        for viewer, (cookie, csrf) in signed_in.items():
            seen, healthz, sized = measure(base_url, cookie, csrf, asks, samples[viewer], rounds)
            timings.update({f"{name}, {viewer}": values for name, values in seen.items()})
            sizes.update({f"{name}, {viewer}": size for name, size in sized.items()})
            health.extend(healthz)
        busy_asks = {"busy day": ("GET", f"/console/calendar?view=day&date={busy[0]}", None)}
        cookie, csrf = signed_in["network"]
        busy_timings, _, busy_sizes = measure(base_url, cookie, csrf, busy_asks, samples["network"],
                                              max(3, rounds // 6))
    return summary(timings, health, sizes, counts, busy, busy_timings, busy_sizes, generated_s, patients, clinics)


def sample_of(conn, clinics: list[str] | None) -> list[str]:
    """50 random workflows the viewer may open (at their clinics)."""
    where, params = ("WHERE clinic_id = ANY(%s)", (clinics,)) if clinics else ("", ())
    return [row[0] for row in conn.execute(f"SELECT id FROM workflows {where} ORDER BY md5(id) LIMIT 50",
                                           params).fetchall()]


def summary(timings, health, sizes, counts, busy, busy_timings, busy_sizes, generated_s, patients,
            clinics) -> Figure:
    pages = {name: {"p50_ms": round(percentile(values, 50), 1), "p95_ms": round(percentile(values, 95), 1),
                    "bytes": sizes[name]} for name, values in timings.items()}
    worst = max(pages, key=lambda name: pages[name]["p95_ms"])
    value = pages[worst]["p95_ms"]
    baseline = percentile(health, 95)
    busy_values = busy_timings["busy day"]
    return Figure(
        key="i", title=f"console pages over {patients:,} patients in {clinics} clinics: the slowest page's p95 "
                       "(PostgreSQL)", value=value,
        unit="ms", baseline=baseline, baseline_label="GET /healthz p95, same server, in turns with the pages",
        ratio=ratio(value, baseline), ratio_label="slowest page p95 ÷ /healthz p95", goal=f"p95 ≤ {GOAL_P95_MS:.0f} ms each",
        met=all(page["p95_ms"] <= GOAL_P95_MS for page in pages.values()),
        details={"patients": patients, "clinics": clinics, "viewers": {k: v or "every clinic" for k, v in VIEWERS.items()},
                 "slowest": worst, "pages": pages,
                 "healthz_p50_ms": round(percentile(health, 50), 1), "healthz_p95_ms": round(baseline, 1),
                 "samples_per_page": len(next(iter(timings.values()))), "rows": counts,
                 "measured_day_bookings": DAY_BOOKINGS,
                 "busy_day": {"date": busy[0], "items": busy[1], "p50_ms": round(percentile(busy_values, 50), 1),
                              "p95_ms": round(percentile(busy_values, 95), 1), "bytes": busy_sizes["busy day"],
                              "note": "the network's busiest cloned day, every clinic on one calendar: for scale, no goal"},
                 "generated_seconds": round(generated_s, 1), "load_average_1m": load_average()},
        note=f"slowest: {worst}; the calendar day is main's day ({DAY_BOOKINGS} bookings)")
