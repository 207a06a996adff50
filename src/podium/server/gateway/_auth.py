"""Who calls the gateway: the server's key check, role and per-key rate, as for the REST
API (the key ring remembers a verified key for a second, so the database is not read on
every request), with OpenAI-shaped errors."""

from __future__ import annotations

import math

from fastapi import Request

from podium._context import Caller
from podium.governance import Role
from podium.server._auth import Principal, authenticate, bearer
from podium.server._deps import FORWARDED, caller_of
from podium.server._problems import Problem
from podium.server._state import ServerState
from podium.server.gateway._errors import from_problem

#: at most this many callers are remembered (a flood of made-up headers cannot grow it)
_SIZE = 4096


_PASSED = frozenset(name.encode() for name in FORWARDED)


class Doorman:
    """Checks each gateway request's key, role and rate, as the REST API's dependencies do."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self._callers: dict[tuple[object, ...], Caller] = {}

    def principal(self, request: Request, needed: Role) -> Principal:
        """The caller, allowed ``needed`` and within its rate (OpenAI-shaped errors)."""
        state = self.state
        token = bearer(request.headers.get("authorization"))
        try:  # the key ring remembers a verified key for a second (and forgets on revoke)
            public = state.config.public_read
            principal = authenticate(state.keys, token, needed, public_read=public)
        except Problem as problem:
            raise from_problem(problem) from None
        limiter = state.limiter
        wait = limiter.take(principal.name)
        if wait is not None:
            raise from_problem(
                Problem(
                    429,
                    "Too many requests",
                    f"at most {limiter.per_minute} requests per minute per key",
                    kind="rate-limited",
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )
            )
        request.scope.setdefault("state", {})["principal"] = principal  # as the REST API's
        return principal

    def caller(self, principal: Principal, request: Request) -> Caller:
        """The caller a call of ``request`` is made for (as :func:`caller_of`; kept for the
        requests that pass on the same headers)."""
        passed = tuple(pair for pair in request.scope["headers"] if pair[0] in _PASSED)
        key = (principal.name, principal.tenant, passed)
        found = self._callers.get(key)
        if found is None:
            found = caller_of(principal, request)
            if len(self._callers) >= _SIZE:
                self._callers.clear()
            self._callers[key] = found
        return found
