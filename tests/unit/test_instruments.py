"""Unit tests for workflows.instruments: every rule of PROTOCOL.md section 4."""

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflows.instruments import (
    ITEM_SPECS,
    Comparison,
    Instrument,
    InstrumentError,
    InstrumentRules,
    Score,
    compare,
    is_elevated_risk,
    score,
)

RULES = InstrumentRules()
PHQ9_BANDS = ("minimal", "mild", "moderate", "moderately_severe", "severe")
GAD7_BANDS = ("minimal", "mild", "moderate", "severe")


def sheet(instrument: Instrument, total: int) -> list[int]:
    """A valid answer list for `instrument` that sums to `total` (filled from the first item)."""
    count, top = ITEM_SPECS[instrument]
    answers = []
    for _ in range(count):
        answers.append(min(top, total))
        total -= answers[-1]
    assert total == 0, "total out of range for this instrument"
    return answers


def cssrs(**answers):
    base = {"q1": False, "q2": False, "q6": False}
    return base | answers


# --- instrument names -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["pcl5", Instrument.PCL5])
def test_instrument_accepts_name_or_enum(name):
    assert score(name, sheet(Instrument.PCL5, 0), RULES).instrument is Instrument.PCL5


@pytest.mark.parametrize("name", ["pcl-5", "PHQ9", "", 5, None])
def test_unknown_instrument_names_the_allowed_ones(name):
    with pytest.raises(InstrumentError, match="unknown instrument.*pcl5, phq9, gad7, cssrs") as err:
        score(name, [0] * 9, RULES)
    assert err.value.instrument is None
    assert err.value.item is None


def test_instrument_error_is_a_value_error():
    assert issubclass(InstrumentError, ValueError)


# --- rules ------------------------------------------------------------------------------------------------------


def test_rule_defaults_match_the_protocol():
    assert RULES.pcl5_probable_threshold == 33
    assert (RULES.pcl5_meaningful_change, RULES.pcl5_reliable_change) == (10, 5)
    assert (RULES.pcl5_response_reduction, RULES.phq9_response_reduction) == (0.30, 0.50)
    assert (RULES.phq9_remission_below, RULES.gad7_flag_at) == (5, 10)
    assert [at for at, _ in RULES.bands(Instrument.PHQ9)] == [5, 10, 15, 20]
    assert [at for at, _ in RULES.bands(Instrument.GAD7)] == [5, 10, 15]


@pytest.mark.parametrize("threshold", [31, 32, 33])
def test_pcl5_threshold_configurable_31_to_33(threshold):
    assert InstrumentRules(pcl5_probable_threshold=threshold).pcl5_probable_threshold == threshold


@pytest.mark.parametrize(
    "override",
    [
        {"pcl5_probable_threshold": 30},
        {"pcl5_probable_threshold": 34},
        {"pcl5_probable_threshold": True},
        {"pcl5_probable_threshold": "33"},
        {"pcl5_reliable_change": 10},  # must stay below the meaningful change
        {"phq9_moderate_at": 5},  # band edges must rise strictly
        {"gad7_severe_at": 9},
        {"phq9_severe_at": 28},
        {"pcl5_response_reduction": 0},
        {"phq9_response_reduction": 1.5},
        {"gad7_flag_at": 22},
        {"pcl5_threshold": 33},  # typo: unknown keys are refused
    ],
)
def test_bad_rules_are_refused_at_load(override):
    with pytest.raises(pydantic.ValidationError):
        InstrumentRules.model_validate(override)


def test_rules_load_from_a_protocol_section_and_are_frozen():
    rules = InstrumentRules.model_validate({"pcl5_probable_threshold": 31, "phq9_response_reduction": 0.4})
    assert rules.pcl5_probable_threshold == 31
    assert rules.phq9_response_reduction == 0.4
    with pytest.raises(pydantic.ValidationError):
        rules.gad7_flag_at = 8


# --- item-list validation ---------------------------------------------------------------------------------------


def test_error_messages_match_the_documented_wording():
    bad = [0] * 20
    bad[6] = 5
    with pytest.raises(InstrumentError) as err:
        score("pcl5", bad, RULES)
    assert str(err.value) == "pcl5 item 7: 5 is out of range 0–4"
    assert (err.value.instrument, err.value.item) == ("pcl5", "7")
    with pytest.raises(InstrumentError) as err:
        score("phq9", [0] * 8, RULES)
    assert str(err.value) == "phq9 needs 9 answers, got 8"
    assert (err.value.instrument, err.value.item) == ("phq9", None)


@pytest.mark.parametrize("instrument", [Instrument.PCL5, Instrument.PHQ9, Instrument.GAD7])
@pytest.mark.parametrize("delta", [-1, 1])
def test_wrong_item_count_names_expected_and_actual(instrument, delta):
    count, _ = ITEM_SPECS[instrument]
    with pytest.raises(InstrumentError, match=f"^{instrument} needs {count} answers, got {count + delta}$"):
        score(instrument, [0] * (count + delta), RULES)


def test_empty_sheet_is_a_count_error():
    with pytest.raises(InstrumentError, match="gad7 needs 7 answers, got 0"):
        score("gad7", [], RULES)


@pytest.mark.parametrize("instrument", [Instrument.PCL5, Instrument.PHQ9, Instrument.GAD7])
@pytest.mark.parametrize("position", ["first", "last"])
@pytest.mark.parametrize("bad_value", ["above", -1])
def test_out_of_range_answer_names_the_item(instrument, position, bad_value):
    count, top = ITEM_SPECS[instrument]
    index = 0 if position == "first" else count - 1
    value = top + 1 if bad_value == "above" else bad_value
    answers = [0] * count
    answers[index] = value
    with pytest.raises(InstrumentError) as err:
        score(instrument, answers, RULES)
    assert str(err.value) == f"{instrument} item {index + 1}: {value} is out of range 0–{top}"
    assert err.value.item == str(index + 1)


@pytest.mark.parametrize("value", [True, False, 1.0, "2", None, [1]])
def test_non_integer_answer_names_the_item(value):
    answers = [0] * 9
    answers[3] = value
    with pytest.raises(InstrumentError, match=r"^phq9 item 4: .* is not a whole number 0–3$") as err:
        score("phq9", answers, RULES)
    assert err.value.item == "4"


@pytest.mark.parametrize("answers", ["0" * 7, {"q1": 0}, None, 7, set(range(7))])
def test_answers_must_be_a_list(answers):
    with pytest.raises(InstrumentError, match="^gad7 answers must be a list of 7 numbers") as err:
        score("gad7", answers, RULES)
    assert err.value.item is None


def test_a_tuple_of_answers_is_accepted():
    assert score("gad7", (3, 3, 3, 3, 3, 3, 3), RULES).total == 21


# --- PCL-5 ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "band", "flags"),
    [
        (0, "below_threshold", ()),
        (32, "below_threshold", ()),
        (33, "probable_ptsd", ("probable_ptsd",)),
        (80, "probable_ptsd", ("probable_ptsd",)),
    ],
)
def test_pcl5_probable_ptsd_edge(total, band, flags):
    result = score("pcl5", sheet(Instrument.PCL5, total), RULES)
    assert (result.total, result.band, result.flags) == (total, band, flags)
    assert (result.item9, result.risk) == (None, None)


@pytest.mark.parametrize(("threshold", "probable_at"), [(31, 31), (32, 32)])
def test_pcl5_threshold_from_rules_moves_the_edge(threshold, probable_at):
    rules = InstrumentRules(pcl5_probable_threshold=threshold)
    assert score("pcl5", sheet(Instrument.PCL5, probable_at), rules).band == "probable_ptsd"
    assert score("pcl5", sheet(Instrument.PCL5, probable_at - 1), rules).band == "below_threshold"


# --- PHQ-9 ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately_severe"),
        (19, "moderately_severe"),
        (20, "severe"),
        (27, "severe"),
    ],
)
def test_phq9_band_edges(total, band):
    result = score("phq9", sheet(Instrument.PHQ9, total), RULES)
    assert (result.total, result.band) == (total, band)


@pytest.mark.parametrize(("item9", "flags"), [(0, ()), (1, ("phq9_item9",)), (3, ("phq9_item9",))])
def test_phq9_item9_is_reported_and_flagged(item9, flags):
    result = score("phq9", [0] * 8 + [item9], RULES)
    assert (result.item9, result.flags) == (item9, flags)
    assert is_elevated_risk(result) is (item9 > 0)


def test_phq9_item9_flag_does_not_depend_on_the_total():
    result = score("phq9", [3] * 8 + [0], RULES)
    assert (result.total, result.band, result.flags) == (24, "severe", ())
    assert not is_elevated_risk(result)


def test_phq9_band_edges_come_from_rules():
    rules = InstrumentRules(phq9_mild_at=3, phq9_severe_at=25)
    assert score("phq9", sheet(Instrument.PHQ9, 3), rules).band == "mild"
    assert score("phq9", sheet(Instrument.PHQ9, 24), rules).band == "moderately_severe"


# --- GAD-7 ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "band", "flagged"),
    [
        (0, "minimal", False),
        (4, "minimal", False),
        (5, "mild", False),
        (9, "mild", False),
        (10, "moderate", True),
        (14, "moderate", True),
        (15, "severe", True),
        (21, "severe", True),
    ],
)
def test_gad7_band_edges_and_flag(total, band, flagged):
    result = score("gad7", sheet(Instrument.GAD7, total), RULES)
    assert (result.total, result.band, result.item9) == (total, band, None)
    assert result.flags == (("gad7_flagged",) if flagged else ())


def test_gad7_flag_threshold_comes_from_rules():
    rules = InstrumentRules(gad7_flag_at=8)
    assert score("gad7", sheet(Instrument.GAD7, 8), rules).flags == ("gad7_flagged",)
    assert score("gad7", sheet(Instrument.GAD7, 7), rules).flags == ()


# --- C-SSRS -----------------------------------------------------------------------------------------------------

NO_BEHAVIOUR = {"q3": False, "q4": False, "q5": False}


@pytest.mark.parametrize(
    ("answers", "risk"),
    [
        (cssrs(), "none"),
        (cssrs(q1=True), "low"),
        (cssrs(q2=True, **NO_BEHAVIOUR), "low"),
        (cssrs(q1=True, q2=True, **NO_BEHAVIOUR), "low"),
        (cssrs(q2=True, **NO_BEHAVIOUR | {"q3": True}), "moderate"),
        (cssrs(q6=True, q6_recency="lifetime"), "moderate"),
        (cssrs(q1=True, q6=True, q6_recency="lifetime"), "moderate"),
        (cssrs(q2=True, **NO_BEHAVIOUR | {"q4": True}), "high"),
        (cssrs(q2=True, **NO_BEHAVIOUR | {"q5": True}), "high"),
        (cssrs(q6=True, q6_recency="past_3_months"), "high"),
        (cssrs(q2=True, **NO_BEHAVIOUR | {"q3": True}, q6=True, q6_recency="past_3_months"), "high"),
    ],
)
def test_cssrs_risk_levels(answers, risk):
    result = score("cssrs", answers, RULES)
    assert (result.risk, result.total, result.band, result.item9) == (risk, None, None, None)
    assert result.flags == (() if risk == "none" else (f"cssrs_{risk}",))
    assert is_elevated_risk(result) is (risk in ("moderate", "high"))


@pytest.mark.parametrize("key", ["q3", "q4", "q5"])
@pytest.mark.parametrize("value", [True, False])
def test_cssrs_behaviour_answered_after_q2_no_is_a_skip_violation(key, value):
    with pytest.raises(InstrumentError) as err:
        score("cssrs", cssrs(**{key: value}), RULES)
    assert str(err.value) == f"cssrs {key}: must be left out when q2 is no (skip logic)"
    assert (err.value.instrument, err.value.item) == ("cssrs", key)


def test_cssrs_skipped_questions_may_be_sent_as_none():
    assert score("cssrs", cssrs(q3=None, q4=None, q5=None, q6_recency=None), RULES).risk == "none"


@pytest.mark.parametrize("key", ["q3", "q4", "q5"])
def test_cssrs_behaviour_required_after_q2_yes(key):
    answers = cssrs(q2=True, **NO_BEHAVIOUR)
    del answers[key]
    with pytest.raises(InstrumentError, match=f"^cssrs {key}: is required when q2 is yes") as err:
        score("cssrs", answers, RULES)
    assert err.value.item == key


@pytest.mark.parametrize("key", ["q1", "q2", "q6"])
def test_cssrs_always_asked_questions_are_required(key):
    answers = cssrs()
    answers[key] = None
    with pytest.raises(InstrumentError, match=f"^cssrs {key}: is required$"):
        score("cssrs", answers, RULES)


def test_cssrs_q6_yes_needs_a_recency():
    with pytest.raises(InstrumentError, match="^cssrs q6_recency: is required when q6 is yes") as err:
        score("cssrs", cssrs(q6=True), RULES)
    assert err.value.item == "q6_recency"


@pytest.mark.parametrize("recency", ["lifetime", "past_3_months"])
def test_cssrs_q6_no_must_not_have_a_recency(recency):
    with pytest.raises(InstrumentError, match="^cssrs q6_recency: must be left out when q6 is no"):
        score("cssrs", cssrs(q6_recency=recency), RULES)


@pytest.mark.parametrize("recency", ["recent", "past_month", True, 3])
def test_cssrs_recency_must_be_a_known_value(recency):
    with pytest.raises(InstrumentError, match="^cssrs q6_recency: .* is not one of past_3_months, lifetime"):
        score("cssrs", cssrs(q6=True, q6_recency=recency), RULES)


@pytest.mark.parametrize("key", ["q7", "Q1", "q6_when"])
def test_cssrs_unknown_keys_are_refused(key):
    with pytest.raises(InstrumentError, match=f"^cssrs {key}: unknown question") as err:
        score("cssrs", cssrs(**{key: False}), RULES)
    assert err.value.item == key


@pytest.mark.parametrize("value", [1, 0, "yes", "no"])
def test_cssrs_answers_must_be_booleans(value):
    with pytest.raises(InstrumentError, match=r"^cssrs q1: must be yes/no \(true/false\)") as err:
        score("cssrs", cssrs(q1=value), RULES)
    assert err.value.item == "q1"


@pytest.mark.parametrize("answers", [[False] * 6, None, "q1"])
def test_cssrs_answers_must_be_a_mapping(answers):
    with pytest.raises(InstrumentError, match="^cssrs answers must be a mapping"):
        score("cssrs", answers, RULES)


# --- is_elevated_risk -------------------------------------------------------------------------------------------


def test_pcl5_and_gad7_are_never_elevated_risk():
    assert not is_elevated_risk(score("pcl5", [4] * 20, RULES))
    assert not is_elevated_risk(score("gad7", [3] * 7, RULES))


# --- compare ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("baseline", "current", "significance"),
    [
        (50, 40, "clinically_meaningful"),
        (50, 20, "clinically_meaningful"),
        (50, 41, "reliable"),
        (50, 45, "reliable"),
        (50, 46, "none"),
        (50, 50, "none"),
        (40, 55, "none"),
    ],
)
def test_pcl5_change_significance(baseline, current, significance):
    result = compare("pcl5", baseline, current, RULES)
    assert result.change == baseline - current
    assert result.significance == significance


def test_pcl5_significance_thresholds_come_from_rules():
    rules = InstrumentRules(pcl5_meaningful_change=12, pcl5_reliable_change=6)
    assert compare("pcl5", 50, 39, rules).significance == "reliable"
    assert compare("pcl5", 50, 45, rules).significance == "none"
    assert compare("pcl5", 50, 38, rules).significance == "clinically_meaningful"


@pytest.mark.parametrize(
    ("baseline", "current", "response"),
    [(50, 35, True), (50, 36, False), (10, 7, True), (10, 8, False), (60, 42, True), (60, 43, False)],
)
def test_pcl5_response_is_30_percent_reduction_inclusive(baseline, current, response):
    # 10 -> 7 is exactly 30 %: a float comparison (0.3 * 10 = 3.0000000000000004) would get this wrong.
    assert compare("pcl5", baseline, current, RULES).response is response


@pytest.mark.parametrize(("threshold", "current", "remission"), [(33, 32, True), (33, 33, False), (31, 31, False)])
def test_pcl5_remission_is_below_the_probable_threshold(threshold, current, remission):
    rules = InstrumentRules(pcl5_probable_threshold=threshold)
    assert compare("pcl5", 60, current, rules).remission is remission


def test_pcl5_response_reduction_comes_from_rules():
    assert compare("pcl5", 50, 35, RULES).response
    assert not compare("pcl5", 50, 35, InstrumentRules(pcl5_response_reduction=0.5)).response


@pytest.mark.parametrize("instrument", ["phq9", "gad7"])
@pytest.mark.parametrize(
    ("baseline", "current", "response", "remission"),
    [(20, 10, True, False), (20, 11, False, False), (8, 4, True, True), (9, 5, False, False), (9, 4, True, True)],
)
def test_phq9_and_gad7_response_and_remission(instrument, baseline, current, response, remission):
    result = compare(instrument, baseline, current, RULES)
    assert (result.response, result.remission, result.significance) == (response, remission, None)


def test_phq9_and_gad7_outcome_thresholds_come_from_rules():
    phq9 = InstrumentRules(phq9_response_reduction=0.4, phq9_remission_below=10)
    assert compare("phq9", 20, 12, phq9).response
    assert compare("phq9", 20, 9, phq9).remission
    gad7 = InstrumentRules(gad7_response_reduction=0.25, gad7_remission_below=8)
    assert compare("gad7", 12, 9, gad7).response
    assert compare("gad7", 12, 7, gad7).remission
    assert not compare("gad7", 12, 9, RULES).response


def test_compare_reports_the_reduction_as_a_fraction():
    result = compare("pcl5", 60, 45, RULES)
    assert (result.baseline, result.current, result.change, result.reduction) == (60, 45, 15, 0.25)
    assert compare("pcl5", 40, 50, RULES).reduction == -0.25


def test_compare_with_zero_baseline_has_no_reduction_or_response():
    result = compare("phq9", 0, 0, RULES)
    assert (result.reduction, result.response, result.remission) == (0, False, True)
    assert compare("phq9", 0, 6, RULES).reduction == 0


def test_compare_refuses_cssrs():
    with pytest.raises(InstrumentError, match="cssrs has no total") as err:
        compare("cssrs", 1, 0, RULES)
    assert err.value.instrument == "cssrs"


def test_compare_refuses_unknown_instruments():
    with pytest.raises(InstrumentError, match="unknown instrument"):
        compare("bdi2", 10, 5, RULES)


@pytest.mark.parametrize(
    ("instrument", "baseline", "current", "item"),
    [
        ("pcl5", 81, 10, "baseline"),
        ("pcl5", 40, -1, "current"),
        ("phq9", 28, 10, "baseline"),
        ("gad7", 10, 22, "current"),
        ("gad7", True, 0, "baseline"),
        ("gad7", 10, 5.0, "current"),
        ("gad7", "10", 5, "baseline"),
    ],
)
def test_compare_refuses_totals_out_of_range(instrument, baseline, current, item):
    with pytest.raises(InstrumentError, match=f"^{instrument} {item} total: .* is not a whole number 0–") as err:
        compare(instrument, baseline, current, RULES)
    assert err.value.item == item


def test_results_are_frozen():
    result = score("gad7", [0] * 7, RULES)
    with pytest.raises(pydantic.ValidationError):
        result.total = 3
    assert isinstance(result, Score)
    comparison = compare("gad7", 10, 4, RULES)
    assert isinstance(comparison, Comparison)
    with pytest.raises(pydantic.ValidationError):
        comparison.response = False


# --- properties -------------------------------------------------------------------------------------------------


@st.composite
def valid_sheets(draw):
    instrument = draw(st.sampled_from(sorted(ITEM_SPECS)))
    count, top = ITEM_SPECS[instrument]
    return instrument, draw(st.lists(st.integers(0, top), min_size=count, max_size=count))


@given(valid_sheets())
def test_any_valid_sheet_scores_within_range(case):
    instrument, answers = case
    count, top = ITEM_SPECS[instrument]
    result = score(instrument, answers, RULES)
    assert result.total == sum(answers)
    assert 0 <= result.total <= count * top
    expected_bands = {
        Instrument.PCL5: ("probable_ptsd", "below_threshold"),
        Instrument.PHQ9: PHQ9_BANDS,
        Instrument.GAD7: GAD7_BANDS,
    }[instrument]
    assert result.band in expected_bands
    if instrument is Instrument.PHQ9:
        assert result.item9 == answers[8]


@given(valid_sheets(), st.data())
def test_any_single_bad_answer_is_named(case, data):
    instrument, answers = case
    _, top = ITEM_SPECS[instrument]
    index = data.draw(st.integers(0, len(answers) - 1))
    answers[index] = data.draw(st.one_of(st.integers(max_value=-1), st.integers(min_value=top + 1)))
    with pytest.raises(InstrumentError) as err:
        score(instrument, answers, RULES)
    assert err.value.item == str(index + 1)


@st.composite
def valid_cssrs(draw):
    answers = {"q1": draw(st.booleans()), "q2": draw(st.booleans()), "q6": draw(st.booleans())}
    if answers["q2"]:
        answers |= {key: draw(st.booleans()) for key in ("q3", "q4", "q5")}
    if answers["q6"]:
        answers["q6_recency"] = draw(st.sampled_from(["past_3_months", "lifetime"]))
    return answers


@given(valid_cssrs())
def test_any_valid_cssrs_gets_the_highest_matching_risk(answers):
    high = answers.get("q4") or answers.get("q5") or answers.get("q6_recency") == "past_3_months"
    moderate = answers.get("q3") or answers["q6"]
    low = answers["q1"] or answers["q2"]
    expected = "high" if high else "moderate" if moderate else "low" if low else "none"
    assert score("cssrs", answers, RULES).risk == expected


@given(st.sampled_from(["pcl5", "phq9", "gad7"]), st.data())
def test_compare_is_consistent_with_totals(instrument, data):
    count, top = ITEM_SPECS[Instrument(instrument)]
    baseline = data.draw(st.integers(0, count * top))
    current = data.draw(st.integers(0, count * top))
    result = compare(instrument, baseline, current, RULES)
    assert result.change == baseline - current
    assert result.reduction <= 1
    # response is exactly "change / baseline >= threshold", checked here in integer arithmetic
    percent = {"pcl5": 30, "phq9": 50, "gad7": 50}[instrument]
    assert result.response is (baseline > 0 and 100 * result.change >= percent * baseline)
