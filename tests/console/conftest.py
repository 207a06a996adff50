"""One real Podium server (uvicorn on 127.0.0.1) with the shipped support models, and one
headless Chromium (Debian's, driven by Playwright), shared by the console's tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from console_support import CHROMIUM, CHROMIUM_ARGS, Console, need_chromium, serve, support_models

from podium import Orchestrator
from podium.governance import KeyRing
from podium.server import ServerConfig, create_app


@pytest.fixture(scope="module")  # Playwright's sync API holds the thread's event loop: let it go
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    need_chromium()
    home = tmp_path_factory.mktemp("console-home")
    orch = Orchestrator(home=home, discover=False)
    support_models(orch, home)
    app = create_app(orch, ServerConfig(resume_every_s=0, shutdown_grace_s=2))
    url, server, thread, sock = serve(app)
    found = Console(url, orch, home)
    ring = KeyRing(orch.store)
    for name in ("viewer", "operator", "admin"):
        found.keys[name] = ring.create(name)[1]
    try:
        yield found
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        orch.close()


@pytest.fixture(scope="module")  # Playwright's sync API holds the thread's event loop: let it go
def browser() -> Iterator[Any]:
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
