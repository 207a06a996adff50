"""A timer beside a driven run: heartbeat, notice a cancel or takeover, pick up approvals.

A timer rather than a task: short runs (most of them) pay only for arming it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from podium.engine._journal import Journal
from podium.errors import LeaseLostError, StoreError
from podium.store import Store

POLL_S = 0.25
HEARTBEAT_S = 2.0


class RunWatch:
    """Every :data:`POLL_S`: is the run still ours (same claim)? If another process claimed
    it (a cancel, a forced resume), the journal is marked lost and ``work`` is cancelled.
    Every :data:`HEARTBEAT_S` the heartbeat is refreshed (fenced by the claim). While
    approvals are parked, decisions recorded by other processes are handed to ``deliver``.
    """

    def __init__(
        self,
        store: Store,
        journal: Journal,
        work: asyncio.Future[Any],
        *,
        parked: Callable[[], bool],
        deliver: Callable[[dict[str, Any]], None],
    ) -> None:
        self.store = store
        self.journal = journal
        self.work = work
        self._parked = parked
        self._deliver = deliver
        self._beat = time.time()
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = self._loop.call_later(POLL_S, self._check)

    def _check(self) -> None:
        self._timer = None
        if self.work.done() or self.journal.fault is not None:
            return
        run_id, fence = self.journal.run_id, self.journal.fence
        try:
            brief = self.store.run_brief(run_id)
            now = time.time()
            lost = brief is None or (fence is not None and brief.claim != fence)
            if not lost and fence is not None and now - self._beat >= HEARTBEAT_S:
                self._beat = now
                lost = not self.store.heartbeat(run_id, fence=fence, now=now)
            if lost:
                self.journal.mark_lost(
                    LeaseLostError(f"run {run_id} was claimed by another process")
                )
                return
            if self._parked():
                decisions = self.store.decisions(run_id)
                if decisions:
                    self._deliver(decisions)
        except StoreError:
            pass  # a read that failed now is tried again at the next tick
        self._timer = self._loop.call_later(POLL_S, self._check)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
