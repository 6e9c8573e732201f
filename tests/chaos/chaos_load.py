"""The chaos run's work, made through the real pathway (events applied by the unit of work, timers as rows).

Three kinds of patient, each with what must come out of the run:

- `reminder`: an evaluation booked so that its 2-hour reminder falls due at a chosen moment → one SMS.
- `confirmation`: an IV ketamine session booked 24 h after a chosen moment, never confirmed: at that moment its
  day-before reminder and its confirmation check fall due → one SMS and one open `confirmation_missing` escalation.
- `checkin`: a session discharged yesterday whose check-in went out (24 h minus a chosen moment ago) and was never
  answered. Built on a virtual clock in the past, as the simulator would: the check-in and its nudge are due at once
  (sent before the chaos starts), and the missed check-in falls due at the chosen moment → an open `checkin_missed`
  escalation. The protocol counts that ladder in hours (≥ 1), so it cannot be compressed: it is started in the past.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from e2e.e2e_support import COORDINATOR, E2E, daytime_zone

from workflows.events import make_event
from workflows.pathway import timer_event

CLINICIAN = {"role": "clinician", "name": "chaos"}
PATIENT_MESSAGES = {"reminder": 1, "confirmation": 1, "checkin": 2}  # patient SMS each kind must receive
EXPECTED_ESCALATION = {"confirmation": "confirmation_missing", "checkin": "checkin_missed"}
CREATE_THREADS = 6


@dataclass
class Load:
    """Workflow ids by kind, and when the timer that matters for each falls due."""

    workflows: dict[str, list[str]] = field(default_factory=lambda: {kind: [] for kind in PATIENT_MESSAGES})
    due: dict[str, datetime] = field(default_factory=dict)

    @property
    def all_ids(self) -> list[str]:
        return [wf for ids in self.workflows.values() for wf in ids]

    @property
    def expected_messages(self) -> int:
        return sum(PATIENT_MESSAGES[kind] * len(ids) for kind, ids in self.workflows.items())


def _apply(world: E2E, workflow_id: str, event_type: str, data: dict, actor: dict, at: datetime) -> None:
    world.services.store.apply(workflow_id, make_event(event_type, data, actor=actor), at)


def reminder_patient(world: E2E, due: datetime) -> str:
    workflow_id = world.start_workflow()
    world.schedule_evaluation(workflow_id, reminder_at=due)
    return workflow_id


def confirmation_patient(world: E2E, due: datetime) -> str:
    """Evaluated eligible for IV ketamine, first session at `due` + 24 h: reminder and confirmation check at `due`."""
    workflow_id = world.start_workflow()
    now = datetime.now(UTC)
    _apply(world, workflow_id, "evaluation.scheduled", {"start": now + timedelta(days=10)}, COORDINATOR, now)
    _apply(world, workflow_id, "evaluation.completed",
           {"eligible": True, "route": "iv_ketamine", "weight_kg": 80, "clinician": "Dr Chaos", "brought_forward": "seen early"},
           CLINICIAN, now)
    _apply(world, workflow_id, "session.scheduled", {"session": "s1", "start": due + timedelta(hours=24)},
           COORDINATOR, now)
    return workflow_id


def checkin_patient(world: E2E, missed_due: datetime) -> str:
    """A session discharged the day before `missed_due` − 24 h; its check-in sent then, unanswered since.

    Every event is applied at its own moment on a virtual clock in the past; only the check-in timer is fired here (at
    the moment it is sent), the rest of the timers that fell due meanwhile are the scheduler's to fire.
    """
    sent = missed_due - timedelta(hours=24)  # the check-in goes out at 14:xx in the patient's zone
    zone = daytime_zone(sent)
    discharged = sent - timedelta(hours=24)  # the day before: its check-in is due at 10:00 on `sent`'s day
    start = discharged - timedelta(minutes=80)
    referred = start - timedelta(days=2)
    phone = world.phone()
    event = make_event("referral.received", {
        "patient": {"name": "Chaos Patient", "phone": phone, "sms_consent": True, "timezone": zone},
        "referrer": "Dr Chaos", "prior_treatments": 3,
    }, actor=COORDINATOR)
    workflow_id = world.services.store.start(event, referred).workflow_id
    steps = [
        (referred, "evaluation.scheduled", {"start": referred + timedelta(days=1)}, COORDINATOR),
        (referred + timedelta(minutes=1), "evaluation.completed",
         {"eligible": True, "route": "iv_ketamine", "weight_kg": 80, "clinician": "Dr Chaos", "brought_forward": "seen early"},
         CLINICIAN),
        (referred + timedelta(minutes=2), "session.scheduled", {"session": "s1", "start": start}, COORDINATOR),
        (start, "session.confirmed", {"session": "s1"}, COORDINATOR),
        (start, "session.arrived", {"session": "s1"}, COORDINATOR),
        (start + timedelta(minutes=1), "vitals.recorded",
         {"session": "s1", "phase": "pre_dose", "systolic": 120, "diastolic": 80}, CLINICIAN),
        (start + timedelta(minutes=2), "dose.administered",
         {"session": "s1", "dose_mg_per_kg": 0.5, "ride_confirmed": True, "fasting_confirmed": True}, CLINICIAN),
        (start + timedelta(minutes=75), "vitals.recorded",
         {"session": "s1", "phase": "pre_discharge", "systolic": 118, "diastolic": 78}, CLINICIAN),
        (discharged, "session.discharged",
         {"session": "s1", "sedation_resolved": True, "dissociation_resolved": True, "clinician": "Dr Chaos"}, CLINICIAN),
    ]
    for at, event_type, data, actor in steps:
        _apply(world, workflow_id, event_type, data, actor, at)
    timer = world.workflow_state(workflow_id).timers["checkin:s1"]
    assert timer.due_at <= sent, (workflow_id, timer.due_at, sent)
    world.services.store.apply(workflow_id, timer_event("checkin:s1", timer), sent)
    missed = world.workflow_state(workflow_id).timers["checkin_missed:s1"]
    assert missed.due_at == missed_due, (workflow_id, missed.due_at, missed_due)
    return workflow_id


BUILDERS = {"reminder": reminder_patient, "confirmation": confirmation_patient, "checkin": checkin_patient}


def build_load(world: E2E, plan: dict[str, list[datetime]]) -> Load:
    """Create every planned patient (kind → the due moment of each), from a few threads."""
    load = Load()
    jobs = [(kind, due) for kind, dues in plan.items() for due in dues]

    def one(job: tuple[str, datetime]) -> tuple[str, str, datetime]:
        kind, due = job
        return kind, BUILDERS[kind](world, due), due

    with ThreadPoolExecutor(max_workers=CREATE_THREADS) as pool:
        for kind, workflow_id, due in pool.map(one, jobs):
            load.workflows[kind].append(workflow_id)
            load.due[workflow_id] = due
    return load
