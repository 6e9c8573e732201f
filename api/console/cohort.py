"""The outcomes report's figures: the database's counts per clinic and route (`models.queries.outcomes`) turned into
means and rates, one row per clinic and route and one row for them all.

Response and remission follow each clinic's protocol file (`instruments:`), the same numbers the engine uses at the
response review: PCL-5 response is a fall of at least `pcl5_response_reduction` of the baseline and remission a total
below `pcl5_probable_threshold`; PHQ-9 response is a fall of at least `phq9_response_reduction` and remission a total
below `phq9_remission_below`.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, field

from models.queries import outcomes
from models.queries.outcomes import NO_ROUTE, ScoreCounts, SessionCounts, Thresholds
from workers.runtime import Services
from workflows.instruments import Instrument, InstrumentRules, outcome_rules
from workflows.protocol import Route
from workflows.stages import Stage

INSTRUMENTS = {"pcl5": "PCL-5", "phq9": "PHQ-9"}
ROUTE_WORDS = {Route.ESKETAMINE.value: "Esketamine nasal spray", Route.IV_KETAMINE.value: "IV ketamine",
               Route.IM_KETAMINE.value: "IM ketamine", NO_ROUTE: "No route chosen yet"}
# What the address may ask for: a route's code, or "none" for patients not yet evaluated ("" in the database).
ROUTE_CHOICES = {**{route.value: route.value for route in Route}, "none": NO_ROUTE}


def thresholds(rules: InstrumentRules) -> dict[str, Thresholds]:
    """The response fraction and remission threshold of each trended instrument, from the protocol."""
    return {code: Thresholds(*outcome_rules(Instrument(code), rules)) for code in INSTRUMENTS}


def rules_of(svc: Services, clinic: str) -> InstrumentRules:
    """The instrument rules of the protocol a clinic's new patients start on."""
    version = svc.store.clinic_named(clinic).protocol_version
    protocol = svc.store.protocols.get(version) if version else svc.store.protocols.current
    return protocol.instruments


@dataclass(frozen=True)
class Figures:
    """One instrument's outcome for one group of patients."""

    counts: ScoreCounts

    @property
    def baseline_mean(self) -> float | None:
        return self.counts.baseline_sum / self.counts.followed if self.counts.followed else None

    @property
    def latest_mean(self) -> float | None:
        return self.counts.latest_sum / self.counts.followed if self.counts.followed else None

    @property
    def response_rate(self) -> float | None:
        return self.counts.responders / self.counts.followed if self.counts.followed else None

    @property
    def remission_rate(self) -> float | None:
        return self.counts.remitters / self.counts.followed if self.counts.followed else None


@dataclass
class Row:
    """One clinic and route (or all of them: clinic and route None)."""

    clinic: str | None
    route: str | None
    stages: dict[str, int] = field(default_factory=dict)
    scores: dict[str, ScoreCounts] = field(default_factory=dict)
    sessions: SessionCounts = SessionCounts(0, 0, 0)

    @property
    def patients(self) -> int:
        return sum(self.stages.values())

    def figures(self, instrument: str) -> Figures:
        return Figures(self.scores.get(instrument, ScoreCounts(0, 0, 0, 0, 0, 0)))

    @property
    def sessions_per_patient(self) -> float | None:
        """Attended sessions per patient who attended any."""
        return self.sessions.attended / self.sessions.patients if self.sessions.patients else None

    @property
    def no_show_rate(self) -> float | None:
        due = self.sessions.attended + self.sessions.no_shows
        return self.sessions.no_shows / due if due else None


@dataclass(frozen=True)
class Report:
    rows: list[Row]  # one per clinic and route that has patients
    total: Row
    rules: dict[str, dict[str, Thresholds]]  # clinic → instrument → its thresholds

    @property
    def stage_counts(self) -> list[tuple[str, int]]:
        """The whole cohort's patients by stage, in the pathway's order."""
        return [(stage.value, self.total.stages[stage.value]) for stage in Stage if self.total.stages.get(stage.value)]


def report(svc: Services, clinics: list[str], route: str | None) -> Report:
    """The report for these clinics (and one route, when given): a few grouped queries per clinic."""
    rows: dict[tuple[str, str], Row] = {}
    rules: dict[str, dict[str, Thresholds]] = {}

    def row(clinic: str, route_code: str) -> Row:
        return rows.setdefault((clinic, route_code), Row(clinic, route_code))

    for clinic in clinics:
        rules[clinic] = thresholds(rules_of(svc, clinic))
        for (route_code, stage), n in outcomes.patients_by_stage(svc.engine, clinic, route).items():
            row(clinic, route_code).stages[stage] = n
        for route_code, counts in outcomes.session_counts(svc.engine, clinic, route).items():
            row(clinic, route_code).sessions = counts
        for instrument, limits in rules[clinic].items():
            for route_code, scores in outcomes.score_counts(svc.engine, clinic, route, instrument, limits).items():
                row(clinic, route_code).scores[instrument] = scores
    ordered = [rows[key] for key in sorted(rows, key=lambda k: (clinics.index(k[0]), route_order(k[1])))]
    return Report(ordered, combined(ordered), rules)


def route_order(code: str) -> int:
    return list(ROUTE_WORDS).index(code) if code in ROUTE_WORDS else len(ROUTE_WORDS)


def combined(rows: list[Row]) -> Row:
    """All rows as one: counts add up, so means and rates are the whole cohort's (not a mean of rates)."""
    total = Row(None, None)
    for row in rows:
        for stage, n in row.stages.items():
            total.stages[stage] = total.stages.get(stage, 0) + n
        for instrument, counts in row.scores.items():
            before = total.scores.get(instrument, ScoreCounts(0, 0, 0, 0, 0, 0))
            total.scores[instrument] = ScoreCounts(*added(before, counts))
        total.sessions = SessionCounts(*added(total.sessions, row.sessions))
    return total


def added(one, other) -> list[int]:
    """Two counts records of one kind, field by field."""
    return [a + b for a, b in zip(astuple(one), astuple(other), strict=True)]
