"""The API's own state on an application: the workflow book and the stats cache."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from podium.server._state import ServerState, server_state
from podium.server.api._book import WorkflowBook


class ApiState:
    """Made on the first API request of an application, kept on ``app.state``."""

    def __init__(self, server: ServerState) -> None:
        self.server = server
        orchestrator = server.orchestrator
        self.book = WorkflowBook(orchestrator.store, orchestrator.load)
        self.stats: dict[tuple[Any, ...], tuple[float, Any]] = {}


def api_state(request: Request) -> ApiState:
    """The API state of the application serving ``request``."""
    found: ApiState | None = getattr(request.app.state, "podium_api", None)
    if found is None:
        found = ApiState(server_state(request))
        request.app.state.podium_api = found
    return found
