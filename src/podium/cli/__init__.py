"""The ``podium`` command line."""

from __future__ import annotations

import os
import sys
import threading
import time

from podium.cli import _server  # noqa: F401  (adds serve and keys)
from podium.cli._app import app


def main() -> None:
    """Entry point of the ``podium`` console script."""
    code: int | str | None = 0
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        code = 130
    except SystemExit as exc:
        code = exc.code
    _exit(code)


def _exit(code: int | str | None) -> None:
    """Exit with ``code`` without waiting for abandoned model calls.

    A cancelled or timed-out synchronous model may still be sleeping in a worker thread;
    Python cannot interrupt it, and would otherwise wait for it at exit. Everything the
    command wrote is durable by now, so the process ends at once.
    """
    deadline = time.monotonic() + 0.5  # idle pool threads leave at once
    busy = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    for thread in busy:
        thread.join(max(0.0, deadline - time.monotonic()))
    if not any(t.is_alive() for t in busy):
        sys.exit(code)
    if isinstance(code, str):
        sys.stderr.write(code + "\n")
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


__all__ = ["app", "main"]
