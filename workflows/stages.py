"""Stages, roles and which event is allowed where, declared as data (PROTOCOL.md §2, EVENTS.md).

The README's pathway tables are generated from these tables and `workflows.transitions` (`workflows.docs`), and a test
fails when the committed README drifts from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Stage(StrEnum):
    REFERRED = "referred"
    EVALUATION_SCHEDULED = "evaluation_scheduled"
    TREATMENT_PLANNED = "treatment_planned"
    INDUCTION = "induction"
    RESPONSE_REVIEW = "response_review"
    MAINTENANCE = "maintenance"
    PAUSED = "paused"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    DISCHARGED = "discharged"


class Role(StrEnum):
    COORDINATOR = "coordinator"
    CLINICIAN = "clinician"
    OPS = "ops"
    ADMIN = "admin"
    PATIENT = "patient"  # inbound SMS
    SYSTEM = "system"  # timers firing


FINAL = frozenset({Stage.DECLINED, Stage.WITHDRAWN, Stage.DISCHARGED})
NON_FINAL = frozenset(set(Stage) - FINAL)
ACTIVE = frozenset(NON_FINAL - {Stage.PAUSED})
ALL = frozenset(Stage)

STAFF = frozenset({Role.COORDINATOR, Role.CLINICIAN})
CLINICAL = frozenset({Role.CLINICIAN})
# Ops may acknowledge escalations seen on the dashboard; acting on patients is coordinators' and clinicians' work.
WORKLIST = frozenset({Role.COORDINATOR, Role.CLINICIAN, Role.OPS})


@dataclass(frozen=True)
class EventRule:
    allowed_in: frozenset[Stage]
    roles: frozenset[Role]
    summary: str


# Events people (and patients' texts) post. Admin may post any of them; the system posts the timer events below.
EVENT_RULES: dict[str, EventRule] = {
    "referral.received": EventRule(frozenset(), STAFF, "starts a workflow"),
    "evaluation.scheduled": EventRule(frozenset({Stage.REFERRED}), STAFF, "book the evaluation"),
    "evaluation.rescheduled": EventRule(frozenset({Stage.EVALUATION_SCHEDULED}), STAFF, "move the evaluation"),
    "evaluation.completed": EventRule(frozenset({Stage.EVALUATION_SCHEDULED}), CLINICAL, "eligibility and route"),
    "assessment.submitted": EventRule(NON_FINAL, STAFF | {Role.PATIENT}, "score an instrument"),
    "rems.enrolled": EventRule(NON_FINAL, STAFF, "REMS patient enrollment on file"),
    "session.scheduled": EventRule(
        frozenset({Stage.TREATMENT_PLANNED, Stage.INDUCTION, Stage.MAINTENANCE, Stage.PAUSED}), STAFF, "book a session"
    ),
    "session.rescheduled": EventRule(NON_FINAL, STAFF, "move a scheduled session"),
    "session.cancelled": EventRule(NON_FINAL, STAFF, "cancel a scheduled session"),
    "session.confirmed": EventRule(NON_FINAL, STAFF | {Role.PATIENT}, "patient confirmed"),
    "session.arrived": EventRule(NON_FINAL, STAFF, "patient is at the clinic"),
    "vitals.recorded": EventRule(NON_FINAL, CLINICAL, "blood pressure and vitals"),
    "dose.administered": EventRule(frozenset({Stage.INDUCTION, Stage.MAINTENANCE}), CLINICAL, "dose given"),
    "session.discharged": EventRule(NON_FINAL, CLINICAL, "patient leaves after monitoring"),
    "rems.form_submitted": EventRule(ALL, STAFF, "REMS monitoring form sent"),
    "therapy.scheduled": EventRule(frozenset({Stage.RESPONSE_REVIEW, Stage.MAINTENANCE}), STAFF, "book therapy"),
    "review.completed": EventRule(frozenset({Stage.RESPONSE_REVIEW, Stage.MAINTENANCE}), CLINICAL, "response review"),
    "escalation.acknowledged": EventRule(ALL, WORKLIST, "take an escalation"),
    "escalation.resolved": EventRule(ALL, WORKLIST, "close an escalation with a note"),
    "safety.hold": EventRule(ACTIVE, CLINICAL, "pause dosing"),
    "safety.cleared": EventRule(frozenset({Stage.PAUSED}), CLINICAL, "resume the stage left"),
    "patient.withdrew": EventRule(NON_FINAL, STAFF, "patient leaves the program"),
    "workflow.discharged": EventRule(NON_FINAL, CLINICAL, "end of care"),
    "sms.received": EventRule(ALL, frozenset({Role.PATIENT}), "a patient's text"),
    "message.sent_by_staff": EventRule(NON_FINAL, STAFF, "text the patient"),
    # Reported by the SMS provider through the workers, never posted by people.
    "sms.opted_out_at_carrier": EventRule(ALL, frozenset({Role.SYSTEM}), "the carrier says the patient opted out"),
    "sms.undeliverable": EventRule(ALL, frozenset({Role.SYSTEM}), "the number cannot take SMS"),
    # Recorded by the store when a patient is referred onto a number that already said STOP or cannot take texts.
    "sms.number_blocked": EventRule(ALL, frozenset({Role.SYSTEM}), "the patient's number was closed to texts already"),
}

# Events the engine makes itself when a durable timer falls due. They are never refused: a timer that became pointless
# (its session was cancelled, its escalation acknowledged) is recorded and changes nothing.
TIMER_EVENTS: dict[str, str] = {
    "no_show": "session.no_show",
    "confirmation_check": "session.confirmation_due",
    "bp_recheck": "vitals.recheck_due",
    "rems_enrollment_check": "rems.enrollment_check_due",
    "rems_form_reminder": "rems.form_due",
    "rems_form_overdue": "rems.form_overdue",
    "escalation_deadline": "escalation.deadline_passed",
    "reminder": "reminder.due",
    "checkin": "checkin.due",
    "checkin_nudge": "checkin.nudge_due",
    "checkin_missed": "checkin.missed",
    "question_expiry": "question.expired",
    "assessment_due": "assessment.due",
}

def allowed_events(stage: Stage) -> list[str]:
    """The events people may post in a stage, for error messages and the console."""
    return sorted(name for name, rule in EVENT_RULES.items()
                  if stage in rule.allowed_in and rule.roles != {Role.SYSTEM})


def role_may_post(role: Role, event_type: str) -> bool:
    if role is Role.ADMIN:
        return True
    if role is Role.SYSTEM:
        return event_type in TIMER_EVENTS.values() or event_type in EVENT_RULES
    rule = EVENT_RULES.get(event_type)
    return rule is not None and role in rule.roles
