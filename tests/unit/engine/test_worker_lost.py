"""A call whose worker process died is given its attempt back, once: a lost Ray actor or
worker is a retry even for a step without a retry policy, and a model that kills its
process every time still fails."""

from __future__ import annotations

from typing import Any

import pytest

import podium
from podium.errors import WorkerLostError


@pytest.fixture
def orch() -> podium.Orchestrator:
    return podium.Orchestrator(durable=False, discover=False)


def _flow(retry: int | None) -> dict[str, Any]:
    step: dict[str, Any] = {"uses": "model/flaky", "with": {"n": 1}}
    if retry is not None:
        step["retry"] = retry
    return {"name": "lost", "steps": {"a": step}, "outputs": {"n": "${{ steps.a.output.n }}"}}


@pytest.mark.parametrize(
    ("losses", "retry", "status", "attempts"),
    [
        (1, None, "succeeded", 2),  # no policy: the lost attempt is given back
        (2, None, "failed", 2),  # ...once
        (3, 3, "succeeded", 4),  # a policy of 3, plus the one given back
        (4, 3, "failed", 4),
    ],
)
def test_a_lost_worker_gives_the_attempt_back_once(
    orch: podium.Orchestrator, losses: int, retry: int | None, status: str, attempts: int
) -> None:
    calls: list[int] = []

    @orch.model(capabilities=["test.flaky"])
    def flaky(n: int) -> dict[str, Any]:
        calls.append(n)
        if len(calls) <= losses:
            raise WorkerLostError("the Ray worker died mid-call (WorkerCrashedError)")
        return {"n": n}

    result = orch.run(_flow(retry))
    assert result.status == status, result.error
    (step,) = result.steps
    assert step["attempts"] == attempts == len(calls)


def test_other_model_errors_keep_the_policy(orch: podium.Orchestrator) -> None:
    calls: list[int] = []

    @orch.model(capabilities=["test.flaky"])
    def flaky(n: int) -> dict[str, Any]:
        calls.append(n)
        raise RuntimeError("boom")

    result = orch.run(_flow(2))
    assert result.status == "failed" and len(calls) == 2
