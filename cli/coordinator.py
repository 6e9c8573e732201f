"""Coordinator commands beside the API: `carepath referral create`, `workflow show`, `event post`.

Thin over the same services the API uses (the unit of work and its rules), acting as the named staff member.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import typer
from rich.console import Console

from config.wiring import services
from models import queries
from workflows.errors import Rejected
from workflows.events import localize_times, make_event

referral_app = typer.Typer(help="Take referrals.", no_args_is_help=True)
workflow_app = typer.Typer(help="Look at workflows.", no_args_is_help=True)
event_app = typer.Typer(help="Post events to a workflow.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)


def _actor(role: str, name: str) -> dict:
    return {"role": role, "name": name}


def _fail(exc: Rejected) -> None:
    errors.print(f"[red]refused:[/red] {exc.describe()}", highlight=False)
    raise typer.Exit(1)


@referral_app.command("create")
def referral_create(
    name: str = typer.Option(..., "--name", help="Patient name."),
    phone: str = typer.Option(..., "--phone", help="E.164, like +15555550101."),
    referrer: str = typer.Option(..., "--referrer"),
    prior_treatments: int = typer.Option(..., "--prior-treatments", min=0),
    sms_consent: bool = typer.Option(False, "--sms-consent/--no-sms-consent"),
    timezone: str | None = typer.Option(None, "--timezone"),
    language: str = typer.Option("en", "--language", help="IETF tag of the patient's texts: en, es."),
    urgency: str = typer.Option("routine", "--urgency"),
    as_name: str = typer.Option("coordinator", "--as", help="Your name, recorded as the actor."),
    role: str = typer.Option("coordinator", "--role"),
) -> None:
    """Start a workflow from a referral; prints the workflow id."""
    svc = services()
    patient = {"name": name, "phone": phone, "sms_consent": sms_consent, "language": language,
               **({"timezone": timezone} if timezone else {})}
    data = {"patient": patient, "referrer": referrer, "prior_treatments": prior_treatments, "urgency": urgency}
    try:
        outcome = svc.store.start(make_event("referral.received", data, actor=_actor(role, as_name)),
                                    datetime.now(UTC))
    except Rejected as exc:
        _fail(exc)
    console.print(f"workflow {outcome.workflow_id} is {outcome.stage}")


@workflow_app.command("show")
def workflow_show(workflow_id: str = typer.Argument(...)) -> None:
    """Stage, sessions, open escalations and pending timers of one workflow, as JSON."""
    svc = services()
    state = queries.load_state(svc.engine, workflow_id)
    if state is None:
        errors.print(f"unknown workflow {workflow_id}")
        raise typer.Exit(1)
    summary = {
        "workflow_id": workflow_id, "stage": state.stage, "route": state.route,
        "sessions": {key: {"status": s.status, "start": s.start.isoformat()} for key, s in state.sessions.items()},
        "open_escalations": [{"id": e.id, "reason": e.reason, "severity": e.severity, "tier": e.tier}
                             for e in state.escalations.values() if e.status != "resolved"],
        "pending_timers": [{"kind": t.kind, "due_at": t.due_at.isoformat()} for t in state.timers.values()],
        "flags": state.active_flags(datetime.now(UTC)),
    }
    console.print_json(json.dumps(summary))


@event_app.command("post")
def event_post(
    workflow_id: str = typer.Argument(...),
    event_type: str = typer.Argument(..., metavar="TYPE"),
    data: str = typer.Option("{}", "--data", help="The event's data as JSON."),
    idempotency_key: str | None = typer.Option(None, "--idempotency-key"),
    as_name: str = typer.Option("staff", "--as"),
    role: str = typer.Option("coordinator", "--role", help="coordinator, clinician, ops or admin."),
) -> None:
    """Apply one event; prints the new stage, or the engine's reason for refusing it."""
    svc = services()
    try:
        raw = json.loads(data)
    except json.JSONDecodeError as exc:
        errors.print(f"--data is not JSON: {exc.msg} at position {exc.pos}")
        raise typer.Exit(2) from None
    try:
        event = make_event(event_type, localize_times(raw, svc.store.clinic.timezone), actor=_actor(role, as_name),
                           idempotency_key=idempotency_key)
        outcome = svc.store.apply(workflow_id, event, datetime.now(UTC))
    except Rejected as exc:
        _fail(exc)
    note = " (already applied: same idempotency key)" if outcome.duplicate else ""
    console.print(f"event {outcome.event_id}: workflow {workflow_id} is {outcome.stage}{note}")
