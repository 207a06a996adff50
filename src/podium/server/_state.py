"""What every request handler reaches: the orchestrator, keys, settings, running runs."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from podium._orchestrator import Orchestrator
from podium.governance import KeyRing
from podium.server._background import RunTasks
from podium.server._config import ServerConfig
from podium.server._ratelimit import RateLimiter
from podium.server._sessions import SessionBook


@dataclass
class ServerState:
    """Shared by the handlers of one application (``app.state.podium``)."""

    orchestrator: Orchestrator
    config: ServerConfig
    keys: KeyRing
    tasks: RunTasks
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(0))
    ready: bool = False
    sessions: SessionBook = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = SessionBook(self.orchestrator.store, self.keys)


def server_state(request: Request) -> ServerState:
    """The server state of the application serving ``request``."""
    state: ServerState = request.app.state.podium
    return state
