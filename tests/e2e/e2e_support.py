"""The e2e tests' world: the callback receiver, the processes under test, and helpers to make and read work.

    def test_x(e2e):
        e2e.start_worker(); e2e.start_scheduler()
        [workflow] = e2e.schedule_reminders(1, due_in=3)
        e2e.fake.wait_for_messages(1, timeout=15)

Every process runs in its own process group (so a SIGKILL reaches Celery's pool children too) with its output in a log
file under the test's tmp_path; `E2E.kill_all` (called by the `e2e` fixture's teardown) kills them all.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import redis
from fake_twilio import FakeTwilio
from process_support import free_port
from sqlalchemy import select
from sqlmodel import Session
from twilio.request_validator import RequestValidator

from bench.support import group_alive
from models.tables import EscalationRecord, EventRecord, InboundText, OutboxMessage, TimerRecord, WorkflowRow
from workers.runtime import Services
from workers.settings import Settings
from workers.status_callbacks import handle_status_callback
from workers.twilio_gateway import STATUS_CALLBACK_PATH
from workflows.events import make_event
from workflows.state import WorkflowState

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the virtualenv's bin/, where `carepath` and `celery` are installed
COORDINATOR = {"role": "coordinator", "name": "e2e"}
PATIENT = {"role": "patient"}


# --- the status-callback receiver ----------------------------------------------------------------------------------


@dataclass
class CallbackReceiver:
    """What Twilio calls back: checks `X-Twilio-Signature` against its own URL, then runs `handle_status_callback`."""

    auth_token: str
    services: Services | None = None  # set once the receiver's URL (CAREPATH_PUBLIC_URL) is known
    handled: list[tuple[str, str, str | None]] = field(default_factory=list)  # (message id, MessageStatus, result)
    rejected: list[str] = field(default_factory=list)  # URLs whose signature did not validate
    errors: list[str] = field(default_factory=list)  # tracebacks from handle_status_callback
    server: ThreadingHTTPServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> CallbackReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                params = {k: v[-1] for k, v in urllib.parse.parse_qs(raw, keep_blank_values=True).items()}
                url = f"{receiver.public_url}{self.path}"
                code = receiver.handle(url, params, self.headers.get("X-Twilio-Signature", ""))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                         name="callback-receiver").start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def public_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def handle(self, url: str, params: dict[str, str], signature: str) -> int:
        if not RequestValidator(self.auth_token).validate(url, params, signature):
            with self.lock:
                self.rejected.append(url)
            return 403
        split = urllib.parse.urlsplit(url)
        message_id = urllib.parse.parse_qs(split.query).get("message_id", [""])[0]
        if split.path != STATUS_CALLBACK_PATH or not message_id:
            return 404
        if self.services is None:
            return 503
        try:
            result = handle_status_callback(self.services, message_id, params)
        except Exception:
            with self.lock:
                self.errors.append(traceback.format_exc())
            return 500
        with self.lock:
            self.handled.append((message_id, params.get("MessageStatus", ""), result))
        return 204


# --- processes -----------------------------------------------------------------------------------------------------


WORKER_READY = re.compile(r"celery@\S+ ready")
SCHEDULER_READY = re.compile(r"scheduler started")
API_READY = re.compile(r"Application startup complete")
TICK_LINE = re.compile(r"tick: (\d+) timers, (\d+) messages handed off; (\d+) released")
TEXTS_LINE = re.compile(r"tick: .*; (\d+) texts handed off")
HANDED_ON_LINE = re.compile(r"handed on after the commit: (\d+) messages, (\d+) timers")
SMS_PATH = "/v1/webhooks/twilio/sms"


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path
    ready: re.Pattern

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def ticks(self) -> dict[str, int]:
        """A scheduler's totals from its `tick:` log lines: timers and messages handed off, rows released."""
        totals = {"timers": 0, "messages": 0, "released": 0}
        for timers, messages, released in TICK_LINE.findall(self.text()):
            totals["timers"] += int(timers)
            totals["messages"] += int(messages)
            totals["released"] += int(released)
        return totals

    def handed_on(self) -> dict[str, int]:
        """A worker's totals of the due messages and timers its timer batches handed on right after their commit."""
        totals = {"messages": 0, "timers": 0}
        for messages, timers in HANDED_ON_LINE.findall(self.text()):
            totals["messages"] += int(messages)
            totals["timers"] += int(timers)
        return totals

    def texts_handed_off(self) -> int:
        """Stored texts a scheduler handed to workers itself (the webhook had not, or their task was lost)."""
        return sum(int(n) for n in TEXTS_LINE.findall(self.text()))

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 10) -> None:
        """Signal the whole process group (Celery's pool children too) and reap the leader."""
        if self.popen.poll() is None or group_alive(self.popen.pid):
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout)
        deadline = time.monotonic() + timeout  # children are reparented, not reaped by us: wait until they are gone
        while group_alive(self.popen.pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll `predicate` until it returns something truthy (returned); AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last value: {value!r})")
        time.sleep(interval)


def daytime_zone(now: datetime | None = None) -> str:
    """A fixed-offset IANA zone where it is now between 14:00 and 15:00: no quiet hours in the way of a test send."""
    now = now or datetime.now(UTC)
    offset = (14 - now.hour + 12) % 24 - 12  # in −12 … +11
    return f"Etc/GMT{-offset:+d}" if offset else "UTC"  # POSIX sign: Etc/GMT-5 is UTC+5


class E2E:
    """One test's world: database, broker, fake Twilio, callback receiver, and the processes it starts."""

    def __init__(self, database_url: str, redis_url: str, fake: FakeTwilio, receiver: CallbackReceiver,
                 log_dir: Path) -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        self.fake = fake
        self.receiver = receiver
        self.log_dir = log_dir
        self.procs: list[Proc] = []
        self.redis = redis.Redis.from_url(redis_url)
        self.env_overrides: dict[str, str] = {
            "CAREPATH_HANDOFF_GRACE_SECONDS": "3",
            "CAREPATH_SEND_GRACE_SECONDS": "5",
            "CAREPATH_SCHEDULER_INTERVAL_SECONDS": "1",
        }
        self.settings = settings_for(database_url, redis_url, receiver.public_url)
        self.services: Services = receiver.services
        self._phones = iter(range(10000))
        self.api_url = ""  # set by start_api

    # --- processes -------------------------------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CAREPATH_", "TWILIO_", "CELERY_"))}
        env.update({
            "CAREPATH_ENVIRONMENT": "test",
            "CAREPATH_DATABASE_URL": self.database_url,
            "CAREPATH_REDIS_URL": self.redis_url,
            "CAREPATH_TASKS": "celery",
            "CAREPATH_SMS_BACKEND": "twilio",
            "CAREPATH_PUBLIC_URL": self.receiver.public_url,
            "TWILIO_FROM_NUMBER": FakeTwilio.FROM_NUMBER,
            "PYTHONUNBUFFERED": "1",
            **self.fake.env(),
            **self.env_overrides,
        })
        return env

    def start(self, name: str, args: list[str], ready: re.Pattern, env: dict[str, str] | None = None) -> Proc:
        """Start a process in its own process group, its output going to a log file."""
        log = self.log_dir / f"{len(self.procs):02d}-{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(args, cwd=ROOT, env={**self.env(), **(env or {})}, stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        proc = Proc(name, popen, log, ready)
        self.procs.append(proc)
        return proc

    def start_worker(self, concurrency: int = 1, wait: bool = True, env: dict[str, str] | None = None) -> Proc:
        """`carepath worker -c N`: a Celery worker on the timers and sms queues."""
        proc = self.start("worker", [str(_tool("carepath")), "worker", "-c", str(concurrency)], WORKER_READY, env)
        if wait:
            self.wait_ready(proc)
        return proc

    def start_scheduler(self, wait: bool = True, env: dict[str, str] | None = None) -> Proc:
        """`carepath scheduler`: ticks every CAREPATH_SCHEDULER_INTERVAL_SECONDS."""
        proc = self.start("scheduler", [str(_tool("carepath")), "scheduler"], SCHEDULER_READY, env)
        if wait:
            self.wait_ready(proc)
        return proc

    def start_api(self, wait: bool = True, env: dict[str, str] | None = None) -> Proc:
        """`carepath api`: the real webhook, on a free port (`api_url`); Twilio signs for CAREPATH_PUBLIC_URL."""
        self.api_url = f"http://127.0.0.1:{free_port()}"
        proc = self.start("api", [str(_tool("carepath")), "api", "--port", self.api_url.rsplit(":", 1)[1]], API_READY,
                          env)
        if wait:
            self.wait_ready(proc)
        return proc

    def wait_ready(self, *procs: Proc, timeout: float = 30) -> None:
        for proc in procs:
            self.wait_for_log(proc, proc.ready, f"{proc.name} to be ready", timeout)

    def wait_for_log(self, proc: Proc, pattern: re.Pattern, what: str, timeout: float = 30) -> None:
        def seen() -> bool:
            if not proc.alive:
                raise AssertionError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.text()[-3000:]}")
            return bool(pattern.search(proc.text()))

        wait_until(seen, timeout, what)

    def kill_all(self) -> None:
        for proc in self.procs:
            proc.kill()

    def dump_logs(self, lines: int = 80) -> None:
        for proc in self.procs:
            tail = "\n".join(proc.text().splitlines()[-lines:])
            print(f"\n===== {proc.log.name} (last {lines} lines) =====\n{tail}")

    # --- making work -----------------------------------------------------------------------------------------------
    def phone(self) -> str:
        return f"+1555555{next(self._phones):04d}"

    def start_workflow(self, phone: str | None = None, zone: str | None = None) -> str:
        """A referred patient with SMS consent, in a zone where it is afternoon; returns the workflow id."""
        now = datetime.now(UTC)
        event = make_event("referral.received", {
            "patient": {"name": "E2E Patient", "phone": phone or self.phone(), "sms_consent": True,
                        "timezone": zone or daytime_zone(now)},
            "referrer": "Dr E2E", "prior_treatments": 3,
        }, actor=COORDINATOR)
        return self.services.store.start(event, now).workflow_id

    def schedule_evaluation(self, workflow_id: str, reminder_at: datetime, rescheduled: bool = False) -> None:
        """Book (or move) the evaluation so that its 2-hour reminder falls due at `reminder_at`."""
        event_type = "evaluation.rescheduled" if rescheduled else "evaluation.scheduled"
        event = make_event(event_type, {"start": reminder_at + timedelta(hours=2)}, actor=COORDINATOR)
        self.services.store.apply(workflow_id, event, datetime.now(UTC))

    def schedule_reminders(self, count: int, due_in: float = 3.0, threads: int = 8) -> list[str]:
        """`count` workflows, each with one reminder timer due `due_in` seconds after that workflow was created.

        Many are created from a few threads (the time goes into database round trips), so their due times spread
        over however long the creation takes.
        """
        phones = [self.phone() for _ in range(count)]

        def one(phone: str) -> str:
            workflow_id = self.start_workflow(phone)
            self.schedule_evaluation(workflow_id, datetime.now(UTC) + timedelta(seconds=due_in))
            return workflow_id

        if count == 1:
            return [one(phones[0])]
        with ThreadPoolExecutor(max_workers=min(threads, count)) as pool:
            return list(pool.map(one, phones))

    def text_from_patient(self, workflow_id: str, body: str) -> None:
        """The patient texts the clinic (e.g. HELP: an immediate reply lands in the outbox)."""
        phone = self.workflow_state(workflow_id).patient.phone
        event = make_event("sms.received", {"from": phone, "body": body}, actor=PATIENT)
        self.services.store.apply(workflow_id, event, datetime.now(UTC), retries=3)

    def post_texts(self, texts: list[tuple[str, str, str]], parallel: int = 50) -> list[int]:
        """Post signed inbound-SMS webhooks (phone, body, MessageSid) to the API all at once; their HTTP statuses."""
        import httpx

        validator = RequestValidator(self.fake.auth_token)
        signed_url = self.receiver.public_url + SMS_PATH  # CAREPATH_PUBLIC_URL: what Twilio would have called

        def post(client: httpx.Client, text: tuple[str, str, str]) -> int:
            phone, body, sid = text
            params = {"From": phone, "To": FakeTwilio.FROM_NUMBER, "Body": body, "MessageSid": sid,
                      "AccountSid": self.fake.account_sid, "NumMedia": "0"}
            headers = {"X-Twilio-Signature": validator.compute_signature(signed_url, params)}
            try:
                return client.post(SMS_PATH, data=params, headers=headers).status_code
            except httpx.HTTPError:
                return 0

        limits = httpx.Limits(max_connections=parallel, max_keepalive_connections=parallel)
        with httpx.Client(base_url=self.api_url, timeout=20, limits=limits) as client, \
                ThreadPoolExecutor(max_workers=min(parallel, len(texts))) as pool:
            return list(pool.map(lambda text: post(client, text), texts))

    # --- reading the database --------------------------------------------------------------------------------------
    def _all(self, query) -> list:
        with Session(self.services.engine) as db:
            rows = list(db.execute(query).scalars().all())
            db.expunge_all()
        return rows

    def outbox(self, workflow_ids: list[str] | None = None, recipient: str | None = "patient") -> list[OutboxMessage]:
        query = select(OutboxMessage).order_by(OutboxMessage.created_at, OutboxMessage.id)
        if workflow_ids is not None:
            query = query.where(OutboxMessage.workflow_id.in_(workflow_ids))
        if recipient is not None:
            query = query.where(OutboxMessage.recipient == recipient)
        return self._all(query)

    def timers(self, kind: str | None = None) -> list[TimerRecord]:
        query = select(TimerRecord).order_by(TimerRecord.due_at, TimerRecord.key)
        if kind is not None:
            query = query.where(TimerRecord.kind == kind)
        return self._all(query)

    def events(self, event_type: str) -> list[EventRecord]:
        return self._all(select(EventRecord).where(EventRecord.type == event_type).order_by(EventRecord.id))

    def escalations(self, workflow_id: str) -> list[EscalationRecord]:
        return self._all(select(EscalationRecord).where(EscalationRecord.workflow_id == workflow_id))

    def inbox(self, sids: list[str] | None = None) -> list[InboundText]:
        query = select(InboundText).order_by(InboundText.received_at, InboundText.id)
        if sids is not None:
            query = query.where(InboundText.provider_id.in_(sids))
        return self._all(query)

    def workflow_state(self, workflow_id: str) -> WorkflowState:
        with Session(self.services.engine) as db:
            return WorkflowState.model_validate(db.get(WorkflowRow, workflow_id).state)

    def queue_length(self, queue: str) -> int:
        return int(self.redis.llen(queue))

    def queued_ids(self, queue: str) -> list[str]:
        """The row ids the tasks waiting in `queue` carry (a batch task carries many), read from Celery's messages."""
        ids: list[str] = []
        for raw in self.redis.lrange(queue, 0, -1):
            args, _kwargs, _embed = json.loads(base64.b64decode(json.loads(raw)["body"]))
            ids.extend(args[0] if isinstance(args[0], list) else [args[0]])
        return ids


def _tool(name: str) -> Path:
    for candidate in (BIN / name, ROOT / ".venv" / "bin" / name):
        if candidate.exists():
            return candidate
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed in {BIN}; run `make test` (it installs the project)")
    return Path(found)


def settings_for(database_url: str, redis_url: str, public_url: str) -> Settings:
    """The settings the processes under test read from their environment, for this process's own services."""
    return Settings(environment="test", database_url=database_url, redis_url=redis_url, public_url=public_url,
                    tasks="celery", sms_backend="console")


