"""The event log never lies: faults injected around a real SQLite store during real runs.

A write the database refuses is kept and retried; a write that keeps failing stops the run
before it acts on anything unwritten, and the run resumes cleanly once the fault is gone;
an impossible event in a log is reported and can be quarantined; a run is never orphaned.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faulty_store import FaultyStore

from podium import Orchestrator, RunStatus
from podium.engine import ModelCall, Proceed
from podium.engine._journal import JournalError, WritePolicy
from podium.errors import InvalidStateError, ManifestError
from podium.store import SqlStore

ITEMS = 1500
FAST_POLICY = WritePolicy(budget_s=0.3, first_delay_s=0.005, max_delay_s=0.05)


@pytest.fixture
def faulty(tmp_path: Path) -> Iterator[FaultyStore]:
    store = FaultyStore(SqlStore(f"sqlite:///{tmp_path}/podium.db"))
    yield store
    store.inner.close()


def fan_flow(items: int = ITEMS, concurrency: int = 8) -> dict[str, Any]:
    return {
        "name": "fan",
        "inputs": {"xs": "array"},
        "steps": {
            "fan": {
                "map": "${{ inputs.xs }}",
                "concurrency": concurrency,
                "step": {"uses": "model/work", "with": {"x": "${{ item }}"}},
            }
        },
        "outputs": {"n": "${{ len(steps.fan.output) }}"},
    }


def orchestrator(home: Path, store: FaultyStore, calls: Counter[int], trigger: Any) -> Orchestrator:
    orch = Orchestrator(home=home, discover=False, store=store, write_policy=FAST_POLICY)

    @orch.model(capabilities=["test.work"])
    async def work(x: int) -> dict[str, Any]:
        calls[x] += 1
        trigger(x)
        await asyncio.sleep(0)
        return {"y": x * 2}

    return orch


def succeeded_items(store: FaultyStore, run_id: str) -> set[str]:
    return {e.step for e in store.events(run_id) if e.type == "step_succeeded" and e.step}


def test_a_transient_write_failure_loses_nothing(tmp_path: Path, faulty: FaultyStore) -> None:
    calls: Counter[int] = Counter()

    def trigger(x: int) -> None:
        if x == 300 and not faulty.failures["append"]:
            faulty.fail("append", for_s=0.08)  # the database refuses writes for 80 ms

    with orchestrator(tmp_path / "home", faulty, calls, trigger) as orch:
        result = orch.run(fan_flow(), {"xs": list(range(ITEMS))})
        assert result.status is RunStatus.SUCCEEDED and result.outputs == {"n": ITEMS}
        assert faulty.failures["append"] > 0
        stored = orch.get_run(result.run_id)
    assert stored.anomalies == []
    assert stored.status is RunStatus.SUCCEEDED
    assert {f"fan[{i}]" for i in range(ITEMS)} <= succeeded_items(faulty, result.run_id)
    assert all(calls[i] == 1 for i in range(ITEMS))


def test_a_persistent_write_failure_stops_the_run_and_it_resumes_cleanly(
    tmp_path: Path, faulty: FaultyStore
) -> None:
    calls: Counter[int] = Counter()
    concurrency = 8

    def trigger(x: int) -> None:
        if x == 300 and not faulty.failures["append"]:
            faulty.fail("append")  # the disk is full until healed

    home = tmp_path / "home"
    with orchestrator(home, faulty, calls, trigger) as orch:
        with pytest.raises(JournalError) as caught:
            orch.run(fan_flow(concurrency=concurrency), {"xs": list(range(ITEMS))}, run_id="r-1")
        message = str(caught.value)
        assert "r-1" in message and "podium runs resume r-1" in message
        assert "\n" not in message
        # no new step started once the log could not be written
        assert sum(calls.values()) <= 300 + 2 * concurrency
        durable_before = succeeded_items(faulty, "r-1")
        assert faulty.run("r-1").status == "running"  # type: ignore[union-attr]

        faulty.heal()
        calls_before = Counter(calls)
        resumed = orch.resume("r-1")
    assert resumed.status is RunStatus.SUCCEEDED and resumed.outputs == {"n": ITEMS}
    assert all(calls[i] >= 1 for i in range(ITEMS))
    for key in durable_before:  # a step the log holds as finished never runs again
        index = int(key[4:-1])
        assert calls[index] == calls_before[index]
    assert orch.get_run("r-1").anomalies == []


def test_a_failure_of_the_last_write_leaves_a_resumable_run(
    tmp_path: Path, faulty: FaultyStore
) -> None:
    calls: Counter[int] = Counter()
    with orchestrator(tmp_path / "home", faulty, calls, lambda x: None) as orch:

        class FailAtEnd:
            armed = True

            async def __call__(self, call: ModelCall, proceed: Proceed) -> dict[str, Any]:
                output = await proceed(call)
                if self.armed:  # once: the writes after the model call fail
                    self.armed = False
                    faulty.fail("append", times=1000)
                return output

        orch.caller._proceed = _chain(FailAtEnd(), orch.caller._proceed)
        flow = {"steps": {"a": {"uses": "model/work", "with": {"x": 1}}}}
        with pytest.raises(JournalError):
            orch.run(flow, run_id="r-2")
        faulty.heal()
        done = orch.resume("r-2")
    assert done.status is RunStatus.SUCCEEDED


def _chain(interceptor: Any, proceed: Proceed) -> Proceed:
    async def call(model_call: ModelCall) -> dict[str, Any]:
        return await interceptor(model_call, proceed)  # type: ignore[no-any-return]

    return call


def test_an_impossible_event_is_reported_and_can_be_quarantined(
    tmp_path: Path, faulty: FaultyStore
) -> None:
    calls: Counter[int] = Counter()
    with orchestrator(tmp_path / "home", faulty, calls, lambda x: None) as orch:
        faulty.corrupt_next_append()
        flow = {
            "steps": {
                "a": {"uses": "model/work", "with": {"x": 1}},
                "b": {"uses": "model/work", "with": {"x": "${{ steps.a.output.y }}"}},
            },
            "outputs": {"y": "${{ steps.b.output.y }}"},
        }
        result = orch.run(flow, run_id="r-3")
        assert result.status is RunStatus.SUCCEEDED
        shown = orch.get_run("r-3")  # still readable: the rest of the run is there
        [anomaly] = shown.anomalies
        assert anomaly.step == "ghost" and anomaly.type == "step_succeeded"
        assert anomaly.seq > 0 and "cannot go from new" in anomaly.reason
        assert {s["step"] for s in shown.steps} == {"a", "b"}
        assert shown.outputs == {"y": 4}

        repair = orch.repair("r-3")
        assert [a.seq for a in repair.quarantined] == [anomaly.seq]
        assert orch.get_run("r-3").anomalies == []
        [moved] = faulty.quarantined("r-3")
        assert moved.event.step == "ghost" and "cannot go from new" in moved.reason
        assert orch.repair("r-3").quarantined == []


def test_resume_refuses_a_log_with_an_impossible_event(tmp_path: Path, faulty: FaultyStore) -> None:
    calls: Counter[int] = Counter()
    with orchestrator(tmp_path / "home", faulty, calls, lambda x: None) as orch:

        class Boom:
            async def __call__(self, call: ModelCall, proceed: Proceed) -> dict[str, Any]:
                faulty.corrupt_next_append()
                raise_it = call.inputs.get("x") == 2
                output = await proceed(call)
                if raise_it:
                    from podium.errors import ModelCallError

                    raise ModelCallError("flaky", retryable=False)
                return output

        orch.caller._proceed = _chain(Boom(), orch.caller._proceed)
        flow = {"steps": {"a": {"uses": "model/work", "with": {"x": 2}}}}
        failed = orch.run(flow, run_id="r-4")
        assert failed.status is RunStatus.FAILED
        with pytest.raises(InvalidStateError, match=r"runs repair r-4"):
            orch.resume("r-4")
        orch.repair("r-4")
        orch.caller._proceed = orch.caller._invoke
        assert orch.resume("r-4").status is RunStatus.SUCCEEDED


# --------------------------------------------------------------------------- never orphaned


def test_an_interceptor_raising_a_user_error_fails_the_step(tmp_path: Path) -> None:
    with Orchestrator(home=tmp_path / "home", discover=False) as orch:

        @orch.model(capabilities=["t.x"])
        def echo(text: str) -> dict[str, Any]:
            return {"text": text}

        async def refuse(call: ModelCall, proceed: Proceed) -> dict[str, Any]:
            raise ManifestError("cannot load the model file", field="runtime.path")

        orch.caller._proceed = _chain(refuse, orch.caller._proceed)
        result = orch.run({"steps": {"a": {"uses": "model/echo", "with": {"text": "x"}}}})
        assert result.status is RunStatus.FAILED
        assert "cannot load the model file" in (result.error or "")
        record = orch.store.run(result.run_id)
        assert record is not None and record.status == "failed" and record.heartbeat is None
        assert [e.type for e in orch.store.events(result.run_id)][-1] == "run_failed"


def test_an_unexpected_exception_ends_the_run_failed_before_it_propagates(tmp_path: Path) -> None:
    with Orchestrator(home=tmp_path / "home", discover=False) as orch:

        @orch.model(capabilities=["t.x"])
        def echo(text: str) -> dict[str, Any]:
            return {"text": text}

        async def bug(call: ModelCall, proceed: Proceed) -> dict[str, Any]:
            raise RuntimeError("a bug in a plug-in")

        orch.caller._proceed = _chain(bug, orch.caller._proceed)
        with pytest.raises(RuntimeError, match="a bug in a plug-in"):
            orch.run({"steps": {"a": {"uses": "model/echo", "with": {"text": "x"}}}}, run_id="r-5")
        record = orch.store.run("r-5")
        assert record is not None and record.status == "failed"
        assert "internal error: RuntimeError: a bug in a plug-in" in (record.error or "")
        types = [e.type for e in orch.store.events("r-5")]
        assert types[-2:] == ["step_cancelled", "run_failed"]


# --------------------------------------------------------------------------- one driver


def test_a_forced_takeover_fences_out_the_old_driver(tmp_path: Path) -> None:
    home = tmp_path / "home"
    release = threading.Event()
    started = threading.Event()
    ran: list[str] = []

    def register(o: Orchestrator, *, blocking: bool) -> None:
        @o.model(capabilities=["t.slow"])
        def slow(text: str) -> dict[str, Any]:
            ran.append(text)
            if blocking:
                started.set()
                release.wait(10)
            return {"text": text}

    flow = {
        "steps": {
            "a": {"uses": "model/slow", "with": {"text": "a"}},
            "b": {"uses": "model/slow", "with": {"text": "${{ steps.a.output.text }}b"}},
        }
    }
    outcome: dict[str, Any] = {}

    def first() -> None:
        with Orchestrator(home=home, discover=False) as orch:
            register(orch, blocking=True)
            try:
                outcome["result"] = orch.run(flow, run_id="r-6")
            except JournalError as exc:
                outcome["error"] = exc

    thread = threading.Thread(target=first)
    thread.start()
    assert started.wait(10)
    with Orchestrator(home=home, discover=False) as second:
        register(second, blocking=False)
        with pytest.raises(InvalidStateError, match="is being run by"):
            second.resume("r-6")
        result = second.resume("r-6", force=True)  # while the first is stuck in 'a'
        release.set()
        thread.join(10)
        events = second.store.events("r-6")
    assert result.status is RunStatus.SUCCEEDED
    assert "claimed by another process" in str(outcome["error"])
    assert Counter(e.type for e in events if e.step == "b")["step_succeeded"] == 1
    assert ran.count("ab") == 1  # the old driver never started 'b'


# --------------------------------------------------------------------------- approvals


APPROVAL_FLOW = {
    "steps": {
        "slow": {"uses": "model/slow", "with": {"text": "slow"}},
        "gate": {"approval": {"prompt": "ship it?"}},
        "ship": {"uses": "model/note", "with": {"text": "shipped"}, "after": ["gate"]},
    },
    "outputs": {"shipped": "${{ steps.ship.output.text }}"},
}


def _approval_models(o: Orchestrator, release: threading.Event) -> None:
    @o.model(capabilities=["t.slow"])
    def slow(text: str) -> dict[str, Any]:
        release.wait(10)
        return {"text": text}

    @o.model(capabilities=["t.note"])
    def note(text: str) -> dict[str, Any]:
        return {"text": text}


def _wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_live_process_picks_up_a_decision_and_goes_on(tmp_path: Path) -> None:
    home = tmp_path / "home"
    release = threading.Event()
    results: dict[str, Any] = {}

    def driver() -> None:
        with Orchestrator(home=home, discover=False) as orch:
            _approval_models(orch, release)
            results["run"] = orch.run(APPROVAL_FLOW, run_id="r-7")

    thread = threading.Thread(target=driver)
    thread.start()
    with Orchestrator(home=home, discover=False) as other:
        _approval_models(other, release)

        def gate_waiting() -> bool:
            return any(e.type == "approval_requested" for e in other.store.events("r-7"))

        _wait_for(gate_waiting)
        handed = other.approve("r-7", "gate", by="ann")
        assert handed.status is RunStatus.RUNNING and handed.driver
        release.set()
        thread.join(10)
        types = [e.type for e in other.store.events("r-7") if e.step == "gate"]
    final = results["run"]
    assert final.status is RunStatus.SUCCEEDED and final.outputs == {"shipped": "shipped"}
    assert types.count("approval_decided") == 1 and types[-1] == "step_succeeded"


def test_approve_and_reject_at_once_record_one_decision(tmp_path: Path) -> None:
    home = tmp_path / "home"
    release = threading.Event()
    release.set()
    with Orchestrator(home=home, discover=False) as orch:
        _approval_models(orch, release)
        flow = {"steps": {"gate": {"approval": True}}}
        for trial in range(20):
            waiting = orch.run(flow, run_id=f"race-{trial}")
            assert waiting.status is RunStatus.WAITING
            barrier = threading.Barrier(2)
            errors: list[str] = []

            def decide(
                approved: bool,
                who: str,
                run_id: str = waiting.run_id,
                barrier: threading.Barrier = barrier,
                errors: list[str] = errors,
            ) -> None:
                with Orchestrator(home=home, discover=False) as o:
                    barrier.wait()
                    try:
                        o.approve(run_id, "gate", approved=approved, by=who)
                    except InvalidStateError as exc:
                        errors.append(str(exc))

            threads = [
                threading.Thread(target=decide, args=(True, "ann")),
                threading.Thread(target=decide, args=(False, "bob")),
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(20)
            events = [e for e in orch.store.events(waiting.run_id) if e.type == "approval_decided"]
            assert len(events) == 1, trial
            assert orch.get_run(waiting.run_id).anomalies == []
            assert len(errors) <= 1
            if errors:
                assert "already" in errors[0] or "being run" in errors[0] or "claimed" in errors[0]
