"""HTTP request metrics as a pure ASGI middleware (no request objects, no extra task).

The route label is the template the router matched (``/api/v1/runs/{run_id}``), never the
raw path; a request no route matched is ``unmatched``. Methods outside the standard set are
``other``. The duration runs to the end of the response (a stream's included). (A mount
whose own path has parameters would put its raw prefix in the label: Podium has none.)
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.routing import Mount

from podium.server.observability._metrics import Metrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


def route_template(scope: Scope) -> str:
    """The template of the route that handled ``scope``: ``/mount/*`` for an app mounted
    at ``/mount`` that routes by itself (static files), ``unmatched`` if nothing did."""
    root, app_root = scope.get("root_path", ""), scope.get("app_root_path", "")
    prefix = (
        root[len(app_root) :] if root and root != app_root and root.startswith(app_root) else ""
    )
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(path, str):
        return f"{prefix}/*" if prefix else UNMATCHED
    if isinstance(route, Mount):
        return f"{prefix or path}/*"
    return prefix + path or "/"


class HttpMetrics:
    """Counts and times every HTTP request into :class:`Metrics`."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        counted = False

        def count() -> None:
            nonlocal counted
            counted = True
            method = scope["method"]
            self.metrics.request(
                route_template(scope),
                method if method in METHODS else "other",
                status,
                time.perf_counter() - started,
            )

        async def sending(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
            await send(message)
            if kind == "http.response.body" and not message.get("more_body", False):
                count()  # the response is complete: counted before the app tidies up

        try:
            await self.app(scope, receive, sending)
        finally:
            if not counted:  # no complete response (an error, a client gone)
                count()
