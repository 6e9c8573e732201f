"""The tables. Each class says what its rows are for; the schema itself changes only through Alembic migrations."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, Index, Integer, String, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from models.types import JSONDocument, UTCDateTime


def utc_column(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def clinic_column() -> Any:
    # Every record belongs to a clinic (its key, `clinics.key`); rows from before the network belong to "main".
    return Field(default="main", max_length=32, index=True, sa_column_kwargs={"server_default": "main"})


class ClinicRow(SQLModel, table=True):
    """One clinic of the network: its key, name and its definition (zone, numbers, closures, rota, staff numbers).

    The definition is the document `carepath clinics add` validated (`config.clinics.ClinicDefinition`); a worker
    builds its clinics from these rows at start.
    """

    __tablename__ = "clinics"
    key: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=40)
    definition: dict = Field(sa_column=Column(JSONDocument, nullable=False))
    created_at: datetime = utc_column(nullable=False)
    updated_at: datetime = utc_column(nullable=False)


class PatientRow(SQLModel, table=True):
    """Who the patient is. The only table with a name; logs and tasks carry the id alone."""

    __tablename__ = "patients"
    # The list's name search is "contains, any case" (ILIKE '%…%'): only a trigram index serves that on PostgreSQL.
    # Migration 0010 creates it where pg_trgm can be installed; SQLite ignores the PostgreSQL options (a plain index).
    __table_args__ = (Index("ix_patients_name_trgm", "name", postgresql_using="gin",
                            postgresql_ops={"name": "gin_trgm_ops"}),)
    id: str = Field(primary_key=True, max_length=36)
    clinic_id: str = clinic_column()
    name: str = Field(max_length=200)
    phone: str = Field(max_length=20, index=True)
    timezone: str = Field(max_length=64)
    date_of_birth: date | None = None
    sms_consent: bool = False
    opted_out: bool = False
    created_at: datetime = utc_column(nullable=False)


class WorkflowRow(SQLModel, table=True):
    """One course of care: its stage, its state document and the version that guards concurrent writers."""

    __tablename__ = "workflows"
    # The patient list's order (most recently changed first): read backwards along this index, a page costs its rows.
    __table_args__ = (Index("ix_workflows_updated_at_id", "updated_at", "id"),)
    id: str = Field(primary_key=True, max_length=36)
    clinic_id: str = clinic_column()
    patient_id: str = Field(foreign_key="patients.id", index=True, max_length=36)
    stage: str = Field(max_length=32, index=True)
    version: int = Field(sa_column=Column(Integer, nullable=False))
    protocol_version: str = Field(max_length=64)
    start_key: str | None = Field(default=None, max_length=200, unique=True)  # idempotency key of referral.received
    state: dict = Field(sa_column=Column(JSONDocument, nullable=False))
    created_at: datetime = utc_column(nullable=False)
    updated_at: datetime = utc_column(nullable=False)


class EventRecord(SQLModel, table=True):
    """The append-only history: every accepted event, in order, with who and when. Never updated, never deleted."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("workflow_id", "seq", name="uq_events_workflow_seq"),
        UniqueConstraint("workflow_id", "idempotency_key", name="uq_events_workflow_idempotency"),
    )
    id: int | None = Field(default=None, primary_key=True)
    workflow_id: str = Field(foreign_key="workflows.id", index=True, max_length=36)
    seq: int
    type: str = Field(max_length=64, index=True)
    data: dict = Field(sa_column=Column(JSONDocument, nullable=False))
    actor_role: str = Field(max_length=32)
    actor_name: str | None = Field(default=None, max_length=200)  # the display name at the time
    # The signed-in user who caused it (immutable, unlike a name); None for carepath, the patient, the simulator.
    actor_user_id: str | None = Field(default=None, foreign_key="users.id", max_length=36)
    idempotency_key: str | None = Field(default=None, max_length=200)
    occurred_at: datetime = utc_column(nullable=False)
    recorded_at: datetime = utc_column(nullable=False)
    stage_after: str = Field(max_length=32)


class SessionRecord(SQLModel, table=True):
    """A dosing session as the calendar and dashboard see it (a projection of the workflow state)."""

    __tablename__ = "sessions"
    __table_args__ = (UniqueConstraint("workflow_id", "session_key", name="uq_sessions_workflow_key"),)
    id: int | None = Field(default=None, primary_key=True)
    workflow_id: str = Field(foreign_key="workflows.id", index=True, max_length=36)
    session_key: str = Field(max_length=64)
    route: str = Field(max_length=32)
    series: str = Field(max_length=16)
    status: str = Field(max_length=16, index=True)
    start: datetime = utc_column(nullable=False, index=True)
    dose_mg: int | None = None
    dose_mg_per_kg: float | None = None
    dosed_at: datetime | None = utc_column()
    discharged_at: datetime | None = utc_column()


class CalendarItemRecord(SQLModel, table=True):
    """What the calendar draws: one row per session or appointment of a workflow, kept by `models/projections.py` on
    every apply from the state (`item` is the state's own document of it). The calendar reads one span of `start` here
    instead of decoding every workflow's state."""

    __tablename__ = "calendar_items"
    __table_args__ = (UniqueConstraint("workflow_id", "kind", "item_id", name="uq_calendar_items_workflow_item"),)
    id: int | None = Field(default=None, primary_key=True)
    workflow_id: str = Field(foreign_key="workflows.id", index=True, max_length=36)
    kind: str = Field(max_length=16)  # session, evaluation, therapy
    item_id: str = Field(max_length=64)
    start: datetime = utc_column(nullable=False, index=True)
    status: str = Field(max_length=16)
    item: dict = Field(sa_column=Column(JSONDocument, nullable=False))


class WorkflowFlag(SQLModel, table=True):
    """A flag the engine set in a workflow's state (elevated risk, …) and until when (None: until cleared), kept by
    `models/projections.py` on every apply, so the patient list filters by flag in SQL."""

    __tablename__ = "workflow_flags"
    __table_args__ = (Index("ix_workflow_flags_flag_until", "flag", "until"),)
    workflow_id: str = Field(foreign_key="workflows.id", primary_key=True, max_length=36)
    flag: str = Field(primary_key=True, max_length=64)
    until: datetime | None = utc_column()


class AssessmentRecord(SQLModel, table=True):
    """A scored instrument, for trends and the response review."""

    __tablename__ = "assessments"
    id: int | None = Field(default=None, primary_key=True)
    workflow_id: str = Field(foreign_key="workflows.id", index=True, max_length=36)
    event_id: int = Field(foreign_key="events.id")
    instrument: str = Field(max_length=16)
    total: int | None = None
    band: str | None = Field(default=None, max_length=32)
    risk: str | None = Field(default=None, max_length=16)
    flags: list = Field(sa_column=Column(JSONDocument, nullable=False))
    at: datetime = utc_column(nullable=False)


class TimerRecord(SQLModel, table=True):
    """A durable timer: the scheduler claims due pending rows and turns each into an event."""

    __tablename__ = "timers"
    __table_args__ = (
        # Claiming scans only pending rows in due order; the partial index keeps that fast with millions of fired rows.
        Index("ix_timers_pending_due", "due_at", postgresql_where=text("status = 'pending'"),
              sqlite_where=text("status = 'pending'")),
        Index("ix_timers_workflow_key", "workflow_id", "key"),
    )
    id: str = Field(primary_key=True, max_length=36)
    clinic_id: str = clinic_column()
    workflow_id: str = Field(foreign_key="workflows.id", max_length=36)
    key: str = Field(max_length=120)
    kind: str = Field(max_length=32)
    session_key: str | None = Field(default=None, max_length=64)
    due_at: datetime = utc_column(nullable=False)
    status: str = Field(default="pending", max_length=16)  # pending → claimed → fired, or cancelled
    data: dict = Field(sa_column=Column(JSONDocument, nullable=False))
    created_at: datetime = utc_column(nullable=False)
    claimed_at: datetime | None = utc_column()
    fired_at: datetime | None = utc_column()
    # The event whose decision scheduled it (its cause, for "why is this coming?"); None for timers set before 0014.
    event_id: int | None = Field(default=None, foreign_key="events.id")


class OutboxMessage(SQLModel, table=True):
    """An SMS to send, written in the same transaction as the event that caused it; workers deliver it once."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending_due", "not_before", postgresql_where=text("status = 'pending'"),
                            sqlite_where=text("status = 'pending'")),)
    id: str = Field(primary_key=True, max_length=36)
    clinic_id: str = clinic_column()
    # None: an answer to a number no workflow owns (the crisis line to an unknown number, a shared number's acknowledgement).
    workflow_id: str | None = Field(default=None, foreign_key="workflows.id", index=True, max_length=36)
    event_id: int | None = Field(default=None, foreign_key="events.id")
    kind: str = Field(max_length=32)
    recipient: str = Field(max_length=32)  # "patient" or a staff role
    to_phone: str = Field(max_length=20)
    body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="pending", max_length=16)
    drop_reason: str | None = Field(default=None, max_length=32)
    urgent: bool = False
    # Reminders, check-ins, nudges: held to quiet hours and the cap, and re-checked at send time.
    automated: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    subject: str | None = Field(default=None, max_length=100)  # what a reminder is about: "session:<id>"
    subject_start: datetime | None = utc_column()  # the visit time it announced; moved since → dropped
    expires_at: datetime | None = utc_column()  # pointless after this: dropped, not sent late
    session_key: str | None = Field(default=None, max_length=64)
    escalation_id: str | None = Field(default=None, max_length=36)
    dedupe_key: str | None = Field(default=None, max_length=200, unique=True)
    not_before: datetime = utc_column(nullable=False)
    created_at: datetime = utc_column(nullable=False)
    claimed_at: datetime | None = utc_column()
    sent_at: datetime | None = utc_column()
    delivered_at: datetime | None = utc_column()
    provider_id: str | None = Field(default=None, max_length=64)
    error_code: str | None = Field(default=None, max_length=16)
    attempts: int = 0


class MessageReceipt(SQLModel, table=True):
    """A provider's status callback for one of our messages, recorded once per (MessageSid, status).

    Only callbacks carrying the message's own MessageSid are recorded; a repeat of one is recognised here and changes
    nothing. The message's status moves only forward (`models/outbox.py`); a failure after `delivered` is kept here
    and in the patient's history, never on the message.
    """

    __tablename__ = "message_receipts"
    __table_args__ = (UniqueConstraint("provider_id", "status", name="uq_message_receipts_sid_status"),)
    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(foreign_key="outbox.id", index=True, max_length=36)
    provider_id: str = Field(max_length=64)
    status: str = Field(max_length=16)  # the provider's word: queued, sent, delivered, undelivered, failed, …
    error_code: str | None = Field(default=None, max_length=16)
    received_at: datetime = utc_column(nullable=False)


class InboundText(SQLModel, table=True):
    """A text as it arrived (keyed by the provider's MessageSid): stored before anything else, applied to a workflow after.

    The webhook writes it in one short transaction and answers at once; a task (or the scheduler's sweep) applies it.
    `status`: pending → queued (handed to a worker at `claimed_at`) → applied (to `workflow_id`, as `event_id`, in the
    same transaction as the event), unassigned (staff must choose the patient: a shared or unknown number), or ignored
    (not a number a patient can write from, or refused by every workflow: `note` says why).
    """

    __tablename__ = "inbox"
    __table_args__ = (Index("ix_inbox_pending", "received_at", postgresql_where=text("status = 'pending'"),
                            sqlite_where=text("status = 'pending'")),
                      # The scheduler's sweep every second: handed out long ago and still not applied. Without it the
                      # sweep reads every handed-out text, thousands in a burst, each tick.
                      Index("ix_inbox_queued", "claimed_at", postgresql_where=text("status = 'queued'"),
                            sqlite_where=text("status = 'queued'")))
    id: str = Field(primary_key=True, max_length=36)
    clinic_id: str = clinic_column()
    provider_id: str = Field(max_length=64, unique=True)  # Twilio's MessageSid: a repeated webhook stores nothing new
    from_phone: str = Field(max_length=20, index=True)
    to_phone: str | None = Field(default=None, max_length=20)
    body: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime = utc_column(nullable=False)
    crisis: bool = False  # crisis language, read from the raw text on arrival: applied first, ahead of the rest
    status: str = Field(default="pending", max_length=16, index=True)
    attempts: int = 0
    claimed_at: datetime | None = utc_column()
    applied_at: datetime | None = utc_column()
    workflow_id: str | None = Field(default=None, foreign_key="workflows.id", index=True, max_length=36)
    event_id: int | None = Field(default=None, foreign_key="events.id")
    reading: str | None = Field(default=None, max_length=32)  # how it was read: the question it answered, unreadable, …
    note: str | None = Field(default=None, max_length=200)  # why it is unassigned or ignored (no patient data)


class PhoneNumber(SQLModel, table=True):
    """A phone number as a record of its own: consent and deliverability belong to the number, shared by every patient
    on it. STOP, START and the carrier's opt-out (Twilio 21610) set `opted_out`; an unreachable number is
    `undeliverable` until a text arrives from it. No row: nothing is known against the number."""

    __tablename__ = "phone_numbers"
    phone: str = Field(primary_key=True, max_length=20)  # E.164
    opted_out: bool = False
    opted_out_at: datetime | None = utc_column()
    opted_out_by: str | None = Field(default=None, max_length=16)  # "keyword" (the patient's STOP) or "carrier"
    undeliverable: bool = False
    undeliverable_at: datetime | None = utc_column()
    undeliverable_code: str | None = Field(default=None, max_length=16)
    updated_at: datetime = utc_column(nullable=False)


class EscalationRecord(SQLModel, table=True):
    """A worklist item (a projection of the workflow's escalations, queried by the worklist and dashboard)."""

    __tablename__ = "escalations"
    id: str = Field(primary_key=True, max_length=36)
    clinic_id: str = clinic_column()
    # Both None for an emergency from a number carepath does not know: `inbox_id` names the text that raised it.
    workflow_id: str | None = Field(default=None, foreign_key="workflows.id", index=True, max_length=36)
    patient_id: str | None = Field(default=None, foreign_key="patients.id", max_length=36)
    inbox_id: str | None = Field(default=None, foreign_key="inbox.id", max_length=36)
    # The event that first raised it (a later raise while open, a tier step or an acknowledgement does not move it).
    event_id: int | None = Field(default=None, foreign_key="events.id")
    reason: str = Field(max_length=40)
    severity: str = Field(max_length=16, index=True)
    tier: int
    owner_role: str = Field(max_length=32)
    status: str = Field(max_length=16, index=True)
    session_key: str | None = Field(default=None, max_length=64)
    count: int = 1
    raised_at: datetime = utc_column(nullable=False)
    updated_at: datetime = utc_column(nullable=False)
    ack_deadline: datetime = utc_column(nullable=False)
    acknowledged_at: datetime | None = utc_column()
    acknowledged_by: str | None = Field(default=None, max_length=200)
    resolved_at: datetime | None = utc_column()
    resolved_by: str | None = Field(default=None, max_length=200)
    # Only for items with no workflow (whose events are in no history): the keys that took and closed them.
    acknowledged_key: str | None = Field(default=None, max_length=200)
    resolved_key: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, sa_column=Column(String(2000)))


class User(SQLModel, table=True):
    """A member of staff: name, email, role, and how they sign in (an argon2id password hash, a TOTP secret once
    enrolled). API tokens and signed-in browsers are rows of their own (`ApiToken`, `StaffSession`)."""

    __tablename__ = "users"
    id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=254, unique=True)  # lower case; None only for pre-0006 users
    role: str = Field(max_length=16)  # coordinator, clinician, ops or admin
    # The clinics (keys) this account works at: it sees and acts on their records only. None: every clinic (a network
    # role, and every account from before the network).
    clinics: list | None = Field(default=None, sa_column=Column(JSONDocument, nullable=True))
    # The role at a clinic where it is not `role` ({clinic key: role}); None: `role` at every one of its clinics. Only
    # an account of named clinics has one (a network role is one role everywhere). `api.policy.role_at` reads it.
    clinic_roles: dict | None = Field(default=None, sa_column=Column(JSONDocument, nullable=True))
    created_at: datetime = utc_column(nullable=False)
    disabled: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    password_hash: str | None = Field(default=None, max_length=200)
    must_change_password: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    password_changed_at: datetime | None = utc_column()
    totp_secret: str | None = Field(default=None, max_length=64)  # base32, set when enrolment is confirmed
    totp_enrolled_at: datetime | None = utc_column()
    totp_last_step: int | None = None  # the time step of the last code accepted: a code works once


class ApiToken(SQLModel, table=True):
    """A named API token: a role (at most its owner's), an expiry, revocable. Only its SHA-256 is kept."""

    __tablename__ = "api_tokens"
    id: str = Field(primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=36)
    name: str = Field(max_length=100)
    role: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = utc_column(nullable=False)
    expires_at: datetime = utc_column(nullable=False)
    revoked_at: datetime | None = utc_column()


class StaffSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random id; this row its SHA-256, the form token (CSRF) and how far
    signing in got: `stage` password → code or enrol → new_password → active (only active sessions open pages)."""

    __tablename__ = "staff_sessions"
    id: str = Field(primary_key=True, max_length=36)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=36)
    stage: str = Field(max_length=16)
    method: str = Field(max_length=16)  # password or oidc
    csrf_token: str = Field(max_length=64)
    pending_secret: str | None = Field(default=None, max_length=64)  # a TOTP secret shown for enrolment, unconfirmed
    address: str | None = Field(default=None, max_length=64)
    created_at: datetime = utc_column(nullable=False)
    last_seen_at: datetime = utc_column(nullable=False)


class AuditEntry(SQLModel, table=True):
    """The audit trail: sign-ins and their failures, sign-outs, account changes, and every view of a patient's data
    (who, which patient, which route, when, from which address). Append-only: carepath has no code path that updates or
    deletes a row, and the database refuses both (migration 0006). Never a password, a name or a phone."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_user_at", "user_id", "at"), Index("ix_audit_log_patient_at", "patient_id", "at"),
                      Index("ix_audit_log_address_at", "address", "at"))
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = utc_column(nullable=False, index=True)
    action: str = Field(max_length=32)  # sign_in, sign_in_failed, sign_out, view, change, export, user_disabled, …
    user_id: str | None = Field(default=None, max_length=36)  # who (None: an unknown account's failed sign-in)
    patient_id: str | None = Field(default=None, max_length=36)
    workflow_id: str | None = Field(default=None, max_length=36)
    target_id: str | None = Field(default=None, max_length=36)  # the account or token an admin action was about
    route: str | None = Field(default=None, max_length=200)  # the route's template, e.g. /console/patients/{workflow_id}
    method: str | None = Field(default=None, max_length=8)
    address: str | None = Field(default=None, max_length=64)
    detail: str | None = Field(default=None, max_length=200)  # why a sign-in failed, what was exported: no patient data
