"""Signing in to the pages the way a browser does, over HTTP: the form token, email and password, the authenticator
code (computed here with pyotp, as the phone app would), enrolling one from the page's key, and a new password after a
reset. Shared by the API, end-to-end and browser tests."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import httpx
import pyotp

TOKEN_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
KEY = re.compile(r'<code class="key" id="totp-key">([A-Z2-7 ]+)</code>')
STEP = 30
_last_step: dict[str, int] = {}  # secret → the last time step used: a code works once


@dataclass
class Staff:
    email: str
    password: str
    name: str = ""
    role: str = ""
    secret: str | None = None  # the TOTP secret, once enrolled
    token: str | None = None  # an API token, when the test made one
    id: str | None = None


def form_token(html: str) -> str:
    found = TOKEN_FIELD.search(html)
    assert found, "the page has no form token"
    return found.group(1)


def code_for(secret: str) -> str:
    """A code the server has not seen yet. It accepts the step before, this one and the next; the one before only while
    this step has over two seconds left (so it cannot age out on the way). Waits for the next step when all are spent."""
    while True:
        now = time.time()
        current = int(now) // STEP
        steps = (current - 1, current, current + 1) if (current + 1) * STEP - now > 2 else (current, current + 1)
        for step in steps:
            if step > _last_step.get(secret, -1):
                _last_step[secret] = step
                return pyotp.TOTP(secret).at(step * STEP)
        time.sleep(max(0.05, (current + 1) * STEP - now))


def enrolment_key(html: str) -> str:
    found = KEY.search(html)
    assert found, "the enrolment page shows no key"
    return found.group(1).replace(" ", "")


def sign_in(client: httpx.Client, staff: Staff, new_password: str | None = None) -> httpx.Response:
    """Every step from /login to the landing page; the client then sends the session's form token with each request
    (as the X-CSRF-Token header). Returns the last redirect."""
    response = client.post("/login", data={"email": staff.email, "password": staff.password,
                                           "csrf_token": form_token(client.get("/login").text)})
    assert response.status_code == 303, response.text[:500]
    while (where := response.headers["location"]).startswith("/login/"):
        page = client.get(where)
        assert page.status_code == 200, page.text[:500]
        data = {"csrf_token": form_token(page.text)}
        if where == "/login/enrol":
            staff.secret = enrolment_key(page.text)
            data["code"] = code_for(staff.secret)
        elif where == "/login/code":
            data["code"] = code_for(staff.secret)
        elif where == "/login/new-password":
            staff.password = new_password or f"{staff.password} and then some"
            data["password"] = data["confirm"] = staff.password
        response = client.post(where, data=data)
        assert response.status_code == 303, response.text[:500]
    landing = client.get(response.headers["location"])
    client.headers["X-CSRF-Token"] = form_token(landing.text)
    return response
