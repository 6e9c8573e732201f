"""Small helpers for tests that start carepath processes: a free loopback port, and polling with a deadline."""

import socket
import time
from datetime import UTC, datetime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str):
    """Poll until `predicate()` is truthy and return its value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def zone_where_it_is_midday() -> str:
    """A fixed-offset zone in which it is about noon now: processes under test read the wall clock, and a reminder
    that fell due in the clinic's quiet hours would wait (and be dropped), whenever the suite happens to run."""
    offset = (12 - datetime.now(UTC).hour + 12) % 24 - 12  # -12 … +11 hours from UTC
    return "Etc/GMT" + (f"{-offset:+d}" if offset else "")  # POSIX signs: Etc/GMT-3 is three hours ahead of UTC
