"""Shared helpers for integration tests: real servers on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn


@contextmanager
def serve_asgi(app: Any, *, startup_timeout_s: float = 10.0) -> Iterator[str]:
    """Run ``app`` with uvicorn in a background thread; yield its base URL.

    The socket is bound to a free port before the server starts, so the URL is known up
    front; the context waits until the server is listening and stops it cleanly on exit.
    """
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
    # and without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan="off",
        http="h11",
        ws="none",
        loop="asyncio",
        log_config=None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="asgi-test-server", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="session")
def asgi_server() -> Callable[[Any], AbstractContextManager[str]]:
    """:func:`serve_asgi`, as a fixture so test modules need not import ``conftest``."""
    return serve_asgi


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    """One local Ray instance for the whole session (starting one takes seconds): 2 CPUs,
    no dashboard, worker output kept out of the test's. Its address is yielded, for
    drivers in other processes to join. Shut down at the end, and checked to leave no
    process behind. Without ray installed the Ray tests skip, except under CI."""
    if os.environ.get("CI") == "true":
        import ray
    else:
        ray = pytest.importorskip("ray")
    before = _descendants(os.getpid())  # other fixtures' processes are not Ray's
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="podium")
    address = str(ray.get_runtime_context().gcs_address)
    try:
        yield address
    finally:
        # Ray's servers, agents and workers: started since, and named so
        started = {p for p in _descendants(os.getpid()) - before if _is_ray(_command(p))}
        ray.shutdown()
        deadline = time.monotonic() + 15
        while (left := started & _alive()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, f"Ray left processes behind: {sorted(left)}"


def _parents() -> dict[int, int]:
    """Every live (not zombie) process id -> its parent's id, from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            found[int(entry.name)] = int(fields[1])
    return found


def _command(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _is_ray(command: str) -> bool:
    """Ray's own programs (in its package) and its workers (titled ``ray::...``)."""
    return command.startswith("ray::") or f"site-packages{os.sep}ray{os.sep}" in command


def _alive() -> set[int]:
    return set(_parents())


def _descendants(root: int) -> set[int]:
    parents = _parents()
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found
