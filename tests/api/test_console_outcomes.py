"""The outcomes report (issue #18 item 5): a cohort with known scores, on a fresh database of two clinics, gives the
response and remission rates the protocol defines, the CSV has one line per clinic and route, the clinic switcher and
`?clinic=` narrow it, bad choices are explained, and ops are refused."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from api_support import ApiServer, fresh_database, local_time, new_phone, referral_body, serve
from console_support import console
from signin_support import sign_in

from models import accounts
from models.timer_batch import fire_due_timers

IDS: dict[str, str] = {}  # the cohort's patients by letter
WEST = {"key": "west", "name": "Westside Care Clinic", "phone": "+15555550200", "timezone": "America/Los_Angeles"}


def pcl5(total: int) -> dict:
    """PCL-5 answers (20 items, 0–4) adding up to `total`."""
    items = [min(4, max(0, total - 4 * i)) for i in range(20)]
    return {"instrument": "pcl5", "answers": items}


def phq9(total: int) -> dict:
    """PHQ-9 answers adding up to `total`, item 9 (self-harm) always 0 so no escalation is raised."""
    items = [min(3, max(0, total - 3 * i)) for i in range(8)] + [0]
    return {"instrument": "phq9", "answers": items}


def patient(api: ApiServer, clinic: str, route: str, pcl: tuple[int, ...], phq: tuple[int, ...] = (),
            sessions: str = "") -> str:
    """A patient through evaluation (route chosen), baseline scores, a first session (treatment starts), then the
    follow-up scores; `sessions`: one letter per further session, a = attended, m = missed (left to the no-show timer)."""
    with api.client("coordinator") as client:
        body = referral_body(new_phone(), clinic=clinic)
        workflow = client.post("/v1/referrals", json=body).json()["workflow_id"]

    def post(event_type: str, data: dict, role: str = "coordinator") -> None:
        response = api.post_event(workflow, event_type, data, role)
        assert response.status_code == 200, (event_type, response.text)

    post("evaluation.scheduled", {"start": local_time(1)})
    post("evaluation.completed", {"eligible": True, "route": route, "weight_kg": 70.0,
                                  "brought_forward": "test cohort"}, "clinician")
    for scores, answers in ((pcl, pcl5), (phq, phq9)):
        if scores:
            post("assessment.submitted", answers(scores[0]), "clinician")
    dose = {"dose_mg": 56} if route == "esketamine" else {}
    post("session.scheduled", {"session": "s0", "start": local_time(0.05), **dose})
    post("session.arrived", {"session": "s0"})
    for scores, answers in ((pcl, pcl5), (phq, phq9)):
        for total in scores[1:]:
            post("assessment.submitted", answers(total), "clinician")
    for n, kind in enumerate(sessions, start=1):
        post("session.scheduled", {"session": f"s{n}", "start": local_time(0.05 + n * 0.01)})
        if kind == "a":
            post("session.arrived", {"session": f"s{n}"})
    return workflow


@pytest.fixture(scope="module")
def cohort(postgres_server_url):
    """Known scores. At main, esketamine:
    - A: PCL-5 50 → 30 (40 % fall: response; below 33: remission), PHQ-9 20 → 8 (60 %: response; not below 5)
    - B: PCL-5 50 → 40 (20 %: neither), PHQ-9 10 → 4 (response and remission)
    - C: PCL-5 40 → 28 (exactly 30 %: response; remission), PHQ-9 10 → 6 (40 %: neither)
    - D: PCL-5 60 only (a baseline, no follow-up: not in the rates)
    At main, IV ketamine: E: PCL-5 45 → 45. At west, esketamine: F: PCL-5 60 → 20.
    Sessions: A attends 2 more and misses 1, E misses 1; every first session attended."""
    with fresh_database(postgres_server_url) as url, serve(url, clinics=(WEST,)) as api:
        IDS["A"] = patient(api, "main", "esketamine", (50, 30), (20, 8), sessions="aam")
        patient(api, "main", "esketamine", (50, 40), (10, 4))
        patient(api, "main", "esketamine", (40, 28), (10, 6))
        patient(api, "main", "esketamine", (60,))
        patient(api, "main", "iv_ketamine", (45, 45), sessions="m")
        patient(api, "west", "esketamine", (60, 20))
        with api.client("coordinator") as client:  # referred only: no route yet
            assert client.post("/v1/referrals", json=referral_body(new_phone(), clinic="main")).status_code == 201
        # The scheduler's work, a day on: the missed sessions' no-show timers fire.
        fire_due_timers(api.services.store, datetime.now(UTC) + timedelta(days=1))
        yield api


def rows_of(text: str) -> dict[tuple[str, str], dict[str, str]]:
    return {(row["clinic"], row["route"]): row for row in csv.DictReader(io.StringIO(text))}


def test_the_csv_gives_the_protocols_response_and_remission_rates(cohort: ApiServer) -> None:
    with console(cohort, "clinician") as client:
        response = client.get("/console/outcomes/csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith('attachment; filename="outcomes-')
    rows = rows_of(response.text)
    main = next(name for name, _ in rows if name not in ("all", "Westside Care Clinic"))
    assert set(rows) == {(main, "Esketamine nasal spray"), (main, "IV ketamine"), (main, "No route chosen yet"),
                         ("Westside Care Clinic", "Esketamine nasal spray"), ("all", "all")}
    eske = rows[(main, "Esketamine nasal spray")]
    assert eske["patients"] == "4"
    assert (eske["pcl5_with_baseline"], eske["pcl5_followed_up"]) == ("4", "3")
    assert eske["pcl5_response_rate"] == "0.6667" and eske["pcl5_remission_rate"] == "0.6667"  # A and C, C at 30 %
    assert eske["pcl5_baseline_mean"] == "46.6667" and eske["pcl5_latest_mean"] == "32.6667"
    assert eske["phq9_response_rate"] == "0.6667" and eske["phq9_remission_rate"] == "0.3333"
    assert eske["stage_induction"] == "4"
    # Sessions: 4 first sessions and A's 2 more attended, A's third missed.
    assert (eske["sessions_attended"], eske["no_shows"], eske["sessions_per_patient"]) == ("6", "1", "1.5")
    assert eske["no_show_rate"] == str(round(1 / 7, 4))
    iv = rows[(main, "IV ketamine")]
    assert (iv["pcl5_response_rate"], iv["pcl5_remission_rate"], iv["no_show_rate"]) == ("0", "0", "0.5")
    assert iv["phq9_response_rate"] == "" and iv["phq9_followed_up"] == "0"  # no PHQ-9: blank, not 0 %
    assert rows[(main, "No route chosen yet")]["stage_referred"] == "1"
    everyone = rows[("all", "all")]
    assert everyone["patients"] == "7" and everyone["pcl5_followed_up"] == "5"
    assert everyone["pcl5_response_rate"] == "0.6"  # A, C and F of 5 (pooled counts, not a mean of rates)


def test_the_page_shows_the_rates_charts_and_definitions(cohort: ApiServer) -> None:
    with console(cohort, "coordinator") as client:
        page = client.get("/console/outcomes", params={"route": "esketamine"})
    assert page.status_code == 200
    html = page.text
    assert '<a href="/console/outcomes">Outcomes</a>' in html
    assert html.count('<svg class="bars"') == 3 and "<script" not in html.split("</header>", 1)[1]
    assert "PCL-5 response: 75 %" in html  # main A, C and west F of 4 followed up (esketamine only)
    assert "2 of 3" in html and "3 of 4" in html  # per clinic's row and the total row
    assert "a fall of at least 30 % from baseline; remission is a score below 33" in html
    assert "PHQ-9: response is a fall of at least 50 %; remission is a score below 5" in html
    assert 'href="/console/outcomes/csv?route=esketamine"' in html


def test_the_clinic_switcher_and_the_clinic_filter_narrow_the_report(cohort: ApiServer) -> None:
    with console(cohort, "clinician") as client:
        west = rows_of(client.get("/console/outcomes/csv", params={"clinic": "west"}).text)
        assert set(west) == {("Westside Care Clinic", "Esketamine nasal spray"), ("all", "all")}
        client.post("/console/clinic", data={"clinic": "west", "back": "/console/outcomes"})
        switched = rows_of(client.get("/console/outcomes/csv").text)
        assert switched == west
        # Looking at west only, main is not among the clinics shown: asked for by name, it is not found.
        refused = client.get("/console/outcomes", params={"clinic": "main"})
        assert refused.status_code == 404 and "No clinic called &#39;main&#39;" in refused.text


def test_staff_of_one_clinic_see_only_its_cohort(cohort: ApiServer) -> None:
    staff = cohort.new_staff("coordinator")
    with cohort.services.unit_of_work() as uow:
        accounts.set_clinics(uow, staff.id, ["west"])
        uow.commit()
    with cohort.browser() as client:
        sign_in(client, staff)
        rows = rows_of(client.get("/console/outcomes/csv").text)
        assert rows[("all", "all")]["patients"] == "1"
        assert client.get("/console/outcomes/csv", params={"clinic": "main"}).status_code == 404


def test_bad_choices_are_explained(cohort: ApiServer) -> None:
    with console(cohort, "clinician") as client:
        page = client.get("/console/outcomes", params={"route": "oral"})
        assert page.status_code == 400 and "There is no route called &#39;oral&#39;" in page.text
        assert "IV ketamine" in page.text
        assert client.get("/console/outcomes/csv", params={"route": "oral"}).status_code == 400
        missing = client.get("/console/outcomes/csv", params={"clinic": "nowhere"})
        assert missing.status_code == 404 and "No clinic called 'nowhere'" in missing.text


def test_ops_are_refused(cohort: ApiServer) -> None:
    with console(cohort, "ops") as client:
        page = client.get("/console/outcomes")
        assert page.status_code == 403 and "Not for your role" in page.text
        assert '<a href="/console/outcomes">' not in client.get("/dashboard").text
        assert client.get("/console/outcomes/csv").status_code == 403


def test_the_patients_trend_marks_the_protocols_response_and_remission_levels(cohort: ApiServer) -> None:
    """Patient A: PCL-5 baseline 50 (response at 35 or less: 30 % below), PHQ-9 baseline 20 (response at 10 or less)."""
    with console(cohort, "clinician") as client:
        html = client.get(f"/console/patients/{IDS['A']}").text
    chart = html.split('<svg class="trend"', 1)[1].split("</svg>", 1)[0]
    assert 'viewBox="0 0 860 340"' in chart
    for label in ("PCL-5 response ≤ 35", "PCL-5 remission &lt; 33", "PHQ-9 response ≤ 10", "PHQ-9 remission &lt; 5"):
        assert label in chart, label
    assert "PCL-5 response: 35 or less (30 % below the baseline 50)" in chart  # the text alternative says it in words
