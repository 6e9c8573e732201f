"""Helpers for the sign-in, admin and audit tests: a browser-like client coming from an address of its own (through the
trusted proxy of the `guarded` server), the same app served with a clock the test moves, and reading the audit trail."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx
from api_support import SSL_CONTEXT, ApiServer, running

from api.app import create_app
from models.queries import audit as audit_queries
from models.tables import AuditEntry

_addresses = itertools.count(1)


def new_address() -> str:
    """A documentation address (TEST-NET-3) no other test uses: its own count of failed sign-ins."""
    n = next(_addresses)
    return f"203.0.{113 + n // 250}.{n % 250 + 1}"


def browser(base_url: str, address: str | None = None, **headers: str) -> httpx.Client:
    """Keeps cookies, follows no redirect; forwarded for `address` by the proxy the server trusts."""
    if address:
        headers["X-Forwarded-For"] = address
    return httpx.Client(base_url=base_url, timeout=30, verify=SSL_CONTEXT, follow_redirects=False, headers=headers)


@contextmanager
def clock_app(api: ApiServer, now: list[datetime]) -> Iterator[str]:
    """The same services and database, served with the clock `now[0]`: sessions and tokens age without waiting."""
    with running(create_app(api.services, clock=lambda: now[0])) as base_url:
        yield base_url


def entries(api: ApiServer, **filters) -> list[AuditEntry]:
    """Audit entries (newest first)."""
    return [entry for entry, _name in audit_queries.search(api.services.engine, **filters)]


def utcnow() -> datetime:
    return datetime.now(UTC)
