"""What every response carries: no page or API answer can be framed, nothing with patient or account data is cached,
/docs comes from the app itself (no CDN) under a strict CSP, and the staff alert's link leads to the worklist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from api_support import ApiServer

PATHS = ["/login", "/healthz", "/v1/workflows", "/openapi.json", "/docs", "/dashboard", "/console/patients",
         "/admin/users", "/metrics"]


@pytest.mark.parametrize("path", PATHS)
def test_nothing_can_be_framed(api: ApiServer, path: str) -> None:
    with api.client("admin") as client:
        response = client.get(path, follow_redirects=False)
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize("path", ["/v1/workflows", "/login", "/dashboard", "/console/patients", "/metrics"])
def test_responses_that_may_carry_patient_or_account_data_are_never_stored(api: ApiServer, path: str) -> None:
    with api.client("admin") as client:
        assert client.get(path, follow_redirects=False).headers["cache-control"] == "no-store"


def test_a_patients_api_answer_is_not_stored(api: ApiServer) -> None:
    workflow_id = api.workflow_in("referred")
    with api.client("coordinator") as client:
        assert client.get(f"/v1/workflows/{workflow_id}").headers["cache-control"] == "no-store"
    with api.browser() as client:
        assert "max-age" in client.get("/dashboard/static/dashboard.css").headers["cache-control"]


def test_the_docs_come_from_the_app_under_the_pages_csp(api: ApiServer) -> None:
    with api.browser() as client:
        docs = client.get("/docs")
        assert docs.status_code == 200
        sources = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
        assert sources and all(source.startswith("/") for source in sources), sources
        csp = docs.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "connect-src 'self'" in csp
        assert "<script>" not in docs.text, "no inline script"
        for source in sources:
            asset = client.get(source)
            assert asset.status_code == 200 and len(asset.content) > 100, source
        assert client.get("/docs/static/index.html").status_code == 404, "only the files the page loads"
        assert client.get("/redoc").status_code == 404


def test_the_staff_alerts_link_leads_to_the_worklist(api: ApiServer) -> None:
    assert api.services.store.clinic.worklist_url == "https://clinic.example.test/worklist"
    with api.browser() as client:
        answer = client.get("/worklist")
    assert answer.status_code == 303 and answer.headers["location"] == "/console/worklist"


def test_no_page_reloads_itself() -> None:
    """No `<meta http-equiv="refresh">` anywhere (issue #18): a reload wipes what someone is typing. Pages that keep
    themselves up to date swap their live panels (`api/dashboard/static/live.js`)."""
    pages = Path(__file__).resolve().parents[2] / "api"
    sources = [path for path in pages.rglob("*") if path.suffix in (".html", ".py", ".js")]
    assert len(sources) > 50
    reloading = [str(path) for path in sources if "http-equiv" in path.read_text(encoding="utf-8").lower()]
    assert not reloading
