"""One process of the shared-live-state tests (run as a script by test_shared_live_state.py).

    python live_worker.py URL ROLE BARRIER [ARGS...]

Every process waits at BARRIER (``folder:count``: until ``count`` processes have come) so
that they overlap, and uses the store at URL with a short sync interval.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from podium import Orchestrator
from podium.registry import Registry
from podium.routing import AdaptiveRouter, BreakerConfig, CallOutcome, RateLimit, RoutingConfig
from podium.store import open_store

INTERVAL_S = 0.2


def orchestrator(
    url: str, home: Path, config: RoutingConfig, log: Path | None = None
) -> Orchestrator:
    def router(registry: Registry) -> AdaptiveRouter:
        return AdaptiveRouter(registry, config)

    orch = Orchestrator(home=home, database_url=url, discover=False, router=router)

    @orch.model(capabilities=["t.echo"])
    def echo(text: str, fail: bool = False) -> dict[str, Any]:
        if log is not None:
            with log.open("a") as out:
                out.write(f"{time.time()}\n")
        if fail:
            raise RuntimeError("asked to fail")
        return {"text": text}

    return orch


def calls(url: str, home: Path, ok: int, failed: int) -> None:
    """``ok`` answered calls (in one run of a map) and ``failed`` failed ones (one run each)."""
    with orchestrator(url, home, RoutingConfig(flush_interval_s=INTERVAL_S)) as orch:
        flow = {
            "inputs": {"xs": "array"},
            "steps": {
                "each": {
                    "map": "${{ inputs.xs }}",
                    "concurrency": 4,
                    "step": {"uses": "model/echo", "with": {"text": "${{ item }}"}},
                }
            },
        }
        half = ok // 2
        for chunk in (list(range(half)), list(range(half, ok))):
            assert orch.run(flow, inputs={"xs": [str(x) for x in chunk]}).ok
            time.sleep(INTERVAL_S)  # let a sync happen between the two halves
        failing = {
            "steps": {
                "f": {
                    "uses": "model/echo",
                    "with": {"text": "x", "fail": True},
                    "retry": {"attempts": 1},
                }
            }
        }
        for _ in range(failed):
            assert not orch.run(failing).ok


def crash(url: str, home: Path, ok: int) -> None:
    """``ok`` calls with no sync due for an hour, then die by SIGKILL: nothing was pushed."""
    orch = orchestrator(url, home, RoutingConfig(flush_interval_s=3600.0))
    flow = {"steps": {"e": {"uses": "model/echo", "with": {"text": "x"}}}}
    for _ in range(ok):
        assert orch.run(flow).ok
    os.kill(os.getpid(), signal.SIGKILL)


def limited(url: str, home: Path, count: int, per_s: float, log: Path) -> None:
    """``count`` calls of a model limited to ``per_s`` calls a second (burst 5)."""
    limits = {"echo": RateLimit(per_s=per_s, burst=5)}
    config = RoutingConfig(flush_interval_s=INTERVAL_S, rate_limits=limits)
    with orchestrator(url, home, config, log) as orch:
        flow = {
            "inputs": {"xs": "array"},
            "steps": {
                "each": {
                    "map": "${{ inputs.xs }}",
                    "concurrency": 8,
                    "step": {"uses": "model/echo", "with": {"text": "${{ item }}"}},
                }
            },
        }
        assert orch.run(flow, inputs={"xs": [str(i) for i in range(count)]}).ok


def breaker(url: str, home: Path, role: str, folder: Path) -> None:
    """``trip``: fail six calls of the model (its breaker opens), then after the cooldown
    answer a probe (it closes). ``watch``: report when this process sees it open, then
    closed, through its own router."""
    config = RoutingConfig(
        flush_interval_s=INTERVAL_S, breaker=BreakerConfig(cooldown_s=1.5, max_cooldown_s=1.5)
    )
    with orchestrator(url, home, config) as orch:
        router = orch.router
        assert isinstance(router, AdaptiveRouter)
        [spec] = orch.registry.versions("echo")
        router.attach(orch.store)
        lease = router.acquire(spec)  # this process knows the model's instance now
        assert lease.granted
        router.observe(spec, CallOutcome("t.echo", 1.0, True, 0.0, lease.instance))
        if role == "watch":
            (folder / "watching").write_text("")
            _until(lambda: router.circuits().get(spec.key) == ["open"])
            seen = time.time()
            refused = router.acquire(spec).refused  # within the cooldown: refused here too
            (folder / "seen_open").write_text(json.dumps({"at": seen, "refused": refused}))
            # no call from here on (a call after the cooldown would probe on its own)
            _until(lambda: router.circuits().get(spec.key) == ["closed"])
            (folder / "seen_closed").write_text(json.dumps(time.time()))
            return
        _until((folder / "watching").exists)
        for _ in range(6):
            lease = router.acquire(spec)
            router.observe(spec, CallOutcome("t.echo", 1.0, False, 0.0, lease.instance))
        assert not router.acquire(spec).granted  # open here
        (folder / "tripped").write_text(json.dumps(time.time()))
        _until((folder / "seen_open").exists)
        time.sleep(1.6)  # the cooldown: the next call is a probe
        lease = router.acquire(spec)
        assert lease.granted
        router.observe(spec, CallOutcome("t.echo", 1.0, True, 0.0, lease.instance))
        (folder / "closed").write_text(json.dumps(time.time()))
        _until((folder / "seen_closed").exists)


def _until(ready: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError("waited too long")
        time.sleep(0.02)


def main() -> None:
    url, role, barrier, *args = sys.argv[1:]
    folder, _, count = barrier.rpartition(":")
    (Path(folder) / f"{role}-{Path(args[0]).name}").write_text("")
    _until(lambda: len(list(Path(folder).iterdir())) >= int(count))
    home = Path(args[0])
    if role == "calls":
        calls(url, home, int(args[1]), int(args[2]))
    elif role == "crash":
        crash(url, home, int(args[1]))
    elif role == "limited":
        limited(url, home, int(args[1]), float(args[2]), Path(args[3]))
    elif role in ("trip", "watch"):
        breaker(url, home, role, Path(args[1]))
    else:
        raise SystemExit(f"unknown role {role}")
    open_store(url).close()


if __name__ == "__main__":
    main()
