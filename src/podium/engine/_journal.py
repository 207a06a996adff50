"""The run's event journal: record events, group-commit them, tell observers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from podium.engine._state import RunState
from podium.store import Event, Store

Observer = Callable[[str, Event], None]


class Journal:
    """Buffers a run's events and writes them to the store in one transaction per flush.

    The scheduler flushes before it acts on what the events record (starting the steps
    that a finished step unblocks, finishing the run), so every acted-on transition is
    durable, while the events of steps finishing in the same instant share one commit.
    """

    def __init__(
        self, store: Store, run_id: str, state: RunState, observers: list[Observer] | None = None
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.state = state
        self._pending: list[Event] = []
        self._update: dict[str, Any] = {}
        self._observers = list(observers or [])
        self.commits = 0
        self._flush_scheduled = False

    def record(self, type_: str, step: str | None = None, **data: Any) -> Event:
        """Apply an event to the state now; it is written at the next :meth:`flush`."""
        event = Event(type_, step, data, time.time())
        self.state.apply(event)
        self._pending.append(event)
        for observer in self._observers:
            observer(self.run_id, event)
        return event

    def update_run(self, **fields: Any) -> None:
        """Change run-summary columns in the same transaction as the pending events."""
        self._update.update(fields)

    def flush_soon(self) -> None:
        """Flush once the steps finishing in this instant have all recorded their events."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        if not self._pending and not self._update:
            return
        events, self._pending = self._pending, []
        update, self._update = self._update, {}
        self.store.append(self.run_id, events, update or None)
        self.commits += 1

    @property
    def dirty(self) -> bool:
        return bool(self._pending or self._update)
