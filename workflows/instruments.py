"""Scoring and comparison of the pathway's questionnaires (PROTOCOL.md section 4).

Pure functions over plain data: the engine calls `score()` when an `assessment.submitted` event arrives and
`compare()` at the response review. Nothing here does I/O, so every clinical rule is testable on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from fractions import Fraction
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Instrument(StrEnum):
    PCL5 = "pcl5"
    PHQ9 = "phq9"
    GAD7 = "gad7"
    CSSRS = "cssrs"


# (number of items, highest answer) of the summed instruments; every answer starts at 0.
ITEM_SPECS: dict[Instrument, tuple[int, int]] = {
    Instrument.PCL5: (20, 4),
    Instrument.PHQ9: (9, 3),
    Instrument.GAD7: (7, 3),
}
CSSRS_QUESTIONS = ("q1", "q2", "q3", "q4", "q5", "q6")
CSSRS_BEHAVIOUR = ("q3", "q4", "q5")  # asked only when q2 (active ideation) is yes
CSSRS_RECENCIES = ("past_3_months", "lifetime")
Risk = Literal["none", "low", "moderate", "high"]
Significance = Literal["clinically_meaningful", "reliable", "none"]


class InstrumentRules(BaseModel):
    """The clinic-configurable numbers of section 4 (the protocol file's `instruments:` section)."""

    # extra=forbid: a misspelt key in the protocol file must fail at load, not silently keep the default.
    # strict: YAML gives real numbers, so a quoted "33" or a `true` is a typo rather than something to coerce.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    pcl5_probable_threshold: int = Field(33, ge=31, le=33)  # the protocol allows 31-33 only
    pcl5_meaningful_change: int = Field(10, ge=1, le=80)
    pcl5_reliable_change: int = Field(5, ge=1, le=80)
    pcl5_response_reduction: float = Field(0.30, gt=0, le=1)
    phq9_response_reduction: float = Field(0.50, gt=0, le=1)
    phq9_remission_below: int = Field(5, ge=1, le=27)
    phq9_mild_at: int = Field(5, ge=1, le=27)
    phq9_moderate_at: int = Field(10, ge=1, le=27)
    phq9_moderately_severe_at: int = Field(15, ge=1, le=27)
    phq9_severe_at: int = Field(20, ge=1, le=27)
    gad7_mild_at: int = Field(5, ge=1, le=21)
    gad7_moderate_at: int = Field(10, ge=1, le=21)
    gad7_severe_at: int = Field(15, ge=1, le=21)
    gad7_flag_at: int = Field(10, ge=1, le=21)
    # Section 4 gives no GAD-7 response/remission rule; we mirror PHQ-9 (50 % reduction, remission = "minimal" band).
    gad7_response_reduction: float = Field(0.50, gt=0, le=1)
    gad7_remission_below: int = Field(5, ge=1, le=21)
    # Maintenance (§2): PCL-5 and PHQ-9 fall due this many days after entering maintenance or their last submission.
    maintenance_due_days: int = Field(28, ge=7, le=365)

    @model_validator(mode="after")
    def _thresholds_in_order(self) -> InstrumentRules:
        if self.pcl5_reliable_change >= self.pcl5_meaningful_change:
            raise ValueError("pcl5_reliable_change must be below pcl5_meaningful_change")
        for instrument in (Instrument.PHQ9, Instrument.GAD7):
            edges = [at for at, _ in self.bands(instrument)]
            if edges != sorted(set(edges)):
                raise ValueError(f"{instrument} band edges must rise strictly, got {edges}")
        return self

    def bands(self, instrument: Instrument) -> tuple[tuple[int, str], ...]:
        """(lowest total, band) pairs, ascending; totals under the first edge are "minimal"."""
        if instrument is Instrument.PHQ9:
            return (
                (self.phq9_mild_at, "mild"),
                (self.phq9_moderate_at, "moderate"),
                (self.phq9_moderately_severe_at, "moderately_severe"),
                (self.phq9_severe_at, "severe"),
            )
        return ((self.gad7_mild_at, "mild"), (self.gad7_moderate_at, "moderate"), (self.gad7_severe_at, "severe"))


class InstrumentError(ValueError):
    """A rejected submission. `item` is the 1-based item number ("7"), a C-SSRS key ("q3"), "baseline" or
    "current" for compare(), or None when the whole sheet is wrong; `instrument` is None if it is unknown."""

    def __init__(self, message: str, *, instrument: str | None = None, item: str | None = None) -> None:
        super().__init__(message)
        self.instrument = instrument
        self.item = item


class Score(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    instrument: Instrument
    total: int | None = None  # None for cssrs, which is triaged, not summed
    band: str | None = None
    item9: int | None = None  # phq9 only: the self-harm item drives escalation on its own
    risk: Risk | None = None  # cssrs only
    flags: tuple[str, ...] = ()


class Comparison(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    instrument: Instrument
    baseline: int
    current: int
    change: int  # baseline - current: positive means fewer symptoms
    reduction: float  # change / baseline; 0 when the baseline is 0
    response: bool
    remission: bool
    significance: Significance | None = None  # pcl5 only


def _instrument(value: object) -> Instrument:
    try:
        return Instrument(value)
    except (ValueError, TypeError):
        allowed = ", ".join(Instrument)
        raise InstrumentError(f"unknown instrument {value!r}; allowed: {allowed}") from None


def _item_answers(instrument: Instrument, answers: object) -> list[int]:
    count, top = ITEM_SPECS[instrument]
    name = instrument.value
    # A str or a dict is iterable too, but never a valid answer sheet.
    if not isinstance(answers, list | tuple):
        kind = type(answers).__name__
        raise InstrumentError(f"{name} answers must be a list of {count} numbers, got {kind}", instrument=name)
    if len(answers) != count:
        raise InstrumentError(f"{name} needs {count} answers, got {len(answers)}", instrument=name)
    for number, answer in enumerate(answers, start=1):
        # bool is an int subclass; True as an item score is a form bug, not a 1.
        if isinstance(answer, bool) or not isinstance(answer, int):
            msg = f"{name} item {number}: {answer!r} is not a whole number 0–{top}"
            raise InstrumentError(msg, instrument=name, item=str(number))
        if not 0 <= answer <= top:
            msg = f"{name} item {number}: {answer} is out of range 0–{top}"
            raise InstrumentError(msg, instrument=name, item=str(number))
    return list(answers)


def _band(total: int, bands: tuple[tuple[int, str], ...]) -> str:
    band = "minimal"
    for lowest, name in bands:
        if total >= lowest:
            band = name
    return band


def _score_items(instrument: Instrument, answers: object, rules: InstrumentRules) -> Score:
    items = _item_answers(instrument, answers)
    total = sum(items)
    if instrument is Instrument.PCL5:
        probable = total >= rules.pcl5_probable_threshold
        band = "probable_ptsd" if probable else "below_threshold"
        return Score(instrument=instrument, total=total, band=band, flags=("probable_ptsd",) if probable else ())
    band = _band(total, rules.bands(instrument))
    if instrument is Instrument.PHQ9:
        item9 = items[8]
        flags = ("phq9_item9",) if item9 > 0 else ()
        return Score(instrument=instrument, total=total, band=band, item9=item9, flags=flags)
    flags = ("gad7_flagged",) if total >= rules.gad7_flag_at else ()
    return Score(instrument=instrument, total=total, band=band, flags=flags)


def _cssrs_error(key: str, detail: str) -> InstrumentError:
    return InstrumentError(f"cssrs {key}: {detail}", instrument="cssrs", item=key)


def _cssrs_answers(answers: object) -> dict[str, Any]:
    if not isinstance(answers, Mapping):
        kind = type(answers).__name__
        raise InstrumentError(f"cssrs answers must be a mapping of q1..q6, got {kind}", instrument="cssrs")
    for key in answers:
        if key not in (*CSSRS_QUESTIONS, "q6_recency"):
            raise _cssrs_error(str(key), "unknown question; allowed: q1..q6, q6_recency")
    given = {key: value for key, value in answers.items() if value is not None}  # None means "not asked"
    for key in CSSRS_QUESTIONS:
        if key in given and not isinstance(given[key], bool):
            raise _cssrs_error(key, f"must be yes/no (true/false), got {given[key]!r}")
    for key in ("q1", "q2", "q6"):  # the screener always asks these
        if key not in given:
            raise _cssrs_error(key, "is required")
    for key in CSSRS_BEHAVIOUR:
        if given["q2"] and key not in given:
            raise _cssrs_error(key, "is required when q2 is yes (skip logic)")
        if not given["q2"] and key in given:
            raise _cssrs_error(key, "must be left out when q2 is no (skip logic)")
    recency = given.get("q6_recency")
    if given["q6"] and recency is None:
        raise _cssrs_error("q6_recency", "is required when q6 is yes")
    if not given["q6"] and recency is not None:
        raise _cssrs_error("q6_recency", "must be left out when q6 is no")
    if recency is not None and recency not in CSSRS_RECENCIES:
        raise _cssrs_error("q6_recency", f"{recency!r} is not one of {', '.join(CSSRS_RECENCIES)}")
    return given


def _cssrs_risk(given: Mapping[str, Any]) -> Risk:
    recent_behaviour = given["q6"] and given.get("q6_recency") == "past_3_months"
    if given.get("q4") or given.get("q5") or recent_behaviour:
        return "high"
    if given.get("q3") or given["q6"]:  # q6 yes reaching here is lifetime-only behaviour
        return "moderate"
    if given["q1"] or given["q2"]:
        return "low"
    return "none"


def score(instrument: str | Instrument, answers: object, rules: InstrumentRules) -> Score:
    """Validate one submitted questionnaire and score it; raises InstrumentError naming the offending item."""
    which = _instrument(instrument)
    if which is not Instrument.CSSRS:
        return _score_items(which, answers, rules)
    risk = _cssrs_risk(_cssrs_answers(answers))
    # cssrs_low is kept too: section 4 sends even a low screen to routine clinician review.
    return Score(instrument=which, risk=risk, flags=() if risk == "none" else (f"cssrs_{risk}",))


def outcome_rules(instrument: Instrument, rules: InstrumentRules) -> tuple[float, int]:
    """(response: at least this fraction below the baseline, remission: a total below this) for one instrument:
    the one definition the response review, the outcomes report and the trend chart use."""
    if instrument is Instrument.PCL5:
        return rules.pcl5_response_reduction, rules.pcl5_probable_threshold
    if instrument is Instrument.PHQ9:
        return rules.phq9_response_reduction, rules.phq9_remission_below
    return rules.gad7_response_reduction, rules.gad7_remission_below


def _significance(change: int, rules: InstrumentRules) -> Significance:
    if change >= rules.pcl5_meaningful_change:
        return "clinically_meaningful"
    if change >= rules.pcl5_reliable_change:
        return "reliable"
    return "none"


def compare(
    instrument: str | Instrument, baseline_total: int, current_total: int, rules: InstrumentRules
) -> Comparison:
    """Compare a later total with the baseline (response review, maintenance check-ups)."""
    which = _instrument(instrument)
    if which is Instrument.CSSRS:
        raise InstrumentError("cssrs has no total to compare; use pcl5, phq9 or gad7", instrument="cssrs")
    count, item_top = ITEM_SPECS[which]
    top = count * item_top
    for item, value in (("baseline", baseline_total), ("current", current_total)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
            msg = f"{which} {item} total: {value!r} is not a whole number 0–{top}"
            raise InstrumentError(msg, instrument=which.value, item=item)
    change = baseline_total - current_total
    reduction = Fraction(change, baseline_total) if baseline_total else Fraction(0)
    response_at, remission_below = outcome_rules(which, rules)
    return Comparison(
        instrument=which,
        baseline=baseline_total,
        current=current_total,
        change=change,
        reduction=float(reduction),
        # Exact rationals: in floats 0.3 * 10 is 3.0000000000000004, which would deny a response at exactly 30 %.
        response=reduction >= Fraction(str(response_at)),
        remission=current_total < remission_below,
        significance=_significance(change, rules) if which is Instrument.PCL5 else None,
    )


def is_elevated_risk(score: Score) -> bool:
    """Elevated risk per section 6: C-SSRS moderate or higher, or any PHQ-9 item 9 answer above 0."""
    return score.risk in ("moderate", "high") or (score.item9 or 0) > 0
