"""Which workflow(s) a patient's text belongs to, decided from the number it came from.

- One patient's number (or one still in care): their workflow, failing that their most recent one (a discharged
  patient may still text).
- A number several patients in care share: crisis language goes to every one of them (the first replies, the others
  record it as copies); STOP, START and HELP belong to the number and go to every one of them too; any other text goes
  to the one patient whose open question it answers. When that is not clear (none or several could, or free text),
  nobody gets it: staff assign it from the inbox, and the number gets one short acknowledgement.
- A number carepath does not know: staff see it unassigned, with no reply; HELP (AYUDA...) gets the help text in the
  keyword's language; crisis language gets the crisis line and an
  emergency worklist item with no patient.

STOP and START change the number's own record (`models.numbers`), whoever it belongs to. `route_text` writes those
rows, the acknowledgement and the patient-less emergency into the caller's unit of work: they commit with the text's
new status, or not at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from models import numbers, unattached
from models.store import WorkflowStore
from models.tables import InboundText
from models.unit_of_work import UnitOfWork
from workflows.conversation import answerable
from workflows.inbound import Wording, keyword
from workflows.state import WorkflowState

log = logging.getLogger("carepath.routing")
SHARED, UNKNOWN = "shared_number", "unknown_number"


@dataclass(frozen=True)
class Routing:
    """Where a text goes: the workflows to apply it to, or why staff must choose (then `workflow_ids` is empty).

    With several workflows, the first one answers the patient; the others record the same text without a reply.
    """

    workflow_ids: tuple[str, ...] = ()
    unassigned: str | None = None  # "shared_number" or "unknown_number": shown to staff, never patient data
    clinic: str | None = None  # the clinic the text belongs to: the one it was sent to (None: sent to none of theirs)


def route_text(uow: UnitOfWork, text: InboundText, store: WorkflowStore | None = None) -> Routing:
    """The workflow(s) a stored inbound text is applied to; number-level rows written into `uow`.

    `store` gives the clinic (its wording, crisis terms and staff numbers) and protocol. Without it the text is still
    routed and the number's record kept, but a shared number is not acknowledged and an unknown number's crisis text
    gets no crisis line here: pass it.
    """
    phone, now = text.from_phone, text.received_at
    # First the clinic it was sent to, then the sender within that clinic; a text to none of the clinics' numbers
    # (a test, a number being moved) is looked up across the network, so no text is dropped for its To alone.
    clinic = store.network.owning(text.to_phone) if store is not None else None
    key = clinic.key if clinic is not None else None
    catalog = (clinic or store.clinic) if store is not None else None  # every language's crisis terms and keywords
    crisis = text.crisis or (catalog is not None and catalog.mentions_crisis(text.body))
    word = None if crisis else keyword(text.body, catalog)  # crisis language wins over every keyword
    _keep_number(uow, phone, word, now)
    candidates = numbers.workflows_on(uow, phone, key)
    active = numbers.in_care(candidates)
    if not candidates:
        if crisis and not _needs_store(store, "crisis line to an unknown number"):
            unattached.answer_unknown_crisis(uow, store, text)
        elif word is not None and word[0] == "help" and not _needs_store(store, "help to an unknown number"):
            unattached.answer_unknown_help(uow, store, text, language=word[1])  # AYUDA: the help text in Spanish
        return Routing(unassigned=UNKNOWN, clinic=key)
    if len(active) <= 1:
        return Routing(((active or candidates)[0].id,), clinic=key)
    everyone = tuple(row.id for row in active)
    if crisis or word is not None:
        return Routing(everyone, clinic=key)
    able = [row.id for row in active if _answers(WorkflowState.model_validate(row.state), text.body, now, catalog)]
    if len(able) == 1:
        return Routing((able[0],), clinic=key)
    if not _needs_store(store, "acknowledgement to a shared number"):
        unattached.acknowledge_shared(uow, store, text, language=_shared_language(active))
    log.info("inbound text %s from a shared number: %d could answer it, left for staff", text.id, len(able))
    return Routing(unassigned=SHARED, clinic=key)


def find_workflow_for_phone(uow: UnitOfWork, phone: str) -> str | None:
    """The patient's active workflow; failing that their most recent one (the first of several on a shared number)."""
    candidates = numbers.workflows_on(uow, phone)
    return (numbers.in_care(candidates) or candidates)[0].id if candidates else None


def _keep_number(uow: UnitOfWork, phone: str, word: tuple[str, str] | None, now: datetime) -> None:
    """A text came from the number (so it can take texts); STOP and START are the number's, not one patient's."""
    numbers.heard_from(uow, phone, now)
    if word is not None and word[0] == "stop":
        numbers.opt_out(uow, phone, now)
    elif word is not None and word[0] == "start":
        numbers.opt_in(uow, phone, now)


def _shared_language(active) -> str | None:
    """The language of everyone on a shared number when they all have one; None (the clinic's default) otherwise."""
    languages = {WorkflowState.model_validate(row.state).patient.language for row in active}
    return languages.pop() if len(languages) == 1 else None


def _answers(state: WorkflowState, body: str, now: datetime, catalog: Wording | None) -> bool:
    """Whether this patient has a question open at `now` that this text answers (the pathway's own reading)."""
    return catalog is not None and answerable(state, body, now, catalog)


def _needs_store(store: WorkflowStore | None, what: str) -> bool:
    if store is None:
        log.warning("route_text called without the store: no %s", what)
        return True
    return False
