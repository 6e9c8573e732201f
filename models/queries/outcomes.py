"""Cohort outcomes, counted by the database over the projection tables (assessments, sessions, workflows): never by
loading every workflow's state. Each query answers for one clinic, grouped by route, so that the clinic's own
protocol numbers decide response and remission.

A patient's route is the one their evaluation chose (`state.route`); before an evaluation there is none ("" here).

Baseline and latest (PCL-5, PHQ-9): the baseline is the newest score the engine marked `baseline` (the latest one
before treatment started, or the first one ever); the latest is the newest score, counted as a follow-up only when it
is not itself a baseline. Response and remission are judged at the latest follow-up, as `workflows.instruments.compare`
judges them: response when the total fell by at least the protocol's fraction of the baseline, remission when the
total is below the protocol's threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from sqlalchemy import Engine, String, and_, case, cast, func, literal, select
from sqlmodel import Session

from models.tables import AssessmentRecord, SessionRecord, WorkflowRow

NO_ROUTE = ""
# Sessions that were due and either happened or were missed: the no-show rate's denominator. Cancelled sessions were
# never due; scheduled, confirmed and held ones have not been decided yet.
ATTENDED = ("arrived", "dosed", "discharged")
NO_SHOW = "no_show"


@dataclass(frozen=True)
class Thresholds:
    """One instrument's response fraction and remission threshold (from the protocol's `instruments:`)."""

    response_reduction: float
    remission_below: int


@dataclass(frozen=True)
class ScoreCounts:
    """One instrument's figures for one clinic and route."""

    with_baseline: int  # patients with a baseline score
    followed: int  # ... and a later score
    baseline_sum: int  # over the followed patients
    latest_sum: int  # over the followed patients
    responders: int
    remitters: int


@dataclass(frozen=True)
class SessionCounts:
    patients: int  # courses of care with at least one attended session
    attended: int
    no_shows: int


def route_of_workflow():
    """The workflow's route as text ("" before an evaluation chose one), read from its state document."""
    return func.coalesce(WorkflowRow.state["route"].as_string(), literal(NO_ROUTE))


def cohort(clinic: str, route: str | None):
    """The workflows (courses of care) of one clinic, and of one route when given, as a subquery."""
    routed = route_of_workflow().label("route")
    query = select(WorkflowRow.id, WorkflowRow.stage, routed).where(WorkflowRow.clinic_id == clinic)
    if route is not None:
        query = query.where(route_of_workflow() == route)
    return query.subquery("cohort")


def patients_by_stage(engine: Engine, clinic: str, route: str | None) -> dict[tuple[str, str], int]:
    """(route, stage) → patients, counted by course of care (workflow), as every other figure here is."""
    members = cohort(clinic, route)
    query = (select(members.c.route, members.c.stage, func.count())
             .group_by(members.c.route, members.c.stage))
    with Session(engine) as db:
        return {(r, stage): n for r, stage, n in db.execute(query).all()}


def session_counts(engine: Engine, clinic: str, route: str | None) -> dict[str, SessionCounts]:
    """route → attended sessions, no-shows, and how many patients attended any."""
    members = cohort(clinic, route)
    attended = SessionRecord.status.in_(ATTENDED)
    query = (select(members.c.route,
                    func.count(func.distinct(case((attended, members.c.id)))),
                    func.count(case((attended, 1))),
                    func.count(case((SessionRecord.status == NO_SHOW, 1))))
             .select_from(members.join(SessionRecord, SessionRecord.workflow_id == members.c.id))
             .group_by(members.c.route))
    with Session(engine) as db:
        return {r: SessionCounts(patients, n_attended, n_missed) for r, patients, n_attended, n_missed in db.execute(query)}


def score_counts(engine: Engine, clinic: str, route: str | None, instrument: str,
                 thresholds: Thresholds) -> dict[str, ScoreCounts]:
    """route → one instrument's baseline, latest, responders and remitters (see the module's docstring)."""
    members = cohort(clinic, route)
    # The engine's flags are a JSON list of codes; as text the quoted code is found the same way on PostgreSQL and
    # SQLite (no flag contains another's quoted name).
    is_baseline = cast(AssessmentRecord.flags, String).like('%"baseline"%')
    newest = func.row_number().over(partition_by=AssessmentRecord.workflow_id,
                                    order_by=(AssessmentRecord.at.desc(), AssessmentRecord.id.desc()))
    newest_baseline = func.row_number().over(partition_by=(AssessmentRecord.workflow_id, is_baseline),
                                             order_by=(AssessmentRecord.at.desc(), AssessmentRecord.id.desc()))
    ranked = (select(members.c.id, members.c.route, AssessmentRecord.total, is_baseline.label("is_baseline"),
                     newest.label("newest"), newest_baseline.label("newest_baseline"))
              .join(AssessmentRecord, AssessmentRecord.workflow_id == members.c.id)
              .where(AssessmentRecord.instrument == instrument, AssessmentRecord.total.is_not(None))
              .subquery("ranked"))
    per_patient = (select(ranked.c.id, ranked.c.route,
                          func.max(case((and_(ranked.c.is_baseline, ranked.c.newest_baseline == 1), ranked.c.total)))
                          .label("baseline"),
                          func.max(case((and_(ranked.c.newest == 1, ~ranked.c.is_baseline), ranked.c.total)))
                          .label("latest"))
                   .group_by(ranked.c.id, ranked.c.route).subquery("per_patient"))
    followed = and_(per_patient.c.baseline.is_not(None), per_patient.c.latest.is_not(None))
    # In whole numbers, as the engine compares exact fractions: (baseline - latest) / baseline >= p/q.
    fraction = Fraction(str(thresholds.response_reduction))
    responded = and_(followed, per_patient.c.baseline > 0,
                     (per_patient.c.baseline - per_patient.c.latest) * fraction.denominator
                     >= per_patient.c.baseline * fraction.numerator)
    remitted = and_(followed, per_patient.c.latest < thresholds.remission_below)
    query = (select(per_patient.c.route,
                    func.count(per_patient.c.baseline),
                    func.count(case((followed, 1))),
                    func.coalesce(func.sum(case((followed, per_patient.c.baseline))), 0),
                    func.coalesce(func.sum(case((followed, per_patient.c.latest))), 0),
                    func.count(case((responded, 1))),
                    func.count(case((remitted, 1))))
             .group_by(per_patient.c.route))
    with Session(engine) as db:
        return {r: ScoreCounts(*(int(n) for n in counts)) for r, *counts in db.execute(query).all()}
