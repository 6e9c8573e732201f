"""Maintenance follow-up: PCL-5 and PHQ-9 fall due every 4 weeks (PROTOCOL.md §2, maintenance).

"Due" is an obligation staff can see: the instrument joins the workflow's requested instruments (as the C-SSRS that a
PHQ-9 item 9 requests does) and a routine coordinator item (`pcl5_due`, `phq9_due`) asks someone to have the patient
complete it. Neither instrument can be answered by a digit text, so the patient gets no SMS; the coordinator reaches
them. Each instrument keeps its own clock: a submission closes its item and restarts its 4 weeks.
"""

from __future__ import annotations

from datetime import timedelta

from workflows import escalations
from workflows.stages import Stage
from workflows.step import Step

MAINTENANCE_INSTRUMENTS = ("pcl5", "phq9")
TIMER_KIND = "assessment_due"


def due_reason(instrument: str) -> str:
    return f"{instrument}_due"


def start_clocks(step: Step) -> None:
    """Maintenance begins: each instrument falls due 4 weeks from now (the review's scores are the latest)."""
    for instrument in MAINTENANCE_INSTRUMENTS:
        _restart(step, instrument)


def submitted(step: Step, instrument: str) -> None:
    """A submission in maintenance (or under a hold that will resume it) closes the item and restarts the clock."""
    if instrument not in MAINTENANCE_INSTRUMENTS or step.course != Stage.MAINTENANCE:
        return
    escalations.close_open(step, due_reason(instrument), "submitted")
    _restart(step, instrument)


def fell_due(step: Step, instrument: str) -> None:
    """Four weeks without a submission: requested, on the coordinators' worklist, and due again 4 weeks on."""
    if step.course != Stage.MAINTENANCE:
        return
    if instrument not in step.state.requested_instruments:
        step.state.requested_instruments.append(instrument)
    escalations.raise_escalation(step, due_reason(instrument))
    _restart(step, instrument)


def _restart(step: Step, instrument: str) -> None:
    due = step.now + timedelta(days=step.protocol.instruments.maintenance_due_days)
    step.set_timer(f"{TIMER_KIND}:{instrument}", TIMER_KIND, due, instrument=instrument)
