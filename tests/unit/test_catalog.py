"""The SMS catalog (PROTOCOL.md §5 Content): the shipped wording is safe, and unsafe wording is refused at load."""

import string

import pytest
import yaml
from pydantic import ValidationError

from config.clinic import build_clinic
from config.messages import DEFAULT_MESSAGES_FILE, CatalogError, load_catalog
from workflows.catalog import GSM7_BASIC, GSM7_EXTENDED, WORST_CASE, forbidden_in, segments, septets

SHIPPED = yaml.safe_load(DEFAULT_MESSAGES_FILE.read_text(encoding="utf-8"))
CATALOG = load_catalog()
DRUG_NAMES = ["ketamine", "esketamine", "spravato", "ketalar"]


def write_catalog(tmp_path, change) -> str:
    raw = yaml.safe_load(DEFAULT_MESSAGES_FILE.read_text(encoding="utf-8"))
    change(raw)
    path = tmp_path / "messages.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return str(path)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


# --- the shipped catalog ----------------------------------------------------------------------------------------------


def test_the_shipped_catalog_loads_with_every_kind_the_pathway_sends():
    assert load_catalog(DEFAULT_MESSAGES_FILE) == CATALOG
    needed = {
        "session_reminder", "session_reminder_day_before_nasal", "session_reminder_day_before_infusion",
        "evaluation_reminder", "therapy_reminder", "checkin", "checkin_nudge", "no_show", "confirmed",
        "reschedule_requested", "checkin_received", "clarify", "help", "opt_in_confirm", "crisis", "staff_alert",
    }
    assert needed <= set(CATALOG.templates)
    assert CATALOG.crisis_line == "If you are in crisis, call or text 988 (veterans: press 1, or text 838255)."


@pytest.mark.parametrize("name", sorted(n for n, t in SHIPPED["templates"].items() if t.get("recipient") != "staff"))
def test_every_patient_template_names_the_clinic_and_has_no_forbidden_word(name):
    template = CATALOG.templates[name]
    assert template.recipient == "patient"
    assert "clinic" in placeholders(template.text)
    assert forbidden_in(template.text, CATALOG.forbidden_words) == []
    for drug in DRUG_NAMES:
        assert drug not in template.text.lower()
    rendered = CATALOG.render(name, **WORST_CASE)[1]
    assert segments(rendered) <= template.max_segments
    assert "reply cancel" not in rendered.lower(), "CANCEL is a carrier opt-out word: reminders ask for digits"


def test_reminders_ask_for_digits_and_checkins_end_with_the_crisis_line():
    for name in ("session_reminder", "session_reminder_day_before_nasal", "session_reminder_day_before_infusion",
                 "evaluation_reminder", "therapy_reminder"):
        assert "Reply 1 to confirm, 2 to reschedule." in CATALOG.templates[name].text
    for name in ("checkin", "checkin_nudge"):
        assert CATALOG.render(name, **WORST_CASE)[1].endswith(CATALOG.crisis_line)
    # The everyday reminder fits one segment even with the longest clinic name allowed.
    assert CATALOG.templates["session_reminder"].max_segments == 1


def test_every_drug_name_is_a_forbidden_word_and_crisis_terms_are_configured():
    assert set(DRUG_NAMES) <= set(CATALOG.forbidden_words)
    assert {"suicide", "kill myself", "end my life", "want to die", "hurt myself", "overdose"} <= set(CATALOG.crisis_terms)


# --- unsafe wording is refused at load, naming the template ----------------------------------------------------------


def _set_text(name, text, **extra):
    def change(raw):
        raw["templates"][name]["text"] = text
        raw["templates"][name].update(extra)
    return change


@pytest.mark.parametrize("change, named, problem", [
    (_set_text("session_reminder", "{clinic}: " + "x" * 150 + " {when}. Reply 1 to confirm, 2 to reschedule."),
     "templates.session_reminder", "SMS segments at its longest"),
    (_set_text("no_show", "We missed you today. Call us at {clinic_phone}."), "templates.no_show", "{clinic}"),
    (_set_text("clarify", "{clinic}: sorry, {patient_name}, please reply with a number."), "templates.clarify",
     "unknown placeholders ['patient_name']"),
    (_set_text("checkin", "{clinic}: how is your Ketamine treatment going? Reply 0-10. {crisis_line}"),
     "templates.checkin", "forbidden words ['ketamine']"),
    (_set_text("help", "{clinic}: questions about SPRAVATO? Call {clinic_phone}. {crisis_line}"), "templates.help",
     "forbidden words ['spravato']"),
    (_set_text("opt_in_confirm", "{clinic}: your PHQ-9 score was received."), "templates.opt_in_confirm",
     "forbidden words"),
    (_set_text("staff_alert", "carepath: patient #{ref} esketamine follow-up ({label}). {link}"), "templates.staff_alert",
     "forbidden words ['esketamine', 'ketamine']"),  # the word, and the drug name inside it
    # A template within budget on its own but over it once the crisis line is filled in.
    (_set_text("checkin", "{clinic}: How are you feeling today, from 0 (worst) to 10 (best)? {crisis_line}",
               max_segments=1), "templates.checkin", "at most 1 allowed"),
], ids=["too_long", "no_clinic", "unknown_placeholder", "drug_name", "drug_name_upper", "score_word", "staff_drug",
        "crisis_line_counted"])
def test_an_unsafe_template_is_refused_at_load_naming_it(tmp_path, change, named, problem):
    path = write_catalog(tmp_path, change)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    message = str(info.value)
    assert named in message and problem in message
    assert path in message


def test_a_crisis_line_with_a_forbidden_word_is_refused(tmp_path):
    def change(raw):
        raw["crisis_line"] = "Thinking about suicide? Call or text 988 now, any hour."
    with pytest.raises(CatalogError, match=r"crisis_line: contains forbidden words \['suicide'\]"):
        load_catalog(write_catalog(tmp_path, change))


def test_a_staff_template_need_not_name_the_clinic_but_a_patient_one_must(tmp_path):
    assert "clinic" not in placeholders(CATALOG.templates["staff_alert"].text)

    def change(raw):
        raw["templates"]["staff_alert"]["recipient"] = "patient"
    with pytest.raises(CatalogError, match="templates.staff_alert: a patient message must name the clinic"):
        load_catalog(write_catalog(tmp_path, change))


def test_an_unknown_kind_or_key_is_refused(tmp_path):
    def bad_kind(raw):
        raw["templates"]["clarify"]["kind"] = "marketing"
    with pytest.raises(CatalogError, match="templates.clarify.kind"):
        load_catalog(write_catalog(tmp_path, bad_kind))

    def bad_key(raw):
        raw["templates"]["clarify"]["txt"] = "typo"
    with pytest.raises(CatalogError, match="templates.clarify.txt: unknown key"):
        load_catalog(write_catalog(tmp_path, bad_key))


def test_an_unreadable_catalog_file_is_a_catalog_error(tmp_path):
    with pytest.raises(CatalogError, match="cannot read message catalog"):
        load_catalog(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("templates: [unclosed", encoding="utf-8")
    with pytest.raises(CatalogError, match="cannot read message catalog"):
        load_catalog(broken)


def test_forbidden_words_match_whole_words_and_phrases_in_any_case():
    words = CATALOG.forbidden_words
    assert forbidden_in("KETAMINE wellness", words) == ["ketamine"]
    assert forbidden_in("Take 56 mg.", words) == ["mg"]
    assert forbidden_in("Your blood  pressure", words) == []  # two spaces: not the phrase
    assert forbidden_in("Your Blood Pressure", words) == ["blood pressure"]
    assert forbidden_in("Ketamine's, esketamine-free", words) == ["ketamine", "esketamine"]
    assert forbidden_in("Riverside Interventional Psychiatry", words) == []


# --- segment counting (GSM-7 and UCS-2) -------------------------------------------------------------------------------


def test_gsm7_alphabet_has_the_128_basic_characters_less_escape_and_nine_extended():
    assert len(GSM7_BASIC) == 127
    assert len(GSM7_EXTENDED) == 9
    assert not GSM7_BASIC & GSM7_EXTENDED


@pytest.mark.parametrize("length, expected", [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)])
def test_gsm7_one_segment_holds_160_and_a_split_message_153_per_part(length, expected):
    text = "a" * length
    assert septets(text) == length
    assert segments(text) == expected


def test_gsm7_extended_characters_count_double():
    assert septets("€") == 2 and septets("[x]") == 5
    assert segments("€" * 80) == 1  # 160 septets
    assert segments("€" * 81) == 2  # 162 septets
    assert segments("a" * 159 + "^") == 2
    assert segments("a" * 158 + "{") == 1
    assert segments("é" * 160) == 1  # é is in the basic alphabet: one septet


@pytest.mark.parametrize("length, expected", [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)])
def test_a_non_gsm_character_switches_to_ucs2_70_single_67_per_part(length, expected):
    text = "ł" + "a" * (length - 1)
    assert septets(text) is None
    assert segments(text) == expected


def test_ucs2_counts_utf16_units_so_an_emoji_takes_two():
    assert segments("🙂" * 35) == 1  # 70 UTF-16 units
    assert segments("🙂" * 36) == 2  # 72 units: not 36 characters in one segment
    assert segments("🙂" + "a" * 68) == 1
    assert segments("🙂" + "a" * 69) == 2


def test_one_curly_quote_makes_a_template_ucs2(tmp_path):
    # The classic trap: one typographic apostrophe makes a 141-character reminder three UCS-2 segments, not one.
    text = "{clinic}: we\u2019ll see you {when}. Reply 1 to confirm, 2 to reschedule. See you soon, take care."
    path = write_catalog(tmp_path, _set_text("session_reminder", text))
    with pytest.raises(CatalogError, match="templates.session_reminder: is 3 SMS segments"):
        load_catalog(path)


# --- the clinic's name goes in every SMS -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Ketamine Wellness", "Riverside Spravato Center", "The PTSD Clinic",
                                  "Esketamine & Mind", "KETALAR care"])
def test_a_clinic_name_with_a_drug_name_or_diagnosis_is_refused(name):
    with pytest.raises(ValidationError, match="name: the clinic's name goes in every SMS"):
        build_clinic(name=name)


def test_an_ordinary_clinic_name_is_accepted_and_named_in_messages():
    clinic = build_clinic(name="Riverside Interventional Psychiatry", timezone="America/Chicago")
    assert clinic.timezone == "America/Chicago"
    body = clinic.catalog.render("session_reminder", clinic=clinic.name, clinic_phone=clinic.phone, when="Mon")[1]
    assert body.startswith("Riverside Interventional Psychiatry:")


def test_a_clinic_name_longer_than_the_templates_were_measured_for_is_refused():
    assert len(WORST_CASE["clinic"]) == 40
    with pytest.raises(ValidationError):
        build_clinic(name="R" * 41)


@pytest.mark.parametrize("name", ["KetamineMD", "NuSpravato Wellness", "Ketalarcare"])
def test_a_drug_name_inside_a_clinic_name_is_refused(name):
    with pytest.raises(ValidationError, match="must not contain"):
        build_clinic(name=name)


def test_fragments_do_not_catch_ordinary_words():
    assert CATALOG.banned_in("Riverside Interventional Psychiatry: Reply 1 to confirm") == []
