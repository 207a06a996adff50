"""A worker: takes submitted runs from the shared database and drives them.

Any number of workers, on any number of hosts, share one database. Each one repeatedly
claims what its queues hold (:meth:`~podium.store.Store.claim_next`: pending runs, and
running ones whose driver is gone), up to ``concurrency`` runs at once, and drives each
under the claim it took, heartbeating it. A worker that dies stops heartbeating: once its
lease lapses (or at once, when a worker on the same host sees its process is gone)
another worker claims the run and resumes it from its event log, so no finished step runs
again; the claim fences the dead worker out should it come back.

On :meth:`Worker.stop` (SIGTERM) a worker takes nothing new, lets its runs go on for
``grace_s`` and then releases the rest, written up to their last event, for another
worker to resume at once. A second stop releases them immediately.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from podium.engine._control import LEASE_S, OWNER
from podium.engine._queue import DEFAULT_QUEUE
from podium.engine._watch import HEARTBEAT_S
from podium.errors import PodiumError, StoreError
from podium.store import Claim, QueueSpec
from podium.worker._presence import announce, live_workers, withdraw

if TYPE_CHECKING:
    from podium._orchestrator import Orchestrator
    from podium.engine import RunResult

log = logging.getLogger("podium.worker")


@dataclass(frozen=True)
class WorkerConfig:
    """How a worker works: which queues, how many runs at once, how it polls and stops."""

    queues: tuple[str, ...] = (DEFAULT_QUEUE,)
    concurrency: int = 8
    poll_s: float = 0.25
    """The longest an idle worker waits before it looks for work again."""
    grace_s: float = 10.0
    """On stop: how long runs in flight may go on before they are released."""
    burst: bool = False
    """Stop once nothing is left to take and nothing runs (for batch jobs and tests)."""
    lease_s: float = LEASE_S


@dataclass
class WorkerStats:
    """What a worker did: runs claimed, how they ended, runs released on stop."""

    claimed: int = 0
    ended: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    released: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "claimed": self.claimed,
            "ended": dict(self.ended),
            "errors": self.errors,
            "released": self.released,
        }


class Worker:
    """Drains queued runs for one :class:`~podium.Orchestrator` (its store, models, router)."""

    def __init__(self, orchestrator: Orchestrator, config: WorkerConfig | None = None) -> None:
        self.orch = orchestrator
        self.config = config or WorkerConfig()
        self.stats = WorkerStats()
        self.owner = OWNER
        self._tasks: dict[str, asyncio.Task[RunResult | None]] = {}
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._released = False
        self._announced = 0.0
        self._started_at = time.time()
        self._dead: tuple[str, ...] = ()
        self._dead_checked = 0.0

    # control ---------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop taking runs; a second call releases the runs in flight at once."""
        if self._stopping:
            self._released = True
        self._stopping = True
        if self._wake is not None:
            self._wake.set()

    @property
    def running(self) -> list[str]:
        """The runs this worker drives now."""
        return list(self._tasks)

    # the loop --------------------------------------------------------------------------------
    async def run(self) -> WorkerStats:
        """Work until :meth:`stop` (or, in burst mode, until nothing is left)."""
        self._wake = asyncio.Event()
        self._announce(force=True)
        try:
            while not self._stopping:
                took = self._fill()
                self._announce()
                if self.config.burst and not self._tasks and not took and self._drained():
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.config.poll_s)
                self._wake.clear()
            await self._drain()
        finally:
            with contextlib.suppress(PodiumError):
                withdraw(self.orch.store, self.owner)
        return self.stats

    def _fill(self) -> int:
        """Claim as many runs as there are free slots; returns how many were taken."""
        free = self.config.concurrency - len(self._tasks)
        if free <= 0:
            return 0
        spec = QueueSpec(self.config.queues, self.config.lease_s, self._dead_neighbours())
        try:
            claims = self.orch.store.claim_next(self.owner, spec, now=time.time(), limit=free)
        except StoreError as exc:
            log.warning("could not look for queued runs: %s", exc)
            return 0
        for taken in claims:
            self._spawn(taken)
        return len(claims)

    def _spawn(self, taken: Claim) -> None:
        self.stats.claimed += 1
        task = asyncio.get_running_loop().create_task(
            self._drive(taken), name=f"run {taken.run_id}"
        )
        self._tasks[taken.run_id] = task

    async def _drive(self, taken: Claim) -> RunResult | None:
        run_id = taken.run_id
        try:
            result = await self.orch.runner.run_claimed(run_id, taken.claim, by=self.owner)
            self.stats.ended[str(result.status)] += 1
            log.info("run %s %s", run_id, result.status)
            return result
        except asyncio.CancelledError:
            raise
        except PodiumError as exc:  # the claim was lost, the log could not be written, ...
            self.stats.errors += 1
            log.warning("run %s stopped here: %s", run_id, exc)
        except Exception:
            self.stats.errors += 1
            log.exception("run %s failed unexpectedly", run_id)
        finally:
            self._tasks.pop(run_id, None)
            if self._wake is not None:
                self._wake.set()
        return None

    async def _drain(self) -> None:
        """Let the runs in flight go on for the grace period, then release the rest."""
        tasks = list(self._tasks.values())
        if tasks and not self._released and self.config.grace_s > 0:
            deadline = time.monotonic() + self.config.grace_s
            while self._tasks and not self._released and time.monotonic() < deadline:
                assert self._wake is not None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), deadline - time.monotonic())
                self._wake.clear()
                self._announce()
        left = [task for task in self._tasks.values() if not task.done()]
        if not left:
            return
        self.orch.runner.suspending = True  # each run is left resumable, up to its last event
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)
        self.stats.released += len(left)
        log.info("released %d run(s) for another worker", len(left))

    # presence --------------------------------------------------------------------------------
    def _announce(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._announced < HEARTBEAT_S:
            return
        self._announced = now
        host, _, pid = self.owner.rpartition(":")
        record = {
            "host": host,
            "pid": int(pid) if pid.isdigit() else None,
            "queues": list(self.config.queues),
            "concurrency": self.config.concurrency,
            "running": sorted(self._tasks),
            "capacity": self.orch.caller.admission.capacity.to_json(),
            "models": self.orch.caller.admission.usage(),
            "started_at": self._started_at,
            "stopping": self._stopping,
            "stats": self.stats.to_json(),
        }
        try:
            announce(self.orch.store, self.owner, record)
        except StoreError as exc:
            log.warning("could not refresh this worker's record: %s", exc)

    def _drained(self) -> bool:
        """Whether this worker's queues hold nothing pending (for burst mode; runs other
        workers hold are theirs, and the lapsed ones were just offered to this one)."""
        try:
            counts = self.orch.store.queue_counts()
        except StoreError:
            return False
        return not any(counts.get(q, {}).get("pending", 0) for q in self.config.queues)

    def _dead_neighbours(self) -> tuple[str, ...]:
        """Workers on this host whose process is gone: their runs need no lease to lapse.
        (Looked up at most once a second.)"""
        now = time.monotonic()
        if now - self._dead_checked < 1.0:
            return self._dead
        self._dead_checked = now
        self._dead = self._find_dead()
        return self._dead

    def _find_dead(self) -> tuple[str, ...]:
        try:
            records = live_workers(self.orch.store, self.config.lease_s * 6)
        except StoreError:
            return ()
        me = socket.gethostname()
        dead: list[str] = []
        for owner, record in records.items():
            pid = record.get("pid")
            if owner == self.owner or record.get("host") != me or not isinstance(pid, int):
                continue
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                dead.append(owner)
            except PermissionError:
                continue
        return tuple(dead)
