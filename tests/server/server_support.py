"""A real Podium server (uvicorn on 127.0.0.1, in a thread) over a fresh home, with keys:
the helpers the server tests and their ``conftest.py`` import."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

from podium import Orchestrator
from podium.governance import KeyRing


@dataclass
class Served:
    """A running server: its URL, the orchestrator under it, and a key per role."""

    url: str
    orchestrator: Orchestrator
    keys: dict[str, str] = field(default_factory=dict)

    def client(self, who: str | None = "admin", **options: Any) -> httpx.Client:
        """An HTTP client sending the key named ``who`` (``None``: no key)."""
        headers = {"Authorization": f"Bearer {self.keys[who]}"} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **options)

    def key(self, role: str, tenant: str | None = None) -> str:
        _, token = KeyRing(self.orchestrator.store).create(role, tenant=tenant)
        return token


@dataclass
class Serving:
    """A uvicorn server in a background thread; ``stop`` shuts it down like SIGTERM."""

    server: uvicorn.Server
    thread: threading.Thread
    sock: socket.socket

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


def start_server(app: Any) -> tuple[str, Serving]:
    # IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets whose proto says TCP.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="podium-test-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    return f"http://127.0.0.1:{port}", Serving(server, thread, sock)


def add_test_models(orch: Orchestrator) -> None:
    """Small real models the server tests run workflows with."""

    @orch.model(capabilities=["text.upper"])
    def shout(text: str) -> dict[str, Any]:
        return {"text": text.upper()}

    @orch.model(capabilities=["text.slow"])
    async def slow(text: str, delay: float = 0.2) -> dict[str, Any]:
        await asyncio.sleep(delay)
        return {"text": text}
