"""The protocol rules by id (workflows/rulebook.py): every reason a worklist item, timer or text can have, and every
refusal the console words, has a plain name and a PROTOCOL.md section, so "Why" never shows a bare code."""

from __future__ import annotations

from pathlib import Path

import yaml

from api.console.refusals import NEXT_STEP
from workflows.escalations import REASONS
from workflows.rulebook import RULES, SECTIONS, rule
from workflows.stages import TIMER_EVENTS

CATALOGS = Path(__file__).resolve().parents[2] / "config" / "catalogs"


def message_kinds() -> set[str]:
    kinds = set()
    for catalog in CATALOGS.glob("*.yaml"):
        kinds |= {template["kind"] for template in yaml.safe_load(catalog.read_text())["templates"].values()}
    return kinds | {"staff_message"}


def test_every_reason_timer_message_and_worded_refusal_has_a_rule() -> None:
    ids = set(REASONS) | set(TIMER_EVENTS) | message_kinds() | set(NEXT_STEP)
    assert sorted(ids - set(RULES)) == []


def test_a_rule_names_its_section_as_a_reader_finds_it() -> None:
    assert rule("reminder").where == "PROTOCOL.md §5 Messages to patients"
    assert rule("no_show").where == "PROTOCOL.md §3 Sessions"
    assert rule("clinic_scope") is None and rule(None) is None
    assert {r.section for r in RULES.values()} <= set(SECTIONS)
    assert all(r.name and "_" not in r.name for r in RULES.values()), "plain words, no code names"
