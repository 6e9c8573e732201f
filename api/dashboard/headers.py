"""What every page response carries (no caching, a strict CSP, no sniffing), and the static files pages load."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

STATIC = Path(__file__).parent / "static"
STATIC_MAX_AGE = 300  # stylesheets and scripts change only with a release; five minutes keeps a deploy visible

router = APIRouter(include_in_schema=False)


def secured(response: Response, scripts: bool = False) -> Response:
    """No caching, a strict CSP (the app's own styles, and its own scripts only where a page has one), no sniffing."""
    script_src = "script-src 'self'; " if scripts else ""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (f"default-src 'none'; style-src 'self'; {script_src}img-src 'self' data:; "
                                                   "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def static_file(path: Path, media_type: str) -> FileResponse:
    """A file pages load (stylesheet, script), cacheable for a few minutes."""
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": f"max-age={STATIC_MAX_AGE}"})


@router.get("/dashboard/static/dashboard.css")
def stylesheet() -> FileResponse:
    """The stylesheet of every page (the console's own is loaded after it)."""
    return static_file(STATIC / "dashboard.css", "text/css")
