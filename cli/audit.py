"""`carepath audit export`: the audit trail from a date, as CSV or JSON lines, for an auditor or an archive."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path

import typer

from cli.users import database, fail
from models import audit
from models.queries import audit as audit_queries
from models.tables import AuditEntry
from models.unit_of_work import run_committed

audit_app = typer.Typer(help="The audit trail: sign-ins, sign-outs, account changes, views of patients' data.",
                        no_args_is_help=True)
COLUMNS = ("id", "at", "action", "user_id", "patient_id", "workflow_id", "target_id", "route", "method", "address",
           "detail")


@audit_app.callback()
def audit_group() -> None:
    """The audit trail (append-only; nothing in carepath edits or deletes it)."""


def moment(value: str, option: str) -> datetime:
    """A date (its start, UTC) or an ISO 8601 time (UTC when it has no offset)."""
    try:
        parsed = datetime.fromisoformat(value) if "T" in value or " " in value else datetime.combine(
            date.fromisoformat(value), time(0))
    except ValueError:
        fail(f"{option}: {value!r} is not a date (2026-03-01) or an ISO 8601 time")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def row(entry: AuditEntry) -> dict:
    values = {column: getattr(entry, column) for column in COLUMNS}
    values["at"] = entry.at.astimezone(UTC).isoformat()
    return values


@audit_app.command("export")
def export_command(
    since: str = typer.Option(..., "--since", help="From this date or time (UTC unless it says otherwise)."),
    until: str | None = typer.Option(None, "--until", help="Up to (not including) this date or time."),
    format: str = typer.Option("csv", "--format", help="csv (a header line, then one entry a line) or json (JSON lines)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write here instead of standard output."),
    database_url: str = typer.Option("sqlite:///carepath.db", "--database-url", envvar="CAREPATH_DATABASE_URL"),
) -> None:
    """Every entry from --since, oldest first. The export itself is recorded in the trail."""
    if format not in ("csv", "json"):
        fail("--format is csv or json")
    start, end = moment(since, "--since"), (moment(until, "--until") if until else None)
    out = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    count = 0
    try:
        with database(database_url) as engine:
            writer = csv.DictWriter(out, fieldnames=COLUMNS) if format == "csv" else None
            if writer is not None:
                writer.writeheader()
            for entry in audit_queries.export(engine, since=start, until=end):
                values = row(entry)
                if writer is not None:
                    writer.writerow(values)
                else:
                    out.write(json.dumps(values) + "\n")
                count += 1
            run_committed(engine, audit.record, "audit_exported", datetime.now(UTC), route="carepath audit export",
                          detail=f"{count} entries from {start.isoformat()}" + (f" to {end.isoformat()}" if end else ""))
    finally:
        if output:
            out.close()
    if output:
        typer.echo(f"wrote {count} entries to {output}", err=True)
