"""What the demo's simulated patients answer (`workers/demo_replies.py`): only texts that ask, never a keyword or crisis
language, and the same answers for the same seed."""

from __future__ import annotations

import pytest
from pathway_helpers import CLINIC

from workers import demo_replies
from workers.settings import Settings
from workflows.inbound import read

PHONE = "+15555550103"
CATALOG = CLINIC.catalog


def rendered(template: str) -> str:
    return CATALOG.templates[template].text.format(clinic="Demo clinic", when="Tue Dec 8 at 10:00 AM",
                                                   clinic_phone="+15555550100", crisis_line=CATALOG.crisis_line)


@pytest.mark.parametrize("template", ["session_reminder", "evaluation_reminder", "confirm_request_session", "checkin",
                                      "checkin_nudge", "clarify"])
def test_a_text_that_asks_gets_an_answer(template: str) -> None:
    assert demo_replies.answers(PHONE, CATALOG.templates[template].kind, rendered(template))


@pytest.mark.parametrize("template", ["session_reminder_info", "evaluation_reminder_info", "confirmed", "help",
                                      "opt_in_confirm", "no_show", "crisis"])
def test_a_text_that_asks_nothing_gets_no_answer(template: str) -> None:
    assert not demo_replies.answers(PHONE, CATALOG.templates[template].kind, rendered(template))


def test_only_synthetic_numbers_answer() -> None:
    body = rendered("session_reminder")
    assert not demo_replies.answers("+12125550103", "session_reminder", body)
    assert not demo_replies.answers("+15555550103", "staff_alert", "carepath: patient #1 needs follow-up. Reply 1")


def test_answers_are_never_keywords_nor_crisis_language() -> None:
    kinds = ["session_reminder", "checkin", "clarify", "confirm_request", "checkin_nudge"]
    for seed in range(200):
        phone = demo_replies.phone_for(seed, PHONE)
        for kind in kinds:
            reading = read(demo_replies.reply(phone, kind), CATALOG)
            assert reading.kind in ("number", "unreadable"), (seed, kind, reading)
        assert read(demo_replies.opener(phone), CATALOG).kind == "unreadable"


def test_a_clarification_gets_the_number_meant() -> None:
    for seed in range(50):
        phone = demo_replies.phone_for(seed, PHONE)
        demo_replies.reply(phone, "session_reminder")
        assert demo_replies.reply(phone, "clarify") == "1"
        demo_replies.reply(phone, "checkin")
        assert 0 <= int(demo_replies.reply(phone, "clarify")) <= 10


def answers_of(seed: int, number: str) -> list[str]:
    phone = demo_replies.phone_for(seed, number)
    return [demo_replies.reply(phone, kind) for kind in ["session_reminder", "checkin"] * 10]


def test_a_seed_gives_each_phone_the_same_answers() -> None:
    assert answers_of(18, PHONE) == answers_of(18, PHONE)
    assert answers_of(18, PHONE) != answers_of(19, PHONE), "another seed, other answers"
    assert answers_of(18, PHONE) != answers_of(18, "+15555550104"), "each phone its own"


def test_an_answer_takes_about_the_configured_time() -> None:
    phone = demo_replies.phone_for(18, PHONE)
    waits = [demo_replies.delay(phone, 4.0) for _ in range(100)]
    assert all(2.0 <= wait <= 6.0 for wait in waits) and demo_replies.delay(phone, 0) == 0


@pytest.mark.parametrize("settings", [{"environment": "production", "sms_backend": "twilio"},
                                      {"sms_backend": "twilio"}])
def test_simulated_patients_are_refused_outside_a_demo(settings: dict) -> None:
    twilio = {"twilio_account_sid": "AC0", "twilio_auth_token": "t", "twilio_from_number": "+15555550100",
              "database_url": "postgresql://db/carepath", "public_url": "https://clinic.example"}
    with pytest.raises(ValueError, match="CAREPATH_DEMO_REPLIES .* only with the console SMS backend"):
        Settings(demo_replies=True, **twilio, **settings)
    Settings(demo_replies=False, **twilio, **settings)  # the same settings without it are fine
