"""A subject is what a reminder or question is about; its stored text form never changes."""

import pytest

from workflows.subjects import Subject


@pytest.mark.parametrize(("text", "kind", "key"), [
    ("session:s1", "session", "s1"),
    ("appointment:evaluation", "appointment", "evaluation"),
    ("session:2026-03:a", "session", "2026-03:a"),  # session ids may hold colons; the kind never does
])
def test_a_stored_subject_parses_and_formats_back_unchanged(text, kind, key):
    subject = Subject.parse(text)
    assert (subject.kind, subject.key) == (kind, key)
    assert subject.format() == str(subject) == f"{subject}" == text


def test_the_builders_make_the_stored_form():
    assert str(Subject.session("s1")) == "session:s1"
    assert str(Subject.appointment("t1")) == "appointment:t1"


@pytest.mark.parametrize("text", ["checkin:s1", "s1", "", "Session:s1"])
def test_unknown_kinds_are_refused(text):
    with pytest.raises(ValueError):
        Subject.parse(text)


def test_an_empty_stored_subject_is_none():
    assert Subject.parse_optional(None) is None
    assert Subject.parse_optional("") is None
    assert Subject.parse_optional("session:s1") == Subject.session("s1")


def test_subjects_are_values():
    assert Subject.session("s1") == Subject.parse("session:s1")
    assert len({Subject.session("s1"), Subject.session("s1")}) == 1
    with pytest.raises(AttributeError):
        Subject.session("s1").key = "s2"
