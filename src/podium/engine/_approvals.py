"""Approvals that wait inside a live run, so a decision made elsewhere continues it at once.

A waiting approval *parks*: it holds its place in the scheduler while other steps of the
run still work. When a decision arrives (another process records it; the run's watch hands
it over) the approval completes and its dependents start. When nothing else in the run can
make progress, every parked approval is released as *waiting* and the run stops durably in
``waiting``, to be continued by ``podium approve``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

#: How long the run must show no progress before parked approvals are released.
QUIET_S = 0.005

TIMED_OUT = "timed out"


class ApprovalDesk:
    """Parked approvals of one run, and the count of steps doing work beside them."""

    def __init__(self) -> None:
        self._parked: dict[str, asyncio.Future[Any]] = {}
        self._busy = 0
        self._progress = 0
        self._timer: asyncio.TimerHandle | None = None

    @property
    def parked(self) -> bool:
        return bool(self._parked)

    def working(self) -> None:
        """A step that does work (a model call) began."""
        self._busy += 1
        self._progress += 1

    def idle(self) -> None:
        """A step that does work ended."""
        self._busy -= 1
        if self._busy == 0 and self._parked:
            self._arm()

    async def park(self, key: str, timeout_s: float | None) -> Any:
        """Wait for a decision for ``key``: the decision, :data:`TIMED_OUT`, or ``None``
        once the run has nothing else to do."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._parked[key] = future
        timer = None
        if timeout_s is not None:
            timer = loop.call_later(max(timeout_s, 0.0), _settle, future, TIMED_OUT)
        self._arm()
        try:
            return await future
        finally:
            self._parked.pop(key, None)
            if timer is not None:
                timer.cancel()

    def deliver(self, decisions: dict[str, Any], adopt: Callable[[str, Any], None]) -> None:
        """Complete the parked approvals that ``decisions`` decide (``adopt`` records each)."""
        for key, decision in decisions.items():
            future = self._parked.get(key)
            if future is not None and not future.done():
                adopt(key, decision)
                future.set_result(decision)

    def _arm(self) -> None:
        if self._timer is None and self._busy == 0:
            mark = self._progress
            self._timer = asyncio.get_running_loop().call_later(QUIET_S, self._check, mark)

    def _check(self, mark: int) -> None:
        self._timer = None
        if self._busy or not self._parked:
            return
        if self._progress != mark:
            self._arm()  # work began and ended meanwhile: look again
            return
        for future in list(self._parked.values()):
            _settle(future, None)


def _settle(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def remaining(requested_at: float | None, timeout_s: float | None) -> float | None:
    """Seconds left before an approval requested at ``requested_at`` times out."""
    if timeout_s is None or requested_at is None:
        return None
    return requested_at + timeout_s - time.time()
