"""The bridge from the sync API to the async engine: one event loop per calling thread.

``asyncio.run`` makes a loop and shuts an executor down on every call, and
``asyncio.Runner`` swaps the SIGINT handler twice per call at the price of formatting the
pending task; for a run of a few microsecond-steps either costs more than the run. Here a
loop is made once per thread and kept, and the SIGINT handler is installed once (and given
back on close); Ctrl-C during a call cancels the running work (so a run records that it
was cancelled) and then raises ``KeyboardInterrupt``, as with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _Interrupt:
    """The SIGINT handler while Podium owns it: the first Ctrl-C cancels the call in progress,
    a second one (or one between calls) raises ``KeyboardInterrupt`` as Python's own does."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[Any] | None = None
        self.fired = False

    def __call__(self, signum: int, frame: object) -> None:
        task, loop = self.task, self.loop
        if self.fired or task is None or loop is None or task.done():
            raise KeyboardInterrupt
        self.fired = True
        loop.call_soon_threadsafe(task.cancel)


class LoopRunners:
    """One kept event loop per thread that calls :meth:`run`."""

    def __init__(self) -> None:
        self._loops: dict[int, asyncio.AbstractEventLoop] = {}
        self._lock = threading.Lock()
        self._handler = _Interrupt()

    def _loop(self) -> asyncio.AbstractEventLoop:
        ident = threading.get_ident()
        loop = self._loops.get(ident)
        if loop is None or loop.is_closed():
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop()
                raise RuntimeError(
                    "the sync API cannot be called from a running event loop; "
                    "await the async method (arun, aresume, ...) instead"
                )
            loop = asyncio.new_event_loop()
            with self._lock:
                self._loops[ident] = loop
        return loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` to completion on this thread's loop."""
        try:
            loop = self._loop()
        except BaseException:
            coro.close()
            raise
        task = loop.create_task(coro)
        handler = self._sigint()
        if handler is not None:
            handler.loop, handler.task, handler.fired = loop, task, False
        try:
            return loop.run_until_complete(task)
        except asyncio.CancelledError:
            if handler is not None and handler.fired:
                raise KeyboardInterrupt from None
            raise
        finally:
            if handler is not None:
                handler.loop = handler.task = None

    def _sigint(self) -> _Interrupt | None:
        """Our SIGINT handler, installed once, in the main thread, over Python's default."""
        if threading.current_thread() is not threading.main_thread():
            return None
        ours: _Interrupt = self._handler
        current = signal.getsignal(signal.SIGINT)
        if current is signal.default_int_handler:
            signal.signal(signal.SIGINT, ours)
            return ours
        installed = current is ours  # by an earlier call
        return ours if installed else None  # someone else's handler: leave it alone

    def run_here(self, job: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``job`` on this thread's loop, if this thread has one."""
        loop = self._loops.get(threading.get_ident())
        if loop is not None and not loop.is_closed() and not loop.is_running():
            loop.run_until_complete(job())

    def close(self) -> None:
        """Close every loop that is not running (a running one closes with its thread), and
        give SIGINT back to Python's default handler."""
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is self._handler
        ):
            signal.signal(signal.SIGINT, signal.default_int_handler)
        with self._lock:
            loops, self._loops = list(self._loops.values()), {}
        for loop in loops:
            if loop.is_closed() or loop.is_running():
                continue
            with contextlib.suppress(RuntimeError):
                _shut_down(loop)


def _shut_down(loop: asyncio.AbstractEventLoop) -> None:
    try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
