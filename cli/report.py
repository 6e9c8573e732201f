"""The simulation report of EVENTS.md: workflows, events, messages, escalations, timers, rejected. Times in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from cli.report_links import Links
from cli.simulator import Run
from models import queries


def build_report(run: Run, engine: Engine) -> dict[str, Any]:
    """The report; in a network scenario every item also names its patient's clinic (EVENTS.md)."""
    patient_of = {workflow_id: key for key, workflow_id in run.workflows.items()}
    report = _items(run, engine, patient_of)
    if run.scenario.clinics is not None:
        for section in ("workflows", "events", "messages", "escalations", "timers", "rejected"):
            for item in report[section]:
                item["clinic"] = run.scenario.clinic_key_of(item.get("patient"))
    return report


def _items(run: Run, engine: Engine, patient_of: dict[str, str]) -> dict[str, Any]:
    links = Links.of(run, engine)
    return {
        "scenario": run.scenario.name,
        "workflows": [_workflow(engine, key, workflow_id, run.scenario.until) for key, workflow_id in run.workflows.items()],
        "events": [
            {"at": _utc(e.occurred_at), "patient": patient_of.get(e.workflow_id), "type": e.type,
             "actor": e.actor_role, "data": e.data}
            for e in queries.events(engine) if e.workflow_id in patient_of
        ],
        "messages": sorted(_outbound(engine, patient_of, links) + _inbound(engine, patient_of),
                           key=lambda m: (m["at"], m["direction"] == "outbound")),
        "escalations": [
            {"raised_at": _utc(e.raised_at), "patient": patient_of.get(e.workflow_id), "reason": e.reason,
             "severity": e.severity, "tier": e.tier, "status": e.status, "acknowledged_at": _utc(e.acknowledged_at),
             "resolved_at": _utc(e.resolved_at), "paged": links.paged(e.id),
             # Which session an item is about: per-session items (a REMS form, a paused visit) differ only by it.
             "session": e.session_key, "cause": links.cause(e.event_id)}
            for e in queries.escalations(engine) if e.workflow_id in patient_of
        ],
        "timers": [
            {"patient": patient_of.get(t.workflow_id), "kind": t.kind, "due_at": _utc(t.due_at), "status": t.status}
            for t in queries.timers(engine) if t.workflow_id in patient_of
        ],
        "rejected": [{**r, "at": _utc(r["at"])} for r in run.rejected],
    }


def _outbound(engine: Engine, patient_of: dict[str, str], links: Links) -> list[dict[str, Any]]:
    # `recipient` is "patient" or the owning staff role; `staff_role` whose number a staff text went to (on_call, …);
    # `cause` the event it answered (with its timeline line when a line posted it).
    return [
        {"at": _utc(m.sent_at or m.not_before), "patient": patient_of[m.workflow_id], "to": m.to_phone,
         "direction": "outbound", "kind": m.kind, "body": m.body, "status": m.status,
         **({"reason": m.drop_reason} if m.drop_reason else {}), "recipient": m.recipient,
         **({"staff_role": links.staff_role(m)} if m.recipient != "patient" else {}), "cause": links.cause(m.event_id)}
        for m in queries.messages(engine) if m.workflow_id in patient_of
    ]


def _inbound(engine: Engine, patient_of: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"at": _utc(e.occurred_at), "patient": patient_of[e.workflow_id], "from": e.data["from"],
         "direction": "inbound", "kind": "patient_reply", "body": e.data["body"], "status": "received"}
        for e in queries.events(engine) if e.workflow_id in patient_of and e.type == "sms.received"
    ]


def _workflow(engine: Engine, key: str, workflow_id: str, as_of: datetime) -> dict[str, Any]:
    state = queries.load_state(engine, workflow_id)
    scores: dict[str, list] = {}
    for record in state.assessments:
        entry = {"at": _utc(record.at), "total": record.total}
        if record.risk is not None:
            entry = {"at": _utc(record.at), "risk": record.risk}
        scores.setdefault(record.instrument, []).append(entry)
    return {
        "patient": key,
        "workflow_id": workflow_id,
        "stage": state.stage,
        "protocol_version": state.protocol_version,
        "route": state.route,
        "sessions": [{"session": s.id, "status": s.status, "start": _utc(s.start)} for s in state.sessions.values()],
        "flags": state.active_flags(as_of),
        "scores": scores,
    }


def _utc(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None
