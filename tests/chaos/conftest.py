"""Chaos fixtures: a PostgreSQL cluster and a Redis server of the test's own (it kills and restarts them), the fake
Twilio, and the e2e world (`tests/e2e/e2e_support.py`) pointed at them.

Without the PostgreSQL binaries or redis-server the chaos test skips, except under CI=true, where it fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from chaos_services import PostgresCluster, RedisServer, missing_binaries
from e2e.e2e_support import E2E, CallbackReceiver, settings_for
from fake_twilio import FakeTwilio

from config.wiring import build_services
from models.db import migrate


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: kills and restarts workers, schedulers, Redis and PostgreSQL mid-run")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.chaos_failed = report.failed  # type: ignore[attr-defined]


@pytest.fixture
def own_services() -> Iterator[tuple[PostgresCluster, RedisServer]]:
    """A fresh PostgreSQL cluster (database `carepath`, migrated) and an empty Redis, destroyed afterwards."""
    missing = missing_binaries()
    if missing:
        reason = f"the chaos test starts its own PostgreSQL and Redis; missing: {', '.join(missing)}"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"{reason}\nCI=true requires them (set CAREPATH_PG_BIN for another PostgreSQL).", pytrace=False)
        pytest.skip(reason)
    postgres, redis_server = PostgresCluster(), RedisServer()
    try:
        postgres.create()
        redis_server.start()
        migrate(postgres.url)
        yield postgres, redis_server
    finally:
        redis_server.destroy()
        postgres.destroy()


@pytest.fixture
def chaos_world(request: pytest.FixtureRequest, own_services: tuple[PostgresCluster, RedisServer],
                tmp_path: Path) -> Iterator[E2E]:
    """The e2e world on the chaos test's own services; its processes are killed at teardown, always."""
    postgres, redis_server = own_services
    with FakeTwilio() as fake:
        # No status callbacks: 6,000 of them would cost the run more CPU than it has, and without them every send
        # whose worker died before recording it must be settled by asking the provider (workers/reconcile.py).
        fake.callbacks(False)
        receiver = CallbackReceiver(fake.auth_token).start()
        receiver.services = build_services(settings_for(postgres.url, redis_server.url, receiver.public_url))
        log_dir = tmp_path / "logs"
        log_dir.mkdir()
        world = E2E(postgres.url, redis_server.url, fake, receiver, log_dir)
        try:
            yield world
        finally:
            world.kill_all()
            if getattr(request.node, "chaos_failed", False):
                world.dump_logs(lines=40)
                print(f"\n===== postgres server log (last lines) =====\n{postgres.log_tail()}")
            receiver.stop()
            receiver.services.engine.dispose()
            world.redis.close()
