"""Forms that only carepath's own pages can send: a per-session token in every POST form, checked on every POST.

Signed in, the token is the session's (`StaffSession.csrf_token`). Before there is a session (the sign-in form), it is
a random value kept in a SameSite=Strict cookie and repeated in the form: another site can neither read the cookie
nor make the browser send it.

Every template environment of the pages gets `FormsCarryTheToken` (`api.dashboard.templating.configure`): each
`<form method="post">…</form>` in a template ends with `{{ csrf_field() }}` when it is compiled, so every form, the
console's included, carries the token without each template saying so. A page's dependency
(`api.dashboard.access.page_user`) checks it; scripts and tests may send it as the `X-CSRF-Token` header instead.
"""

from __future__ import annotations

import hmac
import re

from fastapi import Request
from jinja2 import pass_context
from jinja2.ext import Extension
from markupsafe import Markup, escape

FIELD = "csrf_token"
HEADER = "x-csrf-token"
LOGIN_COOKIE = "carepath_form"
MACRO = "{{ csrf_field() }}"
_POST_FORM = re.compile(r"(<form\b[^>]*\bmethod=[\"']?post[\"']?[^>]*>)(.*?)(</form>)", re.I | re.S)


@pass_context
def csrf_field(context) -> Markup:
    """The hidden input with this page's form token (empty when the page has none: nothing would accept the form)."""
    request = context.get("request")
    token = getattr(getattr(request, "state", None), "csrf_token", None)
    if not token:
        return Markup("")
    return Markup(f'<input type="hidden" name="{FIELD}" value="{escape(token)}">')


class FormsCarryTheToken(Extension):
    """Put `{{ csrf_field() }}` at the end of every POST form (before its `</form>`) when a template is compiled,
    unless the form already has it."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        def carried(found: re.Match) -> str:
            opening, body, closing = found.groups()
            return found.group(0) if "csrf_field()" in body else f"{opening}{body}{MACRO}{closing}"

        return _POST_FORM.sub(carried, source)


async def sent_token(request: Request) -> str | None:
    """The form token a POST came with (its header, else its form field); None for other methods."""
    if request.method != "POST":
        return None
    header = request.headers.get(HEADER)
    if header:
        return header
    value = (await request.form()).get(FIELD)
    return value if isinstance(value, str) else ""


def matches(expected: str | None, sent: str | None) -> bool:
    return bool(expected) and bool(sent) and hmac.compare_digest(expected.encode(), sent.encode())
