"""The API's interactive documentation at `/docs`: Swagger UI 5 (it reads OpenAPI 3.1) from the files the
`fastapi-offline` package ships (no CDN), started by a script of our own, under the pages' strict CSP (scripts and
styles from this origin only). `/redoc` is off."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

from api.dashboard.headers import STATIC_MAX_AGE

HERE = Path(__file__).parent
router = APIRouter(include_in_schema=False)
# The files the page loads, and only those: nothing else of the package's folder is served.
FILES = {"swagger-ui.css": "text/css", "swagger-ui-bundle.js": "text/javascript", "favicon.png": "image/png"}
ASSETS = Path(str(files("fastapi_offline") / "static"))
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>carepath API · docs</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/static/favicon.png">
</head>
<body>
<main id="swagger-ui" data-openapi="/openapi.json"></main>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/static/docs-init.js"></script>
</body>
</html>
"""


@router.get("/docs", response_class=HTMLResponse)
def docs() -> Response:
    """Swagger UI for the OpenAPI document."""
    return HTMLResponse(PAGE, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"})


@router.get("/docs/static/docs-init.js")
def init_script() -> FileResponse:
    return FileResponse(HERE / "dashboard" / "static" / "docs-init.js", media_type="text/javascript",
                        headers={"Cache-Control": f"max-age={STATIC_MAX_AGE}"})


@router.get("/docs/static/{name}")
def asset(name: str) -> Response:
    """One of Swagger UI's own files, from the installed package."""
    if name not in FILES:
        return Response(status_code=404)
    return FileResponse(ASSETS / name, media_type=FILES[name],
                        headers={"Cache-Control": f"max-age={STATIC_MAX_AGE}"})
