"""Runs the server drives: started by requests, resumed after a crash, suspended on exit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Coroutine
from typing import Any

from podium._orchestrator import Orchestrator
from podium.engine import RunResult
from podium.errors import UserError

log = logging.getLogger("podium.server")


class RunTasks:
    """The runs this server process is driving, as asyncio tasks, counted per principal."""

    def __init__(self, orchestrator: Orchestrator) -> None:
        self.orchestrator = orchestrator
        self._tasks: dict[str, asyncio.Task[RunResult]] = {}
        self._per_principal: Counter[str] = Counter()
        self.accepting = True

    def __len__(self) -> int:
        return len(self._tasks)

    def running(self, principal: str) -> int:
        return self._per_principal[principal]

    def get(self, run_id: str) -> asyncio.Task[RunResult] | None:
        return self._tasks.get(run_id)

    def spawn(
        self, run_id: str, principal: str, work: Coroutine[Any, Any, RunResult]
    ) -> asyncio.Task[RunResult]:
        """Drive ``work`` (the run ``run_id``) in the background."""
        task = asyncio.get_running_loop().create_task(work, name=f"run {run_id}")
        self._tasks[run_id] = task
        self._per_principal[principal] += 1

        def done(finished: asyncio.Task[RunResult]) -> None:
            self._tasks.pop(run_id, None)
            self._per_principal[principal] -= 1
            if self._per_principal[principal] <= 0:
                del self._per_principal[principal]
            error = None if finished.cancelled() else finished.exception()
            if isinstance(error, UserError):  # refused before it started: the caller was told
                log.debug("run %s not started: %s", run_id, error)
            elif error is not None:
                log.warning("run %s stopped: %s", run_id, error)

        task.add_done_callback(done)
        return task

    async def drain(self, grace_s: float) -> int:
        """Stop taking runs; let in-flight ones go on for ``grace_s``; suspend the rest so
        the next process resumes them. Returns how many were suspended."""
        self.accepting = False
        pending = list(self._tasks.values())
        if pending:
            await asyncio.wait(pending, timeout=grace_s)
        left = [task for task in self._tasks.values() if not task.done()]
        if not left:
            return 0
        self.orchestrator.runner.suspending = True
        for task in left:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*left, return_exceptions=True)
        return len(left)
