"""The application: routes, errors as problem details, and the server's life cycle."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from podium._orchestrator import Orchestrator
from podium.errors import PodiumError
from podium.governance import KeyRing
from podium.server._background import RunTasks
from podium.server._body_limit import BodyLimit
from podium.server._config import ServerConfig
from podium.server._problems import PROBLEM_JSON, Problem, from_error
from podium.server._ratelimit import RateLimiter
from podium.server._resumer import Resumer
from podium.server._state import ServerState

log = logging.getLogger("podium.server")
VERSION = "1"


def problem_response(problem: Problem, request: Request | None = None) -> Response:
    """``problem`` as an ``application/problem+json`` response."""
    instance = request.url.path if request is not None else None
    return Response(
        orjson.dumps(problem.body(instance)),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


def _field(location: Any) -> str:
    parts = [str(p) for p in location]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    return ".".join(parts)


def create_app(
    orchestrator: Orchestrator | None = None, config: ServerConfig | None = None
) -> FastAPI:
    """The Podium server over ``orchestrator`` (by default one on ``$PODIUM_HOME``)."""
    settings = config or ServerConfig.from_env()
    orch = orchestrator or Orchestrator()
    tasks = RunTasks(orch)
    state = ServerState(
        orch, settings, KeyRing(orch.store), tasks, RateLimiter(settings.requests_per_minute)
    )
    resumer = Resumer(tasks, settings.resume_every_s)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.resume_every_s > 0:
            resumer.sweep()
            resumer.start()
        state.ready = True
        try:
            yield
        finally:
            state.ready = False
            await resumer.stop()
            suspended = await tasks.drain(settings.shutdown_grace_s)
            used = getattr(_app.state, "podium_gateway", None)
            if used is not None:  # the gateway was used: write its last audit records
                await used.trail.aclose()
            if suspended:
                log.info("%d run(s) left resumable for the next server", suspended)
            if orchestrator is None:
                orch.close()

    app = FastAPI(
        title="Podium",
        version=VERSION,
        summary="Many specialised AI models working as one system.",
        lifespan=lifespan,
    )
    app.state.podium = state

    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> Response:
        return problem_response(exc, request)

    @app.exception_handler(PodiumError)
    async def on_podium_error(request: Request, exc: PodiumError) -> Response:
        return problem_response(from_error(exc), request)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        field = _field(first.get("loc", ()))
        detail = f"{field}: {first.get('msg')}" if field else str(first.get("msg"))
        problem = Problem(422, "Invalid input", detail, kind="invalid-input", field=field or None)
        return problem_response(problem, request)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Error")
        problem = Problem(exc.status_code, title, str(exc.detail), headers=dict(exc.headers or {}))
        return problem_response(problem, request)

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> Response:
        log.exception("request %s %s failed", request.method, request.url.path)
        problem = Problem(500, "Internal error", "the server could not complete the request")
        return problem_response(problem, request)

    from podium.server import api, console, gateway, observability
    from podium.server._health import router as health

    # the gateway's routes first: they are the hot path, and matching a request against
    # the REST API's many routes first costs more than the gateway adds
    app.include_router(gateway.router)
    app.include_router(health)
    app.include_router(api.router)
    console.install(app)
    observability.install(app, state)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app
