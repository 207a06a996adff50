"""Admission of model calls: per-model concurrency limits, the executor's resources, and
fairness between runs.

A call of a model whose manifest declares ``resources`` enters here before it is sent. It
is admitted at once when the model is under its ``max_concurrency``, the executor has the
call's cpus, gpus and memory free, and no other call waits; otherwise it waits in its
run's line. When a call ends, waiting calls are admitted **round-robin between runs**
(each run with a waiting call gets one admission per turn, the first of its calls that
fits), so a run that queued 10,000 calls gets no more turns than one that queued one.

A model without ``resources`` never comes here: its calls pay nothing.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from podium._types import JSONObject
from podium.adapters import AdapterPool, CallContext
from podium.errors import ModelCallError, StepTimeoutError
from podium.registry import ModelSpec

if TYPE_CHECKING:
    from podium.engine._calls import CallResult, ModelCaller
    from podium.routing import RouteDecision

#: Calls of one run looked at per turn for one that fits (beyond the first that waits).
_SCAN = 64


@dataclass(frozen=True, slots=True)
class Capacity:
    """What the executor of this process offers to model calls."""

    cpus: float
    gpus: float
    memory_mb: float

    @classmethod
    def machine(cls) -> Capacity:
        """This machine's usable cpus and memory; GPUs from ``$PODIUM_GPUS`` (default 0)."""
        try:
            cpus = float(len(os.sched_getaffinity(0)))
        except AttributeError:  # pragma: no cover - not Linux
            cpus = float(os.cpu_count() or 1)
        try:
            memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
        except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
            memory = 1024.0
        gpus = _number(os.environ.get("PODIUM_GPUS"), 0.0)
        return cls(cpus, gpus, float(memory))

    def to_json(self) -> dict[str, float]:
        return {"cpus": self.cpus, "gpus": self.gpus, "memory_mb": round(self.memory_mb, 1)}


def _number(raw: str | None, default: float) -> float:
    try:
        return max(float(raw), 0.0) if raw else default
    except ValueError:
        return default


class _Waiter:
    __slots__ = ("future", "granted", "key", "limit", "needs")

    def __init__(
        self, key: str, limit: int | None, needs: tuple[float, float, float], future: Any
    ) -> None:
        self.key = key
        self.limit = limit
        self.needs = needs
        self.future: asyncio.Future[None] = future
        self.granted = False  # set under the desk's lock: the call holds its resources


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Admission:
    """The admission desk of one process. Its state changes under a lock, and a waiting
    call is woken on its own event loop, so runs driven from several threads (the sync
    API keeps a loop per thread) share one limit."""

    def __init__(self, capacity: Capacity | None = None) -> None:
        self.capacity = capacity or Capacity.machine()
        self.free = [self.capacity.cpus, self.capacity.gpus, self.capacity.memory_mb]
        #: Calls in flight per model (``name@version``), and each model's limit.
        self.in_flight: dict[str, int] = {}
        self.limits: dict[str, int | None] = {}
        self.peak: dict[str, int] = {}
        self._lines: dict[str, deque[_Waiter]] = {}  # run -> its waiting calls, in order
        self._turns: deque[str] = deque()  # runs with waiting calls, whose turn is next
        self._lock = threading.Lock()
        self.waiting = 0

    # entering and leaving ------------------------------------------------------------------
    async def enter(self, spec: ModelSpec, run: str | None, deadline: float | None) -> None:
        """Wait until a call of ``spec`` for ``run`` may start (or the step's deadline)."""
        resources = spec.resources
        assert resources is not None
        key = spec.key
        needs = resources.needs
        limit = resources.max_concurrency
        self._check_fits(spec, needs)
        line_key = run or ""
        with self._lock:
            self.limits[key] = limit
            if not self.waiting and self._fits(key, limit, needs):
                self._take(key, needs)
                return
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            waiter = _Waiter(key, limit, needs, future)
            line = self._lines.get(line_key)
            if line is None:
                line = self._lines[line_key] = deque()
                self._turns.append(line_key)
            line.append(waiter)
            self.waiting += 1
            self._pump()
            if waiter.granted:
                return
        try:
            if deadline is None:
                await future
            else:
                async with asyncio.timeout_at(deadline):
                    await future
        except BaseException as exc:
            with self._lock:
                if waiter.granted:  # admitted as we gave up: give it back
                    self._give_back(key, needs)
                else:
                    self._forget(line_key, waiter)
            if isinstance(exc, TimeoutError):
                raise StepTimeoutError(
                    f"{key} was not admitted within the step's timeout "
                    f"({self.in_flight.get(key, 0)} call(s) in flight, limit {limit})"
                ) from None
            raise

    def leave(self, spec: ModelSpec) -> None:
        """A call of ``spec`` ended: give back what it held and admit who is next."""
        resources = spec.resources
        assert resources is not None
        with self._lock:
            self._give_back(spec.key, resources.needs)

    def _give_back(self, key: str, needs: tuple[float, float, float]) -> None:
        self.in_flight[key] -= 1
        free = self.free
        free[0] += needs[0]
        free[1] += needs[1]
        free[2] += needs[2]
        if self.waiting:
            self._pump()

    # what is in use --------------------------------------------------------------------------
    def usage(self) -> dict[str, dict[str, Any]]:
        """Per model seen: calls in flight, its limit, the most at once, and how many wait."""
        waiting: dict[str, int] = {}
        with self._lock:
            for line in self._lines.values():
                for waiter in line:
                    waiting[waiter.key] = waiting.get(waiter.key, 0) + 1
        return {
            key: {
                "in_flight": self.in_flight.get(key, 0),
                "limit": self.limits.get(key),
                "peak": self.peak.get(key, 0),
                "waiting": waiting.get(key, 0),
            }
            for key in sorted(self.limits)
        }

    # internals -------------------------------------------------------------------------------
    def _check_fits(self, spec: ModelSpec, needs: tuple[float, float, float]) -> None:
        """A call that could never be admitted here fails now, naming what is missing."""
        names = ("cpus", "gpus", "memory_mb")
        offered = (self.capacity.cpus, self.capacity.gpus, self.capacity.memory_mb)
        for name, need, have in zip(names, needs, offered, strict=True):
            if need > have:
                raise ModelCallError(
                    f"needs {need:g} {name} per call; this executor has {have:g} "
                    "(start a worker that has them, e.g. podium worker --queues gpu --gpus 1)",
                    model=spec.key,
                    retryable=False,
                )

    def _fits(self, key: str, limit: int | None, needs: tuple[float, float, float]) -> bool:
        if limit is not None and self.in_flight.get(key, 0) >= limit:
            return False
        free = self.free
        return needs[0] <= free[0] and needs[1] <= free[1] and needs[2] <= free[2]

    def _take(self, key: str, needs: tuple[float, float, float]) -> None:
        count = self.in_flight.get(key, 0) + 1
        self.in_flight[key] = count
        if count > self.peak.get(key, 0):
            self.peak[key] = count
        free = self.free
        free[0] -= needs[0]
        free[1] -= needs[1]
        free[2] -= needs[2]

    def _pump(self) -> None:
        """Admit waiting calls, one per run per turn, until a whole round admits none."""
        turns = self._turns
        idle = 0
        while turns and idle < len(turns):
            run = turns[0]
            turns.rotate(-1)  # its turn is taken, whatever happens
            line = self._lines[run]
            chosen = self._first_fitting(line)
            if chosen is None:
                idle += 1
                continue
            idle = 0
            waiter = line[chosen]
            del line[chosen]
            self.waiting -= 1
            if not line:
                del self._lines[run]
                turns.remove(run)
            self._take(waiter.key, waiter.needs)
            waiter.granted = True
            self._wake(waiter.future)

    @staticmethod
    def _wake(future: asyncio.Future[None]) -> None:
        """Resolve ``future`` on its own loop (which may run in another thread)."""
        loop = future.get_loop()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is running:
            _settle(future)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(_settle, future)

    def _first_fitting(self, line: deque[_Waiter]) -> int | None:
        for index, waiter in enumerate(line):
            if index > _SCAN:
                return None
            if self._fits(waiter.key, waiter.limit, waiter.needs):
                return index
        return None

    def _forget(self, run: str, waiter: _Waiter) -> None:
        line = self._lines.get(run)
        if line is None:
            return
        try:
            line.remove(waiter)
        except ValueError:
            return
        self.waiting -= 1
        if not line:
            del self._lines[run]
            self._turns.remove(run)
        if self.waiting:
            self._pump()  # a waiter behind it may fit now


def runs_here(adapters: AdapterPool, spec: ModelSpec, context: CallContext) -> bool:
    """Whether a call runs in this process (a call placed on Ray is Ray's to admit)."""
    placement = context.placement
    return placement is None or not adapters.placed(spec, placement).remote


async def admitted_call(
    caller: ModelCaller,
    spec: ModelSpec,
    inputs: JSONObject,
    context: CallContext,
    key: str | None,
    capability: str | None,
    tried: set[int] | None,
    decision: RouteDecision | None,
) -> CallResult:
    """:meth:`ModelCaller.call_once` for a model with limits or resources: wait for its turn
    (fair between runs; within the step's timeout), call, give the resources back, and
    keep the answer in the cache when the step asked (``key``). No hedge: a second request
    would exceed the model's limit."""
    timeout = context.timeout_s
    deadline = asyncio.get_running_loop().time() + timeout if timeout else None
    desk = caller.admission
    await desk.enter(spec, context.run_id, deadline)
    try:
        result = await caller.call_once(
            spec,
            inputs,
            context,
            capability=capability,
            cache=False,
            tried=tried,
            decision=decision,
            admitted=True,
        )
    finally:
        desk.leave(spec)
    if key is not None:
        caller.store.cache_put(key, result.output)
    return result
