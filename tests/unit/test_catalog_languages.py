"""One catalog per language (config/catalogs/<tag>.yaml), each checked at load in its own language."""

import shutil

import pytest
import yaml
from pydantic import ValidationError

from config.clinic import build_clinic
from config.messages import CATALOGS_DIR, CatalogError, load_catalog, load_catalogs
from workflows.catalog import WORST_CASE, segments, septets
from workflows.events import PatientData
from workflows.inbound import read
from workflows.state import Patient

CATALOGS = load_catalogs()
SPANISH = yaml.safe_load((CATALOGS_DIR / "es.yaml").read_text(encoding="utf-8"))


def spanish_with(tmp_path, change, name="es.yaml"):
    raw = yaml.safe_load((CATALOGS_DIR / "es.yaml").read_text(encoding="utf-8"))
    change(raw)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def set_text(name, text, segments_allowed=None):
    def change(raw):
        raw["templates"][name]["text"] = text
        if segments_allowed is not None:
            raw["templates"][name]["max_segments"] = segments_allowed
    return change


def test_the_shipped_catalogs_are_english_and_spanish_with_the_same_templates():
    assert set(CATALOGS) == {"en", "es"}
    assert {c.language for c in CATALOGS.values()} == {"en", "es"}
    assert set(CATALOGS["es"].templates) == set(CATALOGS["en"].templates)
    for name, template in CATALOGS["es"].templates.items():
        assert template.kind == CATALOGS["en"].templates[name].kind, name


@pytest.mark.parametrize("name", sorted(n for n, t in SPANISH["templates"].items() if t.get("recipient") != "staff"))
def test_every_spanish_patient_template_is_safe_at_its_longest(name):
    catalog = CATALOGS["es"]
    template = catalog.templates[name]
    rendered = catalog.render(name, **{**WORST_CASE, "when": catalog.when_format.longest()})[1]
    assert rendered.startswith(WORST_CASE["clinic"])
    assert segments(rendered) <= template.max_segments
    assert catalog.banned_in(rendered) == [] and CATALOGS["en"].banned_in(rendered) == []
    assert "cancelar" not in rendered.lower(), "CANCELAR is an opt-out word: reminders ask for digits"


def test_a_spanish_template_with_a_forbidden_spanish_word_is_refused_naming_file_template_and_word(tmp_path):
    path = spanish_with(tmp_path, set_text("clarify", "{clinic}: su dosis de mañana está lista."))
    with pytest.raises(CatalogError) as refused:
        load_catalog(path)
    message = str(refused.value)
    assert str(path) in message and "templates.clarify" in message and "dosis" in message and "reword" in message


def test_an_english_drug_name_is_refused_in_a_spanish_catalog_too(tmp_path):
    with pytest.raises(CatalogError, match=r"templates\.clarify.*spravato"):
        load_catalog(spanish_with(tmp_path, set_text("clarify", "{clinic}: su Spravato le espera.")))


def test_a_spanish_text_that_needs_ucs2_is_measured_at_70_characters_a_segment(tmp_path):
    text = "{clinic}: perdone, no entendimos su mensaje. Responda con un número."  # ú: UCS-2
    assert septets("ú") is None and septets("ñ¿¡é") is not None
    with pytest.raises(CatalogError) as refused:
        load_catalog(spanish_with(tmp_path, set_text("clarify", text, segments_allowed=1)))
    message = str(refused.value)
    assert "templates.clarify" in message and "UCS-2" in message and "'ú'" in message and "max_segments" in message
    # Without the accent the same words are GSM-7 and fit one segment.
    load_catalog(spanish_with(tmp_path, set_text("clarify", text.replace("ú", "u"), segments_allowed=1)))


def test_a_spanish_patient_template_must_name_the_clinic(tmp_path):
    with pytest.raises(CatalogError, match=r"templates\.clarify: a patient message must name the clinic"):
        load_catalog(spanish_with(tmp_path, set_text("clarify", "Responda con un numero, por favor.")))


def test_adding_a_language_is_adding_a_file(tmp_path):
    shutil.copy(CATALOGS_DIR / "en.yaml", tmp_path / "en.yaml")
    shutil.copy(CATALOGS_DIR / "es.yaml", tmp_path / "es-MX.yaml")
    catalogs = load_catalogs(tmp_path)
    assert set(catalogs) == {"en", "es-MX"} and catalogs["es-MX"].language == "es-MX"
    clinic = build_clinic(catalogs=catalogs)
    assert clinic.language_for("es-MX") == "es-MX" and clinic.language_for("es") is None
    (tmp_path / "Spanish.yaml").write_text("{}", encoding="utf-8")
    with pytest.raises(CatalogError, match="Spanish.yaml: a catalog file is named for its language"):
        load_catalogs(tmp_path)


def test_the_clinic_name_is_checked_against_every_languages_forbidden_words():
    with pytest.raises(ValidationError, match="ketamina"):
        build_clinic(name="Clinica Ketamina Norte")
    with pytest.raises(ValidationError, match="tept"):
        build_clinic(name="Centro TEPT")


def test_regional_tags_fall_back_to_their_language_and_unknown_ones_to_none():
    clinic = build_clinic()
    assert clinic.languages == ("en", "es")
    assert clinic.language_for("es-MX") == "es" and clinic.language_for("fr") is None
    assert clinic.catalog_for("es-US").language == "es" and clinic.catalog_for("fr").language == "en"


@pytest.mark.parametrize(("body", "kind", "language"), [
    ("ALTO", "stop", "es"), (" parar ", "stop", "es"), ("Baja", "stop", "es"), ("cancelar", "stop", "es"),
    ("COMENZAR", "start", "es"), ("alta", "start", "es"), ("Ayuda", "help", "es"),
    ("STOP", "stop", "en"), ("start", "start", "en"), ("HELP", "help", "en"),
])
def test_keywords_of_every_language_work_for_everyone(body, kind, language):
    reading = read(body, build_clinic())
    assert (reading.kind, reading.language) == (kind, language)


def test_crisis_words_of_every_language_are_read_on_every_text():
    clinic = build_clinic()
    for body in ("Quiero morir", "no quiero vivir", "voy a hacerme daño", "I want to die"):
        assert read(body, clinic).kind == "crisis", body
    assert read("ALTO, quiero matarme", clinic).kind == "crisis", "crisis words win over a keyword"
    assert read("7", clinic).kind == "number"


@pytest.mark.parametrize("tag", ["en", "es", "es-MX", "pt-BR"])
def test_a_patients_language_is_an_ietf_tag(tag):
    data = PatientData.model_validate({"name": "A", "phone": "+15555550101", "sms_consent": True, "language": tag})
    assert data.language == tag


def test_a_language_tag_is_read_case_insensitively():
    data = PatientData.model_validate({"name": "A", "phone": "+15555550101", "sms_consent": True, "language": "ES-mx"})
    assert data.language == "es-MX"


@pytest.mark.parametrize("tag", ["Spanish", "e", "es_MX", "", "es-", "español"])
def test_a_language_that_is_not_a_tag_is_refused(tag):
    with pytest.raises(ValidationError, match="language"):
        PatientData.model_validate({"name": "A", "phone": "+15555550101", "sms_consent": True, "language": tag})


def test_a_patient_recorded_before_languages_is_english():
    assert Patient.model_validate({"id": "p", "phone": "+15555550101", "timezone": "UTC"}).language == "en"
