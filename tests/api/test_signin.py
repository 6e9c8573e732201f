"""Signing in over HTTP: password then authenticator code (enrolled by QR code the first time), each code once; a
pause after repeated failures per account and per address; the form token (CSRF) on every POST; idle and absolute
timeouts; signing out, a reset or a new password ending every session; the session cookie's attributes."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pyotp
from accounts_support import browser, clock_app, entries, new_address, utcnow
from api_support import ApiServer, referral_body
from signin_support import code_for, form_token, sign_in

from models.queries import accounts as account_queries


def post_login(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post("/login", data={"email": email, "password": password,
                                       "csrf_token": form_token(client.get("/login").text)})


def test_the_password_then_the_code_and_each_code_works_once(guarded: ApiServer) -> None:
    staff = guarded.new_staff("coordinator")
    with browser(guarded.base_url, new_address()) as client:
        first = post_login(client, staff.email, staff.password)
        assert first.status_code == 303 and first.headers["location"] == "/login/code"
        assert client.get("/console/patients").headers["location"] == "/login", "half signed in opens no page"
        page = client.get("/login/code")
        wrong = client.post("/login/code", data={"code": "000000", "csrf_token": form_token(page.text)})
        assert wrong.status_code == 401 and "Enter the 6-digit code your authenticator app shows now" in wrong.text
        code = code_for(staff.secret)
        done = client.post("/login/code", data={"code": code, "csrf_token": form_token(page.text)})
        assert done.status_code == 303 and done.headers["location"] == "/console/patients"
        assert client.get("/console/patients").status_code == 200
    with browser(guarded.base_url, new_address()) as thief:  # the same code, seen over a shoulder: already spent
        post_login(thief, staff.email, staff.password)
        page = thief.get("/login/code")
        replayed = thief.post("/login/code", data={"code": code, "csrf_token": form_token(page.text)})
        assert replayed.status_code == 401
    failed = entries(guarded, user_id=staff.id, actions=("sign_in_failed",))
    assert [e.detail for e in failed] == ["wrong authenticator code"] * 2
    assert all(e.route == "/login/code" and e.address and e.address.startswith("203.0.") for e in failed)


def test_the_first_sign_in_enrols_an_authenticator_by_qr_code(guarded: ApiServer) -> None:
    staff = guarded.new_staff("clinician", enrolled=False)
    with browser(guarded.base_url, new_address()) as client:
        assert post_login(client, staff.email, staff.password).headers["location"] == "/login/enrol"
        page = client.get("/login/enrol")
        assert page.status_code == 200
        qr = re.search(r'<div role="img" aria-label="QR code[^"]*">(<svg.*?</svg>)</div>', page.text, re.S)
        assert qr and "http" not in qr.group(1).replace('xmlns="http://www.w3.org/2000/svg"', ""), "drawn here, inline"
        key = re.search(r'id="totp-key">([A-Z2-7 ]+)<', page.text).group(1).replace(" ", "")
        assert client.get("/login/enrol").text.count(key[:4]) >= 1, "the same key until it is confirmed"
        refused = client.post("/login/enrol", data={"code": "123456", "csrf_token": form_token(page.text)})
        assert refused.status_code == 401 and key[:4] in refused.text
        done = client.post("/login/enrol", data={"code": pyotp.TOTP(key).now(), "csrf_token": form_token(page.text)})
        assert done.status_code == 303 and done.headers["location"] == "/console/patients"
    assert account_queries.user(guarded.services.engine, staff.id).totp_secret == key
    assert [e.action for e in entries(guarded, user_id=staff.id)][:2] == ["sign_in", "second_factor_enrolled"]


def test_ops_sign_in_with_the_password_alone(guarded: ApiServer) -> None:
    staff = guarded.new_staff("ops", enrolled=False)
    with browser(guarded.base_url, new_address()) as client:
        assert post_login(client, staff.email, staff.password).headers["location"] == "/dashboard"


def test_three_failures_pause_the_account_wherever_they_come_from(guarded: ApiServer) -> None:
    staff, other = guarded.new_staff("ops"), guarded.new_staff("ops")
    with browser(guarded.base_url, new_address()) as attacker:
        answers = [post_login(attacker, staff.email, f"guess {n}") for n in range(3)]
    assert [a.status_code for a in answers] == [401, 401, 429]
    assert "do not match an account" in answers[0].text
    assert "signing in is paused for 15 minutes" in answers[2].text and "ask an administrator" in answers[2].text
    with browser(guarded.base_url, new_address()) as owner:
        paused = post_login(owner, staff.email, staff.password)  # the right password, from elsewhere: still paused
        assert paused.status_code == 429 and "carepath_session" not in paused.headers.get("set-cookie", "")
        assert post_login(owner, other.email, other.password).status_code == 303, "only that account is paused"
    assert entries(guarded, user_id=staff.id, actions=("sign_in_refused",))

    now = [utcnow() + timedelta(minutes=16)]
    with clock_app(guarded, now) as later, browser(later, new_address()) as owner:
        assert post_login(owner, staff.email, staff.password).status_code == 303, "the pause ends"


def test_a_finished_sign_in_starts_the_accounts_count_again(guarded: ApiServer) -> None:
    staff = guarded.new_staff("ops")
    with browser(guarded.base_url, new_address()) as client:
        assert [post_login(client, staff.email, "wrong").status_code for _ in range(2)] == [401, 401]
        assert post_login(client, staff.email, staff.password).status_code == 303
    with browser(guarded.base_url, new_address()) as client:
        assert [post_login(client, staff.email, "wrong").status_code for _ in range(2)] == [401, 401]


def test_five_failures_from_one_address_pause_it_for_every_account(guarded: ApiServer) -> None:
    staff, address = guarded.new_staff("ops"), new_address()
    with browser(guarded.base_url, address) as client:
        answers = [post_login(client, f"nobody{n}@clinic.example.test", "guess").status_code for n in range(5)]
        assert answers == [401, 401, 401, 401, 429]
        assert post_login(client, staff.email, staff.password).status_code == 429
    with browser(guarded.base_url, new_address()) as elsewhere:
        assert post_login(elsewhere, staff.email, staff.password).status_code == 303
    unknown = entries(guarded, actions=("sign_in_failed",))
    assert any(e.address == address and e.user_id is None and e.detail == "unknown account" for e in unknown)


def test_a_form_not_from_our_page_is_refused_and_records_nothing(guarded: ApiServer) -> None:
    workflow_id = guarded.referral()["workflow_id"]
    with browser(guarded.base_url, new_address()) as client:
        forged_login = client.post("/login", data={"email": "a@b.example", "password": "x" * 12})
        assert forged_login.status_code == 403 and "carepath_session" not in forged_login.headers.get("set-cookie", "")
        sign_in(client, guarded.new_staff("coordinator"))
        token = client.headers.pop("X-CSRF-Token")
        action = f"/console/patients/{workflow_id}/actions/evaluation.scheduled"
        data = {"start": "2031-01-05T10:00", "idempotency_key": "csrf-check"}
        for sent in ({}, {"csrf_token": "made-up"}):
            refused = client.post(action, data={**data, **sent})
            assert refused.status_code == 403 and "That form was not accepted" in refused.text
            assert "Nothing was recorded" in refused.text
        assert client.post("/logout").headers["location"] != "/login", "a forged sign-out changes nothing"
        assert client.get("/console/patients").status_code == 200
        history = client.get(f"/console/patients/{workflow_id}").text
        assert "Book the evaluation" in history
        accepted = client.post(action, data={**data, "csrf_token": token})
        assert accepted.status_code == 303, accepted.text[:300]
        page = client.get(f"/console/patients/{workflow_id}").text
    forms = re.findall(r'<form method="post".*?</form>', page, re.S)
    assert forms and all(f'name="csrf_token" value="{token}"' in form for form in forms)


def test_idle_sessions_end_and_a_page_reloading_itself_is_not_activity(guarded: ApiServer) -> None:
    now = [utcnow()]
    staff = guarded.new_staff("ops")
    with clock_app(guarded, now) as base, browser(base, new_address()) as client:
        sign_in(client, staff)
        for _ in range(3):
            now[0] += timedelta(minutes=14)
            assert client.get("/dashboard").status_code == 200, "used within 15 minutes: still signed in"
        now[0] += timedelta(minutes=10)
        assert client.get("/dashboard?auto=1").status_code == 200  # the 15-second reload
        now[0] += timedelta(minutes=6)
        ended = client.get("/dashboard?auto=1")
        assert ended.status_code == 303 and ended.headers["location"] == "/login?msg=idle"
        assert "left unused" in client.get("/login?msg=idle").text
    assert entries(guarded, user_id=staff.id, actions=("sign_out",))[0].detail == "session ended: idle"


def test_every_session_ends_twelve_hours_after_sign_in(guarded: ApiServer) -> None:
    now = [utcnow()]
    with clock_app(guarded, now) as base, browser(base, new_address()) as client:
        sign_in(client, guarded.new_staff("ops"))
        answers = []
        for _ in range(12 * 6 + 1):  # used every 10 minutes, never idle
            now[0] += timedelta(minutes=10)
            answers.append(client.get("/dashboard"))
    assert [a.status_code for a in answers] == [200] * 72 + [303]
    assert answers[-1].headers["location"] == "/login?msg=expired"


def test_signing_out_ends_every_session_of_the_user(guarded: ApiServer) -> None:
    staff = guarded.new_staff("clinician")
    with browser(guarded.base_url, new_address()) as laptop, browser(guarded.base_url, new_address()) as tablet:
        sign_in(laptop, staff)
        sign_in(tablet, staff)
        assert laptop.post("/logout").headers["location"] == "/login"
        assert laptop.get("/console/patients").headers["location"] == "/login"
        assert tablet.get("/console/patients").headers["location"] == "/login", "the other browser too"
    [out] = entries(guarded, user_id=staff.id, actions=("sign_out",))
    assert out.detail == "signed out (2 sessions)"


def test_the_cookie_is_httponly_strict_and_secure_over_https_through_the_trusted_proxy(guarded: ApiServer,
                                                                                      api: ApiServer) -> None:
    staff = guarded.new_staff("ops")
    with browser(guarded.base_url, new_address(), **{"X-Forwarded-Proto": "https"}) as client:
        cookie = post_login(client, staff.email, staff.password).headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Secure" in cookie
    assert "Max-Age" not in cookie and "expires" not in cookie.lower(), "a browser session cookie"
    untrusted = api.new_staff("ops")  # `api` trusts no proxy: the header is anyone's word
    with browser(api.base_url, **{"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}) as client:
        cookie = post_login(client, untrusted.email, untrusted.password).headers["set-cookie"]
    assert "Secure" not in cookie
    [entry] = entries(api, user_id=untrusted.id, actions=("sign_in",))
    assert entry.address == "127.0.0.1"


def test_a_staff_alert_link_signs_in_and_comes_back_to_its_item(guarded: ApiServer) -> None:
    """The link in an on-call SMS goes to its worklist item; not signed in, the sign-in comes back to that item
    (once), not to the role's usual landing page."""
    with guarded.client("coordinator") as api:
        made = api.post("/v1/referrals", json=referral_body()).json()
        [task] = api.get("/v1/escalations", params={"workflow_id": made["workflow_id"]}).json()["items"]
    staff = guarded.new_staff("clinician")
    with browser(guarded.base_url, new_address()) as client:
        hop = client.get(f"/worklist/{task['id']}")
        assert hop.headers["location"] == f"/console/worklist?item={task['id']}#esc-{task['id']}"
        asked = client.get(f"/console/worklist?item={task['id']}")
        assert asked.status_code == 303 and asked.headers["location"] == "/login"
        done = sign_in(client, staff)
        assert done.headers["location"] == f"/console/worklist?item={task['id']}"
        marked = client.get(done.headers["location"])
        assert marked.status_code == 200 and f'id="esc-{task["id"]}"' in marked.text
        client.post("/logout", data={"csrf_token": form_token(marked.text)})
        assert sign_in(client, staff).headers["location"] == "/console/patients", "the way back is used once"


def test_the_way_back_after_sign_in_never_leaves_our_pages(guarded: ApiServer) -> None:
    staff = guarded.new_staff("coordinator")
    for planted in ("//evil.example/console", "https://evil.example/", "/v1/workflows"):
        with browser(guarded.base_url, new_address()) as client:
            client.cookies.set("carepath_return", planted)
            assert sign_in(client, staff).headers["location"] == "/console/patients", planted
    with browser(guarded.base_url, new_address()) as client:
        client.cookies.set("carepath_return", "/console/worklist?q=Jane&item=abc-1&auto=1")
        assert sign_in(client, staff).headers["location"] == "/console/worklist?item=abc-1", "ids and codes only"
