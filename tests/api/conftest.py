"""The real API under uvicorn in a background thread on 127.0.0.1, over a fresh PostgreSQL database, called with httpx.

`api` is one server for the whole session (tests make their own patients, with numbers from `new_phone`);
`start_api` starts another one, on its own fresh database, for tests that need other settings or an empty database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from api_support import ApiServer, add_failing_route, fresh_database, serve


@pytest.fixture(scope="session")
def api(postgres_server_url: str) -> Iterator[ApiServer]:
    with fresh_database(postgres_server_url) as url, serve(url, extend=add_failing_route) as server:
        yield server


@pytest.fixture(scope="session")
def guarded(postgres_server_url: str) -> Iterator[ApiServer]:
    """A server for the sign-in tests: behind a trusted proxy on 127.0.0.1 (so each test can come from an address of
    its own through X-Forwarded-For), with small limits on failed sign-ins (3 per account, 5 per address)."""
    with fresh_database(postgres_server_url) as url, serve(url, trusted_proxies=["127.0.0.1"], signin_max_failures=3,
                                                           signin_max_failures_per_address=5) as server:
        yield server


@pytest.fixture
def start_api(postgres_server_url: str) -> Iterator[Callable[..., ApiServer]]:
    """Start another server on a fresh database: `start_api(tasks="celery", redis_url=...)`."""
    stack: list = []

    def start(**settings: Any) -> ApiServer:
        database = fresh_database(postgres_server_url)
        url = database.__enter__()
        stack.append(database)
        served = serve(url, **settings)
        stack.append(served)
        return served.__enter__()

    yield start
    for manager in reversed(stack):
        manager.__exit__(None, None, None)
