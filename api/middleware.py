"""ASGI middleware: a request-size limit, and a guard that logs each request by ids and hides unexpected errors."""

from __future__ import annotations

import json
import logging
import time
import traceback

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body

log = logging.getLogger("carepath.api")

MAX_BODY_BYTES = 64 * 1024  # the largest legitimate body (a referral, an assessment) is a few KiB


async def send_error(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps(error_body(code, message)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Refuse bodies over `max_bytes` with 413, whether or not they declare a Content-Length."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and not declared.isdigit():
            await send_error(send, 400, "bad_request", "the Content-Length header is not a number")
            return
        if declared is not None and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        # Read the (small) body up front, so an oversized chunked upload is refused before any route sees it.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        await self.app(scope, _replay([{"type": "http.request", "body": b"".join(chunks), "more_body": False}],
                                      receive), send)

    async def _too_large(self, send: Send) -> None:
        await send_error(send, 413, "payload_too_large", f"the request body is larger than {self.max_bytes} bytes")


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


class Guard:
    """Outermost: one log line per request (method, route, status, user id, time) and a plain 500 on a crash.

    The crash is logged with its traceback but without the exception's message, which may quote SQL parameters or
    patient data; the client gets no trace at all.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at, status = time.perf_counter(), 500
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: nothing escapes as a trace
            log.error("unhandled %s in %s %s\n%s", type(exc).__name__, scope["method"], _route(scope),
                      "".join(traceback.format_tb(exc.__traceback__)).rstrip())
            if not response_started:
                await send_error(send, 500, "internal_error", "internal error; it has been logged")
        finally:
            user = scope.get("state", {}).get("user_id", "-")
            log.info("%s %s %s user=%s %.0fms", scope["method"], _route(scope), status, user,
                     (time.perf_counter() - started_at) * 1000)


def _route(scope: Scope) -> str:
    """The matched route's template (`/v1/workflows/{workflow_id}`), else the path."""
    route = scope.get("route")
    return getattr(route, "path", None) or scope.get("path", "")
