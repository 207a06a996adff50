"""A fault-injection layer around a real store, for tests: fail, delay or corrupt a write.

``FaultyStore(SqlStore(url))`` behaves exactly like the store it wraps until told otherwise:

- ``fail("append", times=3)`` : the next three appends raise :class:`StoreError` and write
  nothing (as a refusing database does);
- ``fail("append", for_s=0.1)``: every append in the next 100 ms fails;
- ``fail("append")``          : every append fails until :meth:`heal`;
- ``delay("append", 0.05)``   : each append waits 50 ms first;
- ``corrupt_next_append()``   : the next append also writes an event that cannot have
  happened (a step succeeding that never started), as a buggy writer would.

Every call is counted in ``calls``; ``failures`` counts the injected failures.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from podium.errors import StoreError
from podium.store import Event, Store


@dataclass
class _Fault:
    times: int | None = None
    until: float | None = None

    def active(self) -> bool:
        if self.until is not None:
            return time.monotonic() < self.until
        return self.times is None or self.times > 0


class FaultyStore:
    """Wraps ``inner``; faults apply to the named operations only."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.durable = inner.durable
        self.calls: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self._faults: dict[str, _Fault] = {}
        self._delays: dict[str, float] = {}
        self._corrupt = False
        self._lock = threading.Lock()

    # control -------------------------------------------------------------------------------
    def fail(self, op: str, *, times: int | None = None, for_s: float | None = None) -> None:
        until = time.monotonic() + for_s if for_s is not None else None
        self._faults[op] = _Fault(times, until)

    def delay(self, op: str, seconds: float) -> None:
        self._delays[op] = seconds

    def corrupt_next_append(self) -> None:
        self._corrupt = True

    def heal(self) -> None:
        self._faults.clear()
        self._delays.clear()

    # interception --------------------------------------------------------------------------
    def _before(self, op: str) -> None:
        with self._lock:
            self.calls[op] += 1
            fault = self._faults.get(op)
            failing = fault is not None and fault.active()
            if failing and fault is not None and fault.times is not None:
                fault.times -= 1
            if failing:
                self.failures[op] += 1
        if op in self._delays:
            time.sleep(self._delays[op])
        if failing:
            raise StoreError(f"database write failed: injected fault in {op}")

    def append(self, run_id: str, events: Any, update: Any = None, **kw: Any) -> list[Event]:
        self._before("append")
        if self._corrupt:
            self._corrupt = False
            ghost = Event("step_succeeded", "ghost", {"output": "never ran"}, time.time())
            events = [*events, ghost]
        return self.inner.append(run_id, events, update, **kw)

    def create_run(self, run: Any, events: Any) -> None:
        self._before("create_run")
        self.inner.create_run(run, events)

    def decide(self, *args: Any, **kw: Any) -> Any:
        self._before("decide")
        return self.inner.decide(*args, **kw)

    def heartbeat(self, *args: Any, **kw: Any) -> bool:
        self._before("heartbeat")
        return self.inner.heartbeat(*args, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
