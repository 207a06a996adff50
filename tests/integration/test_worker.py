"""Submitted runs driven by a :class:`~podium.worker.Worker` in this process, on a real
SQLite file: queues, bindings, approvals that send a run back to its queue, fencing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podium import Orchestrator, RunStatus
from podium.engine._queue import QueueBindings
from podium.errors import WorkflowError
from podium.store import QueueSpec
from podium.worker import Worker, WorkerConfig, follow, live_workers

FLOW = {
    "name": "two",
    "inputs": {"x": "integer"},
    "steps": {
        "a": {"uses": "model/inc", "with": {"x": "${{ inputs.x }}"}},
        "b": {"uses": "model/inc", "with": {"x": "${{ steps.a.output.x }}"}},
    },
    "outputs": {"x": "${{ steps.b.output.x }}"},
}


@pytest.fixture
def orch(tmp_path: Path) -> Iterator[Orchestrator]:
    with Orchestrator(home=tmp_path / "home", discover=False) as o:
        calls: list[tuple[str, str]] = []
        o.calls = calls  # type: ignore[attr-defined]

        @o.model(capabilities=["t.inc"])
        def inc(x: int, podium_context: Any) -> dict[str, Any]:
            calls.append((podium_context.run_id, podium_context.step))
            return {"x": x + 1}

        @o.model(capabilities=["t.render"], tags=["gpu"])
        def render(x: int) -> dict[str, Any]:
            return {"x": x * 10}

        yield o


def _work(orch: Orchestrator, **options: Any) -> Any:
    config = WorkerConfig(**({"burst": True, "poll_s": 0.02} | options))
    return orch._sync(Worker(orch, config).run())


def test_submitted_runs_wait_pending_until_a_worker_drives_them(orch: Orchestrator) -> None:
    ids = [orch.submit(FLOW, {"x": i}) for i in range(5)]
    assert {orch.store.run(r).status for r in ids} == {"pending"}  # type: ignore[union-attr]
    assert orch.store.queue_counts()["default"]["pending"] == 5
    stats = _work(orch, concurrency=2)
    assert stats.claimed == 5 and stats.ended == {"succeeded": 5}
    for i, run_id in enumerate(ids):
        result = orch.get_run(run_id)
        assert result.status is RunStatus.SUCCEEDED and result.outputs == {"x": i + 2}
        types = [e.type for e in orch.store.events(run_id)]
        assert types[:2] == ["run_queued", "run_started"] and types[-1] == "run_succeeded"
    assert len(orch.calls) == 10  # type: ignore[attr-defined]
    assert live_workers(orch.store, 60) == {}  # the worker withdrew its record


def test_bad_inputs_are_refused_before_anything_is_queued(orch: Orchestrator) -> None:
    from podium.errors import SchemaError

    with pytest.raises(SchemaError):
        orch.submit(FLOW, {"x": "not a number"})
    assert orch.runs() == []


def test_a_run_goes_to_its_queue_and_only_that_queue_s_workers_take_it(
    orch: Orchestrator,
) -> None:
    render = {
        "name": "render",
        "steps": {"r": {"uses": "capability/t.render", "with": {"x": 2}}},
        "outputs": {"x": "${{ steps.r.output.x }}"},
    }
    assert orch.queue_of(orch.load(render)) == "default"
    QueueBindings().bind("gpu", tag="gpu").save(orch.store)
    run_id = orch.submit(render)
    assert orch.store.run(run_id).queue == "gpu"  # type: ignore[union-attr]
    assert _work(orch).claimed == 0  # a default worker leaves it
    assert _work(orch, queues=("gpu",)).ended == {"succeeded": 1}
    assert orch.get_run(run_id).outputs == {"x": 20}
    explicit = orch.submit(FLOW | {"queue": "batch"}, {"x": 1})
    assert orch.store.run(explicit).queue == "batch"  # type: ignore[union-attr]


def test_steps_that_need_two_queues_are_refused(orch: Orchestrator) -> None:
    flow = {
        "name": "split",
        "steps": {
            "a": {"uses": "model/inc", "with": {"x": 1}, "queue": "cpu"},
            "b": {"uses": "model/inc", "with": {"x": 1}, "queue": "gpu"},
        },
    }
    with pytest.raises(WorkflowError) as caught:
        orch.submit(flow)
    assert "steps.b.queue" in caught.value.one_line() and "'cpu'" in str(caught.value)
    assert orch.runs() == []


def test_an_approved_run_goes_back_to_its_queue(orch: Orchestrator) -> None:
    flow = {
        "name": "gate",
        "steps": {
            "ask": {"approval": {"prompt": "ok?"}},
            "a": {"uses": "model/inc", "with": {"x": 1}, "after": ["ask"]},
        },
        "outputs": {"x": "${{ steps.a.output.x }}"},
    }
    run_id = orch.submit(flow)
    _work(orch)
    assert orch.get_run(run_id).status is RunStatus.WAITING
    continued = orch.approve(run_id, "ask", by="ops")
    assert continued.driver == "a worker of queue 'default'"
    assert orch.store.run(run_id).status == "pending"  # type: ignore[union-attr]
    _work(orch)
    done = orch.get_run(run_id)
    assert done.status is RunStatus.SUCCEEDED and done.outputs == {"x": 2}
    types = [e.type for e in orch.store.events(run_id)]
    assert types.count("run_started") == 1 and "run_resumed" in types


def test_a_run_whose_worker_died_is_resumed_without_repeating_a_finished_step(
    orch: Orchestrator,
) -> None:
    run_id = orch.submit(FLOW, {"x": 0})
    # A worker took it and finished step a, then died (its lease stops being renewed).
    [taken] = orch.store.claim_next("gone:1", QueueSpec(("default",), 10.0), now=time.time())
    from podium.store import Event

    now = time.time()
    orch.store.append(
        run_id,
        [
            Event("run_started", None, {"inputs": {"x": 0}}, now),
            Event("step_started", "a", {"attempt": 1}, now),
            Event("step_succeeded", "a", {"output": {"x": 1}}, now),
        ],
        fence=taken.claim,
    )
    assert _work(orch).claimed == 0  # its lease is fresh: nobody takes it
    orch.store.update_run(run_id, {"heartbeat": time.time() - 11})  # the lease lapses
    assert _work(orch).ended == {"succeeded": 1}
    assert orch.get_run(run_id).outputs == {"x": 2}
    assert orch.calls == [(run_id, "b")]  # type: ignore[attr-defined]


def test_a_run_whose_log_is_impossible_is_failed_not_taken_again_and_again(
    orch: Orchestrator,
) -> None:
    from podium.store import Event

    run_id = orch.submit(FLOW, {"x": 0})
    orch.store.append(run_id, [Event("step_succeeded", "zzz", {}, time.time())])
    stats = _work(orch)
    assert stats.claimed == 1 and stats.errors == 1
    record = orch.store.run(run_id)
    assert record is not None and record.status == "failed"
    assert "podium runs repair" in (record.error or "")


def test_stop_releases_runs_in_flight_for_another_worker(orch: Orchestrator) -> None:
    release = asyncio.Event()

    @orch.model(capabilities=["t.wait"])
    async def wait_here(x: int) -> dict[str, Any]:
        await release.wait()
        return {"x": x}

    flow = {
        "name": "held",
        "steps": {
            "a": {"uses": "model/inc", "with": {"x": 1}},
            "b": {"uses": "model/wait-here", "with": {"x": "${{ steps.a.output.x }}"}},
        },
        "outputs": {"x": "${{ steps.b.output.x }}"},
    }
    run_id = orch.submit(flow)

    async def scenario() -> Any:
        worker = Worker(orch, WorkerConfig(poll_s=0.02, grace_s=0.05))
        task = asyncio.ensure_future(worker.run())
        while orch.get_run(run_id).steps[-1:] == [] or len(orch.calls) < 1:  # type: ignore[attr-defined]
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        worker.stop()
        return await task

    stats = orch._sync(scenario())
    assert stats.released == 1
    record = orch.store.run(run_id)
    assert record is not None and record.status == "running" and record.heartbeat is None
    orch.runner.suspending = False
    release.set()
    assert _work(orch).ended == {"succeeded": 1}  # taken at once: it was released
    assert orch.calls == [(run_id, "a")]  # type: ignore[attr-defined]


def test_follow_hands_over_every_event_until_the_run_ends(orch: Orchestrator) -> None:
    run_id = orch.submit(FLOW, {"x": 5})
    _work(orch)
    seen: list[str] = []
    record = follow(orch.store, run_id, lambda e: seen.append(e.type), poll_s=0.01)
    assert record.status == "succeeded" and seen[0] == "run_queued" and seen[-1] == "run_succeeded"


def test_a_cancelled_pending_run_is_never_taken(orch: Orchestrator) -> None:
    run_id = orch.submit(FLOW, {"x": 1})
    assert orch.cancel(run_id).status == "cancelled"
    assert _work(orch).claimed == 0
    assert orch.calls == []  # type: ignore[attr-defined]
    assert orch.store.queue_counts() == {}


def test_a_run_whose_stored_workflow_no_longer_loads_is_failed_once(orch: Orchestrator) -> None:
    run_id = orch.submit(FLOW, {"x": 0})
    broken = {"source": "<workflow>", "document": {"name": "two", "steps": {}}, "documents": {}}
    orch.store.update_run(run_id, {"definition": broken})
    stats = _work(orch)
    assert stats.claimed == 1 and stats.errors == 1
    record = orch.store.run(run_id)
    assert record is not None and record.status == "failed" and "steps" in (record.error or "")
    assert _work(orch).claimed == 0  # not taken again
