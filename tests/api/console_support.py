"""Helpers for the console's tests: a logged-in browser-like client, and reading what a console page offers."""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser

import httpx
from api_support import ApiServer, new_phone

from api.console.offers import OWN_PANEL
from models import queries
from workflows.stages import EVENT_RULES, Role, Stage

PEOPLE = {Role.COORDINATOR, Role.CLINICIAN, Role.OPS}


@contextmanager
def console(api: ApiServer, role: str) -> Iterator[httpx.Client]:
    """A client holding the session cookie of a user with this role (redirects are not followed)."""
    with api.browser() as client:
        api.sign_in(client, role)
        yield client


# Actions about a session at the chair or on the calendar, and about an escalation: offered only when there is one.
ABOUT_A_SESSION = {"session.rescheduled", "session.cancelled", "session.confirmed", "session.arrived", "vitals.recorded",
                   "dose.administered", "session.discharged", "rems.form_submitted"}
ABOUT_AN_ESCALATION = {"escalation.acknowledged", "escalation.resolved"}


def expected_actions(stage: Stage, role: str, *, open_escalation: bool = False) -> set[str]:
    """What the pathway's declared rules allow this role to post in this stage (read from workflows.stages), for a
    patient with no session booked yet (and an open escalation or not)."""
    allowed = {event for event, rule in EVENT_RULES.items()
               if stage in rule.allowed_in and rule.roles & PEOPLE and (role == "admin" or Role(role) in rule.roles)
               and event not in OWN_PANEL}
    return allowed - ABOUT_A_SESSION - (set() if open_escalation else ABOUT_AN_ESCALATION)


def offered(html: str) -> list[str]:
    return re.findall(r'<details class="action" id="[^"]+" data-event="([^"]+)"', html)


def action_key(html: str, event: str) -> str:
    """The idempotency key drawn into one action's form."""
    section = action_section(html, event)
    return re.search(r'name="idempotency_key" value="([^"]+)"', section).group(1)


def action_section(html: str, event: str) -> str:
    """One action's summary and form (a refusal inside it has a <details> of its own: the form's end marks it)."""
    return html.split(f'data-event="{event}"', 1)[1].split("</form>", 1)[0]


def refusal_shown(html: str) -> tuple[str, str]:
    """A refused action's box on the patient page: (what staff read, what the "Details for support" toggle holds)."""
    box = re.search(r'<div class="error refused" role="alert">(.*?)</div>', html, re.S).group(1)
    visible = re.search(r'<p class="refusal-text">(.*?)</p>', box, re.S).group(1)
    details = re.search(r'<details class="refusal-details">(.*?)</details>', box, re.S)
    return _text(visible), _text(details.group(1)) if details else ""


def _text(fragment: str) -> str:
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def history(api: ApiServer, workflow_id: str) -> list[str]:
    return [record.type for record in queries.events(api.services.engine, workflow_id)]


def named_referral(api: ApiServer, name: str, **patient: object) -> tuple[str, str]:
    phone = new_phone()
    body = api.referral(patient={"name": name, "phone": phone, "timezone": "America/New_York", "sms_consent": True,
                                 **patient})
    return body["workflow_id"], phone


class _Controls(HTMLParser):
    """Every form control's id, and every <label for=...>."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[str] = []
        self.labelled: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("input", "select", "textarea") and found.get("type") not in ("hidden", "submit"):
            self.controls.append(found.get("id") or f"<{tag} name={found.get('name')} without an id>")
        if tag == "label" and found.get("for"):
            self.labelled.add(found["for"])


def unlabelled_controls(html: str) -> list[str]:
    """Controls without a <label for> (buttons are named by their text)."""
    parser = _Controls()
    parser.feed(html)
    return [control for control in parser.controls if control not in parser.labelled]
