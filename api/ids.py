"""Ids in paths: every id carepath makes is a UUID, so anything else names nothing and is answered "unknown" (404)
without asking the database (a NUL or a 10 kB segment never reaches a query).

`WorkflowId` and `EscalationId` are the typed path parameters; `UnknownId` is answered as JSON by the API
(`api.errors`) and as a page by the dashboard and the console (`api.dashboard.access.PageRoute`).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends


class UnknownId(LookupError):
    """A path names no workflow (or escalation, ...) that can exist."""

    def __init__(self, what: str) -> None:
        super().__init__(f"unknown {what}")
        self.what = what


def parse_id(value: str) -> str | None:
    """The id in its canonical form, or None when it is not a UUID."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def known(value: str, what: str) -> str:
    """The canonical id; `UnknownId` when the value cannot be one."""
    parsed = parse_id(value)
    if parsed is None:
        raise UnknownId(what)
    return parsed


def workflow_id(workflow_id: str) -> str:
    return known(workflow_id, "workflow")


def escalation_id(escalation_id: str) -> str:
    return known(escalation_id, "escalation")


# Declare them after the caller's user: a visitor without credentials is asked to sign in before ids are judged.
WorkflowId = Annotated[str, Depends(workflow_id)]
EscalationId = Annotated[str, Depends(escalation_id)]
