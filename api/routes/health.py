"""`/healthz` (the process answers) and `/readyz` (the database, and Redis when tasks go through Celery, answer)."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import ServicesDep
from api.errors import error_response
from api.schemas import error_responses
from models.queries.ops import ping
from workers.runtime import Services

log = logging.getLogger("carepath.health")
router = APIRouter(tags=["health"])
REDIS_TIMEOUT_SECONDS = 1.0


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses=error_responses(503))
def readyz(svc: ServicesDep) -> JSONResponse:
    """Ready to serve: the database answers `SELECT 1`, and Redis answers PING when tasks go through Celery."""
    checks = {"database": _database(svc), "redis": _redis(svc) if svc.settings.tasks == "celery" else "not used"}
    down = [name for name, result in checks.items() if result == "unreachable"]
    if down:
        return error_response(503, f"not ready: {' and '.join(down)} unreachable", details={"checks": checks})
    return JSONResponse({"status": "ready", "checks": checks})


def _database(svc: Services) -> str:
    try:
        ping(svc.engine)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; the type is enough for the log
        log.warning("readiness: database unreachable (%s)", type(exc).__name__)
        return "unreachable"
    return "ok"


def _redis(svc: Services) -> str:
    import redis  # installed with celery[redis]; only needed when tasks go through Celery

    client = redis.Redis.from_url(svc.settings.redis_url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                                  socket_timeout=REDIS_TIMEOUT_SECONDS)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001
        log.warning("readiness: redis unreachable (%s)", type(exc).__name__)
        return "unreachable"
    finally:
        client.close()
    return "ok"
