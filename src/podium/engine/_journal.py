"""The run's event journal: record events, group-commit them, tell observers.

A batch of events stays in the journal until the store has durably written it. A failed
write is retried with backoff; when it keeps failing, the journal is *broken*: it raises
:class:`JournalError` wherever the run next tries to act, so no new step starts on top of
events that were never written, and the run can be resumed from what the log does hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from podium.engine._state import RunState
from podium.errors import LeaseLostError, StoreError
from podium.store import Event, Store

Observer = Callable[[str, Event], None]
log = logging.getLogger("podium.engine")


@dataclass(frozen=True)
class WritePolicy:
    """How long a journal keeps retrying a failed write before it gives up.

    Delays start at ``first_delay_s`` and double up to ``max_delay_s``; after ``budget_s``
    seconds of failures the write is abandoned and the run stops.
    """

    budget_s: float = 5.0
    first_delay_s: float = 0.01
    max_delay_s: float = 0.5


def tell(observers: list[Observer], run_id: str, events: list[Event]) -> None:
    """Observers hear of events once they are written; one that raises is logged and
    cannot break the run."""
    for observer in observers:
        for event in events:
            try:
                observer(run_id, event)
            except Exception:
                log.exception("observer %r failed on %s; the run goes on", observer, event.type)
                break


class JournalError(StoreError):
    """The run's events could not be written: the run stopped and can be resumed later."""

    def __init__(self, run_id: str, cause: StoreError) -> None:
        self.run_id = run_id
        self.cause = cause
        if isinstance(cause, LeaseLostError):
            message = f"run {run_id}: {cause}; this process stopped driving it"
        else:
            message = (
                f"run {run_id} stopped: its events could not be written ({cause}); "
                f"nothing after the last written event was acted on; resume it with "
                f"'podium runs resume {run_id}' once the database accepts writes"
            )
        super().__init__(message)


class Journal:
    """Buffers a run's events and writes them to the store in one transaction per flush.

    The scheduler flushes before it acts on what the events record (starting the steps
    that a finished step unblocks, finishing the run), so every acted-on transition is
    durable, while the events of steps finishing in the same instant share one commit.
    ``fence`` is the claim this process holds on the run: writes stop being accepted once
    another process claims it.
    """

    def __init__(
        self,
        store: Store,
        run_id: str,
        state: RunState,
        observers: list[Observer] | None = None,
        *,
        fence: int | None = None,
        policy: WritePolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.state = state
        self.fence = fence
        self.policy = policy or WritePolicy()
        self.fault: JournalError | None = None
        self.on_fault: Callable[[JournalError], None] | None = None
        self._pending: list[Event] = []
        self._update: dict[str, Any] = {}
        self._observers = list(observers or [])
        self._sleep = sleep
        self._lock: asyncio.Lock | None = None
        self._writing = False
        self._retry: asyncio.Task[None] | None = None
        self.degraded = False
        self.commits = 0
        self.retries = 0
        self._flush_scheduled = False

    def record(self, type_: str, step: str | None = None, **data: Any) -> Event:
        """Apply an event to the state now; it is written at the next :meth:`flush`."""
        return self._add(Event(type_, step, data, time.time()))

    def record_encoded(self, type_: str, step: str | None, data: dict[str, Any], raw: str) -> Event:
        """:meth:`record` for data the caller has already encoded as JSON (``raw``)."""
        return self._add(Event(type_, step, data, time.time(), raw=raw))

    def _add(self, event: Event) -> Event:
        self.state.apply(event)
        self._pending.append(event)
        return event

    def adopt(self, event: Event) -> None:
        """Apply an event another process already wrote to the log (an approval)."""
        self.state.apply(event)
        self._tell([event])

    def _tell(self, events: list[Event]) -> None:
        tell(self._observers, self.run_id, events)

    def update_run(self, **fields: Any) -> None:
        """Change run-summary columns in the same transaction as the pending events."""
        self._update.update(fields)

    def check(self) -> None:
        """Raise the journal's fault, if it has one: the run must not act any further."""
        if self.fault is not None:
            raise self.fault

    def flush_soon(self) -> None:
        """Flush once the steps finishing in this instant have all recorded their events."""
        if not self._flush_scheduled and self.fault is None:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_later)

    def _flush_later(self) -> None:
        """One write now; if the store refuses it, retry in the background (the run waits
        for the log at its next step: :attr:`degraded`)."""
        self._flush_scheduled = False
        if self.fault is not None or not self.dirty or self._writing:
            return
        try:
            self._write_once()
        except LeaseLostError as exc:
            self.mark_lost(exc)
        except StoreError:
            self.degraded = True
            self._retry = asyncio.get_running_loop().create_task(self._flush_quietly())

    async def _flush_quietly(self) -> None:
        with contextlib.suppress(JournalError):  # kept in self.fault: the run stops at once
            await self.flush()

    async def flush(self) -> None:
        """Write the pending events, or raise :class:`JournalError`.

        Nothing is dropped: a batch leaves the journal only once the store has written it.
        A refused write is retried with backoff for :attr:`WritePolicy.budget_s`, sleeping
        without blocking the event loop (other runs go on); meanwhile :attr:`degraded` is
        set and the run starts no new step.
        """
        self._flush_scheduled = False
        self.check()
        if not self.dirty:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            self.check()  # the write this one waited behind may have given up
            self._writing = True
            try:
                await self._write_until_done()
            finally:
                self._writing = False

    async def _write_until_done(self) -> None:
        started = time.monotonic()
        delay = self.policy.first_delay_s
        while self.dirty:
            self.check()
            try:
                self._write_once()
            except LeaseLostError as exc:
                raise self.mark_lost(exc) from None
            except StoreError as exc:
                if time.monotonic() - started + delay > self.policy.budget_s:
                    raise self.mark_lost(exc) from None
                self.degraded = True
                self.retries += 1
                await self._sleep(delay)
                delay = min(delay * 2, self.policy.max_delay_s)
        self.degraded = False

    def _write_once(self) -> None:
        """One attempt to write everything pending (events recorded meanwhile included)."""
        events, update = self._pending, self._update
        self.store.append(self.run_id, events, update or None, fence=self.fence)
        self._pending, self._update = [], {}
        self.commits += 1
        self.degraded = False
        if self._observers:
            self._tell(events)

    def mark_lost(self, cause: StoreError) -> JournalError:
        """Stop the journal for good: ``cause`` is raised wherever the run acts next."""
        self.fault = JournalError(self.run_id, cause)
        if self.on_fault is not None:
            self.on_fault(self.fault)
        return self.fault

    @property
    def dirty(self) -> bool:
        return bool(self._pending or self._update)

    @property
    def pending(self) -> int:
        """Events recorded but not yet written."""
        return len(self._pending)
