"""Questions in context (PROTOCOL.md §5 Replies): which question a patient's digit answers, and which question waits.

A bare digit means something only against the question the patient was asked, so at most one digit question is put to
a patient at a time:

- A question is open from the moment the message asking it is due to leave (`send_to_patient` may defer it for quiet
  hours or the cap) until it is answered or expires: a confirmation at the visit's start (or when the visit is
  cancelled, moved, completed or arrived at; a session's also while a safety hold suspends session texts), a check-in
  when it counts as missed (`checkin_missed_hours` after it left).
- A new question is asked only when no other holds the floor, or when it outranks the open one: a check-in outranks a
  confirmation (also one falling due at the very same moment). Otherwise its message still goes, without the reply
  ask, and the question waits in the queue.
- An outranked question waits in the queue too, and stays answerable until the new question's message leaves. A
  question whose message has not left yet is never outranked: the newer one waits. So two asks never leave together.
- When the open question is answered or expires, the first waiting question that still makes sense is asked
  (check-ins first, then confirmations by visit time) in a message of its own: a check-in not yet asked and not yet
  missed (missed while waiting, it becomes a call task), a confirmation of a visit still ahead, at the same time, and
  unconfirmed. A safety hold parks an open session confirmation, asked again once the hold is cleared.
- A question is open only while its message can have reached the patient: STOP closes what was asked (and at START,
  what fell due meanwhile, dropped at send time), a hold what its texts could not say. A later message asking the same
  question again (the visit's next reminder, the check-in's nudge) opens it again when it leaves.
- A digit that fits no open question gets one clarification per question (none when nothing is open); words too.

This module is bookkeeping on `WorkflowState`; `workflows/handlers/messaging.py` sends the messages, and after every
event `ask_waiting` asks the next waiting question and keeps the `question_expiry` timer on the next expiry.
"""

from __future__ import annotations

from datetime import datetime

from workflows.inbound import Wording, read
from workflows.stages import Stage
from workflows.state import Question, WorkflowState
from workflows.subjects import Subject

RANK = {"confirm": 1, "checkin": 2}
EXPIRY_TIMER = "question_expiry"


def answerable(state: WorkflowState, body: str, now: datetime, catalog: Wording) -> bool:
    """Would this text answer a question open for this patient at `now`? (A digit that fits the open question.)

    Crisis language and keywords are not answers (they are acted on whoever the patient is); nor is a digit that fits
    no open question. For routing a text from a number several patients share.
    """
    reading = read(body, catalog)
    if reading.kind != "number":
        return False
    question = answering(state, now)
    return question is not None and fits(question, reading.number)


def fits(question: Question, number: int) -> bool:
    """1 or 2 answer a confirmation; 0 to 10 a check-in."""
    return number in (1, 2) if question.kind == "confirm" else 0 <= number <= 10


def answering(state: WorkflowState, now: datetime) -> Question | None:
    """The question a digit arriving at `now` answers: the open one, or until its message leaves, the one before it."""
    current = state.open_question
    if current is not None and current.asked_at <= now:
        return current if is_live(state, current, now) else None
    earlier = state.earlier_question
    if earlier is not None and earlier.asked_at <= now and is_live(state, earlier, now):
        return earlier
    return None


def is_live(state: WorkflowState, question: Question, now: datetime) -> bool:
    """An asked question that stands, and may be answered now: not while the patient is opted out, nor a session's
    while a safety hold suspends session texts (PROTOCOL.md §2)."""
    if state.patient.opted_out or not stands(state, question, now):
        return False
    return not (question.kind == "confirm" and state.stage == Stage.PAUSED
                and Subject.parse(question.subject).kind == "session")


def stands(state: WorkflowState, question: Question, now: datetime) -> bool:
    """An asked question not yet answered, not expired, and still about something that stands."""
    if question.expires_at is not None and now >= question.expires_at:
        return False
    subject = Subject.parse(question.subject)
    if question.kind == "checkin":
        checkin = state.checkins.get(subject.key)
        return checkin is not None and checkin.answered_at is None
    return _visit_ahead(state, subject, question, now, ("scheduled", "confirmed"))


def still_wanted(state: WorkflowState, question: Question, now: datetime) -> bool:
    """Does a waiting question still make sense to ask? (A session confirmation is kept through a safety hold.)"""
    if question.expires_at is not None and now >= question.expires_at:
        return False
    subject = Subject.parse(question.subject)
    if question.kind == "checkin":
        return subject.key not in state.checkins  # not asked yet
    return _visit_ahead(state, subject, question, now, ("scheduled",))


def _visit_ahead(state: WorkflowState, subject: Subject, question: Question, now: datetime, statuses) -> bool:
    visit = state.visit(subject)
    if visit is None or visit.status not in statuses or visit.start <= now:
        return False
    # A moved visit is another question: this one asked about the old time.
    return question.start is None or visit.start == question.start


def holding_floor(state: WorkflowState, now: datetime) -> Question | None:
    """The asked question a new one must respect: open now, or asked and its message not yet left."""
    current = state.open_question
    if current is None:
        return None
    if current.asked_at > now:
        return current if stands(state, current, now) else None  # its message is still to leave: it will ask
    return current if is_live(state, current, now) else None


def may_ask(state: WorkflowState, kind: str, subject: str, now: datetime) -> bool:
    """May a message ask this question now? If not, it goes without its reply ask and the question waits."""
    if kind == "confirm" and any(t.kind == "checkin" and t.due_at <= now for t in state.timers.values()):
        # A check-in falls due at this same moment (timers due together fire in any order): it outranks this one.
        return False
    holder = holding_floor(state, now)
    if holder is None or (holder.kind, holder.subject) == (kind, subject):
        return True  # nothing open, or the same question again (the next reminder of the same visit)
    # Outranking takes the floor only from a question whose messages have left: never two asks open together.
    still_to_leave = holder.asked_at >= now or (holder.reasked_at is not None and holder.reasked_at >= now)
    return not still_to_leave and RANK[kind] > RANK[holder.kind]


def put(state: WorkflowState, question: Question, now: datetime) -> None:
    """A message asks `question` (`may_ask` allowed it): it holds the floor from its `asked_at`."""
    holder = holding_floor(state, now)
    if holder is not None and (holder.kind, holder.subject) == (question.kind, question.subject):
        # Already the open question: the new message repeats it. If it leaves later, the question is open again
        # from then even if answered meanwhile (the patient will read the ask again).
        if question.asked_at > holder.asked_at:
            holder.reasked_at = max(holder.reasked_at or question.asked_at, question.asked_at)
        return
    if holder is not None:
        # Outranked: answerable until the new question's message leaves, then it waits its turn.
        state.earlier_question = holder if question.asked_at > now else None
        enqueue(state, holder.model_copy(update={"clarified": False, "reasked_at": None}))
    else:
        state.earlier_question = None
    state.open_question = question


def enqueue(state: WorkflowState, question: Question) -> None:
    """Keep a question to ask later; one per question (a newer one replaces it: a moved visit asks about its new time)."""
    waiting = [q for q in state.queued_questions if (q.kind, q.subject) != (question.kind, question.subject)]
    waiting.append(question)
    waiting.sort(key=lambda q: (-RANK[q.kind], q.start or q.asked_at, q.asked_at))
    state.queued_questions = waiting


def answered(state: WorkflowState, kind: str, subject: str, now: datetime) -> None:
    """The patient (or staff, for a confirmation) answered: the question closes and stops waiting (it opens again
    when a message asking it again, not yet left, leaves)."""
    for field in ("open_question", "earlier_question"):
        question = getattr(state, field)
        if question is not None and (question.kind, question.subject) == (kind, subject) and question.asked_at <= now:
            setattr(state, field, _asked_again(question, now))
    state.queued_questions = [q for q in state.queued_questions if (q.kind, q.subject) != (kind, subject)]


def _asked_again(question: Question, now: datetime) -> Question | None:
    """A question closed now: gone, unless a message asking it again is still to leave (then open from then)."""
    if question.reasked_at is not None and question.reasked_at > now:
        return question.model_copy(update={"asked_at": question.reasked_at, "reasked_at": None, "clarified": False})
    return None


def park_sessions(state: WorkflowState, now: datetime) -> None:
    """A safety hold starts or ends. It suspends session texts, so an open session confirmation waits, to be asked
    again after the hold (if its visit is still ahead and unconfirmed): one already asked when the hold starts, and
    one whose message fell due during the hold (dropped at send time, `paused`). One whose message is still to leave
    stays: it leaves after the hold, or is dropped and parked when the hold is cleared."""
    for field in ("open_question", "earlier_question"):
        question = getattr(state, field)
        if (question is not None and question.kind == "confirm" and question.asked_at <= now
                and Subject.parse(question.subject).kind == "session"):
            again = _asked_again(question, now)
            setattr(state, field, again)
            if again is None:
                enqueue(state, question.model_copy(update={"clarified": False, "reasked_at": None}))


def forget_due(state: WorkflowState, now: datetime) -> None:
    """The patient opted out, or back in: a question whose message was due by now is no longer open (after STOP it
    was asked already; at START its message fell due while they were opted out, and was dropped). One whose message
    is still to leave stays: it leaves if they are opted in by then."""
    for field in ("open_question", "earlier_question"):
        question = getattr(state, field)
        if question is not None and question.asked_at <= now:
            setattr(state, field, _asked_again(question, now))


def withdraw_all(state: WorkflowState) -> None:
    """Nothing is asked any more (the patient opted out, or the workflow ended)."""
    state.open_question = state.earlier_question = None
    state.queued_questions = []


def next_expiry(state: WorkflowState, now: datetime) -> datetime | None:
    """When the conversation must be looked at again although nothing happens: the open question expires while
    others wait, or a waiting check-in is missed before it could be asked."""
    if not state.queued_questions:
        return None
    moments = [q.expires_at for q in state.queued_questions if q.kind == "checkin" and q.expires_at is not None]
    current = state.open_question
    if current is not None and current.expires_at is not None:
        moments.append(current.expires_at)
    future = [moment for moment in moments if moment > now]
    return min(future) if future else None
