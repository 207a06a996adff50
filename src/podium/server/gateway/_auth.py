"""Who calls the gateway: the server's key check, with verified keys remembered briefly.

Reading a key's record from the database on every request would cost more than the rest
of the gateway's path, so a verified key (or a token found unusable) is remembered for
:data:`REMEMBER_S`: a key revoked meanwhile stops working here within that time (an
expired one at once). The role check and the per-key rate limit run on every request, as
for the REST API.
"""

from __future__ import annotations

import math
import time

from fastapi import Request

from podium._context import Caller
from podium.governance import ApiKey, KeyRing, Role
from podium.server._auth import Principal, authenticate, bearer
from podium.server._deps import FORWARDED, caller_of
from podium.server._problems import Problem
from podium.server._state import ServerState
from podium.server.gateway._errors import from_problem

#: how long a verification is trusted
REMEMBER_S = 1.0
#: at most this many tokens are remembered (a flood of made-up tokens cannot grow it)
_SIZE = 4096


class RememberingKeys(KeyRing):
    """A :class:`KeyRing` whose :meth:`verify` answers from memory for a moment."""

    def __init__(self, keys: KeyRing) -> None:
        super().__init__(keys.store)
        self._known: dict[str, tuple[ApiKey | None, float]] = {}

    def verify(self, token: str, now: float | None = None) -> ApiKey | None:
        moment = time.monotonic()
        found = self._known.get(token)
        if found is not None and found[1] > moment:
            key = found[0]
            return key if key is None or key.usable(now) else None
        key = super().verify(token, now)
        if len(self._known) >= _SIZE:
            self._known.clear()
        self._known[token] = (key, moment + REMEMBER_S)
        return key


_PASSED = frozenset(name.encode() for name in FORWARDED)


class Doorman:
    """Checks each gateway request's key, role and rate, as the REST API's dependencies do."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.keys = RememberingKeys(state.keys)
        self._principals: dict[tuple[str, Role], tuple[Principal, float]] = {}
        self._callers: dict[tuple[object, ...], Caller] = {}

    def principal(self, request: Request, needed: Role) -> Principal:
        """The caller, allowed ``needed`` and within its rate (OpenAI-shaped errors)."""
        state = self.state
        token = bearer(request.headers.get("authorization"))
        known = self._principals.get((token, needed)) if token is not None else None
        if known is not None and known[1] > time.monotonic() and _usable(known[0]):
            principal = known[0]
        else:
            try:
                principal = authenticate(
                    self.keys, token, needed, public_read=state.config.public_read
                )
            except Problem as problem:
                raise from_problem(problem) from None
            if token is not None:
                if len(self._principals) >= _SIZE:
                    self._principals.clear()
                self._principals[(token, needed)] = (principal, time.monotonic() + REMEMBER_S)
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


def _usable(principal: Principal) -> bool:
    key = principal.key
    return key is None or key.usable()
