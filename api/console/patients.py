"""Patients: the list (search by name, phone or id; filter by stage, flag and open escalations; paged) and a patient's
page (facts, the actions the pathway offers now, the trend, sessions, escalations, messages and the history).

A search is a POST: what was typed (patient data) is never in an address, so never in an access log or the browser's
history. The filters are codes and stay in the address. Every list drawn is recorded in the audit trail, by the ids
of the patients it showed."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api import policy
from api.audit_trail import record_list_view
from api.console import reply, web
from api.console.offers import Attempt, actions_for
from api.console.reply import ReplyBox
from api.console.web import Staff, render
from api.console.why import TEXT_TIMERS, Causes, is_planned, upcoming_messages
from api.dashboard.access import page_router
from api.dashboard.chart import TRENDED, patient_trend
from api.dashboard.escalations import escalation_row
from api.deps import ServicesDep
from api.ids import WorkflowId
from api.scope import visible_workflow
from api.views import number_warnings
from models.queries import causes as cause_rows
from models.queries import inbox, listing
from models.tables import EventRecord, User
from workers.runtime import Services
from workflows.stages import EVENT_RULES, Stage
from workflows.state import WorkflowState

router = page_router()
PAGE_SIZE = 25
# The list's flag filter: flags the engine sets in the state, and facts about the patient people ask for alike.
FLAG_FILTERS = {
    "elevated_risk": ("elevated risk", {"state_flag": "elevated_risk"}),
    "safety_hold": ("safety hold (paused)", {"stage": Stage.PAUSED.value}),
    "opted_out": ("opted out of SMS", {"opted_out": True}),
    "no_sms_consent": ("no SMS consent", {"sms_consent": False}),
    "low_prior_treatments": ("few prior treatments", {"state_flag": "low_prior_treatments"}),
}
MAX_SEARCH = 100


# --- the list -----------------------------------------------------------------------------------------------------

@router.get("/console/patients")
def patient_list(user: Staff, request: Request, svc: ServicesDep, stage: str = "", flag: str = "", escalation: str = "",
                 page: str = "1") -> Response:
    """Patients, most recently changed first; filters in the address (codes only), a search only by POST."""
    ignored = ["A search in the address is not used (it would be kept in logs and the browser's history): type it "
               "in the Search box."] if "q" in request.query_params else []
    return list_page(request, svc, user, "", stage, flag, escalation, page, ignored)


@router.post("/console/patients")
async def search_patients(user: Staff, request: Request, svc: ServicesDep) -> Response:
    """The list searched by name, phone or id: what was typed travels in the body, never in the address."""
    form = await request.form()
    fields = [str(form.get(name, "")) for name in ("q", "stage", "flag", "escalation", "page")]
    return await run_in_threadpool(list_page, request, svc, user, *fields, [])


def list_page(request: Request, svc: Services, user: User, q: str, stage: str, flag: str, escalation: str, page: str,
              problems: list[str]) -> Response:
    now = web.now_of(request)
    q = q.strip()
    if len(q) > MAX_SEARCH or "\x00" in q:
        problems.append(f"The search is at most {MAX_SEARCH} characters of text; it was ignored.")
        q = ""
    if stage and stage not in set(Stage):
        problems.append(f"There is no stage called {stage[:40]!r}; showing every stage.")
        stage = ""
    if flag and flag not in FLAG_FILTERS:
        problems.append("That flag is not one of the filters; showing every patient.")
        flag = ""
    number = int(page) if page.isdigit() and 0 < int(page) < 100_000 else 1
    criteria: dict[str, Any] = {"stage": stage or None, **(FLAG_FILTERS[flag][1] if flag else {})}
    if stage and criteria["stage"] != stage:  # "safety hold" and another stage: nobody is in both
        criteria["stage"] = "(none)"
    found = listing.patients_page(svc.engine, now=now, clinics=policy.clinic_scope(user), search=q or None,
                                  open_escalation=escalation == "open",
                                  limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE, **criteria)
    open_counts = listing.open_escalations_by_workflow(svc.engine, [w.id for w, _ in found.rows])
    rows = [{"workflow": w, "patient": p, "state": WorkflowState.model_validate(w.state),
             "open": open_counts.get(w.id)} for w, p in found.rows]
    for row in rows:
        row["flags"] = row["state"].active_flags(now)
        row["next"] = _next_visit(row["state"], now)
    codes = {"stage": stage, "flag": flag, "escalation": escalation if escalation == "open" else ""}
    filters = {"q": q, **codes}
    pages = max(1, -(-found.total // PAGE_SIZE))
    # The audit trail: who saw which patients in a list; the search itself is not kept (what was typed is patient data).
    described = "; ".join([f"page {number} of {pages}", *(["searched"] if q else []),
                           *(f"{key}={value}" for key, value in codes.items() if value)])
    record_list_view(request, svc, user, "patients", [(w.id, p.id) for w, p in found.rows], found.total, described)
    context = {"user": user, "now": now, "rows": rows, "total": found.total, "problems": problems, "filters": filters,
               "stages": [s.value for s in Stage], "flag_filters": {k: label for k, (label, _) in FLAG_FILTERS.items()},
               "page": number, "pages": pages, "page_link": lambda n: "?" + urlencode({**codes, "page": n}),
               "filtered": any(filters.values())}
    return render(request, svc, "patients.html", context)


def _next_visit(state: WorkflowState, now: datetime) -> datetime | None:
    upcoming = [s.start for s in state.sessions.values() if s.start >= now and s.status in ("scheduled", "confirmed")]
    upcoming += [a.start for a in state.appointments.values() if a.start >= now and a.status in ("scheduled", "confirmed")]
    return min(upcoming, default=None)


# --- one patient --------------------------------------------------------------------------------------------------

@router.get("/console/patients/{workflow_id}")
def patient(user: Staff, workflow_id: WorkflowId, request: Request, svc: ServicesDep, recorded: str = "",
            duplicate: str = "", texted: str = "", check: str = "") -> Response:
    """A patient's page, with the actions the pathway allows now for the signed-in role."""
    notice = reply.texted_notice(texted)
    if recorded == "referral.received":
        notice = "Referral saved: the pathway has started."
    elif recorded in EVENT_RULES:
        notice = f"Recorded: {EVENT_RULES[recorded].summary}."
    elif duplicate in EVENT_RULES:
        notice = f"Already recorded: that form (“{EVENT_RULES[duplicate].summary}”) was sent twice and applied once."
    return patient_page(request, svc, user, workflow_id, notice=notice, check_number=check == "number")


def not_found(request: Request, svc: Services, user: User) -> Response:
    """No such patient (or no such action on one): the console's 404 page."""
    return render(request, svc, "console_not_found.html", {"user": user}, status_code=404)


def patient_page(request: Request, svc: Services, user: User, workflow_id: str, *, attempt: Attempt | None = None,
                 notice: str | None = None, box: ReplyBox | None = None, check_number: bool = False,
                 status_code: int = 200) -> Response:
    """The page as stored now; a refused `attempt` (or text in the reply `box`) is drawn open, with its reason.

    `check_number` (just after intake): the number's warnings (shared, opted out) are shown at the top."""
    found = visible_workflow(svc, user, workflow_id)
    if found is None:
        return not_found(request, svc, user)
    workflow, person = found
    clinic = svc.store.clinic_named(workflow.clinic_id)  # its times are shown and read in the patient's clinic's zone
    now = web.now_of(request)
    state = WorkflowState.model_validate(workflow.state)
    history = listing.events_page(svc.engine, workflow.id, limit=2000).rows
    escalations = listing.escalations_page(svc.engine, statuses=("open", "acknowledged", "resolved"),
                                           workflow_id=workflow.id, limit=200)
    outbox = listing.messages_of(svc.engine, workflow.id)
    number = inbox.number_record(svc.engine, person.phone)
    zone = ZoneInfo(clinic.timezone)
    causes = Causes(history, cause_rows.timers_of(svc.engine, workflow.id), outbox,
                    [record for record, _ in escalations.rows], state, zone)
    context = {
        "user": user, "now": now, "notice": notice, "workflow": workflow, "state": state, "patient": person,
        "flags": state.active_flags(now), "referral": history[0].data if history else {},
        "actions": actions_for(state, user, clinic.timezone, attempt),
        "attempt": attempt,
        "sessions": sorted(state.sessions.values(), key=lambda s: s.start),
        "appointments": sorted(state.appointments.values(), key=lambda a: a.start),
        "escalations": [{**escalation_row(record, pat, now, True), "why": causes.of_item(record)}
                        for record, pat in escalations.rows],
        "upcoming": upcoming_messages(causes, outbox, state),
        "checks": [t for t in causes.pending_timers() if t.kind not in TEXT_TIMERS], "causes": causes,
        "messages": [(m, causes.of_text(m)) for m in outbox if not is_planned(m)],
        "timeline": timeline(history, causes),
        "scores": [a for a in state.assessments if a.instrument in TRENDED],
        "trend_svg": patient_trend(svc.store.protocols, workflow.protocol_version, state),
        "box": box or reply.reply_box(svc, state, person, now, number=number),
        "shared": inbox.others_on_number(svc.engine, person.phone, person.id, policy.clinic_scope(user)), "number": number,
        "warnings": number_warnings(svc.engine, person.phone, person.id, policy.clinic_scope(user)) if check_number else [],
        "clinic": clinic, "network": len(svc.store.network.clinics) > 1,
        "zone": zone, "zone_name": clinic.timezone,
    }
    return render(request, svc, "patient.html", context, status_code=status_code)


def timeline(history: list[EventRecord], causes: Causes) -> list[dict[str, Any]]:
    """The history newest first, each entry as a sentence in clinic time, whether it moved the stage, and what it
    caused (texts, timers, worklist items: `link`)."""
    entries, stage = [], None
    for record in history:
        link = causes.link(record)
        entries.append({"record": record, "summary": link.summary, "link": link,
                        "by_system": record.actor_role == "system", "from_stage": stage,
                        "moved": stage is not None and record.stage_after != stage, "data": record.data})
        stage = record.stage_after
    return list(reversed(entries))
