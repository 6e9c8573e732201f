"""Helpers for the API tests: serving the real app with uvicorn in a thread, a fresh database, signed webhooks."""

from __future__ import annotations

import itertools
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pyotp
import uvicorn
from fastapi import FastAPI
from psycopg import sql
from signin_support import Staff, code_for, sign_in
from sqlalchemy.engine import make_url
from twilio.request_validator import RequestValidator

from api.app import create_app
from config.wiring import build_services
from models import accounts
from models.db import migrate
from models.tokens import create_token
from workers.runtime import Services
from workers.settings import Settings

PUBLIC_URL = "https://clinic.example.test"  # what Twilio would call; the proxy in front forwards to 127.0.0.1
AUTH_TOKEN = "test-twilio-auth-token"
ROLES = ("coordinator", "clinician", "ops", "admin")
CLINIC_ZONE = ZoneInfo("America/New_York")
_phones = itertools.count(1000)
# Building an SSL context costs ~0.2 s; every client shares one (the API is plain HTTP on loopback anyway).
SSL_CONTEXT = ssl.create_default_context()


def new_phone() -> str:
    """A patient number no other test uses."""
    return f"+1555555{next(_phones):04d}"


def referral_body(phone: str | None = None, **overrides: Any) -> dict[str, Any]:
    body = {"patient": {"name": "Test Patient", "phone": phone or new_phone(), "timezone": "America/New_York",
                        "sms_consent": True},
            "referrer": "Dr. Alvarez", "reason": "treatment-resistant depression", "prior_treatments": 3}
    body.update(overrides)
    return body


def local_time(days: float = 1) -> str:
    """A clinic-local time (no offset, as EVENTS.md allows) some days from now."""
    moment = (datetime.now(UTC) + timedelta(days=days)).astimezone(CLINIC_ZONE)
    return moment.replace(tzinfo=None, microsecond=0).isoformat()


@dataclass
class ApiServer:
    base_url: str
    services: Services
    app: FastAPI
    tokens: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    user_ids: dict[str, str] = field(default_factory=dict)  # role → the id of its test user

    def new_staff(self, role: str, name: str | None = None, *, enrolled: bool = True, token: bool = False) -> Staff:
        """A new account of this role (named like the role's test user), enrolled in TOTP unless `enrolled` is False."""
        staff = Staff(email=f"{role}-{secrets.token_hex(6)}@clinic.example.test", password="correct horse battery",
                      name=name or self.names[role], role=role)
        now = datetime.now(UTC)
        with self.services.unit_of_work() as uow:
            user, _ = accounts.create_account(uow, email=staff.email, name=staff.name, role=role, now=now,
                                              password=staff.password)
            if enrolled:
                staff.secret = pyotp.random_base32()
                assert accounts.enrol(uow, user.id, staff.secret, code_for(staff.secret), now)
            if token:
                staff.token = create_token(uow, user.id, "test", now)[1]
            uow.commit()
        staff.id = user.id
        return staff

    def browser(self) -> httpx.Client:
        """A client like a browser: keeps cookies, does not follow redirects by itself."""
        return httpx.Client(base_url=self.base_url, timeout=30, verify=SSL_CONTEXT, follow_redirects=False)

    def sign_in(self, client: httpx.Client, role: str, name: str | None = None) -> Staff:
        """Sign the client in as a new user of this role, through every page of signing in."""
        staff = self.new_staff(role, name)
        sign_in(client, staff)
        return staff

    def client(self, role: str | None = None, token: str | None = None) -> httpx.Client:
        headers = {}
        if role is not None or token is not None:
            headers["Authorization"] = f"Bearer {token or self.tokens[role]}"
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30, verify=SSL_CONTEXT)

    def sign(self, path: str, params: dict[str, str]) -> str:
        return RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + path, params)

    def referral(self, role: str = "coordinator", **overrides: Any) -> dict[str, Any]:
        with self.client(role) as client:
            response = client.post("/v1/referrals", json=referral_body(**overrides))
        assert response.status_code == 201, response.text
        return response.json()

    def post_event(self, workflow_id: str, event_type: str, data: dict, role: str = "coordinator",
                   **extra: Any) -> httpx.Response:
        with self.client(role) as client:
            return client.post(f"/v1/workflows/{workflow_id}/events", json={"type": event_type, "data": data, **extra})

    def workflow_in(self, stage: str) -> str:
        """A new workflow moved through the API to `referred`, `evaluation_scheduled` or `treatment_planned`."""
        workflow_id = self.referral()["workflow_id"]
        steps = [("evaluation_scheduled", "evaluation.scheduled", {"start": local_time(1)}, "coordinator"),
                 ("treatment_planned", "evaluation.completed",
                  {"eligible": True, "route": "esketamine", "brought_forward": "seen early"}, "clinician")]
        for reached, event_type, data, role in steps:
            if stage == "referred":
                break
            response = self.post_event(workflow_id, event_type, data, role)
            assert response.status_code == 200, response.text
            if reached == stage:
                break
        return workflow_id


@contextmanager
def running(app: FastAPI) -> Iterator[str]:
    """Serve `app` with uvicorn on a free port in a daemon thread; yields its base URL."""
    # proxy_headers off, as `carepath api` runs it: CAREPATH_TRUSTED_PROXIES alone decides (api.forwarded).
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, log_level="info", lifespan="off",
                            access_log=True, proxy_headers=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True, name="carepath-api")
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """An empty PostgreSQL database named like the shared fixtures' (`carepath_test_<pid>_<hex>`), dropped after."""
    import os

    name = f"carepath_test_{os.getpid()}_{secrets.token_hex(4)}"
    url = make_url(server_url)
    params = {"host": url.host, "port": url.port, "user": url.username, "password": url.password,
              "dbname": url.database, "connect_timeout": 3}
    params = {key: value for key, value in params.items() if value is not None}
    with psycopg.connect(autocommit=True, **params) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(autocommit=True, **params) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def settings_for(database_url: str, **overrides: Any) -> Settings:
    values = {"environment": "test", "database_url": database_url, "public_url": PUBLIC_URL,
              "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "tasks": "inline", "sms_backend": "console",
              "clinic_timezone": "America/New_York", **overrides}
    return Settings(_env_file=None, **values)


@contextmanager
def serve(database_url: str, extend: Callable[[FastAPI], None] | None = None, clinics: tuple[dict, ...] = (),
          **settings: Any) -> Iterator[ApiServer]:
    """Migrate, add the network's `clinics` (definitions, beside the settings' own), build the services and the app
    (with a user per role), and serve it."""
    migrate(database_url)
    if clinics:
        add_clinics(database_url, settings_for(database_url, **settings), clinics)
    services = build_services(settings_for(database_url, **settings))
    app = create_app(services)
    if extend is not None:
        extend(app)
    server = ApiServer(base_url="", services=services, app=app)
    now = datetime.now(UTC)
    with services.unit_of_work() as uow:
        for role in ROLES:
            user, _ = accounts.create_account(uow, email=f"{role}@clinic.example.test", name=f"Test {role.title()}",
                                              role=role, now=now, password="correct horse battery")
            server.tokens[role], server.names[role] = create_token(uow, user.id, "tests", now)[1], user.name
            server.user_ids[role] = user.id
        uow.commit()
    try:
        with running(app) as base_url:
            server.base_url = base_url
            yield server
    finally:
        services.engine.dispose()


def add_clinics(database_url: str, settings, definitions: tuple[dict, ...]) -> None:
    from config.clinics import add_clinic
    from config.wiring import settings_clinic
    from models.db import make_engine
    from models.unit_of_work import UnitOfWork

    engine = make_engine(database_url)
    with UnitOfWork(engine) as uow:
        for definition in definitions:
            add_clinic(uow, settings_clinic(settings), definition)
        uow.commit()
    engine.dispose()


CRASH_SECRETS = ("Jane Q. Patient", "+15555550123")


def _boom() -> None:
    name, phone = CRASH_SECRETS  # an error message quoting patient data, as a careless library might
    raise RuntimeError(f"{name} {phone} said something private")


def add_failing_route(app: FastAPI) -> None:
    """A route that crashes, to see what a 500 looks like (kept out of the OpenAPI document)."""
    app.add_api_route("/test/boom", _boom, methods=["GET"], include_in_schema=False)
