"""Pausing sign-in after repeated failures: per account and per address, counted from the audit trail.

`signin_max_failures` failures of one account (or `signin_max_failures_per_address` from one address) within
`signin_lock_minutes` pause signing in for `signin_lock_minutes` from the failure that reached the limit. An account's
count starts again after a finished sign-in. Attempts while paused are recorded (`sign_in_refused`) but not counted,
so waiting it out always works.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from models.queries import audit as audit_queries
from workers.runtime import Services


def lock_end(times: list[datetime], limit: int, window: timedelta, lock: timedelta, now: datetime) -> datetime | None:
    """When the pause these failures (oldest first) caused ends, if it has not yet."""
    end = None
    for i in range(limit - 1, len(times)):
        if times[i] - times[i - limit + 1] <= window and times[i] + lock > now:
            end = max(end or times[i] + lock, times[i] + lock)
    return end


def paused_until(svc: Services, now: datetime, *, user_id: str | None, address: str | None) -> datetime | None:
    """Until when signing in is paused for this account or from this address; None when it is not."""
    settings = svc.settings
    window = lock = timedelta(minutes=settings.signin_lock_minutes)
    since = now - window - lock
    ends = []
    if user_id is not None:
        last = audit_queries.last_sign_in(svc.engine, user_id)
        times = audit_queries.failures(svc.engine, max(since, last) if last else since, user_id=user_id)
        ends.append(lock_end(times, settings.signin_max_failures, window, lock, now))
    if address is not None:
        times = audit_queries.failures(svc.engine, since, address=address)
        ends.append(lock_end(times, settings.signin_max_failures_per_address, window, lock, now))
    ends = [end for end in ends if end is not None]
    return max(ends) if ends else None


def paused_message(until: datetime, now: datetime) -> str:
    minutes = max(1, round((until - now).total_seconds() / 60))
    return (f"Too many failed sign-ins. To protect patients' records, signing in is paused for {minutes} "
            f"minute{'s' if minutes != 1 else ''}. Try again then, or ask an administrator to reset your password.")
