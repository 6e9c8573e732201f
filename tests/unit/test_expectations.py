"""A scenario's `expect:` list: the grammar, its errors (file line and what is allowed), the schema, and the judging."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cli.expect.evaluate import judge
from cli.expect.schema import SCHEMA_FILE, expectation_schema, schema_text
from cli.scenario import ScenarioError, parse_scenario

ROOT = Path(__file__).resolve().parents[2]

BASE = """\
name: expectations
clinic: {name: Riverside Interventional Psychiatry, phone: "+15555550100", timezone: America/New_York}
start: "2026-03-02T08:00:00"
until: "2026-03-09T00:00:00"
patients:
  - {key: p1, name: Test Patient One, phone: "+15555550161", sms_consent: true}
timeline:
  - {at: "2026-03-02T09:00:00", patient: p1, event: referral.received, data: {referrer: Dr. A, prior_treatments: 3}}
expect:
"""
FIRST = BASE.count("\n") + 1  # the line of the first expectation


def parse(*expectations: str):
    return parse_scenario(BASE + "".join(f"  - {e}\n" for e in expectations), "suite.yaml")


def error_for(*expectations: str) -> str:
    with pytest.raises(ScenarioError) as info:
        parse(*expectations)
    return str(info.value)


def test_the_committed_schema_is_the_generated_one():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), "run `carepath protocol schema --write`"


def test_a_scenario_without_expectations_has_none():
    assert parse_scenario(BASE.replace("expect:\n", ""), "suite.yaml").expect == []


def test_times_are_clinic_local_and_lines_are_the_files():
    scenario = parse("{stage: {p1: referred}}", '{at: "2026-03-03T10:00:00", message: {kind: checkin, to: p1,'
                     ' between: ["2026-03-03T10:00:00", "2026-03-03T11:00:00"]}}')
    first, second = scenario.expect
    assert (first.kind, first.yaml_line, second.yaml_line) == ("stage", FIRST, FIRST + 1)
    assert second.at.utcoffset().total_seconds() == -5 * 3600
    assert second.message.between[1].hour == 11 and second.message.between[1].tzinfo is not None


@pytest.mark.parametrize("expectation, expected", [
    ("{mesage: {kind: checkin}}", "expect[0].mesage: unknown field (allowed: at, note, stage, message, escalation,"
                                  " refusal, timer)"),
    ("{message: {kind: checkin, recipient: p1}}", "expect[0].message.recipient: unknown field (allowed: patient,"),
    ("{timer: {kind: checkin, when: soon}}", "expect[0].timer.when: unknown field"),
    ("{stage: {p1: referred}, timer: {kind: checkin}}", "expect[0]: an expectation takes exactly one of stage,"),
    ("{at: \"2026-03-03T10:00:00\"}", "expect[0]: an expectation takes exactly one of"),
    ("{message: {kind: chekin}}", "expect[0].message.kind: unknown message kind 'chekin' (known: checkin,"),
    ("{escalation: {reason: bp_hld}}", "expect[0].escalation.reason: unknown escalation reason 'bp_hld'"),
    ("{refusal: {event: dose.given}}", "expect[0].refusal.event: unknown event type 'dose.given'"),
    ("{refusal: {event: dose.administered, line: 3}}", "expect[0].refusal.line: line 3 is not a timeline line"
                                                       " (timeline lines: 8)"),
    ("{message: {kind: checkin, to: oncall}}", "expect[0].message.to: unknown recipient 'oncall'"),
    ("{escalation: {reason: bp_hold, paged: oncall}}", "expect[0].escalation.paged[0]: Input should be 'on_call'"),
    ("{stage: {p9: referred}}", "expect[0].stage.p9: unknown patient 'p9' (patients: p1)"),
    ("{timer: {kind: checkin, patient: p9}}", "expect[0].timer.patient: unknown patient 'p9'"),
    ('{at: "2026-04-01T00:00:00", stage: {p1: referred}}', "expect[0].at: 2026-04-01T00:00:00-04:00 is outside"),
    ("{message: {kind: checkin, status: sent, reason: cap}}", "expect[0].message: a drop `reason` goes with status:"),
    ("{message: {kind: checkin, count: 1, none: true}}", "expect[0].message: give `count` or `none: true`, not both"),
    ('{message: {kind: checkin, within: {after: "2026-03-03T10:00:00"}}}', "expect[0].message.within: give the window a length"),
    ('{timer: {kind: checkin, between: ["2026-03-03T10:00:00", "2026-03-03T09:00:00"]}}',
     "expect[0].timer: between: the second time must"),
])
def test_a_malformed_expectation_names_its_line(expectation, expected):
    message = error_for(expectation)
    assert message.startswith(f"suite.yaml:{FIRST}: {expected}"), message


def test_the_line_is_the_expectations_own():
    assert error_for("{stage: {p1: referred}}", "{timer: {kind: checkin, oops: 1}}").startswith(
        f"suite.yaml:{FIRST + 1}: expect[1].timer.oops: unknown field")


def report(**sections):
    return {"workflows": [], "events": [], "messages": [], "escalations": [], "timers": [], "rejected": [], **sections}


SENT = {"at": "2026-03-03T15:00:00+00:00", "patient": "p1", "to": "+15555550161", "direction": "outbound",
        "kind": "checkin", "status": "sent", "recipient": "patient", "cause": {"type": "checkin.due",
                                                                             "at": "2026-03-03T15:00:00+00:00"}}


@pytest.mark.parametrize("expectation, passed", [
    ("{message: {kind: checkin, to: p1}}", True),
    ("{message: {kind: checkin, to: p1, count: 2}}", False),
    ("{message: {kind: checkin, to: p1, none: true}}", False),
    ("{message: {kind: checkin, to: on_call}}", False),
    ("{message: {kind: checkin, to: p1, status: dropped}}", False),
    ('{message: {kind: checkin, between: ["2026-03-03T10:00:00", "2026-03-03T10:00:00"]}}', True),
    ('{message: {kind: checkin, within: {after: "2026-03-03T10:01:00", hours: 1}}}', False),
])
def test_messages_are_counted_in_their_window(expectation, passed):
    scenario = parse(expectation)
    verdict = judge(scenario.expect[0], report(messages=[SENT]), scenario)
    assert verdict.passed is passed, (verdict.expected, verdict.happened)


def test_a_failure_says_what_happened_and_why():
    scenario = parse('{message: {kind: checkin, to: p1, between: ["2026-03-03T11:00:00", "2026-03-03T12:00:00"]}}')
    verdict = judge(scenario.expect[0], report(messages=[SENT]), scenario)
    assert verdict.expected == ("at least one checkin to p1 sent between 2026-03-03 11:00 and 2026-03-03 12:00")
    assert verdict.happened == ("found none; nearest: checkin to p1 sent 2026-03-03 10:00 (caused by checkin.due at"
                                " 2026-03-03 10:00)")


def test_escalations_match_on_the_roles_paged_and_stages_on_the_patient():
    raised = {"raised_at": "2026-03-03T15:00:00+00:00", "patient": "p1", "reason": "bp_hold", "severity": "urgent",
              "tier": 2, "status": "open", "paged": ["on_call", "medical_director"],
              "cause": {"type": "vitals.recorded", "at": "2026-03-03T15:00:00+00:00", "line": 14}}
    scenario = parse("{escalation: {reason: bp_hold, paged: medical_director, tier: 2}}",
                     "{escalation: {reason: bp_hold, paged: clinic_manager}}", "{stage: {p1: induction}}")
    data = report(escalations=[raised], workflows=[{"patient": "p1", "stage": "referred"}])
    verdicts = [judge(e, data, scenario) for e in scenario.expect]
    assert [v.passed for v in verdicts] == [True, False, False]
    assert verdicts[1].happened == ("found none; nearest: escalation bp_hold for p1 urgent tier 2 open raised"
                                    " 2026-03-03 10:00, paged on_call, medical_director (caused by vitals.recorded at"
                                    " 2026-03-03 10:00, line 14)")
    assert verdicts[2].happened == "p1 is in referred"


def test_the_shipped_suite_fits_the_committed_schema():
    validator = pytest.importorskip("jsonschema_rs").validator_for(json.loads(SCHEMA_FILE.read_text()))
    files = sorted((ROOT / "protocol-tests").glob("*.yaml"))
    assert files
    for path in files:
        expect = json.loads(json.dumps(yaml.safe_load(path.read_text())["expect"], default=str))
        errors = [error.message for error in validator.iter_errors(expect)]
        assert not errors, (path.name, errors)
    assert not validator.is_valid([{"message": {"kind": "checkin", "recipient": "p1"}}])
    assert expectation_schema()["$schema"].endswith("2020-12/schema")
