"""Runs whose process died are resumed by the server, with nobody typing a command."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from podium._context import Caller
from podium.engine import RunResult
from podium.engine._control import live_owner
from podium.errors import PodiumError
from podium.server._background import RunTasks
from podium.store import RunFilter

log = logging.getLogger("podium.server")
SERVER = Caller(principal="server")


class Resumer:
    """Looks for ``running`` runs that no live process holds (their lease lapsed, their
    process is gone, or a server suspended them) and resumes each in the background.

    The lease is the one workers use (:func:`~podium.engine._control.live_owner`, and the
    claim's compare-and-set decides between a server and a worker); runs submitted to a
    queue are left to the workers of that queue, which honour its bindings."""

    def __init__(self, tasks: RunTasks, every_s: float, *, batch: int = 500) -> None:
        self.tasks = tasks
        self.every_s = every_s
        self.batch = batch
        self._task: asyncio.Task[None] | None = None

    def sweep(self) -> list[str]:
        """Resume what is orphaned now; the ids of the runs taken up."""
        orchestrator = self.tasks.orchestrator
        taken: list[str] = []
        if not self.tasks.accepting:
            return taken
        for record in orchestrator.runs(self.batch, where=RunFilter(status="running")):
            run_id = record.run_id
            if record.queue is not None:
                continue  # a submitted run: the workers of its queue take it over
            if self.tasks.get(run_id) is not None or live_owner(record, run_id) is not None:
                continue
            self.tasks.spawn(run_id, "server", self._resume(run_id))
            taken.append(run_id)
        return taken

    async def _resume(self, run_id: str) -> RunResult:
        try:
            result = await self.tasks.orchestrator.aresume(run_id, by=SERVER)
        except PodiumError as exc:  # another process took it first, or it cannot go on
            log.info("run %s not resumed: %s", run_id, exc)
            raise
        log.info("run %s resumed after its process died: %s", run_id, result.status)
        return result

    def start(self) -> None:
        if self.every_s > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="resumer")

    async def _loop(self) -> None:
        while True:
            try:
                taken = self.sweep()
                if taken:
                    log.info("resuming %d run(s) whose process died", len(taken))
            except PodiumError as exc:
                log.warning("looking for orphaned runs failed: %s", exc)
            await asyncio.sleep(self.every_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
