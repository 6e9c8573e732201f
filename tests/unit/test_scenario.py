"""Scenario file parsing: models, clinic-local times, and errors that point at the right line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.scenario import ClinicSpec, Scenario, ScenarioError, StaffSpec, load_scenario, parse_scenario

NY = ZoneInfo("America/New_York")

# The example from EVENTS.md ("Scenario files"), plus a second patient and lines out of time order.
DEMO = """\
name: one esketamine patient, first week
clinic: {name: Riverside Interventional Psychiatry, phone: "+15555550100", timezone: America/New_York}
start: "2026-03-02T08:00:00"
until: "2026-03-16T00:00:00"
protocol: {}
staff:
  on_call: "+15555550190"
  medical_director: "+15555550191"
patients:
  - key: p1
    name: Test Patient One
    phone: "+1 (555) 555-0101"
    sms_consent: true
    mrn: A-17
  - key: p2
    name: Test Patient Two
    phone: "+15555550102"
timeline:
  - at: "2026-03-02T10:15:00"
    patient: p1
    sms: "1"
  - at: "2026-03-02T09:00:00"
    patient: p1
    event: referral.received
    data: {referrer: Dr. Alvarez, prior_treatments: 3}
  - at: 2026-03-02T14:00:00Z
    patient: p2
    event: referral.received
    data: {referrer: Dr. Alvarez, prior_treatments: 1}
    actor: {role: coordinator, name: Sam}
    idempotency_key: ref-p2
"""
DEMO_LINES = DEMO.count("\n")


def parse(text: str) -> Scenario:
    return parse_scenario(text, "demo.yaml")


def error_for(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse(text)
    return info.value


# --- the happy path ----------------------------------------------------------------------------------------------

def test_demo_parses_into_models():
    sc = parse(DEMO)
    assert sc.name == "one esketamine patient, first week"
    assert sc.clinic == ClinicSpec(name="Riverside Interventional Psychiatry", phone="+15555550100",
                                   timezone="America/New_York")
    assert sc.staff == StaffSpec(on_call="+15555550190", medical_director="+15555550191")
    assert sc.protocol == {}
    assert [p.key for p in sc.patients] == ["p1", "p2"]


def test_patient_phone_is_normalised_and_extra_fields_are_kept():
    p1 = parse(DEMO).patients[0]
    assert p1.phone == "+15555550101"
    assert p1.sms_consent is True
    assert p1.model_extra == {"mrn": "A-17"}


def test_naive_times_are_clinic_local_and_offsets_are_kept():
    sc = parse(DEMO)
    assert sc.start == datetime(2026, 3, 2, 8, tzinfo=NY)
    assert sc.start.utcoffset() == timedelta(hours=-5)
    assert sc.until.utcoffset() == timedelta(hours=-4)  # after the DST change on 2026-03-08
    zulu = next(line for line in sc.timeline if line.patient == "p2")
    assert zulu.at == datetime(2026, 3, 2, 14, tzinfo=UTC)
    assert zulu.at.utcoffset() == timedelta(0)


def test_timeline_is_sorted_by_time_and_remembers_source_lines():
    sc = parse(DEMO)
    # 14:00Z is 09:00 in New York, the same instant as the referral on line 22: file order breaks the tie.
    assert [(line.line, line.patient) for line in sc.timeline] == [(22, "p1"), (26, "p2"), (19, "p1")]
    sms = sc.timeline[-1]
    assert (sms.sms, sms.event, sms.data, sms.actor) == ("1", None, {}, None)
    assert sc.timeline[1].actor == {"role": "coordinator", "name": "Sam"}
    assert sc.timeline[1].idempotency_key == "ref-p2"


def test_defaults_and_empty_sections():
    text = """\
name: minimal
start: 2026-03-02
until: 2026-03-03T08:00:00-05:00
protocol:
staff:
patients: [{key: p1}]
timeline:
  - {at: "2026-03-02T12:00", patient: p1, event: referral.received, data: }
  - {at: "2026-03-02T13:00", patient: p1, sms: 1}
"""
    sc = parse(text)
    assert sc.clinic == ClinicSpec(name="carepath demo clinic", phone="+15555550100", timezone="America/New_York")
    assert sc.staff == StaffSpec() and sc.protocol == {}
    assert sc.start == datetime(2026, 3, 2, tzinfo=NY)  # a bare date is midnight, clinic-local
    assert sc.timeline[0].data == {}
    assert sc.timeline[1].sms == "1"  # YAML reads `sms: 1` as an int


def test_clinic_timezone_applies_to_naive_times():
    sc = parse(DEMO.replace("timezone: America/New_York", "timezone: Europe/Berlin"))
    assert sc.start == datetime(2026, 3, 2, 8, tzinfo=ZoneInfo("Europe/Berlin"))


def test_load_scenario_reads_a_file(tmp_path):
    path = tmp_path / "demo.yaml"
    path.write_text(DEMO, encoding="utf-8")
    assert load_scenario(path) == parse(DEMO)
    assert load_scenario(str(path)).name == "one esketamine patient, first week"


# --- errors ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("old", "new", "expected"), [
    ('at: "2026-03-02T09:00:00"', 'at: "tomorrow"', "demo.yaml:22: timeline[1].at: not an ISO 8601 time"),
    ('at: "2026-03-02T09:00:00"', "at: 1772460000", "demo.yaml:22: timeline[1].at: not an ISO 8601 time"),
    ("patient: p2", "patient: p9", "demo.yaml:27: timeline[2].patient: unknown patient 'p9'"),
    ("key: p2", "key: p1", "demo.yaml:15: patients[1].key: duplicate patient key 'p1' (first on line 10)"),
    ('until: "2026-03-16T00:00:00"', 'until: "2026-03-02T08:00:00"', "demo.yaml:4: until: must be after start"),
    ('"2026-03-02T10:15:00"', '"2026-03-16T00:00:01"', "demo.yaml:19: timeline[0].at: 2026-03-16T00:00:01-04:00 is"),
    ('"2026-03-02T10:15:00"', '"2026-03-02T07:59:59"', "demo.yaml:19: timeline[0].at: 2026-03-02T07:59:59-05:00 is"),
    ("timezone: America/New_York", "timezone: Mars/Olympus", "demo.yaml:2: clinic.timezone: unknown IANA time zone"),
    ("timezone: America/New_York", "timezone: America", "demo.yaml:2: clinic.timezone: unknown IANA time zone"),
    ('on_call: "+15555550190"', 'on_call: "555-0190"', "demo.yaml:7: staff.on_call: not an E.164 phone number"),
    ('on_call: "+15555550190"', "on_call: +15555550190", "demo.yaml:7: staff.on_call: phone numbers must be quoted"),
    ('on_call: "+15555550190"', 'oncall: "+15555550190"', "demo.yaml:7: staff.oncall: unknown field"),
    ('phone: "+15555550102"', 'phone: "+1555"', "demo.yaml:17: patients[1].phone: not an E.164 phone number"),
    ("    name: Test Patient Two\n", "    name: Test Patient Two\n    timezone: Nowhere\n",
     "demo.yaml:17: patients[1].timezone: unknown IANA time zone"),
    ("sms_consent: true", "sms_consent: maybe", "demo.yaml:13: patients[0].sms_consent: must be true or false"),
    ('sms: "1"', 'sms: "1"\n    event: session.confirmed', "demo.yaml:19: timeline[0]: a timeline line needs exactly"),
    ('sms: "1"', "data: {}", "demo.yaml:19: timeline[0]: a timeline line needs exactly one of `event` or `sms`"),
    ('sms: "1"', 'sms: "1"\n    data: {x: 1}', "demo.yaml:19: timeline[0]: an `sms` line takes no data"),
    ("event: referral.received\n    data: {referrer: Dr. Alvarez, prior_treatments: 3}", 'event: "  "',
     "demo.yaml:24: timeline[1].event: must not be blank"),
    ("data: {referrer: Dr. Alvarez, prior_treatments: 3}", "data: [1, 2]", "demo.yaml:25: timeline[1].data: must be a"),
    ("actor: {role: coordinator, name: Sam}", "actor: coordinator", "demo.yaml:30: timeline[2].actor: must be a"),
    ("actor: {role: coordinator, name: Sam}", "actor: {name: Sam}", "demo.yaml:26: timeline[2]: actor needs a `role`"),
    ("actor: {role: coordinator, name: Sam}", "actor: {role: coordinator, name: Sam, user_id: u1}",
     "demo.yaml:26: timeline[2]: actor takes a `role` and a `name`"),
    ("idempotency_key: ref-p2", "idempotency-key: ref-p2", "demo.yaml:31: timeline[2].idempotency-key: unknown"),
    ("idempotency_key: ref-p2", "line: 3", "demo.yaml:31: timeline[2].line: unknown field"),
    ("protocol: {}", "protocol: [1]", "demo.yaml:5: protocol: must be a mapping"),
    ("protocol: {}", "timline: []", "demo.yaml:5: timline: unknown field"),
    ("name: one esketamine patient, first week\n", "", "demo.yaml:1: name: required field is missing"),
    ("  - key: p2\n", "  - nickname: p2\n", "demo.yaml:15: patients[1].key: required field is missing"),
    ("    patient: p2\n", "", "demo.yaml:26: timeline[2].patient: required field is missing"),
    ("clinic: {name", "clinic: [name", "demo.yaml:2: invalid YAML: while parsing a flow sequence"),
    ("    sms_consent: true\n", "    sms_consent: true\n   bad: indent\n", "demo.yaml:14: invalid YAML"),
    ('start: "2026-03-02T08:00:00"', "start: 2026-13-02T08:00:00", "demo.yaml:3: invalid YAML: unreadable value"),
    ('start: "2026-03-02T08:00:00"', "start: 0001-01-01T00:00:00", "demo.yaml:3: start: time out of range"),
])
def test_errors_name_file_line_and_field(old, new, expected):
    assert old in DEMO
    err = error_for(DEMO.replace(old, new, 1))
    assert str(err).startswith(expected)
    assert err.path == "demo.yaml"
    assert err.line == int(expected.split(":")[1])


def test_the_earliest_problem_in_the_file_is_reported():
    text = DEMO.replace('until: "2026-03-16T00:00:00"', "until: soon").replace("key: p2", "key: [p2]")
    assert str(error_for(text)).startswith("demo.yaml:4: until: not an ISO 8601 time")


def test_duplicate_keys_point_at_the_one_yaml_keeps():
    text = DEMO.replace('  medical_director: "+15555550191"', '  on_call: "nope"')
    assert str(error_for(text)).startswith("demo.yaml:8: staff.on_call:")


@pytest.mark.parametrize(("text", "expected"), [
    ("", "demo.yaml: the scenario is empty"),
    ("# only a comment\n", "demo.yaml: the scenario is empty"),
    ("- a\n- b\n", "demo.yaml:1: the top level must be a mapping"),
    ("just words", "demo.yaml:1: the top level must be a mapping"),
    ("a: 1\n---\nb: 2\n", "demo.yaml:2: invalid YAML"),
    ("name: x\nstart: \x00\n", "demo.yaml:2: invalid YAML: character #x0000 is not allowed"),
    ("name: !!python/object:os.system x\n", "demo.yaml:1: invalid YAML"),
    ("name: *nowhere\n", "demo.yaml:1: invalid YAML: found undefined alias"),
    ("[" * 20_000, "demo.yaml: invalid YAML: nested too deeply"),
    ("name: " + "9" * 10_000 + "\n", "demo.yaml:1: invalid YAML: unreadable value"),
])
def test_unusable_documents(text, expected):
    assert str(error_for(text)).startswith(expected)


def test_scenario_error_is_a_value_error_with_attributes():
    err = ScenarioError("boom", "some/dir/demo.yaml", 14)
    assert isinstance(err, ValueError)
    assert str(err) == "demo.yaml:14: boom"
    assert (err.path, err.line, err.message) == ("some/dir/demo.yaml", 14, "boom")
    assert str(ScenarioError("boom", "demo.yaml")) == "demo.yaml: boom"


def test_load_scenario_errors_carry_the_file_name(tmp_path):
    path = tmp_path / "demo.yaml"
    path.write_text(DEMO.replace("patient: p2", "patient: p9"), encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"^demo\.yaml:27: timeline\[2\]\.patient") as info:
        load_scenario(path)
    assert info.value.path == str(path)

    with pytest.raises(ScenarioError, match="^missing.yaml: cannot read file") as info:
        load_scenario(tmp_path / "missing.yaml")
    assert info.value.line is None

    (tmp_path / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ScenarioError, match="^latin1.yaml: not UTF-8"):
        load_scenario(tmp_path / "latin1.yaml")


# --- nothing but ScenarioError, whatever the input ---------------------------------------------------------------

def _check_outcome(text: str) -> None:
    try:
        parse(text)
    except ScenarioError as err:
        assert str(err).startswith("demo.yaml")
        breaks = sum(text.count(c) for c in "\n\r\x85\u2028\u2029")  # YAML's line breaks
        assert err.line is None or 1 <= err.line <= breaks + 1


# Lone surrogates and control characters, which st.text() leaves out by default.
raw_text = st.one_of(
    st.text(),
    st.text(st.characters(codec=None, exclude_categories=())),
    st.binary().map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.text(alphabet="{}[]:-,&*!|>'\"#%@`?\n\t \x00ab1", max_size=200),
)


@given(raw_text)
def test_arbitrary_text_only_raises_scenario_error(text):
    _check_outcome(text)


@given(st.integers(0, len(DEMO)), raw_text)
def test_text_spliced_into_a_valid_scenario_only_raises_scenario_error(at, junk):
    _check_outcome(DEMO[:at] + junk + DEMO[at:])


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.datetimes() | st.dates(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
FIELDS = [("name",), ("clinic",), ("clinic", "phone"), ("clinic", "timezone"), ("start",), ("until",), ("protocol",),
          ("staff",), ("staff", "on_call"), ("patients",), ("patients", 0), ("patients", 0, "key"),
          ("patients", 0, "date_of_birth"), ("timeline",), ("timeline", 0), ("timeline", 0, "at"),
          ("timeline", 0, "patient"), ("timeline", 2, "data"), ("timeline", 2, "actor"), ("timeline", 0, "sms")]


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIELDS), yaml_values)
def test_any_value_in_any_field_only_raises_scenario_error(field, value):
    doc = yaml.safe_load(DEMO)
    target = doc
    for step in field[:-1]:
        target = target[step]
    target[field[-1]] = value
    _check_outcome(yaml.safe_dump(doc, allow_unicode=True))


def test_huge_inputs_only_raise_scenario_error():
    for text in ["{a: " * 5_000, "- " * 5_000 + "x", "x" * 2_000_000, "a: &a [*a, *a]\n" + "b: " + "[" * 3_000,
                 "name: " + "é\x00" * 100_000]:
        _check_outcome(text)
