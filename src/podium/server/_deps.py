"""Request dependencies: who calls (key, role, tenant, rate) and as whom a run starts."""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable

from fastapi import Depends, Request

from podium._context import ACTOR, Caller
from podium.governance import Role
from podium.server._auth import Principal, authenticate, bearer
from podium.server._problems import Problem, not_found
from podium.server._sessions import COOKIE, CSRF_HEADER
from podium.server._state import ServerState, server_state

#: Request headers passed on to model calls (never the key itself).
FORWARDED = ("x-request-id", "traceparent", "tracestate", "user-agent")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the request's principal, allowed ``role``, within its rate limit.

    (Async, so FastAPI calls it on the event loop: a sync dependency would cost a hop to
    its thread pool on every request.)
    """

    async def dependency(request: Request) -> Principal:
        state = server_state(request)
        token = bearer(request.headers.get("authorization"))
        cookie = request.cookies.get(COOKIE) if token is None else None
        if cookie is not None:
            principal = session_principal(state, request, cookie, role)
        else:
            principal = authenticate(state.keys, token, role, public_read=state.config.public_read)
        wait = state.limiter.take(principal.name)
        if wait is not None:
            raise Problem(
                429,
                "Too many requests",
                f"at most {state.limiter.per_minute} requests per minute per key",
                kind="rate-limited",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        request.state.principal = principal
        # what this request changes (models, keys) is audited as done by this principal
        ACTOR.set(Caller(principal.name, principal.tenant))
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency


#: Methods that change nothing: a console session needs no CSRF token for them.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def session_principal(state: ServerState, request: Request, cookie: str, role: Role) -> Principal:
    """The principal of a console session cookie, allowed ``role``. A request that changes
    something must also carry the session's CSRF token (``X-CSRF-Token``)."""
    session = state.sessions.find(cookie)
    if session is None:
        raise Problem(
            401,
            "Unauthorized",
            "the console session has ended; sign in again",
            kind="unauthorized",
        )
    if request.method not in SAFE_METHODS and not session.csrf_matches(
        request.headers.get(CSRF_HEADER)
    ):
        raise Problem(
            403,
            "Forbidden",
            "a request from a console session needs its X-CSRF-Token header",
            kind="csrf",
        )
    key = session.key
    principal = Principal(key.principal, key.role, key.tenant, key)
    if not principal.may(role):
        raise Problem(
            403,
            "Forbidden",
            f"this needs the {role} role; the key has {key.role}",
            kind="forbidden",
        )
    return principal


Viewer = Depends(require(Role.VIEWER))
Operator = Depends(require(Role.OPERATOR))
Admin = Depends(require(Role.ADMIN))
State = Depends(server_state)


def caller_of(principal: Principal, request: Request) -> Caller:
    """The caller a run started by this request belongs to: principal, tenant, the
    headers worth passing on, and the W3C trace of the request."""
    headers = {name: request.headers[name] for name in FORWARDED if name in request.headers}
    trace_id = span_id = None
    found = _TRACEPARENT.match(headers.get("traceparent", ""))
    if found:
        trace_id, span_id = found.group(1), found.group(2)
    return Caller.of(principal.name, principal.tenant, headers, trace_id, span_id)


def visible(principal: Principal, tenant: str | None, what: str) -> None:
    """404 unless ``principal`` may see an object of ``tenant`` (ids cannot be probed)."""
    if not principal.sees(tenant):
        raise not_found(what)


def start_allowed(state: ServerState, principal: Principal) -> None:
    """Refuse a new run when the server is stopping or the key has too many running."""
    if not state.tasks.accepting:
        raise Problem(
            503,
            "Shutting down",
            "the server is stopping; retry on another one",
            kind="unavailable",
            headers={"Retry-After": "1"},
        )
    limit = state.config.concurrent_runs
    if limit and state.tasks.running(principal.name) >= limit:
        raise Problem(
            429,
            "Too many runs",
            f"at most {limit} runs at once per key; wait for one to finish",
            kind="too-many-runs",
            headers={"Retry-After": "1"},
        )
