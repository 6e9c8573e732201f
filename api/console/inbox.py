"""The staff SMS inbox: every text patients (and unknown numbers) sent, newest first, with how each was read; texts
routing could not place (a shared or unknown number) are assigned to a patient here, which applies them; a text that
reached a patient can be answered from its page.

Coordinators and clinicians only (texts are patient data; ops see none of it). Searching for a patient to assign a text
to is a POST, so no name or number is ever in a URL; pages are addressed by the text's id.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api import policy
from api.audit_trail import record_list_view
from api.console import refusals, reply, web
from api.console.reply import ReplyBox
from api.console.web import Staff, render
from api.dashboard.access import page_router
from api.dashboard.signin import note
from api.deps import ServicesDep
from api.errors import status_of
from api.ids import known, parse_id
from api.scope import visible_text, visible_workflow
from models import unattached
from models.assignment import assign_text
from models.queries import accounts as account_queries
from models.queries import inbox, listing
from models.store import ConcurrencyConflict
from models.tables import EscalationRecord, InboundText, PatientRow, User, WorkflowRow
from workers.runtime import Services
from workflows.errors import Rejected
from workflows.state import WorkflowState

log = logging.getLogger("carepath.console")
router = page_router()
PAGE_SIZE = 25
MAX_SEARCH = 100
SHOW = {"waiting": "Waiting for staff", "all": "All texts"}
# What a text's status means, for staff.
STATUS = {"pending": "waiting to be read", "queued": "being read", "applying": "being read",
          "applied": "on the patient's record", "unassigned": "waiting for staff to assign",
          "ignored": "not applied"}
# Why routing left a text for staff.
WHY = {"shared_number": "several patients in care share this number, and the text did not answer a question only one "
                        "of them was asked",
       "unknown_number": "no patient has this number"}
# How the pathway read a text.
READING = {"crisis": "crisis language: crisis line sent, emergency raised", "stop": "STOP: texts to this number stopped",
           "start": "START: texts to this number resumed", "help": "HELP: the clinic's phone and the crisis line sent",
           "number": "a number answering the open question", "unreadable": "could not be read as an answer"}
QUESTIONS = {"confirm": "asked to confirm a visit (1) or reschedule (2)",
             "checkin": "asked how they feel, from 0 to 10"}
DONE = {"assigned": "Assigned: the text is on the patient's record and the pathway has read it."}


def page_number(value: str) -> int:
    return int(value) if value.isdigit() and 0 < int(value) < 100_000 else 1


@router.get("/console/inbox")
def inbox_list(user: Staff, request: Request, svc: ServicesDep, show: str = "waiting", page: str = "1") -> Response:
    """Inbound texts, newest first: those waiting for staff, or all of them."""
    show = show if show in SHOW else "waiting"
    number = page_number(page)
    found = inbox.inbox_page(svc.engine, status=inbox.WAITING_FOR_STAFF if show == "waiting" else None,
                             limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE, clinics=policy.clinic_scope(user))
    pages = max(1, -(-found.total // PAGE_SIZE))
    shown = [(row.workflow.id, row.patient.id) for row in found.rows if row.workflow is not None and row.patient]
    record_list_view(request, svc, user, "inbox", shown, found.total, f"page {number} of {pages}; show={show}")
    context = {"user": user, "rows": found.rows, "total": found.total, "show": show, "shows": SHOW, "page": number,
               "pages": pages, "waiting": inbox.count_waiting(svc.engine, policy.clinic_scope(user)),
               "status_label": STATUS, "why": WHY, "reading_label": READING}
    return render(request, svc, "inbox.html", context)


@router.get("/console/inbox/{inbox_id}")
def inbox_text(user: Staff, inbox_id: str, request: Request, svc: ServicesDep, done: str = "",
               texted: str = "") -> Response:
    """One text: how it was read, whose it is, and assigning it or answering it. Recorded in the audit trail."""
    inbox_id = known(inbox_id, "text")
    text = visible_text(svc, user, inbox_id)
    if text is not None:
        patient_id = account_queries.patient_of(svc.engine, text.workflow_id) if text.workflow_id else None
        note(request, svc, "view", user_id=user.id, patient_id=patient_id, workflow_id=text.workflow_id,
             target_id=text.id, detail="inbox text")
    return text_page(request, svc, user, inbox_id, notice=DONE.get(done) or reply.texted_notice(texted))


@router.post("/console/inbox/{inbox_id}/find")
async def find_patient(user: Staff, inbox_id: str, request: Request, svc: ServicesDep) -> Response:
    """Search patients to assign the text to (by POST: what was typed stays out of the URL)."""
    inbox_id = known(inbox_id, "text")
    form = await request.form()
    search = str(form.get("q", "")).replace("\x00", "").strip()
    if not search or len(search) > MAX_SEARCH:
        return text_page(request, svc, user, inbox_id, search=search[:MAX_SEARCH], status_code=422,
                         error=f"Type part of a name, digits of a phone number or the start of an id "
                               f"(at most {MAX_SEARCH} characters).")
    found = listing.patients_page(svc.engine, now=web.now_of(request), search=search, limit=10,
                                  clinics=policy.clinic_scope(user))
    record_list_view(request, svc, user, "inbox patient search", [(w.id, p.id) for w, p in found.rows], found.total,
                     f"searched, to assign text {inbox_id}")
    return text_page(request, svc, user, inbox_id, search=search, results=found.rows)


@router.post("/console/inbox/{inbox_id}/assign")
async def assign(user: Staff, inbox_id: str, request: Request, svc: ServicesDep) -> Response:
    """Assign the text to the chosen patient: it is applied to their workflow as their own text."""
    inbox_id = known(inbox_id, "text")
    form = await request.form()
    return await run_in_threadpool(_assign, request, svc, user, inbox_id, form)


def _assign(request: Request, svc: Services, user: User, inbox_id: str, form: Any) -> Response:
    if visible_text(svc, user, inbox_id) is None:  # another clinic's text: not found, as on its page
        return text_page(request, svc, user, inbox_id)
    workflow_id = parse_id(str(form.get("workflow_id", "")))
    if workflow_id is None or visible_workflow(svc, user, workflow_id) is None:
        return text_page(request, svc, user, inbox_id, error="Choose the patient this text is from.", status_code=422)
    try:
        assign_text(svc.store, inbox_id, workflow_id, user.name, web.now_of(request))
    except Rejected as exc:
        log.info("console: assigning text %s refused (%s, rule %s)", inbox_id, exc.code, exc.rule)
        return text_page(request, svc, user, inbox_id, error=refusals.as_text(refusals.from_rejected(exc, "sms.received")),
                         status_code=status_of(exc))
    except ConcurrencyConflict:
        return text_page(request, svc, user, inbox_id, status_code=409,
                         error="The patient's record changed while this was being recorded; nothing was written. Try again.")
    return RedirectResponse(f"/console/inbox/{inbox_id}?done=assigned", status_code=303)


def text_page(request: Request, svc: Services, user: User, inbox_id: str, *, box: ReplyBox | None = None,
              search: str = "", results: list | None = None, error: str | None = None, notice: str | None = None,
              status_code: int = 200) -> Response:
    """One text's page; a refused assignment or reply is drawn with its reason."""
    text = visible_text(svc, user, inbox_id)
    if text is None:
        return render(request, svc, "console_not_found.html", {"user": user}, status_code=404)
    now = web.now_of(request)
    owner = listing.workflow_with_patient(svc.engine, text.workflow_id) if text.workflow_id else None
    if owner is not None and box is None:
        workflow, patient = owner
        box = reply.reply_box(svc, WorkflowState.model_validate(workflow.state), patient, now, text.id)
    on_number = [_candidate(*pair) for pair in inbox.patients_on_number(svc.engine, text.from_phone, policy.clinic_scope(user))] \
        if text.status == "unassigned" else []
    listed = {c["workflow_id"] for c in on_number}
    found = None if results is None else [c for c in (_candidate(*pair) for pair in results)
                                          if c["workflow_id"] not in listed]
    context = {"user": user, "notice": notice, "text": text, "owner": owner, "box": box, "error": error,
               "on_number": on_number, "search": search, "results": found, "key": str(uuid.uuid4()),
               "crisis_item": _crisis_item(svc, text), "status_label": STATUS, "why": WHY, "reading_label": READING}
    return render(request, svc, "inbox_text.html", context, status_code=status_code)


def _candidate(workflow: WorkflowRow, patient: PatientRow) -> dict[str, str]:
    """A patient to choose, with the question they were last asked (what a number in the text could answer)."""
    question = WorkflowState.model_validate(workflow.state).open_question
    asked = QUESTIONS.get(question.kind, "asked a question") if question else "no open question"
    return {"workflow_id": workflow.id, "name": patient.name, "phone": patient.phone, "stage": workflow.stage,
            "question": asked}


def _crisis_item(svc: Services, text: InboundText) -> EscalationRecord | None:
    if not text.crisis:
        return None
    found = listing.escalation(svc.engine, unattached.escalation_id_for(text.id))
    return found[0] if found else None

