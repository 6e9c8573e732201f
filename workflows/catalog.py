"""The SMS wording: templates, the crisis line, crisis terms and forbidden words, validated when loaded.

PROTOCOL.md §5: one segment where possible, the clinic named, never a drug name, diagnosis, score or clinical detail.
One file per language, `config/catalogs/<tag>.yaml` (an IETF language tag: `en`, `es`); this module only defines a
catalog's shape, checks and rendering, each catalog checked in its own language (its forbidden words, its crisis terms).
"""

from __future__ import annotations

import re
import string
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator


def _canonical_tag(value: object) -> object:
    # Tags are case-insensitive (BCP 47): "ES-mx" is "es-MX", so one patient's language never reads as two.
    if not isinstance(value, str):
        return value
    first, *rest = value.strip().split("-")
    return "-".join([first.lower(), *(p.upper() if len(p) == 2 else p.title() if len(p) == 4 else p.lower()
                                      for p in rest)])


# An IETF language tag as a catalog file is named and a patient's language recorded: `en`, `es`, `es-MX`, `pt-BR`.
LanguageTag = Annotated[str, BeforeValidator(_canonical_tag),
                        StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=35)]
# Drug names are refused in every language's SMS, whatever that catalog lists: brand names cross languages unchanged.
DRUG_NAMES = ("ketamine", "esketamine", "spravato", "ketalar")

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


class Keywords(BaseModel):
    """A language's own carrier keywords, on top of the English ones every carrier honours (`workflows.inbound`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    stop: tuple[str, ...] = ()
    start: tuple[str, ...] = ()
    help: tuple[str, ...] = ()

    def kind_of(self, word: str) -> str | None:
        for kind in ("stop", "start", "help"):
            if word in {w.upper() for w in getattr(self, kind)}:
                return kind
        return None


class WhenFormat(BaseModel):
    """How a visit's time reads in this language: 'Thu Mar 5 at 10:00 AM' unless the catalog says otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    weekdays: tuple[str, str, str, str, str, str, str]  # Monday first
    months: tuple[str, str, str, str, str, str, str, str, str, str, str, str]
    pattern: str = "{weekday} {day} {month} {time}"  # placeholders: weekday day month time (24-hour HH:MM)

    def format(self, moment: datetime) -> str:
        return self.pattern.format(weekday=self.weekdays[moment.weekday()], day=moment.day,
                                   month=self.months[moment.month - 1], time=f"{moment:%H:%M}")

    def longest(self) -> str:
        # The worst case a template is measured at: the longest weekday and month names, a two-digit day.
        # A name outside GSM-7 ("sáb") counts as longer than any that is not: it makes the whole SMS UCS-2.
        def worst(names):
            return max(names, key=lambda name: (septets(name) is None, len(name)))

        return self.pattern.format(weekday=worst(self.weekdays), day=30, month=worst(self.months), time="10:30")


class Catalog(BaseModel):
    """The clinic's SMS wording in one language."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    language: LanguageTag = "en"  # set by the loader from the file's name
    name: str | None = Field(default=None, max_length=40)  # the language in itself ("Español"), for the intake form
    crisis_line: str = Field(min_length=10, max_length=200)
    crisis_terms: tuple[str, ...] = Field(min_length=1)
    forbidden_words: tuple[str, ...] = Field(min_length=1)
    # Drug names are refused inside other words too ("KetamineMD", "NuSpravato"); short words like "mg" are not.
    forbidden_fragments: tuple[str, ...] = ()
    templates: dict[str, Template]
    keywords: Keywords = Keywords()
    when_format: WhenFormat | None = None  # None: the English 'Thu Mar 5 at 10:00 AM'

    @model_validator(mode="after")
    def _every_template_is_safe(self) -> Catalog:
        for name, template in self.templates.items():
            problem = self._problem(template)
            if problem:
                raise ValueError(f"templates.{name}: {problem}")
        banned = self.banned_in(self.crisis_line)
        if banned:
            raise ValueError(f"crisis_line: contains forbidden words {banned} ({self.language}): reword it without them")
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
            return f"contains forbidden words {banned} ({self.language}): reword it without them"
        worst = {**WORST_CASE, "when": self.when_format.longest()} if self.when_format else WORST_CASE
        rendered = template.text.format(**worst, crisis_line=self.crisis_line)
        if segments(rendered) > template.max_segments:
            # A single character outside GSM-7 (á, í, ó, ú, an emoji) makes the whole SMS UCS-2: 70 characters a segment.
            needs = [ch for ch in rendered if ch not in GSM7_BASIC and ch not in GSM7_EXTENDED]
            encoding = f"UCS-2 because of {''.join(sorted(set(needs)))!r}, 70 characters" if needs else "GSM-7, 160 characters"
            return (f"is {segments(rendered)} SMS segments at its longest ({len(rendered)} characters, {encoding} a "
                    f"segment); at most {template.max_segments} allowed: shorten it or raise max_segments")
        return None

    def banned_in(self, text: str) -> list[str]:
        """Forbidden words (whole words) and forbidden fragments (anywhere) found in the text."""
        lowered = text.lower()
        fragments = [f for f in (*self.forbidden_fragments, *DRUG_NAMES) if f.lower() in lowered]
        return sorted(set(forbidden_in(text, self.forbidden_words)) | set(fragments))

    def render(self, name: str, **values: str) -> tuple[MessageKind, str]:
        template = self.templates[name]
        return template.kind, template.text.format(crisis_line=self.crisis_line, **values)

    def mentions_crisis(self, text: str) -> bool:
        lowered = " ".join(text.lower().split())
        return any(term.lower() in lowered for term in self.crisis_terms)

    def keyword(self, word: str) -> tuple[str, str] | None:
        """('stop', 'start' or 'help', this language) when `word` (trimmed, upper case) is one of its own keywords."""
        kind = self.keywords.kind_of(word)
        return (kind, self.language) if kind else None

    def format_when(self, moment: datetime) -> str | None:
        """A local time in this language's words; None where the catalog keeps the English format."""
        return self.when_format.format(moment) if self.when_format else None
