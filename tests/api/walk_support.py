"""The route walks' shared parts: data planted with a marker in every free-text field, every route of the app read
from its routers, and the requests that fill each route's path and query parameters.

A route whose path or query parameter the walk does not know fails the walking test: say here what to fill it with."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

import httpx
from api_support import ApiServer, local_time, new_phone

from api.docs import FILES as DOCS_FILES
from models.queries import inbox

SMS_PATH = "/v1/webhooks/twilio/sms"
DATE_OF_BIRTH = date(1917, 11, 29)
PHQ9_WITH_ITEM9 = {"instrument": "phq9", "answers": [2, 2, 1, 1, 1, 1, 1, 1, 1]}
# Not walked: signing out would end the walk's own session; the crash route is the test fixture's, not the app's.
NOT_WALKED = {"/logout", "/test/boom"}


def marker(field_name: str) -> str:
    """A value no page would contain by chance, naming the field it was planted in."""
    return f"Zq{secrets.token_hex(5)}{field_name.title().replace('_', '')}"


@dataclass
class Planted:
    date_of_birth: date = DATE_OF_BIRTH
    markers: dict[str, str] = field(default_factory=dict)  # what it was planted in → the text
    workflows: list[str] = field(default_factory=list)
    escalations: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def mark(self, name: str) -> str:
        self.markers[name] = marker(name)
        return self.markers[name]

    def phone(self, name: str) -> str:
        phone = new_phone()
        self.markers[name] = phone[2:]  # +15555551234 is found as 5555551234 too, with or without the +1
        self.markers[f"{name} (local)"] = f"{phone[5:8]}-{phone[8:]}"
        return phone

    def leaks(self, text: str) -> list[str]:
        return [name for name, value in self.markers.items() if value.lower() in text.lower()]


def text_from(api: ApiServer, phone: str, body: str, to: str = "+15555550100") -> str:
    """A signed inbound text to the clinic number `to` (the test server applies it at once); returns its inbox id."""
    sid = f"SM{uuid.uuid4().hex}"
    params = {"From": phone, "To": to, "Body": body, "MessageSid": sid}
    with api.client() as twilio:
        response = twilio.post(SMS_PATH, data=params, headers={"X-Twilio-Signature": api.sign(SMS_PATH, params)})
    assert response.status_code == 200, response.text
    [row] = [r.text for r in inbox.inbox_page(api.services.engine, limit=500).rows if r.text.provider_id == sid]
    return row.id


def refer(api: ApiServer, planted: Planted, who: str, phone: str | None = None, clinic: str | None = None) -> str:
    body = {**({"clinic": clinic} if clinic else {}),
            "patient": {"name": f"{planted.mark(f'{who} name')} Patient", "phone": phone or planted.phone(f"{who} phone"),
                        "timezone": "America/New_York", "sms_consent": True,
                        "date_of_birth": planted.date_of_birth.isoformat()},
            "referrer": f"Dr. {planted.mark(f'{who} referrer')}", "reason": planted.mark(f"{who} referral reason"),
            "prior_treatments": 3}
    with api.client("coordinator") as client:
        response = client.post("/v1/referrals", json=body)
    assert response.status_code == 201, response.text
    planted.workflows.append(response.json()["workflow_id"])
    return response.json()["workflow_id"]


def post(api: ApiServer, workflow_id: str, event_type: str, data: dict, role: str = "coordinator", **extra) -> None:
    response = api.post_event(workflow_id, event_type, data, role, **extra)
    assert response.status_code == 200, (event_type, response.text)


def escalations_of(api: ApiServer, workflow_id: str | None = None) -> list[dict]:
    with api.client("clinician") as client:
        params = {"status": ["open", "acknowledged", "resolved"], "limit": 200}
        if workflow_id:
            params["workflow_id"] = workflow_id
        return client.get("/v1/escalations", params=params).json()["items"]


def resolve(api: ApiServer, escalation_id: str, note: str) -> None:
    with api.client("clinician") as client:
        response = client.post(f"/v1/escalations/{escalation_id}/resolve", json={"note": note})
    assert response.status_code == 200, response.text


def plant(api: ApiServer, clinic: str | None = None, to: str = "+15555550100",
          date_of_birth: date = DATE_OF_BIRTH) -> Planted:
    """Patients and texts with a marker in every free-text field (at `clinic`, texting its number `to`)."""
    planted = Planted(date_of_birth)
    planted.markers["date of birth"] = date_of_birth.isoformat()
    planted.markers["date of birth (US)"] = date_of_birth.strftime("%m/%d/%Y")

    # In treatment: evaluation, sessions (one cancelled), a score raising an escalation, a hold, texts both ways.
    main = refer(api, planted, "main", clinic=clinic)
    main_phone = next(f"+1{value}" for name, value in planted.markers.items() if name == "main phone")
    [contact] = escalations_of(api, main)
    resolve(api, contact["id"], f"Spoke to {planted.markers['main name']} at {main_phone}, disclosed "
                                f"{planted.mark('resolution note')}")
    post(api, main, "evaluation.scheduled", {"start": local_time(1)}, idempotency_key=planted.mark("idempotency key"))
    post(api, main, "evaluation.completed", {"eligible": True, "route": "esketamine", "weight_kg": 71.5,
                                             "brought_forward": "seen early",
                                             "reason": planted.mark("evaluation reason")}, "clinician")
    post(api, main, "session.scheduled", {"session": "s1", "start": local_time(2), "dose_mg": 28})
    post(api, main, "session.scheduled", {"session": "s2", "start": local_time(4)})
    post(api, main, "session.cancelled", {"session": "s2", "reason": planted.mark("cancellation reason")})
    post(api, main, "assessment.submitted", PHQ9_WITH_ITEM9, "clinician")
    post(api, main, "safety.hold", {"reason": planted.mark("hold reason")},
         "clinician")
    post(api, main, "safety.cleared", {"reason": planted.mark("cleared reason")}, "clinician")
    post(api, main, "message.sent_by_staff", {"body": f"Hello, {planted.mark('staff reply')}"})
    planted.texts.append(text_from(api, main_phone, f"Sure {planted.mark('patient text')}", to))

    # Withdrawn, and declined with a contraindication.
    withdrawn = refer(api, planted, "withdrawn", clinic=clinic)
    post(api, withdrawn, "patient.withdrew", {"reason": planted.mark("withdrawal reason")})
    declined = refer(api, planted, "declined", clinic=clinic)
    post(api, declined, "evaluation.scheduled", {"start": local_time(1)})
    post(api, declined, "evaluation.completed", {"eligible": False, "brought_forward": "seen early",
                                                 "contraindications": [planted.mark("contraindication")],
                                                 "reason": planted.mark("decline reason")}, "clinician")

    # Two patients on one number: their text waits in the staff inbox.
    shared = planted.phone("shared phone")
    refer(api, planted, "sharing one", shared, clinic)
    refer(api, planted, "sharing two", shared, clinic)
    planted.texts.append(text_from(api, shared, f"Which of us {planted.mark('shared number text')}", to))

    # Unknown numbers: an ordinary text, and crisis language raising an emergency with no patient (then resolved).
    planted.texts.append(text_from(api, planted.phone("unknown phone"), planted.mark("unknown number text"), to))
    crisis = text_from(api, planted.phone("unknown crisis phone"), f"I want to end my life {planted.mark('crisis text')}",
                       to)
    planted.texts.append(crisis)
    [emergency] = [e for e in escalations_of(api) if e["inbox_id"] == crisis]
    resolve(api, emergency["id"], f"Called back, {planted.mark('unknown number note')}")

    planted.escalations = [e["id"] for workflow_id in planted.workflows for e in escalations_of(api, workflow_id)]
    planted.escalations.append(emergency["id"])
    return planted


@dataclass(frozen=True)
class Walked:
    method: str
    path: str
    path_params: tuple[str, ...]
    query_params: tuple[str, ...]


def every_route(app) -> Iterator[Walked]:
    """Every route of the app as it serves them (API, pages, docs, static files), read from the app's routers."""
    def walk(routes) -> Iterator:
        for route in routes:
            contexts = getattr(route, "effective_route_contexts", None)
            if contexts is not None:
                yield from contexts()
            else:
                yield route

    for route in walk(app.routes):
        dependant = getattr(route, "dependant", None)
        queries = tuple(p.alias or p.name for p in dependant.query_params) if dependant else ()
        paths = tuple(route.param_convertors)
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                yield Walked(method, route.path, paths, queries)


def path_values(planted: Planted, ops_id: str) -> dict[str, list[str]]:
    """What each path parameter is filled with: the planted data's ids (and one id that exists nowhere)."""
    nowhere = str(uuid.uuid4())
    return {
        "workflow_id": [*planted.workflows, nowhere],
        "escalation_id": [*planted.escalations, nowhere],
        "inbox_id": [*planted.texts, nowhere],
        "session_id": ["s1", "s2"], "item_id": ["s1", "evaluation"], "kind": ["session", "appointment"],
        "event_type": ["patient.withdrew", "assessment.submitted"], "action": ["vitals", "dose", "discharge"],
        "user_id": [ops_id, nowhere], "token_id": [nowhere], "name": sorted(DOCS_FILES),
        "key": ["main", "west", "nowhere"],  # a clinic's key (the admin pages' Clinics)
    }


# Each query parameter's variants (besides leaving it out). Lists and filters: every status and choice.
QUERY_VARIANTS: dict[str, list[str]] = {
    "status": ["open", "acknowledged", "resolved"], "severity": ["routine", "urgent", "emergency"],
    "owner_role": ["coordinator", "clinician", "medical_director"], "owner": ["coordinator", "clinician"],
    "workflow_id": [], "stage": ["referred", "induction", "withdrawn", "declined", "paused"],
    "flag": ["elevated_risk", "opted_out"], "escalation": ["open"], "mine": ["1"], "show": ["all", "waiting"],
    "page": ["1", "2"], "limit": ["200"], "offset": ["0"], "view": ["day", "week"], "date": [], "q": [],
    "done": ["claimed", "resolved", "assigned"], "msg": ["resolved"], "recorded": ["referral.received"],
    "duplicate": [], "texted": ["sent"], "check": ["number"], "auto": ["1"], "item": [], "message_id": [],
    "code": [], "state": [], "error": [],
    "route": ["esketamine", "none", "oral"], "clinic": ["main", "west", "nowhere"], "live": ["1"],
    "by": ["chair", "provider", "nobody"], "resource": ["Chair 1", "nowhere"], "slot": ["2030-01-07T10:00", "soon"],
    "at": ["Chair 1"], "change": [],  # the schedule grid's: a booking to move is "workflow:kind:item", as planted
}


def requests_for(route: Walked, values: dict[str, list[str]], planted: Planted) -> Iterator[tuple[str, dict]]:
    unknown = [name for name in route.path_params if name not in values]
    assert not unknown, f"{route.path}: say in path_values what to fill {unknown} with"
    unknown = [name for name in route.query_params if name not in QUERY_VARIANTS]
    assert not unknown, f"{route.path}: say in QUERY_VARIANTS which values of {unknown} to try"
    fills: list[dict[str, str]] = [{}]
    for name in route.path_params:
        fills = [{**fill, name: value} for fill in fills for value in values[name]]
    for fill in fills:
        path = route.path.format(**fill)
        yield path, {}
        if route.method != "GET":
            continue
        for name in route.query_params:
            variants = QUERY_VARIANTS[name]
            if name == "workflow_id":
                variants = planted.workflows[:2]
            elif name == "change":  # the move panel of another clinic's booking must show nothing of it
                variants = [f"{workflow}:session:s1" for workflow in planted.workflows[:2]]
            elif name in ("item", "date"):
                variants = planted.escalations[:2] if name == "item" else [date.today().isoformat()]
            for value in variants:
                yield path, {name: value}


def send(client: httpx.Client, method: str, path: str, params: dict) -> httpx.Response:
    """One walked request: a GET with its query, or a POST with an empty body (JSON to the API, a form to pages)."""
    if method == "GET":
        return client.get(path, params=params)
    if path.startswith("/v1/"):
        return client.post(path, json={})
    return client.post(path, data={})


def check(response: httpx.Response, planted: Planted, where: str) -> None:
    assert response.status_code < 500, (where, response.status_code, response.text[:300])
    headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
    leaked = planted.leaks(response.text) + planted.leaks(headers)
    assert not leaked, f"{where} ({response.status_code}) shows ops the planted {leaked}"
