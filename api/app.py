"""The FastAPI application, built from a `Services` (nothing is connected at import)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI

from api import docs
from api.console.router import router as console_router
from api.dashboard.headers import SecurityHeaders
from api.dashboard.router import router as dashboard_router
from api.errors import install_error_handlers
from api.middleware import MAX_BODY_BYTES, BodyLimit, Guard
from api.routes import escalations, health, network, referrals, rota, webhooks, workflows
from api.routes import metrics as metrics_route
from workers.runtime import Services

DESCRIPTION = """Coordinators and clinicians start and drive care pathways; Twilio delivers patients' texts and receipts.

Authenticate with `Authorization: Bearer <token>`, an API token (`carepath users token create`, or the admin pages).
Every error answers `{"error": {"code", "message", "details"}}`. Times are ISO 8601; a time sent without an offset is
clinic-local, and every time returned is UTC with its offset."""


def create_app(services: Services, *, clock: Callable[[], datetime] | None = None,
               max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The API over these services; `clock` (default: the system clock, UTC) is what routes take as now."""
    app = FastAPI(title="carepath", version="0.1.0", description=DESCRIPTION, docs_url=None,
                  openapi_url="/openapi.json", redoc_url=None)
    app.state.services = services
    app.state.clock = clock or (lambda: datetime.now(UTC))
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(SecurityHeaders)  # every response: no framing, no-store where data may be
    app.add_middleware(Guard)  # added last: outermost
    for module in (referrals, workflows, escalations, rota, webhooks, health, network):
        app.include_router(module.router)
    app.include_router(dashboard_router)  # /login, /dashboard/... pages behind the session cookie
    app.include_router(console_router)  # /console/... pages for coordinators and clinicians
    app.include_router(metrics_route.router)  # /metrics (ops or admin token)
    app.include_router(docs.router)  # /docs from packaged Swagger UI files
    return app
