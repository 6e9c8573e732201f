"""Typed payloads for every event of EVENTS.md, and the envelope that carries them."""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from workflows.catalog import LanguageTag
from workflows.errors import Rejected
from workflows.protocol import Route
from workflows.stages import EVENT_RULES, TIMER_EVENTS, Role
from workflows.state import Observation, RespiratoryStatus


def e164(value: str) -> str:
    """Normalise a phone number to E.164, refusing anything that is not one."""
    text = value.strip()
    if not text.startswith("+"):
        raise ValueError("must be in E.164 form with country code, like +15555550101")
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("must be in E.164 form with country code, like +15555550101") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError("is not a possible phone number (E.164, like +15555550101)")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def iana_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("must be an IANA time zone such as America/New_York") from exc
    return value


# Times outside these years are typos; near datetime's limits, converting to UTC or adding a reminder's lead would
# overflow (an OverflowError, not a validation error).
EARLIEST_YEAR, LATEST_YEAR = 1900, 2199


def aware(value: datetime) -> datetime:
    # Naive times are refused here; callers (API, simulator) attach the clinic's zone before building events.
    if value.tzinfo is None:
        raise ValueError("must carry a UTC offset")
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"must be a time between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return value.astimezone(UTC)


Phone = Annotated[str, AfterValidator(e164)]
TimeZone = Annotated[str, AfterValidator(iana_zone)]
# A clinic's key names it in ids, settings and scenarios: short, lower case, no spaces (no secret, no patient data).
ClinicKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,31}$")]
When = Annotated[datetime, AfterValidator(aware)]
SessionId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Text = Annotated[str, Field(max_length=2000)]


class Payload(BaseModel):
    # Unknown fields are refused so a typo ("sedation_resolve") is an error, not a silently missing fact.
    model_config = ConfigDict(extra="forbid", frozen=True)


class PatientData(Payload):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    phone: Phone
    timezone: TimeZone | None = None
    date_of_birth: date | None = None
    sms_consent: bool
    # An IETF tag (`en`, `es`, `es-MX`); the clinic must have a catalog for it, or for its primary language.
    language: LanguageTag = "en"


class ReferralReceived(Payload):
    patient: PatientData
    clinic: ClinicKey | None = None  # the clinic the patient is referred to; the network's first when omitted
    referrer: Annotated[str, Field(min_length=1, max_length=200)]
    reason: Text | None = None
    prior_treatments: int = Field(ge=0, le=100)
    urgency: Literal["routine", "urgent"] = "routine"


# A chair or room and a provider, by the name the clinic lists them under (`Clinic.chairs`, `Clinic.providers`).
PlaceName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]


class Placed(Payload):
    """Where a booking sits on the schedule grid and who is booked on it; both optional (`workflows.schedule`)."""

    chair: PlaceName | None = None
    provider: PlaceName | None = None


class EvaluationScheduled(Placed):
    start: When
    appointment: SessionId = "evaluation"


class EvaluationRescheduled(Placed):
    start: When


CONTRAINDICATIONS = (
    "aneurysmal_vascular_disease",
    "arteriovenous_malformation",
    "intracerebral_hemorrhage",
    "ketamine_hypersensitivity",
    "psychosis_or_mania",
    "uncontrolled_hypertension",
    "pregnancy_or_lactation",
    "substance_use_disorder",
)


class EvaluationCompleted(Payload):
    eligible: bool
    route: Route | None = None
    # Free text is allowed (clinics word them differently); CONTRAINDICATIONS are the codes the console offers.
    contraindications: list[Annotated[str, Field(min_length=1, max_length=200)]] = []
    weight_kg: float | None = Field(default=None, gt=20, lt=400)
    clinician: Annotated[str, Field(min_length=1, max_length=200)]
    reason: Text | None = None
    # Why it was done before its booked time (the patient came early, a slot opened): without it, an evaluation
    # recorded before its booked start is refused, so a future evaluation never shows as done by a slip.
    brought_forward: Annotated[str, Field(min_length=1, max_length=2000)] | None = Field(
        default=None, description="Only when the evaluation happened before its booked time: why it was brought forward.")

    @model_validator(mode="after")
    def _consistent(self) -> EvaluationCompleted:
        if self.eligible and self.route is None:
            raise ValueError("route is required when eligible (esketamine, iv_ketamine or im_ketamine)")
        if self.eligible and self.contraindications:
            raise ValueError("eligible with contraindications listed is a contradiction")
        if not self.eligible and not self.reason:
            raise ValueError("reason is required when not eligible")
        return self


class AssessmentSubmitted(Payload):
    instrument: Literal["pcl5", "phq9", "gad7", "cssrs"]
    answers: list[Any] | dict[str, Any]


class RemsEnrolled(Payload):
    enrollment_id: Annotated[str, Field(min_length=1, max_length=64)] = "on-file"


class SessionScheduled(Placed):
    session: SessionId
    start: When
    dose_mg: int | None = Field(default=None, gt=0, le=1000)
    dose_mg_per_kg: float | None = Field(default=None, gt=0, le=10)


class SessionRef(Payload):
    session: SessionId


class SessionRescheduled(SessionRef, Placed):
    start: When


class SessionCancelled(SessionRef):
    reason: Text | None = None


# A pulse oximeter reading below 50 % is a probe off the finger or a typo, not a patient in a chair.
SPO2_RANGE = (50, 100)


class VitalsRecorded(SessionRef):
    phase: Literal["pre_dose", "post_dose", "pre_discharge"]
    systolic: int = Field(ge=40, le=300)
    diastolic: int = Field(ge=20, le=250)
    heart_rate: int | None = Field(default=None, ge=20, le=250)
    # Pulse oximetry, %. Checked by `_spo2_in_range` for a message that says what is allowed.
    spo2: int | None = Field(default=None, json_schema_extra={"minimum": SPO2_RANGE[0], "maximum": SPO2_RANGE[1]})
    # What the monitoring provider sees of the patient's breathing (esketamine: a discharge gate, `workflows.gates`).
    respiratory_status: RespiratoryStatus | None = None
    # Sedation and dissociation seen (or not) at this reading: the monitoring record over time (all optional).
    sedation: Observation | None = None
    dissociation: Observation | None = None

    @field_validator("spo2")
    @classmethod
    def _spo2_in_range(cls, value: int | None) -> int | None:
        low, high = SPO2_RANGE
        if value is not None and not low <= value <= high:
            raise ValueError(f"{value}% is not a pulse oximetry reading: give a whole percentage from {low} to {high}")
        return value

    @model_validator(mode="after")
    def _systolic_above_diastolic(self) -> VitalsRecorded:
        if self.diastolic >= self.systolic:
            raise ValueError("diastolic must be below systolic")
        return self


class DoseAdministered(SessionRef):
    dose_mg: int | None = Field(default=None, gt=0, le=1000)
    dose_mg_per_kg: float | None = Field(default=None, gt=0, le=10)
    ride_confirmed: bool = False
    fasting_confirmed: bool = False


class SessionDischarged(SessionRef):
    sedation_resolved: bool
    dissociation_resolved: bool
    clinician: Text | None = None
    # Adverse events during the session, as the clinician words them (the REMS form reports them); omitted: none recorded.
    adverse_events: Annotated[str, Field(min_length=1, max_length=2000)] | None = None


class TherapyScheduled(Placed):
    appointment: SessionId
    start: When


class ReviewCompleted(Payload):
    decision: Literal["continue", "discharge"]
    clinician: Text | None = None


class EscalationRef(Payload):
    escalation: Annotated[str, Field(min_length=1, max_length=64)]
    by: Text | None = None


class EscalationResolved(EscalationRef):
    note: Text | None = None


class Reasoned(Payload):
    reason: Text | None = None
    clinician: Text | None = None


# `copy` shadows pydantic's deprecated `BaseModel.copy()`, which nothing calls: the payload's field is the bool.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message='Field name "copy"', category=UserWarning)

    class SmsReceived(Payload):
        from_: Phone = Field(alias="from")
        body: Annotated[str, Field(max_length=10_000)]
        # Recorded and acted on, but no reply: the same text already answered on another record (a shared number).
        copy: bool = False
        model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

        @model_serializer(mode="wrap")
        def _copy_only_when_set(self, handler):
            # An ordinary text's history keeps the two fields it always had.
            dumped = handler(self)
            if not self.copy:
                dumped.pop("copy", None)
            return dumped


def is_copy(data: Payload) -> bool:
    """Whether an event's data is a shared number's copy of a text (recorded and acted on, never answered).

    Ask this, not `getattr(data, "copy", ...)`: every other payload has pydantic's `copy()` method under that name."""
    return isinstance(data, SmsReceived) and data.copy


STAFF_MESSAGE_MAX = 320  # two SMS segments: staff write to patients briefly, as the clinic's own texts do


class StaffMessage(Payload):
    """A text a coordinator or clinician writes to the patient."""

    body: Annotated[str, Field(min_length=1, max_length=STAFF_MESSAGE_MAX)]
    urgent: bool = False  # goes at once, even in the patient's quiet hours
    send_anyway: bool = False  # the sender confirmed a text that names a drug, a diagnosis or a score


class NumberBlocked(Payload):
    """A new patient's number was already closed to texts when they were referred: what the number's record says."""

    reason: Literal["opted_out", "undeliverable"]


class ProviderReport(Payload):
    """What the SMS provider said about one of our messages: ids and codes only."""

    message: Annotated[str, Field(min_length=1, max_length=64)]
    code: Annotated[str, Field(max_length=16)] | None = None


class TimerFired(Payload):
    """Data of every engine-made timer event: which timer, and the due time it was created with."""

    key: str
    due_at: When


PAYLOADS: dict[str, type[Payload]] = {
    "referral.received": ReferralReceived,
    "evaluation.scheduled": EvaluationScheduled,
    "evaluation.rescheduled": EvaluationRescheduled,
    "evaluation.completed": EvaluationCompleted,
    "assessment.submitted": AssessmentSubmitted,
    "rems.enrolled": RemsEnrolled,
    "session.scheduled": SessionScheduled,
    "session.rescheduled": SessionRescheduled,
    "session.cancelled": SessionCancelled,
    "session.confirmed": SessionRef,
    "session.arrived": SessionRef,
    "vitals.recorded": VitalsRecorded,
    "dose.administered": DoseAdministered,
    "session.discharged": SessionDischarged,
    "rems.form_submitted": SessionRef,
    "therapy.scheduled": TherapyScheduled,
    "review.completed": ReviewCompleted,
    "escalation.acknowledged": EscalationRef,
    "escalation.resolved": EscalationResolved,
    "safety.hold": Reasoned,
    "safety.cleared": Reasoned,
    "patient.withdrew": Reasoned,
    "workflow.discharged": Reasoned,
    "sms.received": SmsReceived,
    "message.sent_by_staff": StaffMessage,
    "sms.opted_out_at_carrier": ProviderReport,
    "sms.number_blocked": NumberBlocked,
    "sms.undeliverable": ProviderReport,
    **{event_type: TimerFired for event_type in TIMER_EVENTS.values()},
}
assert set(EVENT_RULES) <= set(PAYLOADS), "every declared event needs a payload"


class Actor(BaseModel):
    """Who caused an event: a role, the display name at the time, and for a signed-in user their immutable id.

    `user_id` is None for carepath itself (timers), the patient (texts) and the simulator's staff; a name can change
    or be shared, the id cannot, so "who did this" is answered by the id and the name is what people read."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    role: Role
    name: Annotated[str, Field(max_length=200)] | None = None
    user_id: Annotated[str, Field(min_length=1, max_length=36)] | None = None


SYSTEM = Actor(role=Role.SYSTEM, name="carepath")

# Fields of event data that claim who did something. When a user posts, they are the user: filled from the session
# when absent, and refused when they name someone else (`api.identity`); a form never asks for them.
IDENTITY_FIELDS = ("by", "clinician")


def identity_fields(event_type: str) -> tuple[str, ...]:
    """The identity fields the event's payload has (none for an unknown type)."""
    model = PAYLOADS.get(event_type)
    return tuple(name for name in IDENTITY_FIELDS if model is not None and name in model.model_fields)


class Event(BaseModel):
    """An event as posted: its type, typed data, who did it and when."""

    model_config = ConfigDict(frozen=True)
    type: str
    data: Payload
    actor: Actor = SYSTEM
    idempotency_key: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    occurred_at: When | None = None


def parse_data(event_type: str, data: dict[str, Any] | None) -> Payload:
    """Validate raw event data into its typed payload, or refuse with the field that is wrong."""
    model = PAYLOADS.get(event_type)
    if model is None:
        raise Rejected(f"unknown event type {event_type!r}", code="not_allowed", allowed=EVENT_RULES)
    try:
        return model.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        where = f"{field}: " if field else ""
        message = first["msg"].removeprefix("Value error, ")
        raise Rejected(f"invalid {event_type} data: {where}{message}", code="invalid_data", field=field) from None


def make_event(
    event_type: str,
    data: dict[str, Any] | None,
    *,
    actor: Actor | dict | None = None,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
) -> Event:
    """Build a typed event from raw parts, refusing bad data with a `Rejected(code="invalid_data")`."""
    payload = parse_data(event_type, data)
    try:
        return Event(
            type=event_type,
            data=payload,
            actor=Actor.model_validate(actor) if actor is not None else SYSTEM,
            idempotency_key=idempotency_key,
            occurred_at=occurred_at,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise Rejected(f"invalid {event_type} event: {field}: {first['msg']}", code="invalid_data", field=field) from None


def dump_data(event: Event) -> dict[str, Any]:
    """The event's data as JSON-ready primitives, with the aliases of EVENTS.md (`from`)."""
    return event.data.model_dump(mode="json", by_alias=True, exclude_none=True)


# Fields whose values are moments; EVENTS.md: "a time without an offset is clinic-local".
TIME_FIELDS = frozenset({"start", "occurred_at"})


def localize_times(data: dict[str, Any], zone: str) -> dict[str, Any]:
    """Attach the clinic's zone to offset-less times in event data (strings or datetimes), leaving the rest alone."""
    localized = dict(data)
    for key in TIME_FIELDS & set(data):
        value = data[key]
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                continue  # left for the payload's own validation to report
        if isinstance(value, datetime) and value.tzinfo is None:
            localized[key] = value.replace(tzinfo=ZoneInfo(zone))
    return localized
