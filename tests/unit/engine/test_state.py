"""Unit tests for the pure, event-sourced run state (podium.engine._state)."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from podium import RunStatus, StepStatus
from podium.engine._state import STEP_TRANSITIONS, RunState
from podium.errors import InvalidStateError, UserError
from podium.store import Event

S = StepStatus


def ev(type_: str, step: str | None = None, ts: float = 0.0, **data: object) -> Event:
    return Event(type_, step, dict(data), ts)


def statuses(state: RunState) -> dict[str, StepStatus | None]:
    return {key: record.status for key, record in state.steps.items()}


# --------------------------------------------------------------------------- valid sequences


def test_a_fresh_state_is_pending() -> None:
    state = RunState()
    assert state.status is RunStatus.PENDING
    assert state.steps == {} and state.outputs is None and state.cost == 0.0


def test_run_lifecycle_records_inputs_outputs_and_error() -> None:
    state = RunState()
    state.apply(ev("run_started", inputs={"x": 1}))
    assert state.status is RunStatus.RUNNING and state.inputs == {"x": 1}
    state.apply(ev("run_waiting"))
    assert state.status is RunStatus.WAITING
    state.apply(ev("run_resumed"))
    assert state.status is RunStatus.RUNNING
    state.apply(ev("run_succeeded", outputs={"y": 2}))
    assert state.status is RunStatus.SUCCEEDED and state.outputs == {"y": 2}

    failed = RunState.replay([ev("run_started"), ev("run_failed", error="step 'a' failed")])
    assert failed.status is RunStatus.FAILED and failed.error == "step 'a' failed"
    cancelled = RunState.replay([ev("run_started"), ev("run_cancelled")])
    assert cancelled.status is RunStatus.CANCELLED


def test_call_step_success_records_output_model_cost_and_times() -> None:
    state = RunState.replay(
        [
            ev("run_started"),
            ev("step_started", "a", ts=10.0, attempt=1, model="m@1.0.0"),
            ev("attempt_failed", "a", ts=11.0, attempt=1, error="boom"),
            ev("step_started", "a", ts=12.0, attempt=2),
            ev(
                "step_succeeded",
                "a",
                ts=13.0,
                output={"y": 1},
                model="m@1.0.0",
                cost=0.25,
                cached=False,
                latency_ms=3.0,
            ),
        ]
    )
    record = state.step("a")
    assert record is not None
    assert record.status is S.SUCCEEDED
    assert record.output == {"y": 1}
    assert record.model == "m@1.0.0"
    assert record.cost == 0.25 and state.cost == 0.25
    assert record.attempts == 2
    assert record.error is None
    assert record.started_at == 10.0 and record.finished_at == 13.0
    assert record.info == {"latency_ms": 3.0}


def test_attempt_failures_keep_the_step_running_and_count_attempts() -> None:
    state = RunState.replay(
        [
            ev("step_started", "a", attempt=1),
            ev("attempt_failed", "a", attempt=1, error="e1"),
            ev("attempt_failed", "a", attempt=2, error="e2"),
        ]
    )
    record = state.step("a")
    assert record is not None
    assert record.status is S.RUNNING and record.attempts == 2 and record.error == "e2"


def test_failed_step_can_be_started_again_by_a_resume() -> None:
    state = RunState.replay(
        [
            ev("step_started", "a", attempt=1),
            ev("step_failed", "a", error="broken"),
        ]
    )
    assert statuses(state) == {"a": S.FAILED}
    assert state.step("a").error == "broken"  # type: ignore[union-attr]
    state.apply(ev("step_started", "a", attempt=2))
    assert state.step("a").status is S.RUNNING  # type: ignore[union-attr]
    assert state.step("a").error is None  # type: ignore[union-attr]
    state.apply(ev("step_succeeded", "a", output=1))
    assert statuses(state) == {"a": S.SUCCEEDED}


def test_skips_from_new_and_from_running() -> None:
    state = RunState.replay(
        [
            ev("step_skipped", "a", reason="'if' is false"),
            ev("step_started", "b"),
            ev("step_skipped", "b", reason="needs 'a'"),
        ]
    )
    assert statuses(state) == {"a": S.SKIPPED, "b": S.SKIPPED}
    assert state.step("a").info == {"reason": "'if' is false"}  # type: ignore[union-attr]


def test_approval_flow() -> None:
    state = RunState()
    for event in [
        ev("step_started", "gate"),
        ev("approval_requested", "gate", ts=5.0, prompt="ok?"),
    ]:
        state.apply(event)
    record = state.step("gate")
    assert record is not None and record.status is S.WAITING
    assert record.approval == {"prompt": "ok?", "requested_at": 5.0}
    # a resumed process re-requests and re-starts without changing the state
    state.apply(ev("step_started", "gate"))
    state.apply(ev("approval_requested", "gate", ts=5.0, prompt="ok?"))
    assert record.status is S.WAITING
    state.apply(ev("approval_decided", "gate", approved=True, by="ann", comment=None))
    assert record.status is S.RUNNING
    assert record.approval["decision"] == {"approved": True, "by": "ann", "comment": None}
    state.apply(ev("step_succeeded", "gate", output={"approved": True}))
    assert record.status is S.SUCCEEDED


@pytest.mark.parametrize("before", ["running", "waiting"])
def test_cancellation_from_running_or_waiting(before: str) -> None:
    events = [ev("step_started", "a")]
    if before == "waiting":
        events.append(ev("approval_requested", "a"))
    events.append(ev("step_cancelled", "a", error="run cancelled"))
    state = RunState.replay(events)
    assert statuses(state) == {"a": S.CANCELLED}
    assert state.step("a").error == "run cancelled"  # type: ignore[union-attr]
    state.apply(ev("step_started", "a", attempt=2))  # a resume may start it again
    assert statuses(state) == {"a": S.RUNNING}


def test_step_keys_are_independent() -> None:
    state = RunState.replay(
        [
            ev("step_started", "m"),
            ev("step_started", "m[0]"),
            ev("step_started", "m[1]"),
            ev("step_succeeded", "m[1]", output=1),
            ev("step_failed", "m[0]", error="x"),
        ]
    )
    assert statuses(state) == {"m": S.RUNNING, "m[0]": S.FAILED, "m[1]": S.SUCCEEDED}


def test_cost_counts_only_succeeded_steps() -> None:
    state = RunState.replay(
        [
            ev("step_started", "a"),
            ev("step_succeeded", "a", output=1, cost=0.5),
            ev("step_started", "b"),
            ev("step_succeeded", "b", output=1, cost=0.25, cached=True),
        ]
    )
    assert state.cost == 0.75
    assert state.step("b").cached is True  # type: ignore[union-attr]


def test_events_without_a_step_and_unknown_run_events_are_ignored() -> None:
    state = RunState()
    state.apply(ev("something_else"))
    assert state.status is RunStatus.PENDING and state.steps == {}


# --------------------------------------------------------------------------- invalid transitions

INVALID = [
    pytest.param([], "step_succeeded", id="new-succeeded"),
    pytest.param([], "step_failed", id="new-failed"),
    pytest.param([], "attempt_failed", id="new-attempt-failed"),
    pytest.param([], "approval_decided", id="new-decided"),
    pytest.param([], "step_cancelled", id="new-cancelled"),
    pytest.param(["step_started", "step_succeeded"], "step_started", id="succeeded-started"),
    pytest.param(["step_started", "step_succeeded"], "step_failed", id="succeeded-failed"),
    pytest.param(["step_started", "step_succeeded"], "step_skipped", id="succeeded-skipped"),
    pytest.param(["step_started", "step_failed"], "step_succeeded", id="failed-succeeded"),
    pytest.param(["step_started", "step_failed"], "step_failed", id="failed-failed"),
    pytest.param(["step_skipped"], "step_started", id="skipped-started"),
    pytest.param(["step_skipped"], "step_succeeded", id="skipped-succeeded"),
    pytest.param(["step_started"], "approval_decided", id="running-decided"),
    pytest.param(["step_started", "approval_requested"], "step_failed", id="waiting-failed"),
]


@pytest.mark.parametrize(("history", "event_type"), INVALID)
def test_invalid_transition_raises(history: list[str], event_type: str) -> None:
    state = RunState.replay([ev(t, "a") for t in history])
    before = copy.deepcopy(state)
    with pytest.raises(InvalidStateError) as info:
        state.apply(ev(event_type, "a"))
    assert isinstance(info.value, UserError)
    message = str(info.value)
    assert "step 'a'" in message and event_type in message
    if history:
        assert state == before  # a refused event changes nothing


def test_refused_event_for_a_new_step_leaves_no_record() -> None:
    state = RunState.replay([ev("run_started")])
    with pytest.raises(InvalidStateError):
        state.apply(ev("step_succeeded", "ghost", output=1))
    assert "ghost" not in state.steps


def test_replay_skips_an_impossible_event_and_names_it() -> None:
    events = [
        ev("run_started"),
        Event("step_succeeded", "x", {"output": 1}, 1.0, seq=7),
        ev("step_started", "y"),
        ev("step_succeeded", "y", output=2),
    ]
    state = RunState.replay(events)
    [anomaly] = state.anomalies
    assert (anomaly.seq, anomaly.type, anomaly.step) == (7, "step_succeeded", "x")
    assert "cannot go from new by step_succeeded" in anomaly.reason
    assert "event 7" in anomaly.describe("r1") and "run r1" in anomaly.describe("r1")
    assert "x" not in state.steps  # skipped, and the rest of the run still reads
    assert state.steps["y"].status is S.SUCCEEDED and state.steps["y"].output == 2


def test_transition_table_is_exactly_what_apply_enforces() -> None:
    event_types = sorted({t for _, t in STEP_TRANSITIONS})
    paths: dict[StepStatus | None, list[str]] = {
        None: [],
        S.RUNNING: ["step_started"],
        S.WAITING: ["step_started", "approval_requested"],
        S.SUCCEEDED: ["step_started", "step_succeeded"],
        S.FAILED: ["step_started", "step_failed"],
        S.SKIPPED: ["step_skipped"],
        S.CANCELLED: ["step_started", "step_cancelled"],
    }
    for status, path in paths.items():
        for event_type in event_types:
            state = RunState.replay([ev(t, "a") for t in path])
            assert (state.step("a").status if path else None) is status  # type: ignore[union-attr]
            expected = STEP_TRANSITIONS.get((status, event_type))
            if expected is None:
                with pytest.raises(InvalidStateError):
                    state.apply(ev(event_type, "a"))
            else:
                state.apply(ev(event_type, "a"))
                assert state.step("a").status is expected  # type: ignore[union-attr]


# --------------------------------------------------------------------------- replay == apply


def _valid_events(draw: st.DrawFn) -> list[Event]:
    """A random valid history over a few step keys, built by walking the transition table."""
    keys = ["a", "b", "m[0]", "l#1/x"]
    status: dict[str, StepStatus | None] = dict.fromkeys(keys)
    events = [ev("run_started", ts=0.0, inputs={"n": draw(st.integers(0, 9))})]
    for i in range(draw(st.integers(0, 40))):
        key = draw(st.sampled_from(keys))
        options = sorted(t for (before, t) in STEP_TRANSITIONS if before is status[key])
        if not options:
            continue
        event_type = draw(st.sampled_from(options))
        data: dict[str, object] = {"attempt": draw(st.integers(1, 4))}
        if event_type == "step_succeeded":
            data |= {
                "output": {"v": i},
                "cost": draw(st.sampled_from([0.0, 0.5, 1.0])),
                "model": "m@1.0.0",
                "cached": draw(st.booleans()),
            }
        elif event_type in ("attempt_failed", "step_failed", "step_cancelled"):
            data["error"] = f"e{i}"
        elif event_type == "approval_decided":
            data |= {"approved": draw(st.booleans()), "by": "x"}
        events.append(Event(event_type, key, data, float(i + 1)))
        status[key] = STEP_TRANSITIONS[(status[key], event_type)]
    final = draw(st.sampled_from([None, "run_succeeded", "run_failed", "run_waiting"]))
    if final:
        events.append(ev(final, ts=99.0, outputs={"o": 1}, error="x"))
    return events


valid_histories = st.composite(_valid_events)


@settings(max_examples=150, deadline=None)
@given(valid_histories())
def test_replay_equals_incremental_apply(events: list[Event]) -> None:
    incremental = RunState()
    for event in events:
        incremental.apply(event)
    replayed = RunState.replay(events)
    assert replayed == incremental
    # and replaying a prefix then applying the rest gives the same state (resume)
    half = len(events) // 2
    resumed = RunState.replay(events[:half])
    for event in events[half:]:
        resumed.apply(event)
    assert resumed == incremental


def test_replay_is_deterministic_for_a_realistic_log() -> None:
    log = [
        ev("run_started", inputs={"msg": "hi"}),
        ev("step_started", "a", ts=1.0, attempt=1),
        ev("step_succeeded", "a", ts=2.0, output={"t": "HI"}, model="s@1.0.0", cost=0.1),
        ev("step_skipped", "b", ts=2.0, reason="'if' is false"),
        ev("step_started", "g", ts=3.0),
        ev("approval_requested", "g", ts=3.0, prompt="ok?"),
        ev("run_waiting", ts=3.0),
        ev("approval_decided", "g", ts=4.0, approved=False, by="bob", comment="no"),
        ev("run_resumed", ts=4.0),
        ev("step_succeeded", "g", ts=4.0, output={"approved": False}),
        ev("step_skipped", "after_g", ts=4.0, reason="approval 'g' was rejected"),
        ev("run_succeeded", ts=5.0, outputs={"t": "HI"}),
    ]
    first, second = RunState.replay(log), RunState.replay(log)
    assert first == second
    assert first.status is RunStatus.SUCCEEDED
    assert statuses(first) == {
        "a": S.SUCCEEDED,
        "b": S.SKIPPED,
        "g": S.SUCCEEDED,
        "after_g": S.SKIPPED,
    }
    assert first.cost == pytest.approx(0.1)
