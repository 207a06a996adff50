"""The engine on each durable backend: the same runs on SQLite and on a PostgreSQL server
give the same outputs, the same step states and the same event logs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pgtest import empty_database
from podium import Orchestrator, RunStatus


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with empty_database(request.param, tmp_path, "engine") as made:
        yield made


def register(orch: Orchestrator, calls: list[str]) -> None:
    @orch.model(capabilities=["t.up"])
    def up(text: str) -> dict[str, Any]:
        calls.append(text)
        return {"text": text.upper(), "label": "a" if len(text) % 2 else "b", "confidence": 0.9}

    @orch.model(capabilities=["t.up"], quality={"t.up": 0.6})
    def shout(text: str) -> dict[str, Any]:
        calls.append("shout:" + text)
        return {"text": text.upper() + "!", "label": "a", "confidence": 0.6}

    tries: list[int] = []

    @orch.model(capabilities=["t.flaky"])
    def flaky(x: int) -> dict[str, Any]:
        tries.append(x)
        if len(tries) < 2:
            raise ConnectionError("first try fails")
        return {"x": x + 1}


FLOW: dict[str, Any] = {
    "inputs": {"words": "array", "first": "string"},
    "steps": {
        "head": {"uses": "model/up", "with": {"text": "${{ inputs.first }}"}},
        "each": {
            "map": "${{ inputs.words }}",
            "concurrency": 3,
            "after": ["head"],
            "step": {"uses": "model/up", "with": {"text": "${{ item }}"}},
        },
        "vote": {
            "ensemble": "capability/t.up",
            "models": ["model/up", "model/shout"],
            "combine": "majority",
            "with": {"text": "${{ inputs.first }}"},
        },
        "again": {
            "loop": {
                "max_iterations": 3,
                "until": "${{ loop.iteration >= 2 }}",
                "steps": {
                    "x": {
                        "uses": "model/flaky",
                        "with": {"x": "${{ loop.iteration }}"},
                        "retry": {"attempts": 3, "backoff_s": 0.01},
                    }
                },
            },
        },
        "never": {
            "if": "${{ len(inputs.words) > 99 }}",
            "uses": "model/up",
            "with": {"text": "no"},
        },
        "gate": {"approval": {"prompt": "send?"}, "after": ["each", "vote", "again"]},
        "send": {"uses": "model/up", "with": {"text": "sent"}, "after": ["gate"]},
    },
    "outputs": {
        "head": "${{ steps.head.output.text }}",
        "each": "${{ steps.each.output }}",
        "vote": "${{ steps.vote.output.label }}",
        "loop": "${{ steps.again.iterations }}",
        "sent": "${{ steps.send.output.text }}",
    },
}


def test_a_run_of_every_step_kind_waits_then_finishes_in_another_process(
    url: str, tmp_path: Path
) -> None:
    calls: list[str] = []
    inputs = {"words": ["a", "bb", "ccc", "dd", "e"], "first": "hello"}
    with Orchestrator(home=tmp_path / "one", database_url=url, discover=False) as orch:
        register(orch, calls)
        first = orch.run(FLOW, inputs)
        assert first.status is RunStatus.WAITING, first
        states = {s["step"]: s["status"] for s in first.steps}
        assert states["gate"] == "waiting" and states["never"] == "skipped"
        assert states["each"] == "succeeded" and states["again"] == "succeeded"
        before = list(calls)
    # another orchestrator on the same database (as another process would be) approves it
    with Orchestrator(home=tmp_path / "two", database_url=url, discover=False) as other:
        register(other, calls)
        done = other.approve(first.run_id, "gate", by="ann")
        assert done.status is RunStatus.SUCCEEDED, done
        assert done.outputs == {
            "head": "HELLO",
            "each": [
                {"text": w.upper(), "label": "a" if len(w) % 2 else "b", "confidence": 0.9}
                for w in inputs["words"]
            ],
            "vote": "a",
            "loop": 2,
            "sent": "SENT",
        }
        assert calls == [*before, "sent"]  # nothing that had finished ran again
        events = other.store.events(first.run_id)
        seqs = [e.seq for e in events]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        kinds = [e.type for e in events]
        assert kinds[0] == "run_started" and kinds[-1] == "run_succeeded"
        assert kinds.count("attempt_failed") == 1 and "approval_decided" in kinds
        listed = other.runs()
        assert [r.run_id for r in listed] == [first.run_id] and listed[0].status == "succeeded"
