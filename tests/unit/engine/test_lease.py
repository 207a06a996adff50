"""Who may resume a run: the lease a live process holds by its heartbeat."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

from podium.engine._control import LEASE_S, OWNER, live_owner
from podium.store import RunRecord


def _record(owner: str | None, heartbeat: float | None, status: str = "running") -> RunRecord:
    return RunRecord("r", "w", status, 0.0, owner=owner, heartbeat=heartbeat)


def test_a_fresh_heartbeat_from_another_host_holds_the_lease() -> None:
    assert live_owner(_record("elsewhere:123", time.time())) == "elsewhere:123"


def test_a_stale_heartbeat_does_not() -> None:
    assert live_owner(_record("elsewhere:123", time.time() - LEASE_S - 1)) is None


def test_no_lease_for_finished_runs_or_ourselves() -> None:
    assert live_owner(_record("elsewhere:1", time.time(), status="waiting")) is None
    assert live_owner(_record(OWNER, time.time())) is None
    assert live_owner(_record(None, None)) is None


def test_a_dead_process_on_this_host_is_recognised_at_once() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    owner = f"{socket.gethostname()}:{child.pid}"
    assert live_owner(_record(owner, time.time())) is None
    alive = f"{socket.gethostname()}:{os.getppid()}"
    assert live_owner(_record(alive, time.time())) == alive


def test_a_run_finished_between_reading_and_claiming_is_not_resumed() -> None:
    """The race two `runs resume` lost: one finished the run while the other was starting."""
    import pytest

    from podium.engine._control import claim
    from podium.errors import InvalidStateError
    from podium.store import MemoryStore

    store = MemoryStore()
    store.create_run(RunRecord("r", "w", "running", 0.0, owner="gone:1", claim=1), [])

    real_claim = store.claim_run

    def claim_after_finish(  # the other process finishes the run just before our CAS
        run_id: str, owner: str, *, expected: int, now: float
    ) -> int | None:
        store.update_run(run_id, {"status": "succeeded", "heartbeat": None})
        return real_claim(run_id, owner, expected=expected, now=now)

    store.claim_run = claim_after_finish  # type: ignore[method-assign]
    with pytest.raises(InvalidStateError, match="is succeeded; nothing to resume"):
        claim(store, "r")
