"""The SMS wording: templates, the crisis line, crisis terms and forbidden words, validated when loaded.

PROTOCOL.md §5: one segment where possible, the clinic named, never a drug name, diagnosis, score or clinical detail.
The file lives in `config/messages.yaml`; this module only defines its shape, checks and rendering.
"""

from __future__ import annotations

import re
import string
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnop"
    "qrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€")  # each takes two septets
SINGLE_SEGMENT = 160
PER_SEGMENT_WHEN_SPLIT = 153  # concatenated SMS spend 7 septets of each segment on the header
MessageKind = Literal[
    "session_reminder", "evaluation_reminder", "therapy_reminder", "checkin", "checkin_nudge", "no_show",
    "reply_ack", "clarify", "help", "opt_in_confirm", "crisis", "staff_alert", "confirm_request",
    "rota_gap",
]
PLACEHOLDERS = {"clinic", "clinic_phone", "when", "crisis_line", "ref", "label", "link"}
# The longest values a placeholder takes, so a template is measured at its worst, not its best.
WORST_CASE = {
    "clinic": "C" * 40, "clinic_phone": "+15555550100", "when": "Wed Sep 30 at 10:30 AM", "ref": "0123abcd",
    "label": "l" * 24,
    "link": "https://" + "c" * 24 + "/worklist/" + "0" * 36,  # the longest item link a clinic accepts: 78 characters
}


def septets(text: str) -> int | None:
    """Length in GSM-7 septets, or None when the text needs UCS-2 (then a segment holds only 70 characters)."""
    if any(ch not in GSM7_BASIC and ch not in GSM7_EXTENDED for ch in text):
        return None
    return sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)


def segments(text: str) -> int:
    length = septets(text)
    single, split = (SINGLE_SEGMENT, PER_SEGMENT_WHEN_SPLIT) if length is not None else (70, 67)
    # UCS-2 counts UTF-16 code units: an emoji outside the basic plane takes two.
    length = length if length is not None else len(text.encode("utf-16-le")) // 2
    return 1 if length <= single else -(-length // split)


def forbidden_in(text: str, words: tuple[str, ...]) -> list[str]:
    lowered = text.lower()
    return [word for word in words if re.search(rf"(?<![a-z0-9]){re.escape(word.lower())}(?![a-z0-9])", lowered)]


class Template(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: MessageKind
    text: str = Field(min_length=1, max_length=600)
    max_segments: int = Field(default=1, ge=1, le=3)  # more than one only where the content needs it
    recipient: Literal["patient", "staff"] = "patient"


class Catalog(BaseModel):
    """The clinic's SMS wording."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    crisis_line: str = Field(min_length=10, max_length=200)
    crisis_terms: tuple[str, ...] = Field(min_length=1)
    forbidden_words: tuple[str, ...] = Field(min_length=1)
    # Drug names are refused inside other words too ("KetamineMD", "NuSpravato"); short words like "mg" are not.
    forbidden_fragments: tuple[str, ...] = ()
    templates: dict[str, Template]

    @model_validator(mode="after")
    def _every_template_is_safe(self) -> Catalog:
        for name, template in self.templates.items():
            problem = self._problem(template)
            if problem:
                raise ValueError(f"templates.{name}: {problem}")
        banned = self.banned_in(self.crisis_line)
        if banned:
            raise ValueError(f"crisis_line: contains forbidden words {banned}")
        return self

    def _problem(self, template: Template) -> str | None:
        fields = {name for _, name, _, _ in string.Formatter().parse(template.text) if name}
        unknown = fields - PLACEHOLDERS
        if unknown:
            return f"unknown placeholders {sorted(unknown)} (allowed: {sorted(PLACEHOLDERS)})"
        if template.recipient == "patient" and "clinic" not in fields:
            return "a patient message must name the clinic ({clinic})"
        banned = self.banned_in(template.text)
        if banned:
            return f"contains forbidden words {banned}"
        rendered = template.text.format(**WORST_CASE, crisis_line=self.crisis_line)
        if segments(rendered) > template.max_segments:
            return (f"is {segments(rendered)} SMS segments at its longest ({len(rendered)} characters); "
                    f"at most {template.max_segments} allowed")
        return None

    def banned_in(self, text: str) -> list[str]:
        """Forbidden words (whole words) and forbidden fragments (anywhere) found in the text."""
        lowered = text.lower()
        fragments = [f for f in self.forbidden_fragments if f.lower() in lowered]
        return sorted(set(forbidden_in(text, self.forbidden_words)) | set(fragments))

    def render(self, name: str, **values: str) -> tuple[MessageKind, str]:
        template = self.templates[name]
        return template.kind, template.text.format(crisis_line=self.crisis_line, **values)

    def mentions_crisis(self, text: str) -> bool:
        lowered = " ".join(text.lower().split())
        return any(term.lower() in lowered for term in self.crisis_terms)
