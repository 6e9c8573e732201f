"""What every response carries (never framed, no sniffing, no referrer; no caching where patient or account data
may be), what every page adds (a strict CSP), and the static files pages load."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.forwarded import is_https

STATIC = Path(__file__).parent / "static"
STATIC_MAX_AGE = 300  # stylesheets and scripts change only with a release; five minutes keeps a deploy visible

router = APIRouter(include_in_schema=False)


def secured(response: Response, fetches: bool = False, forms_to: tuple[str, ...] = ()) -> Response:
    """No caching, a strict CSP (the app's own styles and scripts only, never inline: every page loads at least
    `first-error.js`; a page whose script fetches its own live panels may connect to this site only; forms post here,
    or where a form's answer sends the browser on: `forms_to`, origins), no sniffing."""
    script_src = "script-src 'self'; " + ("connect-src 'self'; " if fetches else "")
    form_action = " ".join(("'self'", *forms_to))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (f"default-src 'none'; style-src 'self'; {script_src}img-src 'self' data:; "
                                                   f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# Everything under these may carry patient or account data: never kept by a browser or a proxy.
NO_STORE_PREFIXES = ("/v1/", "/console", "/dashboard", "/admin", "/login", "/logout", "/account", "/worklist", "/docs",
                     "/openapi.json", "/metrics")
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HSTS_SECONDS = 365 * 24 * 3600


class SecurityHeaders:
    """ASGI middleware for every response, the API's included: no framing (X-Frame-Options DENY and CSP
    frame-ancestors 'none' when the response has no CSP of its own), nosniff, no Referer, `Cache-Control: no-store`
    unless the response chose its own caching (static files), and HSTS over HTTPS."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        no_store = path.startswith(NO_STORE_PREFIXES)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Frame-Options"] = "DENY"
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                headers.setdefault("Content-Security-Policy", API_CSP)
                if no_store:
                    headers.setdefault("Cache-Control", "no-store")
                if "app" in scope and is_https(HTTPConnection(scope)):
                    headers["Strict-Transport-Security"] = f"max-age={HSTS_SECONDS}"
            await send(message)

        await self.app(scope, receive, with_headers)


def static_file(path: Path, media_type: str) -> FileResponse:
    """A file pages load (stylesheet, script), cacheable for a few minutes."""
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": f"max-age={STATIC_MAX_AGE}"})


@router.get("/dashboard/static/dashboard.css")
def stylesheet() -> FileResponse:
    """The stylesheet of every page (the console's own is loaded after it)."""
    return static_file(STATIC / "dashboard.css", "text/css")


@router.get("/dashboard/static/live.js")
def live_script() -> FileResponse:
    """The live-update script of the pages that keep themselves up to date (`api.dashboard.templating.page`)."""
    return static_file(STATIC / "live.js", "text/javascript")


@router.get("/dashboard/static/onward.js")
def onward_script() -> FileResponse:
    """The sign-in's last page moving on by itself (`login_onward.html`)."""
    return static_file(STATIC / "onward.js", "text/javascript")


@router.get("/dashboard/static/first-error.js")
def first_error_script() -> FileResponse:
    """Every page's focus on the first thing to fix after a refused submit (`base.html`)."""
    return static_file(STATIC / "first-error.js", "text/javascript")
