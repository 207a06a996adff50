"""Following a run driven elsewhere (by a worker): its events as they are written."""

from __future__ import annotations

import time
from collections.abc import Callable

from podium._types import RunStatus
from podium.errors import RunNotFoundError
from podium.store import Event, RunRecord, Store

POLL_S = 0.2


def follow(
    store: Store,
    run_id: str,
    on_event: Callable[[Event], None],
    *,
    poll_s: float = POLL_S,
    timeout_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RunRecord:
    """Hand every event of the run to ``on_event``, in order, until the run ends (or waits
    for an approval, or ``timeout_s`` passes); returns the run's record as it is then."""
    record = store.run(run_id)
    if record is None:
        raise RunNotFoundError(f"no run with id '{run_id}'")
    seen = 0
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        brief = store.run_brief(run_id)
        for event in store.events(run_id, after=seen):
            seen = max(seen, event.seq)
            on_event(event)
        # read the status before the events: an end written in between is read next time
        if brief is None or _settled(brief.status):
            break
        if deadline is not None and time.monotonic() >= deadline:
            break
        sleep(poll_s)
    found = store.run(run_id)
    assert found is not None
    return found


def _settled(status: str) -> bool:
    return RunStatus(status).finished or status == RunStatus.WAITING
