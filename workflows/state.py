"""A patient's workflow as data: what the core reads and returns. Stored as JSON beside its stage and version."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from workflows.protocol import Route
from workflows.stages import Stage
from workflows.subjects import Subject


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SessionStatus(StrEnum):
    SCHEDULED = "scheduled"
    CONFIRMED = "confirmed"
    ARRIVED = "arrived"
    DOSED = "dosed"
    DISCHARGED = "discharged"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"
    HELD = "held"


OPEN_SESSION = frozenset({SessionStatus.SCHEDULED, SessionStatus.CONFIRMED})
CLOSED_SESSION = frozenset(
    {SessionStatus.DISCHARGED, SessionStatus.CANCELLED, SessionStatus.NO_SHOW, SessionStatus.HELD}
)

# Sessions that will not happen: they count for nothing (not the first session, not an induction session).
NOT_HAPPENING = frozenset({SessionStatus.CANCELLED, SessionStatus.NO_SHOW, SessionStatus.HELD})


# Breathing as observed at the chair: "depressed" is a respiratory concern that must resolve before discharge.
RespiratoryStatus = Literal["normal", "depressed"]
# Sedation and dissociation as observed with a reading: seen or not. The REMS Patient Monitoring Form asks whether
# each occurred during monitoring; the discharge still attests that both have resolved.
Observation = Literal["none", "present"]


class Vital(Model):
    phase: Literal["pre_dose", "post_dose", "pre_discharge"]
    systolic: int
    diastolic: int
    heart_rate: int | None = None
    spo2: int | None = None
    respiratory_status: RespiratoryStatus | None = None  # None: not observed with this reading
    sedation: Observation | None = None  # None: not assessed with this reading
    dissociation: Observation | None = None
    at: datetime


class Session(Model):
    """One dosing session and its lifecycle: scheduled → confirmed → arrived → dosed → discharged."""

    id: str
    start: datetime
    route: Route
    series: Literal["induction", "maintenance"]
    status: SessionStatus = SessionStatus.SCHEDULED
    planned_dose_mg: int | None = None
    planned_dose_mg_per_kg: float | None = None
    confirmed_at: datetime | None = None
    arrived_at: datetime | None = None
    dosed_at: datetime | None = None
    dose_mg: int | None = None
    dose_mg_per_kg: float | None = None
    discharged_at: datetime | None = None
    discharged_by: str | None = None  # the clinician who monitored and discharged (the REMS form names them)
    adverse_events: str | None = None  # as written at discharge; None: none recorded
    closed_reason: str | None = None
    vitals: list[Vital] = []
    bp_elevated_at: datetime | None = None  # first elevated pre-dose reading: the re-check window runs from here
    rems_form_submitted: bool = False
    # On the schedule grid (`workflows.schedule`): the chair, the provider booked on it, and how long it holds them.
    chair: str | None = None
    provider: str | None = None
    minutes: int | None = None


class Appointment(Model):
    """An evaluation or a therapy appointment: no dosing, only a time and reminders."""

    id: str
    kind: Literal["evaluation", "therapy"]
    start: datetime
    status: Literal["scheduled", "confirmed", "completed", "cancelled"] = "scheduled"
    chair: str | None = None  # its room on the schedule grid, the provider seeing the patient, and its length
    provider: str | None = None
    minutes: int | None = None


class AssessmentRecord(Model):
    instrument: str
    at: datetime
    total: int | None = None
    band: str | None = None
    item9: int | None = None
    risk: str | None = None
    flags: list[str] = []


class Escalation(Model):
    """A worklist item (PROTOCOL.md §6). Coordinator tasks are routine escalations."""

    id: str
    reason: str
    severity: Literal["routine", "urgent", "emergency"]
    tier: int = 1
    owner_role: str
    status: Literal["open", "acknowledged", "resolved"] = "open"
    raised_at: datetime
    updated_at: datetime
    ack_deadline: datetime
    session: str | None = None
    count: int = 1  # how many times it was raised while open
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    note: str | None = None


class Timer(Model):
    """A durable timer the workflow is waiting on; the database row mirrors it."""

    kind: str
    due_at: datetime
    session: str | None = None
    data: dict[str, Any] = {}


class Question(Model):
    """A digit question put to the patient: a visit confirmation (1 confirm, 2 reschedule) or a check-in (0–10).

    Asked, it is open from `asked_at` (the moment the message asking it is due to leave) until it is answered or
    `expires_at` (a confirmation: the visit's start; a check-in: when it counts as missed). Waiting in the queue,
    `asked_at` is when it was queued. `workflows/conversation.py` holds the rules.
    """

    kind: Literal["confirm", "checkin"]
    subject: str  # a `Subject` as stored: "session:<id>" or "appointment:<id>"
    asked_at: datetime
    expires_at: datetime | None = None
    start: datetime | None = None  # a confirmation: the visit time it asks about (a moved visit is another question)
    reasked_at: datetime | None = None  # a later message asks it again (the visit's next reminder, not yet left)
    clarified: bool = False  # an unreadable reply gets one clarification, not one per message


class Checkin(Model):
    session: str
    sent_at: datetime
    answered_at: datetime | None = None
    score: int | None = None


class Patient(Model):
    id: str
    phone: str
    timezone: str
    date_of_birth: date | None = None
    sms_consent: bool = False
    opted_out: bool = False
    language: str = "en"  # the catalog every patient message renders from; "en" for histories from before languages


class WorkflowState(Model):
    """Everything the pathway knows about one patient's course of care."""

    workflow_id: str
    protocol_version: str
    clinic: str = "main"  # the clinic's key: its zone, wording, rota and numbers serve this patient
    stage: Stage = Stage.REFERRED
    paused_from: Stage | None = None
    patient: Patient
    urgency: Literal["routine", "urgent"] = "routine"
    prior_treatments: int = 0
    route: Route | None = None
    weight_kg: float | None = None
    rems_enrollment_id: str | None = None
    flags: dict[str, datetime | None] = {}  # flag → until when (None: until cleared)
    sessions: dict[str, Session] = {}
    appointments: dict[str, Appointment] = {}
    assessments: list[AssessmentRecord] = []
    baseline: dict[str, int] = {}
    requested_instruments: list[str] = []
    escalations: dict[str, Escalation] = {}
    timers: dict[str, Timer] = {}
    open_question: Question | None = None  # the one digit question put to the patient, open from its asked_at
    earlier_question: Question | None = None  # the question it took over from: answerable until it opens
    queued_questions: list[Question] = []  # to be asked, in turn, once the open question is answered or expires
    checkins: dict[str, Checkin] = {}
    message_log: dict[str, int] = {}  # patient-local date → automated messages planned to leave that day
    questions_asked_again: int = Field(default=0, ge=0)  # waiting confirmations asked so far (each its own message)

    def working_copy(self) -> WorkflowState:
        """A copy the handlers may change freely, sharing nothing with this one.

        Rebuilt from its own dump: a fraction of the cost of `model_copy(deep=True)` (which deep-copies every nested
        model through `copy.deepcopy`), and it was most of `decide`'s time.
        """
        return WorkflowState.model_validate(self.model_dump())
    escalation_count: int = Field(default=0, ge=0)

    def open_escalation(self, reason: str, session: str | None = None) -> Escalation | None:
        """The open (or acknowledged) item for a reason; given a session, only that session's item."""
        for escalation in self.escalations.values():
            if escalation.reason == reason and escalation.status != "resolved" and session in (None, escalation.session):
                return escalation
        return None

    def visit(self, subject: Subject) -> Session | Appointment | None:
        """The session or appointment a subject names, if the workflow has it."""
        return self.sessions.get(subject.key) if subject.kind == "session" else self.appointments.get(subject.key)

    def active_flags(self, now: datetime) -> list[str]:
        return sorted(flag for flag, until in self.flags.items() if until is None or until > now)
