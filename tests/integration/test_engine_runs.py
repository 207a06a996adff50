"""Real runs through ``podium.Orchestrator``: every step kind, failure handling, durability.

Models are plain functions registered with ``@orch.model``; state lives in a real SQLite
file under ``tmp_path``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podium import Orchestrator, RunStatus
from podium.errors import (
    InvalidStateError,
    ModelCallError,
    RunNotFoundError,
    SchemaError,
    WorkflowError,
)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def orch(home: Path) -> Iterator[Orchestrator]:
    with Orchestrator(home=home, discover=False) as o:
        yield o


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def step(result: Any, key: str) -> dict[str, Any]:
    return next(s for s in result.steps if s["step"] == key)


def status_of(result: Any) -> dict[str, str]:
    return {s["step"]: s["status"] for s in result.steps}


def event_types(orch: Orchestrator, run_id: str, key: str | None = None) -> list[str]:
    return [e.type for e in orch.store.events(run_id) if key is None or e.step == key]


# --------------------------------------------------------------------------- call steps


def test_call_steps_chain_and_outputs_are_evaluated(orch: Orchestrator, tmp_path: Path) -> None:
    @orch.model(capabilities=["text.shout"], cost=0.01)
    def shout(text: str) -> dict[str, Any]:
        return {"text": text.upper()}

    @orch.model(capabilities=["text.length"], cost=0.002)
    def length(text: str) -> dict[str, Any]:
        return {"n": len(text)}

    path = write(
        tmp_path,
        "chain.yaml",
        """
        name: chain
        inputs: {message: string}
        steps:
          loud:
            uses: model/shout
            with: {text: "${{ inputs.message }}"}
          size:
            uses: capability/text.length
            with: {text: "${{ steps.loud.output.text }}"}
        outputs:
          text: "${{ steps.loud.output.text }}"
          double: "${{ steps.size.output.n * 2 }}"
          sentence: "It said ${{ steps.loud.output.text }} in ${{ steps.size.output.n }} letters"
          both: ["${{ lower(steps.loud.output.text) }}", {n: "${{ steps.size.output.n }}"}]
          constant: 7
        """,
    )
    result = orch.run(path, {"message": "hello"})
    assert result.status is RunStatus.SUCCEEDED and result.ok
    assert result.outputs == {
        "text": "HELLO",
        "double": 10,
        "sentence": "It said HELLO in 5 letters",
        "both": ["hello", {"n": 5}],
        "constant": 7,
    }
    assert result.workflow == "chain"
    assert result.cost == pytest.approx(0.012)
    assert status_of(result) == {"loud": "succeeded", "size": "succeeded"}
    assert step(result, "loud")["model"] == "shout@0.1.0"
    lineage = {entry["step"]: entry for entry in result.lineage}
    assert lineage["size"]["model"] == "length@0.1.0"
    assert lineage["size"]["cached"] is False
    payload = result.to_json()
    assert payload["run_id"] == result.run_id and payload["status"] == "succeeded"
    record = orch.runs()[0]
    assert (record.run_id, record.status) == (result.run_id, "succeeded")


def test_lineage_explains_why_a_model_was_chosen(orch: Orchestrator) -> None:
    @orch.model(capabilities=["text.length"], quality={"text.length": 0.7})
    def length(text: str) -> dict[str, Any]:
        return {"n": len(text)}

    result = orch.run({"steps": {"s": {"uses": "capability/text.length", "with": {"text": "abc"}}}})
    assert result.ok
    [entry] = result.lineage
    assert "length@0.1.0" in entry["why"]


def test_arun_and_mapping_workflows(orch: Orchestrator) -> None:
    @orch.model(capabilities=["math.inc"])
    async def inc(x: int) -> dict[str, Any]:
        return {"x": x + 1}

    flow = {
        "inputs": {"x": {"type": "integer", "default": 40}},
        "steps": {
            "a": {"uses": "model/inc", "with": {"x": "${{ inputs.x }}"}},
            "b": {"uses": "model/inc", "with": {"x": "${{ steps.a.output.x }}"}},
        },
        "outputs": {"x": "${{ steps.b.output.x }}"},
    }
    result = asyncio.run(orch.arun(flow))
    assert result.ok and result.outputs == {"x": 42}
    assert orch.run(flow, {"x": 1}).outputs == {"x": 3}


def test_outputs_that_fail_to_evaluate_fail_the_run(orch: Orchestrator) -> None:
    @orch.model(capabilities=["math.zero"])
    def zero() -> dict[str, Any]:
        return {"n": 0}

    result = orch.run(
        {"steps": {"z": {"uses": "model/zero"}}, "outputs": {"bad": "${{ 1 / steps.z.output.n }}"}}
    )
    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error.startswith("outputs: ")
    assert orch.get_run(result.run_id).status is RunStatus.FAILED


# --------------------------------------------------------------------------- map


def test_map_keeps_input_order_and_respects_its_concurrency(orch: Orchestrator) -> None:
    gauge = {"now": 0, "max": 0, "calls": 0}

    @orch.model(capabilities=["math.slow"])
    async def slow(x: int) -> dict[str, Any]:
        gauge["now"] += 1
        gauge["calls"] += 1
        gauge["max"] = max(gauge["max"], gauge["now"])
        await asyncio.sleep(0.01 * (4 - x % 4))  # later items finish first
        gauge["now"] -= 1
        return {"y": x * 10}

    flow = {
        "inputs": {"xs": "array"},
        "steps": {
            "each": {
                "map": "${{ inputs.xs }}",
                "concurrency": 3,
                "step": {"uses": "model/slow", "with": {"x": "${{ item }}"}},
            }
        },
        "outputs": {"ys": "${{ steps.each.output }}", "n": "${{ len(steps.each.output) }}"},
    }
    result = orch.run(flow, {"xs": list(range(10))})
    assert result.ok
    assert result.outputs == {"ys": [{"y": x * 10} for x in range(10)], "n": 10}
    assert gauge == {"now": 0, "max": 3, "calls": 10}
    assert status_of(result)["each[9]"] == "succeeded"
    assert orch.run(flow, {"xs": []}).outputs == {"ys": [], "n": 0}


def test_map_of_sync_models_is_bounded_too(orch: Orchestrator) -> None:
    lock = threading.Lock()
    gauge = {"now": 0, "max": 0}

    @orch.model(capabilities=["math.block"])
    def block(x: int) -> dict[str, Any]:
        with lock:
            gauge["now"] += 1
            gauge["max"] = max(gauge["max"], gauge["now"])
        time.sleep(0.02)
        with lock:
            gauge["now"] -= 1
        return {"y": x}

    result = orch.run(
        {
            "steps": {
                "m": {
                    "map": "${{ [1, 2, 3, 4, 5, 6] }}",
                    "concurrency": 2,
                    "step": {"uses": "model/block", "with": {"x": "${{ item }}"}},
                }
            }
        }
    )
    assert result.ok and gauge["max"] == 2


def test_a_failing_map_item_fails_the_map(orch: Orchestrator) -> None:
    @orch.model(capabilities=["math.pick"])
    def picky(x: int) -> dict[str, Any]:
        if x == 3:
            raise ValueError("three is bad")
        return {"x": x}

    result = orch.run(
        {
            "steps": {
                "m": {
                    "map": "${{ [1, 2, 3] }}",
                    "step": {"uses": "model/picky", "with": {"x": "${{ item }}"}},
                }
            }
        }
    )
    assert result.status is RunStatus.FAILED
    assert result.error is not None and "m[2]" in result.error and "three is bad" in result.error


# --------------------------------------------------------------------------- ensemble


def _register_voters(orch: Orchestrator) -> None:
    @orch.model(capabilities=["text.intent"], quality={"text.intent": 0.9}, cost=0.01)
    def strong(text: str) -> dict[str, Any]:
        return {"label": "billing", "confidence": 0.9}

    @orch.model(capabilities=["text.intent"], quality={"text.intent": 0.3}, cost=0.001)
    def weak_one(text: str) -> dict[str, Any]:
        return {"label": "technical", "confidence": 0.8}

    @orch.model(capabilities=["text.intent"], quality={"text.intent": 0.2}, cost=0.001)
    def weak_two(text: str) -> dict[str, Any]:
        return {"label": "technical", "confidence": 0.7}


def test_ensemble_of_a_capability(orch: Orchestrator) -> None:
    _register_voters(orch)
    flow = {
        "steps": {
            "vote": {
                "ensemble": "capability/text.intent",
                "models": 3,
                "combine": "weighted",
                "with": {"text": "my invoice is wrong"},
            },
            "count": {
                "ensemble": "capability/text.intent",
                "models": 3,
                "combine": "majority",
                "with": {"text": "my invoice is wrong"},
            },
        },
        "outputs": {
            "weighted": "${{ steps.vote.output.label }}",
            "majority": "${{ steps.count.output.label }}",
            "members": "${{ steps.vote.output.members }}",
        },
    }
    result = orch.run(flow)
    assert result.ok
    # weighted: billing 0.9*0.9 = 0.81 against technical 0.3*0.8 + 0.2*0.7 = 0.38
    assert result.outputs["weighted"] == "billing"
    assert result.outputs["majority"] == "technical"
    members = result.outputs["members"]
    assert {m["model"] for m in members} == {"strong@0.1.0", "weak-one@0.1.0", "weak-two@0.1.0"}
    assert all({"model", "output", "weight", "contribution"} <= set(m) for m in members)
    assert result.cost == pytest.approx(2 * 0.012)
    vote = step(result, "vote")
    assert vote["model"] == "ensemble:weighted" and vote["status"] == "succeeded"


def test_ensemble_of_listed_models_survives_one_failing_member(orch: Orchestrator) -> None:
    _register_voters(orch)

    @orch.model(capabilities=["text.intent"])
    def broken(text: str) -> dict[str, Any]:
        raise RuntimeError("offline")

    result = orch.run(
        {
            "steps": {
                "v": {
                    "ensemble": "capability/text.intent",
                    "combine": "majority",
                    "models": ["model/strong", "model/weak-one", "model/broken"],
                    "with": {"text": "x"},
                }
            },
            "outputs": {"out": "${{ steps.v.output }}"},
        }
    )
    assert result.ok
    out = result.outputs["out"]
    assert out["label"] in ("billing", "technical") and out["confidence"] == 0.5
    assert [f["model"] for f in out["failed"]] == ["broken@0.1.0"]
    assert "offline" in out["failed"][0]["error"]


@pytest.mark.parametrize("combine", ["majority", "weighted", "mean", "median", "max_confidence"])
def test_every_combiner_runs_in_an_ensemble(orch: Orchestrator, combine: str) -> None:
    for i, (label, value) in enumerate([("a", 1.0), ("b", 2.0), ("a", 6.0)]):

        def member(text: str, _label: str = label, _value: float = value) -> dict[str, Any]:
            return {"label": _label, "confidence": 0.5 + _value / 100, "value": _value}

        orch.register_callable(
            member, name=f"member-{i}", capabilities=["t.vote"], input={"text": "string"}
        )
    result = orch.run(
        {
            "steps": {
                "v": {
                    "ensemble": "capability/t.vote",
                    "models": 3,
                    "combine": combine,
                    "with": {"text": "x"},
                }
            },
            "outputs": {"out": "${{ steps.v.output }}"},
        }
    )
    assert result.ok, result.error
    out = result.outputs["out"]
    assert len(out["members"]) == 3
    expected = {
        "majority": ("label", "a"),
        "weighted": ("label", "a"),
        "mean": ("label", "a"),
        "median": ("value", 2.0),
        "max_confidence": ("label", "a"),
    }[combine]
    assert out[expected[0]] == expected[1]


def test_an_unknown_combiner_is_refused_before_the_run(orch: Orchestrator) -> None:
    _register_voters(orch)
    with pytest.raises(WorkflowError, match="unknown combiner 'plurality'"):
        orch.run(
            {
                "steps": {
                    "v": {
                        "ensemble": "capability/text.intent",
                        "combine": "plurality",
                        "with": {"text": "x"},
                    }
                }
            }
        )
    assert orch.runs() == []


def test_stacking_needs_a_stacker_and_listed_members(orch: Orchestrator) -> None:
    _register_voters(orch)
    step = {"ensemble": "capability/text.intent", "combine": "stacking", "with": {"text": "x"}}
    with pytest.raises(WorkflowError, match="needs 'stacker"):
        orch.run({"steps": {"v": step}})
    with pytest.raises(WorkflowError, match="members listed in order"):
        orch.run({"steps": {"v": {**step, "stacker": "model/a"}}})
    with pytest.raises(WorkflowError, match="only goes with combine: stacking"):
        orch.run({"steps": {"v": {**step, "combine": "mean", "stacker": "model/a"}}})
    assert orch.runs() == []


# --------------------------------------------------------------------------- loop


def test_loop_until_with_last_iteration_output(orch: Orchestrator) -> None:
    seen: list[Any] = []

    @orch.model(capabilities=["text.grow"])
    def grow(text: str, previous: Any = None, iteration: int = 0) -> dict[str, Any]:
        seen.append((previous, iteration))
        longer = text + "!"
        return {"text": longer, "ok": len(longer) >= 4}

    flow = {
        "inputs": {"seed": "string"},
        "steps": {
            "improve": {
                "loop": {
                    "max_iterations": 10,
                    "until": "${{ steps.improve.output.draft.ok }}",
                    "steps": {
                        "draft": {
                            "uses": "model/grow",
                            "with": {
                                "text": "${{ coalesce(loop.last.draft.text, inputs.seed) }}",
                                "previous": "${{ loop.last.draft.text }}",
                                "iteration": "${{ loop.iteration }}",
                            },
                        }
                    },
                }
            }
        },
        "outputs": {
            "text": "${{ steps.improve.output.draft.text }}",
            "iterations": "${{ steps.improve.iterations }}",
        },
    }
    result = orch.run(flow, {"seed": "a"})
    assert result.ok
    assert result.outputs == {"text": "a!!!", "iterations": 3}
    assert seen == [(None, 1), ("a!", 2), ("a!!", 3)]  # loop.last is null in the first pass
    assert status_of(result)["improve#3/draft"] == "succeeded"


def test_loop_stops_at_max_iterations(orch: Orchestrator) -> None:
    calls: list[int] = []

    @orch.model(capabilities=["math.never"])
    def never(i: int) -> dict[str, Any]:
        calls.append(i)
        return {"done": False}

    result = orch.run(
        {
            "steps": {
                "l": {
                    "loop": {
                        "max_iterations": 4,
                        "until": "${{ steps.l.output.n.done }}",
                        "steps": {
                            "n": {"uses": "model/never", "with": {"i": "${{ loop.iteration }}"}}
                        },
                    }
                }
            },
            "outputs": {"k": "${{ steps.l.iterations }}"},
        }
    )
    assert result.ok and result.outputs == {"k": 4} and calls == [1, 2, 3, 4]


# --------------------------------------------------------------------------- sub-workflow


def test_sub_workflow_from_a_second_file(orch: Orchestrator, tmp_path: Path) -> None:
    @orch.model(capabilities=["text.shout"])
    def shout(text: str) -> dict[str, Any]:
        return {"text": text.upper()}

    write(
        tmp_path,
        "child.yaml",
        """
        name: child
        inputs: {text: string, suffix: {type: string, default: "?"}}
        steps:
          up: {uses: model/shout, with: {text: "${{ inputs.text }}${{ inputs.suffix }}"}}
        outputs: {loud: "${{ steps.up.output.text }}"}
        """,
    )
    parent = write(
        tmp_path,
        "parent.yaml",
        """
        name: parent
        inputs: {msg: string}
        steps:
          sub:
            workflow: child.yaml
            with: {text: "${{ inputs.msg }}"}
          again:
            uses: model/shout
            with: {text: "${{ steps.sub.output.loud }} ok"}
        outputs:
          sub: "${{ steps.sub.output }}"
          final: "${{ steps.again.output.text }}"
        """,
    )
    result = orch.run(parent, {"msg": "hi"})
    assert result.ok
    assert result.outputs == {"sub": {"loud": "HI?"}, "final": "HI? OK"}
    assert status_of(result)["sub/up"] == "succeeded"
    assert status_of(result)["sub"] == "succeeded"


def test_sub_workflow_inputs_are_checked(orch: Orchestrator, tmp_path: Path) -> None:
    @orch.model(capabilities=["text.shout"])
    def shout(text: str) -> dict[str, Any]:
        return {"text": text.upper()}

    write(
        tmp_path,
        "child.yaml",
        "inputs: {n: integer}\nsteps:\n  a: {uses: model/shout, with: {text: x}}\n",
    )
    parent = write(
        tmp_path,
        "parent.yaml",
        "steps:\n  s:\n    workflow: child.yaml\n    with: {n: not-a-number}\n",
    )
    result = orch.run(parent)
    assert result.status is RunStatus.FAILED
    assert result.error is not None and "'s'" in result.error and "n" in result.error


# --------------------------------------------------------------------------- approval


def _approval_flow(orch: Orchestrator, calls: list[str]) -> dict[str, Any]:
    @orch.model(capabilities=["text.note"])
    def note(text: str) -> dict[str, Any]:
        calls.append(text)
        return {"text": text}

    return {
        "steps": {
            "draft": {"uses": "model/note", "with": {"text": "draft"}},
            "gate": {"approval": {"prompt": "Send it?", "approvers": ["ops"]}, "after": ["draft"]},
            "send": {"uses": "model/note", "with": {"text": "sent"}, "after": ["gate"]},
            "side": {"uses": "model/note", "with": {"text": "side"}},
        },
        "outputs": {
            "approved": "${{ steps.gate.output.approved }}",
            "by": "${{ steps.gate.output.by }}",
            "sent": "${{ steps.send.output.text }}",
        },
    }


def test_approval_pauses_then_approve_finishes_the_run(orch: Orchestrator) -> None:
    calls: list[str] = []
    first = orch.run(_approval_flow(orch, calls))
    assert first.status is RunStatus.WAITING
    assert first.outputs is None
    assert status_of(first)["gate"] == "waiting"
    assert "send" not in status_of(first)
    assert sorted(calls) == ["draft", "side"]
    assert orch.get_run(first.run_id).status is RunStatus.WAITING
    assert orch.runs()[0].status == "waiting"

    with pytest.raises(InvalidStateError, match="waiting: gate"):
        orch.approve(first.run_id, "draft")

    done = orch.approve(first.run_id, "gate", by="ann", comment="fine")
    assert done.run_id == first.run_id
    assert done.status is RunStatus.SUCCEEDED
    assert done.outputs == {"approved": True, "by": "ann", "sent": "sent"}
    assert sorted(calls) == ["draft", "sent", "side"]  # nothing finished ran twice
    with pytest.raises(InvalidStateError):
        orch.resume(first.run_id)  # a succeeded run cannot be resumed


def test_rejected_approval_skips_its_dependents(orch: Orchestrator) -> None:
    calls: list[str] = []
    first = orch.run(_approval_flow(orch, calls))
    done = orch.approve(first.run_id, "gate", approved=False, by="bob", comment="no")
    assert done.status is RunStatus.SUCCEEDED
    assert done.outputs == {"approved": False, "by": "bob", "sent": None}
    assert status_of(done)["send"] == "skipped"
    assert "sent" not in calls
    skipped = [e for e in orch.store.events(first.run_id) if e.type == "step_skipped"]
    assert [(e.step, e.data.get("reason")) for e in skipped] == [
        ("send", "approval 'gate' was rejected")
    ]


# --------------------------------------------------------------------------- if / coalesce


def test_if_skips_a_step_and_its_dependents_unless_they_coalesce(orch: Orchestrator) -> None:
    calls: list[str] = []

    @orch.model(capabilities=["text.echo"])
    def echo(text: str, other: Any = None) -> dict[str, Any]:
        calls.append(text)
        return {"text": text}

    flow = {
        "inputs": {"go": "boolean"},
        "steps": {
            "maybe": {"if": "${{ inputs.go }}", "uses": "model/echo", "with": {"text": "maybe"}},
            "needs": {"uses": "model/echo", "with": {"text": "${{ steps.maybe.output.text }}"}},
            "chain": {"uses": "model/echo", "with": {"text": "${{ steps.needs.output.text }}"}},
            "guarded": {
                "uses": "model/echo",
                "with": {"text": "${{ coalesce(steps.maybe.output.text, 'fallback') }}"},
            },
            "mixed": {
                "uses": "model/echo",
                "with": {
                    "text": "${{ coalesce(steps.maybe.output.text, 'x') }}",
                    "other": "${{ steps.maybe.output }}",
                },
            },
            "free": {"uses": "model/echo", "with": {"text": "free"}},
        },
        "outputs": {
            "maybe": "${{ steps.maybe.output.text }}",
            "guarded": "${{ steps.guarded.output.text }}",
        },
    }
    result = orch.run(flow, {"go": False})
    assert result.ok
    assert status_of(result) == {
        "maybe": "skipped",
        "needs": "skipped",
        "chain": "skipped",
        "guarded": "succeeded",
        "mixed": "skipped",
        "free": "succeeded",
    }
    assert sorted(calls) == ["fallback", "free"]
    assert result.outputs == {"maybe": None, "guarded": "fallback"}
    reasons = {
        e.step: e.data["reason"]
        for e in orch.store.events(result.run_id)
        if e.type == "step_skipped"
    }
    assert reasons["maybe"] == "'if' is false"
    assert reasons["needs"] == "needs 'maybe', which was skipped"

    calls.clear()
    result = orch.run(flow, {"go": True})
    assert result.ok and result.outputs == {"maybe": "maybe", "guarded": "maybe"}
    assert set(status_of(result).values()) == {"succeeded"}


# --------------------------------------------------------------------------- retries


def test_flaky_model_is_retried_with_backoff(orch: Orchestrator) -> None:
    times: list[float] = []

    @orch.model(capabilities=["net.flaky"])
    def flaky(x: int) -> dict[str, Any]:
        times.append(time.perf_counter())
        if len(times) < 3:
            raise ConnectionError(f"try {len(times)} failed")
        return {"x": x}

    result = orch.run(
        {
            "steps": {
                "f": {
                    "uses": "model/flaky",
                    "with": {"x": 1},
                    "retry": {"attempts": 3, "backoff_s": 0.05, "jitter": 0},
                }
            },
            "outputs": {"x": "${{ steps.f.output.x }}"},
        }
    )
    assert result.ok and result.outputs == {"x": 1}
    assert len(times) == 3
    assert times[1] - times[0] >= 0.045  # backoff_s
    assert times[2] - times[1] >= 0.095  # doubled
    failures = [e for e in orch.store.events(result.run_id) if e.type == "attempt_failed"]
    assert [e.data["attempt"] for e in failures] == [1, 2]
    assert "ConnectionError: try 1 failed" in failures[0].data["error"]


def test_attempts_count_the_successful_try(orch: Orchestrator) -> None:
    tries: list[int] = []

    @orch.model(capabilities=["net.flaky"])
    def flaky() -> dict[str, Any]:
        tries.append(1)
        if len(tries) < 3:
            raise ConnectionError("not yet")
        return {}

    result = orch.run({"steps": {"f": {"uses": "model/flaky", "retry": 3}}})
    assert result.ok and len(tries) == 3
    assert step(result, "f")["attempts"] == 3


def test_retries_run_out(orch: Orchestrator) -> None:
    calls: list[int] = []

    @orch.model(capabilities=["net.down"])
    def down() -> dict[str, Any]:
        calls.append(1)
        raise TimeoutError("host unreachable")

    result = orch.run({"steps": {"d": {"uses": "model/down", "retry": 2}}})
    assert result.status is RunStatus.FAILED and len(calls) == 2
    assert result.error is not None and "step 'd'" in result.error
    assert "host unreachable" in result.error


def test_non_retryable_errors_are_not_retried(orch: Orchestrator) -> None:
    calls: list[str] = []

    @orch.model(capabilities=["x.refuse"])
    def refuse(text: str) -> dict[str, Any]:
        calls.append("refuse")
        raise ModelCallError("content policy says no", retryable=False)

    @orch.model(capabilities=["x.shape"], output={"label": "string"})
    def wrong_shape(text: str) -> dict[str, Any]:
        calls.append("shape")
        return {"label": 3}

    for name in ("refuse", "wrong-shape"):
        result = orch.run(
            {
                "steps": {
                    "s": {"uses": f"model/{name}", "with": {"text": "x"}, "retry": {"attempts": 4}}
                }
            }
        )
        assert result.status is RunStatus.FAILED
        assert step(result, "s")["status"] == "failed"
    assert calls == ["refuse", "shape"]


def test_bad_input_to_a_model_is_a_failed_step_not_a_crash(orch: Orchestrator) -> None:
    @orch.model(capabilities=["math.sq"])
    def square(x: int) -> dict[str, Any]:
        return {"y": x * x}

    result = orch.run(
        {
            "inputs": {"v": "any"},
            "steps": {"s": {"uses": "model/square", "with": {"x": "${{ inputs.v }}"}}},
        },
        {"v": "seven"},
    )
    assert result.status is RunStatus.FAILED
    assert result.error is not None and "'x' must be integer" in result.error


# --------------------------------------------------------------------------- timeout / fallback


def test_timeout_then_fallback_succeeds(orch: Orchestrator) -> None:
    @orch.model(capabilities=["text.answer"], quality={"text.answer": 0.9})
    async def slow_answer(q: str) -> dict[str, Any]:
        await asyncio.sleep(2)
        return {"a": "slow"}

    @orch.model(capabilities=["text.answer"], quality={"text.answer": 0.5})
    async def quick_answer(q: str) -> dict[str, Any]:
        return {"a": "quick"}

    started = time.perf_counter()
    result = orch.run(
        {
            "steps": {
                "ask": {
                    "uses": "model/slow-answer",
                    "with": {"q": "?"},
                    "timeout_s": 0.1,
                    "fallback": ["model/quick-answer"],
                }
            },
            "outputs": {"a": "${{ steps.ask.output.a }}"},
        }
    )
    assert time.perf_counter() - started < 1.0
    assert result.ok and result.outputs == {"a": "quick"}
    [failure] = [e for e in orch.store.events(result.run_id) if e.type == "attempt_failed"]
    assert failure.data["model"] == "slow-answer@0.1.0"
    assert "did not answer within 0.1 s" in failure.data["error"]
    [entry] = result.lineage
    assert entry["model"] == "quick-answer@0.1.0"
    assert entry["fallback_from"] == "slow-answer@0.1.0"


@pytest.mark.parametrize("kind", ["map", "loop"])
def test_timeout_on_a_map_or_loop_step_is_enforced(orch: Orchestrator, kind: str) -> None:
    @orch.model(capabilities=["t.nap"])
    async def nap(x: int) -> dict[str, Any]:
        await asyncio.sleep(0.4)
        return {"x": x}

    body = {"uses": "model/nap", "with": {"x": 1}}
    flow = {
        "steps": {
            "s": {"map": "${{ [1] }}", "step": body, "timeout_s": 0.05}
            if kind == "map"
            else {"loop": {"max_iterations": 1, "steps": {"b": body}}, "timeout_s": 0.05}
        }
    }
    started = time.perf_counter()
    try:
        result = orch.run(flow)
    except WorkflowError:
        return  # refusing the field at load time would be fine too
    assert result.status is RunStatus.FAILED
    assert time.perf_counter() - started < 0.3


def test_timeout_without_fallback_fails_the_step(orch: Orchestrator) -> None:
    @orch.model(capabilities=["text.wait"])
    async def waits() -> dict[str, Any]:
        await asyncio.sleep(2)
        return {}

    started = time.perf_counter()
    result = orch.run({"steps": {"w": {"uses": "model/waits", "timeout_s": 0.05}}})
    assert time.perf_counter() - started < 1.0
    assert result.status is RunStatus.FAILED
    assert result.error is not None and "did not answer within 0.05 s" in result.error


def test_fallbacks_are_tried_in_order(orch: Orchestrator) -> None:
    order: list[str] = []

    def failing(name: str) -> Any:
        def model(text: str) -> dict[str, Any]:
            order.append(name)
            raise RuntimeError(f"{name} is down")

        return model

    orch.register_callable(failing("first"), name="first", capabilities=["t.x"])
    orch.register_callable(failing("second"), name="second", capabilities=["t.x"])

    @orch.model(capabilities=["t.x"])
    def third(text: str) -> dict[str, Any]:
        order.append("third")
        return {"by": "third"}

    @orch.model(capabilities=["t.x"])
    def fourth(text: str) -> dict[str, Any]:
        order.append("fourth")
        return {"by": "fourth"}

    result = orch.run(
        {
            "steps": {
                "s": {
                    "uses": "model/first",
                    "with": {"text": "x"},
                    "fallback": ["model/second", "model/third", "model/fourth"],
                }
            },
            "outputs": {"by": "${{ steps.s.output.by }}"},
        }
    )
    assert result.ok and result.outputs == {"by": "third"}
    assert order == ["first", "second", "third"]
    assert result.lineage[0]["fallback_from"] == "first@0.1.0"
    failed_models = [
        e.data["model"] for e in orch.store.events(result.run_id) if e.type == "attempt_failed"
    ]
    assert failed_models == ["first@0.1.0", "second@0.1.0"]


# --------------------------------------------------------------------------- cache


def test_cache_true_reuses_a_previous_answer(orch: Orchestrator) -> None:
    calls: list[str] = []

    @orch.model(capabilities=["text.costly"], cost=0.5)
    def costly(text: str) -> dict[str, Any]:
        calls.append(text)
        return {"text": text[::-1]}

    flow = {
        "inputs": {"t": "string"},
        "steps": {
            "c": {"uses": "model/costly", "with": {"text": "${{ inputs.t }}"}, "cache": True}
        },
        "outputs": {"r": "${{ steps.c.output.text }}"},
    }
    first = orch.run(flow, {"t": "abc"})
    second = orch.run(flow, {"t": "abc"})
    assert first.outputs == second.outputs == {"r": "cba"}
    assert calls == ["abc"]
    assert step(first, "c")["cached"] is False and first.cost == 0.5
    assert step(second, "c")["cached"] is True and second.cost == 0.0
    assert second.lineage[0]["cached"] is True
    orch.run(flow, {"t": "xyz"})  # other inputs miss the cache
    assert calls == ["abc", "xyz"]
    uncached = dict(flow, steps={"c": {**flow["steps"]["c"], "cache": False}})
    orch.run(uncached, {"t": "abc"})
    assert calls == ["abc", "xyz", "abc"]


# --------------------------------------------------------------------------- parallelism


def test_independent_steps_run_in_parallel(orch: Orchestrator) -> None:
    @orch.model(capabilities=["t.nap"])
    async def nap(n: int) -> dict[str, Any]:
        await asyncio.sleep(0.2)
        return {"n": n}

    @orch.model(capabilities=["t.doze"])
    def doze(n: int) -> dict[str, Any]:
        time.sleep(0.2)
        return {"n": n}

    flow = {
        "steps": {
            "a": {"uses": "model/nap", "with": {"n": 1}},
            "b": {"uses": "model/nap", "with": {"n": 2}},
        }
    }
    orch.run(flow)  # warm up adapters and the database
    started = time.perf_counter()
    assert orch.run(flow).ok
    assert time.perf_counter() - started < 0.35
    started = time.perf_counter()
    assert orch.run(
        {
            "steps": {
                "a": {"uses": "model/doze", "with": {"n": 1}},
                "b": {"uses": "model/doze", "with": {"n": 2}},
            }
        }
    ).ok
    assert time.perf_counter() - started < 0.35  # sync models run in worker threads


# --------------------------------------------------------------------------- failure & cancel


def _failing_with_a_slow_sibling(orch: Orchestrator, flags: dict[str, Any]) -> dict[str, Any]:
    @orch.model(capabilities=["t.fail"])
    async def fail_soon() -> dict[str, Any]:
        await asyncio.sleep(0.05)
        raise ModelCallError("broken on purpose", retryable=False)

    @orch.model(capabilities=["t.slow"])
    async def slow_sibling() -> dict[str, Any]:
        try:
            await asyncio.sleep(3)
        except asyncio.CancelledError:
            flags["cancelled"] = True
            raise
        return {}

    @orch.model(capabilities=["t.after"])
    def after_it() -> dict[str, Any]:
        flags["after"] = True
        return {}

    return {
        "steps": {
            "bad": {"uses": "model/fail-soon"},
            "slow": {"uses": "model/slow-sibling"},
            "next": {"uses": "model/after-it", "after": ["bad"]},
        }
    }


def test_a_failing_step_fails_the_run_and_cancels_its_siblings(orch: Orchestrator) -> None:
    flags: dict[str, Any] = {}
    flow = _failing_with_a_slow_sibling(orch, flags)
    started = time.perf_counter()
    result = orch.run(flow)
    assert time.perf_counter() - started < 1.5
    assert result.status is RunStatus.FAILED
    assert result.error is not None and "step 'bad'" in result.error
    assert "broken on purpose" in result.error
    assert flags == {"cancelled": True}
    assert status_of(result)["bad"] == "failed"
    assert "next" not in status_of(result)
    stored = orch.get_run(result.run_id)
    assert stored.status is RunStatus.FAILED and stored.error == result.error


def test_siblings_cancelled_by_a_failure_are_not_left_running(orch: Orchestrator) -> None:
    flags: dict[str, Any] = {}
    result = orch.run(_failing_with_a_slow_sibling(orch, flags))
    assert result.status is RunStatus.FAILED
    assert status_of(result)["slow"] == "cancelled"
    assert status_of(orch.get_run(result.run_id))["slow"] == "cancelled"


def test_cancel_from_another_thread(orch: Orchestrator) -> None:
    flags: dict[str, bool] = {}

    @orch.model(capabilities=["t.long"])
    async def long_job() -> dict[str, Any]:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            flags["cancelled"] = True
            raise
        return {}

    run_id = "cancel-me"
    errors: list[BaseException] = []

    def canceller() -> None:
        try:
            deadline = time.monotonic() + 3
            while orch.store.run(run_id) is None and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.05)
            record = orch.cancel(run_id)
            assert record.status == "cancelled"
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    thread = threading.Thread(target=canceller)
    started = time.perf_counter()
    thread.start()
    result = orch.run({"steps": {"j": {"uses": "model/long-job"}}}, run_id=run_id)
    thread.join(5)
    assert not errors
    assert time.perf_counter() - started < 2.0
    assert result.run_id == run_id
    assert result.status is RunStatus.CANCELLED
    assert flags == {"cancelled": True}
    assert status_of(result)["j"] == "cancelled"
    assert orch.get_run(run_id).status is RunStatus.CANCELLED
    with pytest.raises(InvalidStateError):
        orch.cancel(run_id)
    with pytest.raises(InvalidStateError):
        orch.resume(run_id)


def _cancelled_while_waiting(orch: Orchestrator) -> str:
    @orch.model(capabilities=["t.x"])
    def one() -> dict[str, Any]:
        return {}

    waiting = orch.run(
        {"steps": {"a": {"uses": "model/one"}, "g": {"approval": True, "after": ["a"]}}}
    )
    assert waiting.status is RunStatus.WAITING
    assert orch.cancel(waiting.run_id).status == "cancelled"
    assert orch.get_run(waiting.run_id).status is RunStatus.CANCELLED
    return waiting.run_id


def test_approving_a_cancelled_run_is_refused_and_changes_nothing(orch: Orchestrator) -> None:
    run_id = _cancelled_while_waiting(orch)
    events_before = len(orch.store.events(run_id))
    with pytest.raises(InvalidStateError):
        orch.approve(run_id, "g")
    assert len(orch.store.events(run_id)) == events_before


def test_cancelling_a_waiting_run_leaves_no_waiting_step(orch: Orchestrator) -> None:
    run_id = _cancelled_while_waiting(orch)
    assert status_of(orch.get_run(run_id))["g"] == "cancelled"


def test_unknown_run_ids(orch: Orchestrator) -> None:
    for action in (orch.get_run, orch.cancel, orch.resume):
        with pytest.raises(RunNotFoundError, match="no run with id 'nope'"):
            action("nope")


# --------------------------------------------------------------------------- resume


def test_resume_reruns_only_the_failed_step(orch: Orchestrator, tmp_path: Path) -> None:
    counts = {"prep": 0, "fragile": 0, "last": 0}
    broken = {"now": True}

    @orch.model(capabilities=["t.prep"])
    def prep(x: int) -> dict[str, Any]:
        counts["prep"] += 1
        return {"x": x + 1}

    @orch.model(capabilities=["t.fragile"])
    def fragile(x: int) -> dict[str, Any]:
        counts["fragile"] += 1
        if broken["now"]:
            raise RuntimeError("disk full")
        return {"x": x * 10}

    @orch.model(capabilities=["t.last"])
    def last(x: int) -> dict[str, Any]:
        counts["last"] += 1
        return {"x": x - 1}

    path = write(
        tmp_path,
        "resume.yaml",
        """
        inputs: {x: integer}
        steps:
          a: {uses: model/prep, with: {x: "${{ inputs.x }}"}}
          b: {uses: model/fragile, with: {x: "${{ steps.a.output.x }}"}}
          c: {uses: model/last, with: {x: "${{ steps.b.output.x }}"}}
        outputs: {x: "${{ steps.c.output.x }}"}
        """,
    )
    failed = orch.run(path, {"x": 1})
    assert failed.status is RunStatus.FAILED and "disk full" in (failed.error or "")
    assert counts == {"prep": 1, "fragile": 1, "last": 0}

    broken["now"] = False
    path.unlink()  # a resume runs the definition the run started with
    resumed = orch.resume(failed.run_id)
    assert resumed.status is RunStatus.SUCCEEDED
    assert resumed.outputs == {"x": 19}
    assert counts == {"prep": 1, "fragile": 2, "last": 1}
    assert step(resumed, "b")["attempts"] == 2
    assert event_types(orch, failed.run_id, "a").count("step_started") == 1
    assert orch.runs()[0].status == "succeeded"


_CONTAINERS = {
    "map": {
        "steps": {
            "c": {
                "map": "${{ [1, 2, 3] }}",
                "concurrency": 1,
                "step": {"uses": "model/item", "with": {"x": "${{ item }}"}},
            }
        },
        "outputs": {"out": "${{ steps.c.output }}"},
    },
    "loop": {
        "steps": {
            "c": {
                "loop": {
                    "max_iterations": 3,
                    "steps": {"s": {"uses": "model/item", "with": {"x": "${{ loop.iteration }}"}}},
                }
            }
        },
        "outputs": {"out": "${{ steps.c.iterations }}"},
    },
}


@pytest.mark.parametrize("kind", sorted(_CONTAINERS))
def test_resume_after_a_failure_inside_a_map_or_loop(orch: Orchestrator, kind: str) -> None:
    calls: list[int] = []
    broken = {"now": True}

    @orch.model(capabilities=["t.item"])
    def item(x: int) -> dict[str, Any]:
        calls.append(x)
        if x == 2 and broken["now"]:
            raise RuntimeError("two is broken")
        return {"y": x}

    failed = orch.run(_CONTAINERS[kind])
    assert failed.status is RunStatus.FAILED and "two is broken" in (failed.error or "")
    broken["now"] = False
    calls.clear()
    resumed = orch.resume(failed.run_id)
    assert resumed.status is RunStatus.SUCCEEDED
    assert 1 not in calls  # the finished item/iteration is not redone
    assert resumed.outputs == {"out": [{"y": 1}, {"y": 2}, {"y": 3}] if kind == "map" else 3}


def test_resume_after_a_failure_inside_a_sub_workflow(orch: Orchestrator, tmp_path: Path) -> None:
    calls: list[int] = []
    broken = {"now": True}

    @orch.model(capabilities=["t.item"])
    def item(x: int) -> dict[str, Any]:
        calls.append(x)
        if x == 2 and broken["now"]:
            raise RuntimeError("two is broken")
        return {"y": x}

    write(
        tmp_path,
        "child.yaml",
        """
        steps:
          one: {uses: model/item, with: {x: 1}}
          two: {uses: model/item, with: {x: 2}, after: [one]}
        outputs: {y: "${{ steps.two.output.y }}"}
        """,
    )
    parent = write(
        tmp_path,
        "parent.yaml",
        """
        steps:
          sub: {workflow: child.yaml}
        outputs: {y: "${{ steps.sub.output.y }}"}
        """,
    )
    failed = orch.run(parent)
    assert failed.status is RunStatus.FAILED
    broken["now"] = False
    calls.clear()
    resumed = orch.resume(failed.run_id)
    assert resumed.status is RunStatus.SUCCEEDED and resumed.outputs == {"y": 2}
    assert calls == [2]


# --------------------------------------------------------------------------- durability


def test_run_events_are_in_the_sqlite_file(home: Path, tmp_path: Path) -> None:
    with Orchestrator(home=home, discover=False) as first:

        @first.model(capabilities=["text.shout"])
        def shout(text: str) -> dict[str, Any]:
            return {"text": text.upper()}

        result = first.run(
            {
                "name": "durable",
                "steps": {"s": {"uses": "model/shout", "with": {"text": "hi"}}},
                "outputs": {"t": "${{ steps.s.output.text }}"},
            }
        )
        assert result.ok

    db = home / "podium.db"
    assert db.is_file()
    with contextlib.closing(sqlite3.connect(db)) as conn:
        types = [
            row[0]
            for row in conn.execute(
                "select type from podium_events where run_id = ? order by seq", (result.run_id,)
            )
        ]
    assert types[0] == "run_started" and types[-1] == "run_succeeded"
    assert {"step_started", "step_succeeded"} <= set(types)

    with Orchestrator(home=home, discover=False) as second:
        again = second.get_run(result.run_id)
        assert again.status is RunStatus.SUCCEEDED
        assert again.outputs == {"t": "HI"}
        assert again.workflow == "durable"
        assert [(s["step"], s["status"], s["model"]) for s in again.steps] == [
            ("s", "succeeded", "shout@0.1.0")
        ]
        assert [r.run_id for r in second.runs()] == [result.run_id]
        assert second.registry.get("shout").key == "shout@0.1.0"  # the registry persists too


def test_memory_orchestrator_writes_nothing(tmp_path: Path) -> None:
    with Orchestrator(home=tmp_path / "mem", durable=False, discover=False) as o:

        @o.model(capabilities=["t.x"])
        def one() -> dict[str, Any]:
            return {"v": 1}

        assert o.run({"steps": {"a": {"uses": "model/one"}}}).ok
        assert len(o.runs()) == 1
    assert not (tmp_path / "mem" / "podium.db").exists()


# --------------------------------------------------------------------------- threads


def test_sync_models_run_in_threads_and_inline_ones_on_the_loop(orch: Orchestrator) -> None:
    seen: dict[str, threading.Thread] = {}

    @orch.model(capabilities=["t.sync"])
    def in_thread() -> dict[str, Any]:
        seen["sync"] = threading.current_thread()
        return {}

    @orch.model(capabilities=["t.inline"], inline=True)
    def on_loop() -> dict[str, Any]:
        seen["inline"] = threading.current_thread()
        seen["inline_loop"] = asyncio.get_running_loop()  # type: ignore[assignment]
        return {}

    @orch.model(capabilities=["t.async"])
    async def coroutine() -> dict[str, Any]:
        seen["async"] = threading.current_thread()
        return {}

    result = orch.run(
        {
            "steps": {
                "a": {"uses": "model/in-thread"},
                "b": {"uses": "model/on-loop"},
                "c": {"uses": "model/coroutine"},
            }
        }
    )
    assert result.ok
    assert seen["sync"] is not threading.main_thread()
    assert seen["inline"] is threading.main_thread()  # orch.run drives the loop here
    assert seen["async"] is threading.main_thread()
    assert orch.registry.get("on-loop").runtime.inline is True  # type: ignore[union-attr]


# --------------------------------------------------------------------------- inputs


@pytest.mark.parametrize(
    ("inputs", "words"),
    [
        ({"n": "three"}, "'n' must be integer, got string"),
        ({}, "'n' is required"),
        ({"n": 1, "extra": True}, "has no input 'extra'"),
        ({"n": True}, "'n' must be integer, got boolean"),
    ],
)
def test_bad_inputs_are_refused_before_any_run_exists(
    orch: Orchestrator, tmp_path: Path, inputs: dict[str, Any], words: str
) -> None:
    calls: list[int] = []

    @orch.model(capabilities=["t.count"])
    def count(n: int) -> dict[str, Any]:
        calls.append(n)
        return {"n": n}

    path = write(
        tmp_path,
        "typed.yaml",
        """
        name: typed
        inputs: {n: integer, label: {type: string, default: none}}
        steps:
          c: {uses: model/count, with: {n: "${{ inputs.n }}"}}
        """,
    )
    with pytest.raises(SchemaError) as info:
        orch.run(path, inputs)
    assert words in str(info.value)
    assert "\n" not in str(info.value)
    assert orch.runs() == []
    assert calls == []


def test_input_defaults_are_filled_in(orch: Orchestrator) -> None:
    @orch.model(capabilities=["t.greet"])
    def greet(name: str, greeting: str) -> dict[str, Any]:
        return {"text": f"{greeting}, {name}"}

    flow = {
        "inputs": {"name": "string", "greeting": {"type": "string", "default": "Hello"}},
        "steps": {
            "g": {
                "uses": "model/greet",
                "with": {"name": "${{ inputs.name }}", "greeting": "${{ inputs.greeting }}"},
            }
        },
        "outputs": {"text": "${{ steps.g.output.text }}"},
    }
    assert orch.run(flow, {"name": "Ada"}).outputs == {"text": "Hello, Ada"}
    assert orch.run(flow, {"name": "Ada", "greeting": "Hi"}).outputs == {"text": "Hi, Ada"}


def test_invalid_workflows_are_refused_before_any_run_exists(orch: Orchestrator) -> None:
    with pytest.raises(WorkflowError, match="no model named 'ghost'"):
        orch.run({"steps": {"a": {"uses": "model/ghost"}}})
    assert orch.runs() == []


# --------------------------------------------------------------------------- more lifecycle


def test_approval_timeout_rejects_on_resume(orch: Orchestrator) -> None:
    calls: list[str] = []

    @orch.model(capabilities=["text.note"])
    def note(text: str) -> dict[str, Any]:
        calls.append(text)
        return {"text": text}

    flow = {
        "steps": {
            "gate": {"approval": {"prompt": "quick!", "timeout_s": 0.05}},
            "send": {"uses": "model/note", "with": {"text": "x"}, "after": ["gate"]},
        },
        "outputs": {"by": "${{ steps.gate.output.by }}"},
    }
    first = orch.run(flow)
    assert first.status is RunStatus.WAITING
    time.sleep(0.1)
    done = orch.resume(first.run_id)
    assert done.status is RunStatus.SUCCEEDED
    assert done.outputs == {"by": "timeout"}
    assert status_of(done)["send"] == "skipped" and calls == []


def test_approving_a_run_that_waits_for_nothing(orch: Orchestrator) -> None:
    @orch.model(capabilities=["t.x"])
    def one() -> dict[str, Any]:
        return {}

    result = orch.run({"steps": {"a": {"uses": "model/one"}}})
    with pytest.raises(InvalidStateError, match="nothing to approve"):
        orch.approve(result.run_id, "a")


def test_approval_decided_by_another_orchestrator(home: Path) -> None:
    calls: list[str] = []

    def register(o: Orchestrator) -> None:
        @o.model(capabilities=["text.note"])
        def note(text: str) -> dict[str, Any]:
            calls.append(text)
            return {"text": text}

    flow = {
        "steps": {
            "draft": {"uses": "model/note", "with": {"text": "draft"}},
            "gate": {"approval": True, "after": ["draft"]},
            "send": {"uses": "model/note", "with": {"text": "send"}, "after": ["gate"]},
        },
        "outputs": {"sent": "${{ steps.send.output.text }}"},
    }
    with Orchestrator(home=home, discover=False) as first:
        register(first)
        waiting = first.run(flow)
    assert waiting.status is RunStatus.WAITING
    with Orchestrator(home=home, discover=False) as second:
        register(second)
        assert second.get_run(waiting.run_id).status is RunStatus.WAITING
        done = second.approve(waiting.run_id, "gate", by="night-shift")
    assert done.status is RunStatus.SUCCEEDED and done.outputs == {"sent": "send"}
    assert calls == ["draft", "send"]


def test_route_constraints_and_policies(orch: Orchestrator) -> None:
    @orch.model(capabilities=["t.n"], cost=0.5, quality={"t.n": 0.9})
    def premium(text: str) -> dict[str, Any]:
        return {"by": "premium"}

    @orch.model(capabilities=["t.n"], cost=0.01, quality={"t.n": 0.4})
    def budget(text: str) -> dict[str, Any]:
        return {"by": "budget"}

    def by(route: Any) -> Any:
        flow = {
            "steps": {"a": {"uses": "capability/t.n", "with": {"text": "x"}, "route": route}},
            "outputs": {"by": "${{ steps.a.output.by }}"},
        }
        return orch.run(flow)

    assert by("best").outputs == {"by": "premium"}
    assert by("cheapest").outputs == {"by": "budget"}
    assert by({"policy": "best", "max_cost": 0.1}).outputs == {"by": "budget"}
    refused = by({"max_cost": 0.001})
    assert refused.status is RunStatus.FAILED
    assert refused.error is not None and "satisfies the route constraints" in refused.error
    assert "cost 0.5 > max_cost 0.001" in refused.error


CRASHING_SCRIPT = """
import os, sys
from pathlib import Path
import podium

home, marks = sys.argv[1], Path(sys.argv[2])
orch = podium.Orchestrator(home=home, discover=False)

@orch.model(capabilities=["t.first"])
def first(x: int) -> dict:
    with marks.open("a") as f:
        f.write("first\\n")
    return {"x": x + 1}

@orch.model(capabilities=["t.second"])
def second(x: int) -> dict:
    os._exit(9)  # the process dies in the middle of the run

orch.run({
    "inputs": {"x": "integer"},
    "steps": {
        "a": {"uses": "model/first", "with": {"x": "${{ inputs.x }}"}},
        "b": {"uses": "model/second", "with": {"x": "${{ steps.a.output.x }}"}},
    },
    "outputs": {"x": "${{ steps.b.output.x }}"},
}, {"x": 1}, run_id="crash-run")
"""


def test_a_run_killed_mid_flight_resumes_without_redoing_finished_steps(
    home: Path, tmp_path: Path
) -> None:
    import subprocess
    import sys

    script = tmp_path / "crash.py"
    script.write_text(CRASHING_SCRIPT)
    marks = tmp_path / "marks.txt"
    done = subprocess.run(
        [sys.executable, str(script), str(home), str(marks)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 9, done.stderr
    assert marks.read_text() == "first\n"

    calls: list[str] = []
    with Orchestrator(home=home, discover=False) as o:

        @o.model(capabilities=["t.first"])
        def first(x: int) -> dict[str, Any]:
            calls.append("first")
            return {"x": x + 1}

        @o.model(capabilities=["t.second"])
        def second(x: int) -> dict[str, Any]:
            calls.append("second")
            return {"x": x * 100}

        before = o.get_run("crash-run")
        assert before.status is RunStatus.RUNNING
        assert status_of(before)["a"] == "succeeded"
        assert status_of(before).get("b") in (None, "running")  # never finished
        after = o.resume("crash-run")
        assert after.status is RunStatus.SUCCEEDED
        assert after.outputs == {"x": 200}
    assert calls == ["second"]
    assert marks.read_text() == "first\n"


def test_models_may_ask_for_their_call_context(orch: Orchestrator) -> None:
    seen: list[Any] = []

    @orch.model(capabilities=["t.ctx"])
    def with_context(text: str, podium_context: Any = None) -> dict[str, Any]:
        seen.append(podium_context)
        if len(seen) == 1:
            raise ConnectionError("first try fails")
        return {"text": text}

    assert orch.registry.get("with-context").input == {"text": "string"}
    result = orch.run(
        {"steps": {"a": {"uses": "model/with-context", "with": {"text": "x"}, "retry": 2}}},
        run_id="ctx-run",
    )
    assert result.ok
    assert [(c.run_id, c.step, c.attempt) for c in seen] == [
        ("ctx-run", "a", 1),
        ("ctx-run", "a", 2),
    ]
    assert seen[0].idempotency_key == seen[1].idempotency_key == "ctx-run/a"
