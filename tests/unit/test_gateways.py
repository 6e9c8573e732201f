"""The console gateway: it records what it sent, and can say whether it already sent a text, without keeping the text."""

from datetime import UTC, datetime, timedelta

from workers.gateways import ConsoleGateway

PHONE = "+15551234567"
BODY = "Hi Dana, your session is tomorrow at 9:00"


def test_find_sent_finds_a_message_sent_since():
    gateway = ConsoleGateway(quiet=True)
    since = datetime.now(UTC) - timedelta(seconds=1)
    provider_id = gateway.send("msg-1", "reminder", PHONE, BODY)

    assert gateway.find_sent("msg-1", PHONE, BODY, since) == provider_id


def test_find_sent_ignores_another_recipient_another_text_and_older_sends():
    gateway = ConsoleGateway(quiet=True)
    since = datetime.now(UTC) - timedelta(seconds=1)
    gateway.send("msg-1", "reminder", PHONE, BODY)

    assert gateway.find_sent("msg-2", "+15557654321", BODY, since) is None
    assert gateway.find_sent("msg-2", PHONE, BODY + "!", since) is None
    assert gateway.find_sent("msg-2", PHONE, BODY, datetime.now(UTC) + timedelta(seconds=1)) is None


def test_recipient_and_body_are_not_kept_in_plain_text():
    gateway = ConsoleGateway(quiet=True)
    gateway.send("msg-1", "reminder", PHONE, BODY)

    kept = repr(vars(gateway))
    assert PHONE not in kept and PHONE.lstrip("+") not in kept and BODY not in kept
    # the same characters split differently between number and body are another message
    assert gateway.find_sent("msg-2", "+1", "5551234567" + BODY, datetime.now(UTC) - timedelta(minutes=1)) is None
