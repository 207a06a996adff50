"""The gateway's state on an application, and who may call it."""

from __future__ import annotations

import itertools
import os
import secrets

from fastapi import Request

from podium.governance import Role
from podium.server._auth import Principal
from podium.server._state import ServerState, server_state
from podium.server.gateway._audit import AuditTrail
from podium.server.gateway._auth import Doorman
from podium.server.gateway._catalog import Catalog
from podium.server.gateway._forward import Forwarder


class Gateway:
    """The gateway of one application: the catalogue and the forwarding model caller."""

    def __init__(self, state: ServerState) -> None:
        orchestrator = state.orchestrator
        self.state = state
        self.orchestrator = orchestrator
        self.catalog = Catalog(orchestrator.registry, orchestrator.router)
        self.caller = orchestrator.caller.forwarding(Forwarder(orchestrator.adapters))
        self.doorman = Doorman(state)
        #: the audit records of the calls made here (no run event carries them)
        self.trail = AuditTrail(orchestrator.store)


def gateway_of(request: Request) -> Gateway:
    """The gateway of the application serving ``request`` (made on first use)."""
    app_state = request.app.state
    found: Gateway | None = getattr(app_state, "podium_gateway", None)
    if found is None:
        found = Gateway(server_state(request))
        app_state.podium_gateway = found
    return found


def authorized(request: Request, role: Role) -> Principal:
    """The principal of ``request`` allowed ``role`` (OpenAI-shaped errors otherwise)."""
    return gateway_of(request).doorman.principal(request, role)


_PREFIX = f"gw-{os.getpid():x}{secrets.token_hex(3)}-"
_NUMBERS = itertools.count(1)


def request_id() -> bytes:
    """An id for one gateway request, unique to this process (and, with its random
    prefix, practically across processes)."""
    return f"{_PREFIX}{next(_NUMBERS):x}".encode()
