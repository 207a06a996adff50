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
