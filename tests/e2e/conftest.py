"""End-to-end fixtures: real PostgreSQL, real Redis, real `carepath worker` / `carepath scheduler` processes, the fake
Twilio sending signed status callbacks, and a small receiver standing in for the API's status-callback route.

Each test gets its own freshly migrated PostgreSQL database and its own Redis database number (claimed with a lock key,
so two test runs on one machine never share a broker; flushed before and after). Without PostgreSQL or Redis these
tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from e2e_support import E2E, CallbackReceiver, settings_for
from fake_twilio import FakeTwilio

from bench.support import redis_database
from config.wiring import build_services
from models.db import migrate

REDIS_SERVER_URL = os.environ.get("CAREPATH_TEST_REDIS_URL", "redis://127.0.0.1:6379")
E2E_REDIS_DBS = range(8, 15)  # one per running test
LOCK_DB = 15  # holds the locks saying which of them are taken (bench.support.REDIS_LOCK_DB)
LOCK_TTL_SECONDS = 600


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: real Redis, PostgreSQL and carepath worker/scheduler processes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.e2e_failed = report.failed  # type: ignore[attr-defined]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


# --- Redis ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server() -> str:
    """The Redis server's URL (no database number); skips when unreachable, fails under CI=true."""
    try:
        redis.Redis.from_url(f"{REDIS_SERVER_URL}/{LOCK_DB}", socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        reason = f"Redis is not reachable at {REDIS_SERVER_URL}: {exc}"
        if _in_ci():
            pytest.fail(f"{reason}\nCI=true requires Redis; run scripts/ensure-services or set CAREPATH_TEST_REDIS_URL.",
                        pytrace=False)
        pytest.skip(reason)
    return REDIS_SERVER_URL


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """A Redis database for this test alone, empty at the start, flushed again at the end."""
    with redis_database(redis_server, numbers=E2E_REDIS_DBS, purpose="e2e", lock_seconds=LOCK_TTL_SECONDS) as url:
        yield url


# --- PostgreSQL ----------------------------------------------------------------------------------------------------


@pytest.fixture
def e2e_database_url(fresh_postgres_url: str) -> str:
    """A new PostgreSQL database for this test, migrated to the newest schema (dropped afterwards)."""
    migrate(fresh_postgres_url)
    return fresh_postgres_url


# --- the world --------------------------------------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    """The fake Twilio, sending signed status callbacks (queued → sent → delivered) for every accepted message."""
    with FakeTwilio() as fake:
        fake.callbacks(True)
        yield fake


@pytest.fixture
def e2e(request: pytest.FixtureRequest, e2e_database_url: str, redis_url: str, fake: FakeTwilio,
        tmp_path: Path) -> Iterator[E2E]:
    """Everything a delivery test needs; processes started through it are killed at teardown, always."""
    receiver = CallbackReceiver(fake.auth_token).start()  # its URL is in the settings, so it starts first
    receiver.services = build_services(settings_for(e2e_database_url, redis_url, receiver.public_url))
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    world = E2E(e2e_database_url, redis_url, fake, receiver, log_dir)
    try:
        yield world
    finally:
        world.kill_all()
        if getattr(request.node, "e2e_failed", False):
            world.dump_logs()
        fake.stop()  # no callbacks into a stopped receiver or a dropped database
        receiver.stop()
        receiver.services.engine.dispose()
        world.redis.close()
