"""Resources and limits in real runs: ``max_concurrency`` holds across runs, calls wait for
cpus/gpus/memory, and waiting calls are admitted fairly between runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podium import Orchestrator, RunStatus
from podium.engine._admission import Admission, Capacity
from podium.errors import ManifestError


class Gauge:
    """Counts the calls inside the model right now, and the most at once."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0

    async def hold(self, seconds: float) -> None:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await asyncio.sleep(seconds)
        finally:
            self.now -= 1


@pytest.fixture
def orch(tmp_path: Path) -> Iterator[Orchestrator]:
    with Orchestrator(home=tmp_path / "home", discover=False, durable=False) as o:
        o.caller.admission = Admission(Capacity(cpus=2, gpus=0, memory_mb=1000))
        yield o


def _map_flow(name: str, width: int, concurrency: int) -> dict[str, Any]:
    return {
        "name": name,
        "steps": {
            "each": {
                "map": f"${{{{ {list(range(width))} }}}}",
                "concurrency": concurrency,
                "step": {"uses": "model/slow", "with": {"n": "${{ item }}"}},
            }
        },
        "outputs": {"n": "${{ len(steps.each.output) }}"},
    }


def test_max_concurrency_is_never_exceeded_across_runs(orch: Orchestrator) -> None:
    gauge = Gauge()

    @orch.model(capabilities=["t.slow"], resources={"max_concurrency": 2})
    async def slow(n: int) -> dict[str, Any]:
        await gauge.hold(0.005)
        return {"n": n}

    async def many() -> list[Any]:
        flows = [orch.arun(_map_flow(f"f{i}", 20, 8)) for i in range(4)]
        return await asyncio.gather(*flows)

    results = orch._sync(many())
    assert [r.status for r in results] == [RunStatus.SUCCEEDED] * 4
    assert gauge.most == 2  # reached, never passed
    use = orch.caller.admission.usage()["slow@0.1.0"]
    assert use == {"in_flight": 0, "limit": 2, "peak": 2, "waiting": 0}


def test_calls_wait_for_cpus_and_one_that_can_never_fit_fails_at_once(
    orch: Orchestrator,
) -> None:
    gauge = Gauge()

    @orch.model(capabilities=["t.slow"], resources={"cpus": 1, "memory_mb": 100})
    async def slow(n: int) -> dict[str, Any]:
        await gauge.hold(0.005)
        return {"n": n}

    @orch.model(capabilities=["t.gpu"], resources={"gpus": 1})
    def needs_gpu(n: int) -> dict[str, Any]:
        return {"n": n}

    result = orch.run(_map_flow("cpu", 12, 6))
    assert result.status is RunStatus.SUCCEEDED and gauge.most == 2  # 2 cpus, 1 per call
    assert orch.caller.admission.free == [2, 0, 1000]  # all given back
    failed = orch.run({"name": "g", "steps": {"a": {"uses": "model/needs-gpu", "with": {"n": 1}}}})
    assert failed.status is RunStatus.FAILED
    assert "needs 1 gpus per call; this executor has 0" in (failed.error or "")


def test_a_big_map_does_not_starve_small_runs_started_after_it(orch: Orchestrator) -> None:
    @orch.model(capabilities=["t.slow"], resources={"max_concurrency": 2})
    async def slow(n: int) -> dict[str, Any]:
        await asyncio.sleep(0.002)
        return {"n": n}

    async def scenario() -> tuple[float, list[float], float]:
        started = time.perf_counter()
        big = asyncio.ensure_future(orch.arun(_map_flow("big", 600, 64)))
        await asyncio.sleep(0.05)  # the big run's calls are queued first
        small_started = time.perf_counter()

        async def small(i: int) -> float:
            result = await orch.arun(_map_flow(f"small{i}", 3, 3))
            assert result.status is RunStatus.SUCCEEDED
            return time.perf_counter() - small_started

        latencies = await asyncio.gather(*(small(i) for i in range(10)))
        assert not big.done()  # every small run ended while the big one still ran
        result = await big
        assert result.status is RunStatus.SUCCEEDED
        return small_started - started, list(latencies), time.perf_counter() - started

    _, latencies, big_total = orch._sync(scenario())
    # 600 calls two at a time take 0.6 s at the least; a small run needs 3 turns per slot
    assert max(latencies) < big_total / 3, (latencies, big_total)


def test_fair_turns_between_runs_in_the_admission_itself() -> None:
    """One run queues 50 calls, then three runs queue one each: they are admitted next."""
    from podium.registry import spec_from_mapping

    spec = spec_from_mapping(
        {
            "name": "m",
            "version": "1.0.0",
            "capabilities": ["t.m"],
            "resources": {"max_concurrency": 1},
        }
    )
    desk = Admission(Capacity(4, 0, 1000))
    order: list[str] = []

    async def call(run: str) -> None:
        await desk.enter(spec, run, None)
        order.append(run)
        await asyncio.sleep(0)
        desk.leave(spec)

    async def scenario() -> None:
        await desk.enter(spec, "holder", None)  # the one slot is taken
        big = [asyncio.ensure_future(call("big")) for _ in range(50)]
        await asyncio.sleep(0)
        small = [asyncio.ensure_future(call(f"s{i}")) for i in range(3)]
        await asyncio.sleep(0)
        desk.leave(spec)
        await asyncio.gather(*big, *small)

    asyncio.run(scenario())
    assert order[:4] == ["big", "s0", "s1", "s2"]  # one turn per run per round
    assert order[4:] == ["big"] * 49


def test_a_waiting_call_that_is_cancelled_leaves_no_trace() -> None:
    from podium.registry import spec_from_mapping

    spec = spec_from_mapping(
        {"name": "m", "version": "1.0.0", "capabilities": ["t.m"], "resources": {"cpus": 2}}
    )
    desk = Admission(Capacity(2, 0, 1000))

    async def scenario() -> None:
        await desk.enter(spec, "a", None)
        waiter = asyncio.ensure_future(desk.enter(spec, "b", None))
        await asyncio.sleep(0)
        assert desk.waiting == 1
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        assert desk.waiting == 0
        desk.leave(spec)
        loop = asyncio.get_running_loop()
        with pytest.raises(Exception, match="not admitted within"):
            await desk.enter(spec, "c", None)  # free again: admitted
            await desk.enter(spec, "d", loop.time() + 0.01)  # full: times out

    asyncio.run(scenario())
    assert desk.free == [0.0, 0, 1000]  # "c" still holds its 2 cpus


def test_resources_are_validated_naming_the_field(tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "name: m\nversion: 1.0.0\ncapabilities: [t.m]\n"
        "runtime: {kind: python, target: 'os:getcwd'}\n"
        "resources: {cpus: -1, max_concurrency: 2}\n"
    )
    with Orchestrator(home=tmp_path / "h", discover=False, durable=False) as o:
        with pytest.raises(ManifestError) as caught:
            o.register(manifest)
        assert "resources.cpus" in caught.value.one_line()
        manifest.write_text(manifest.read_text().replace("cpus: -1", "gpu: 1"))
        with pytest.raises(ManifestError) as caught:
            o.register(manifest)
        assert "resources.gpu" in caught.value.one_line()


def test_the_limit_holds_for_runs_driven_from_several_threads(orch: Orchestrator) -> None:
    """The sync API keeps an event loop per thread: they share the process's one limit."""
    import threading

    lock = threading.Lock()
    seen = {"now": 0, "most": 0}

    @orch.model(capabilities=["t.slow"], resources={"max_concurrency": 2})
    async def slow(n: int) -> dict[str, Any]:
        with lock:
            seen["now"] += 1
            seen["most"] = max(seen["most"], seen["now"])
        await asyncio.sleep(0.003)
        with lock:
            seen["now"] -= 1
        return {"n": n}

    results: list[Any] = []

    def drive(i: int) -> None:
        results.append(orch.run(_map_flow(f"t{i}", 15, 6)))

    threads = [threading.Thread(target=drive, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [r.status for r in results] == [RunStatus.SUCCEEDED] * 3
    assert seen["most"] == 2
    assert orch.caller.admission.usage()["slow@0.1.0"]["in_flight"] == 0
