"""What the console's browser tests share: starting a server with the shipped support
models, Debian's Chromium, signing in through the form, watching a page for errors,
and screenshots. Without /usr/bin/chromium the browser tests skip locally; under
CI=true they fail.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from podium import Orchestrator

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "console"
WIDTHS = {"wide": (1280, 900), "phone": (390, 844)}


def need_chromium() -> None:
    """Skip without Chromium, except under CI where a missing browser is a failure."""
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing (.ci/run installs Debian's chromium)")
    pytest.skip(f"{CHROMIUM} is not installed")


@dataclass
class Console:
    """The running server: its URL, orchestrator and a key per role."""

    url: str
    orchestrator: Orchestrator
    home: Path
    keys: dict[str, str] = field(default_factory=dict)


def serve(app: Any) -> tuple[str, uvicorn.Server, threading.Thread, socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_config=None, log_level="warning", access_log=False, timeout_graceful_shutdown=3
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="console-test-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the console test server did not start")
        time.sleep(0.01)
    return f"http://127.0.0.1:{port}", server, thread, sock


def support_models(orch: Orchestrator, home: Path) -> None:
    """The shipped models the support-triage workflow uses (the intent classifier is
    trained once into ``home``: about five seconds), plus two small test models."""
    from podium.demo.catalog import _python_specs, _support_specs

    for spec in [*_support_specs(home), *_python_specs(home)]:
        orch.registry.register(spec)

    @orch.model(capabilities=["text.upper"])
    def shout(text: str) -> dict[str, Any]:
        return {"text": text.upper()}

    @orch.model(capabilities=["test.pause"])
    async def pause(text: str, seconds: float = 0.05) -> dict[str, Any]:
        await asyncio.sleep(seconds)
        return {"text": text}


@dataclass
class Watched:
    """A page with what went wrong on it: console errors, failed requests, HTTP errors."""

    page: Any
    errors: list[str]

    def clean(self) -> None:
        assert not self.errors, "\n".join(self.errors)


def watch(page: Any) -> Watched:
    errors: list[str] = []

    def on_console(message: Any) -> None:
        if message.type == "error":
            errors.append(f"console: {message.text} ({page.url})")

    def on_response(response: Any) -> None:
        if response.status >= 400:
            errors.append(f"HTTP {response.status}: {response.request.method} {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc} ({page.url})"))

    def on_failed(request: Any) -> None:
        # ERR_ABORTED: the page itself let go of the request (it navigated away, or closed
        # an event stream that had ended); anything else is a failure
        if "ERR_ABORTED" not in str(request.failure):
            errors.append(f"request failed: {request.url} {request.failure}")

    page.on("requestfailed", on_failed)
    page.on("response", on_response)
    return Watched(page, errors)


def signed_in(browser: Any, console: Console, role: str, width: str = "wide") -> Watched:
    """A new browser context signed in with the ``role`` key, through the sign-in form."""
    w, h = WIDTHS[width]
    context = browser.new_context(viewport={"width": w, "height": h}, base_url=console.url)
    context.set_default_timeout(15000)
    watched = watch(context.new_page())
    page = watched.page
    page.goto("/sign-in")
    page.get_by_label("API key").fill(console.keys[role])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{console.url}/")
    return watched


def shot(page: Any, name: str) -> Path:
    """Save a screenshot of what a test checked, under artifacts/console/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
