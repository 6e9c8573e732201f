"""The README's pathway tables and diagram are generated from the definition; this fails when they drift."""

from pathlib import Path

from workflows.docs import BEGIN, END, pathway_section, replace_section, source_text
from workflows.stages import EVENT_RULES
from workflows.transitions import TRANSITIONS

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_pathway_section_matches_the_definition():
    text = README.read_text(encoding="utf-8")
    assert replace_section(text) == text, "README is stale: run `carepath docs --write`"


def test_every_event_and_transition_is_in_the_generated_section():
    section = pathway_section()
    assert section.startswith(BEGIN) and section.endswith(END)
    for name in EVENT_RULES:
        assert f"`{name}`" in section
    for transition in TRANSITIONS:
        assert f"| {source_text(transition)} | `{transition.event}` | {transition.target} |" in section


def test_quickstart_is_the_two_commands():
    text = README.read_text(encoding="utf-8")
    quickstart = text.split("## Quickstart", 1)[1].split("##", 1)[0]
    commands = [line.split("#")[0].strip() for line in quickstart.splitlines() if line.startswith("make ")]
    assert commands == ["make run", "make test"]
