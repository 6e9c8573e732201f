"""Settings for signing in and staff alerts: a public URL too long for one staff SMS is refused at start-up in plain
words (never cut short), trusted proxies are addresses or networks, OpenID Connect is configured whole; the pause
after failed sign-ins; and every POST form of a template carries the form token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pathway_helpers import in_induction, phq9
from pydantic import ValidationError

from api.console.web import templates as console_templates
from api.dashboard.csrf import FormsCarryTheToken
from api.dashboard.templating import templates
from api.dashboard.throttle import lock_end
from workers.settings import SAMPLE_ITEM_ID, STAFF_ALERT, Settings, worklist_link
from workflows.catalog import segments
from workflows.effects import SendMessage
from workflows.escalations import REASONS, UNKNOWN_NUMBER_ALERT


def settings(**values) -> Settings:
    return Settings(_env_file=None, **values)


def test_the_staff_alert_text_the_check_measures_is_the_one_the_engine_sends() -> None:
    patient = in_induction()
    decision = patient.post("assessment.submitted", {"instrument": "phq9", "answers": phq9(item9=1)}, role="clinician")
    [alert] = [m for m in decision.of_type(SendMessage) if m.kind == "staff_alert"]
    label = REASONS["phq9_item9"].label
    assert alert.body == STAFF_ALERT.format(ref=patient.state.patient.id[:8], label=label,
                                            link=f"{patient.clinic.worklist_url}/{alert.escalation}")
    assert alert.body.endswith(f"/worklist/{alert.escalation}"), "the link names the item, by id only"


def test_a_public_url_too_long_for_one_staff_sms_is_refused_in_plain_words() -> None:
    fits = settings(public_url="https://care.example.org")
    assert worklist_link(fits.public_url) == "https://care.example.org/worklist"
    longest = max((r.label for r in REASONS.values()), key=len)
    item_link = f"{worklist_link(fits.public_url)}/{SAMPLE_ITEM_ID}"
    assert segments(STAFF_ALERT.format(ref="0123abcd", label=longest, link=item_link)) == 1
    assert segments(UNKNOWN_NUMBER_ALERT.format(label="safety emergency", link=item_link)) == 1
    with pytest.raises(ValidationError) as refused:
        settings(public_url="https://carepath.interventional-psychiatry-of-the-valley.example.org")
    message = str(refused.value)
    assert "CAREPATH_PUBLIC_URL is too long" in message and "must fit one SMS" in message
    # The link now names the item (issue #14 item 7): 37 more characters, so the address may be 32 (the link was 40).
    assert "at most 32 characters" in message
    longest_accepted = "https://" + "c" * 20 + ".org"
    assert len(longest_accepted) == 32 and settings(public_url=longest_accepted)
    with pytest.raises(ValidationError, match="at most 32 characters"):
        settings(public_url=longest_accepted + "x")


def test_trusted_proxies_are_addresses_or_networks() -> None:
    assert settings(trusted_proxies="10.0.0.2, 192.168.0.0/16").trusted_proxies == ["10.0.0.2", "192.168.0.0/16"]
    assert settings().trusted_proxies == []
    with pytest.raises(ValidationError, match="'proxy.internal' is not an IP address or network"):
        settings(trusted_proxies="proxy.internal")


def test_openid_connect_is_configured_whole() -> None:
    with pytest.raises(ValidationError, match="CAREPATH_OIDC_CLIENT_SECRET"):
        settings(oidc_issuer="https://id.example.org", oidc_client_id="carepath")
    assert not settings().oidc_enabled
    assert settings(oidc_issuer="https://id.example.org", oidc_client_id="c", oidc_client_secret="s").oidc_enabled


def test_the_pause_lasts_its_minutes_from_the_failure_that_reached_the_limit() -> None:
    t0, window = datetime(2026, 3, 2, 9, 0, tzinfo=UTC), timedelta(minutes=15)
    failures = [t0, t0 + timedelta(minutes=1), t0 + timedelta(minutes=14)]
    assert lock_end(failures, 3, window, window, t0 + timedelta(minutes=20)) == t0 + timedelta(minutes=29)
    assert lock_end(failures, 3, window, window, t0 + timedelta(minutes=30)) is None
    spread = [t0, t0 + timedelta(minutes=10), t0 + timedelta(minutes=20)]  # never three within 15 minutes
    assert lock_end(spread, 3, window, window, t0 + timedelta(minutes=21)) is None
    assert lock_end(failures[:2], 3, window, window, t0 + timedelta(minutes=2)) is None


def test_every_post_form_of_every_template_gets_the_token_once() -> None:
    add = FormsCarryTheToken(templates.env).preprocess
    source = ('<form method="get" action="/x"><input name="q"></form>\n<form method="post" action="/a" class="c">'
              '<button>A</button></form>\n<form method="post" action="/b">{{ csrf_field() }}</form>')
    out = add(source, "t")
    assert out.count("csrf_field()") == 2 and out.startswith('<form method="get" action="/x"><input name="q"></form>')
    for env in (templates.env, console_templates.env):  # the console's templates are drawn by its own environment
        assert any(isinstance(ext, FormsCarryTheToken) for ext in env.extensions.values())
        for name in env.list_templates():
            raw = env.loader.get_source(env, name)[0]
            assert add(raw, name).count("csrf_field()") >= raw.lower().count('method="post"'), name
