"""The network overview's rows, shared by the ops page (`/dashboard/network`) and the API (`GET /v1/ops/network`):
per clinic, its message queue, timer lag, deliveries and failures, open escalations by severity, texts waiting for
staff and rota coverage. Keys, counts and times only: an allowlist, never a patient's data or a staff phone number.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from models.numbers import FINISHED
from models.queries.network import ClinicCounts, per_clinic
from workers.runtime import Services
from workflows.clinic import Clinic
from workflows.rota import COVERED_ROLES

LOOK_AHEAD = timedelta(days=7)  # how far ahead a rota gap is shown
ROLE_WORDS = {"on_call": "on-call clinician", "medical_director": "medical director"}


@dataclass(frozen=True)
class Coverage:
    role: str
    covered_now: bool
    next_gap_start: datetime | None  # within the look-ahead; None: covered throughout
    next_gap_end: datetime | None


def coverage(clinic: Clinic, now: datetime) -> list[Coverage]:
    """For each role a page goes to: whether someone holds it now, and the next stretch nobody does."""
    found = []
    for role in COVERED_ROLES:
        if any(line.role == role for line in clinic.rota.lines):
            gaps = clinic.rota.gaps(now, now + LOOK_AHEAD, clinic.timezone, roles=(role,))
            first = gaps[0] if gaps else None
            found.append(Coverage(role, clinic.staff_number(role, now) is not None,
                                  first.start if first else None, first.end if first else None))
        else:  # one number at every hour, or none at all
            held = clinic.staff_number(role, now) is not None
            found.append(Coverage(role, held, None if held else now, None if held else now + LOOK_AHEAD))
    return found


def network_rows(svc: Services, now: datetime) -> list[dict[str, Any]]:
    counts = per_clinic(svc.engine, now, tuple(FINISHED))
    rows = []
    for clinic in svc.store.network.clinics:
        numbers = counts.get(clinic.key, ClinicCounts())
        lag = (now - numbers.oldest_due_timer).total_seconds() if numbers.oldest_due_timer else None
        rows.append({"clinic": clinic.key, "name": clinic.name, "timezone": clinic.timezone,
                     "queue": numbers.queue, "timer_lag_seconds": lag, "delivered_24h": numbers.delivered,
                     "failed_24h": numbers.failed, "texts_waiting": numbers.texts_waiting,
                     "open_escalations": dict(sorted(numbers.open_by_severity.items())),
                     "workflows_in_care": numbers.workflows,
                     "rota": [asdict(c) for c in coverage(clinic, now)]})
    return rows
