"""The one-screen summary a simulation prints."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table


def print_summary(console: Console, report: dict, run, report_path: Path | None) -> None:
    console.print(f"[bold]{report['scenario']}[/bold]  ({run.scenario.start:%Y-%m-%d} → {run.scenario.until:%Y-%m-%d})")
    patients = Table(title="Workflows", title_justify="left")
    for column in ("patient", "stage", "route", "sessions", "flags"):
        patients.add_column(column)
    for workflow in report["workflows"]:
        statuses = Counter(session["status"] for session in workflow["sessions"])
        sessions = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items())) or "-"
        patients.add_row(workflow["patient"], workflow["stage"], workflow["route"] or "-", sessions,
                         ", ".join(workflow["flags"]) or "-")
    console.print(patients)
    escalations = Counter((e["reason"], e["status"]) for e in report["escalations"])
    messages = Counter((m["kind"], m["status"]) for m in report["messages"])
    console.print(
        f"events applied: {len(report['events'])}   timers fired: {run.timers_fired}   "
        f"rejected: {len(report['rejected'])}   messages: {sum(messages.values())}   "
        f"escalations: {sum(escalations.values())}"
    )
    if escalations:
        console.print("escalations: " + ", ".join(f"{r} ({s}) ×{n}" for (r, s), n in sorted(escalations.items())))
    for rejection in report["rejected"]:
        console.print(f"[yellow]rejected[/yellow] {rejection['at']} {rejection['patient']} {rejection['type']}: "
                      f"{rejection['error']}", highlight=False)
    if report_path is not None:
        console.print(f"report written to {report_path}")
