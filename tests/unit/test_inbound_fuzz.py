"""Any text a phone can send is read without crashing, and reaches the workflow as a recorded, answered text."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pathway_helpers import PatientDriver

from config.clinic import default_catalog
from workflows.errors import Rejected
from workflows.inbound import read

KINDS = {"crisis", "stop", "start", "help", "number", "unreadable"}
texts = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(min_codepoint=0x0590, max_codepoint=0x06FF), max_size=200),  # right-to-left
    st.text(alphabet=st.sampled_from("😀🙏💊🆘\u200f\u202e\x00 0123456789"), max_size=200),  # emoji, marks, NUL
    st.builds(lambda s: s * (10_000 // max(len(s), 1)), st.text(min_size=1, max_size=5)),  # ~10,000 characters
    st.builds(lambda s: s * (10_001 // max(len(s), 1) + 1), st.text(min_size=1, max_size=5)),  # just over the limit
)


@settings(max_examples=300, deadline=None)
@given(texts)
def test_reading_any_text_gives_one_of_the_known_kinds(body):
    reading = read(body, default_catalog())
    assert reading.kind in KINDS
    assert (reading.number is not None) == (reading.kind == "number")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_any_text_applied_to_a_workflow_is_handled_or_refused_cleanly(body):
    patient = PatientDriver()
    before = patient.state.model_dump()
    try:
        patient.text(body)
    except Rejected as refused:
        # Only an over-long text may be refused, as invalid data naming the field, and nothing changes.
        assert len(body) > 10_000 and (refused.code, refused.field) == ("invalid_data", "body")
        assert patient.state.model_dump() == before
