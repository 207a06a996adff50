"""What a run produced, rebuilt from its state: status, outputs, steps, lineage."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from podium._types import RunStatus, StepStatus
from podium.engine._state import Anomaly, RunState, StepRecord


class RunResult:
    """What a run produced: status, outputs, cost, every step, and the lineage of each output.

    ``steps`` and ``lineage`` are built from the run's state on first access. ``anomalies``
    lists events of a stored log that the replay had to skip (see ``podium runs repair``);
    ``driver`` names the process that continues a run this call handed over to.
    """

    def __init__(
        self,
        run_id: str,
        workflow: str,
        status: RunStatus,
        outputs: dict[str, Any] | None,
        state: RunState,
        error: str | None = None,
        *,
        driver: str | None = None,
    ) -> None:
        self.run_id = run_id
        self.workflow = workflow
        self.status = status
        self.outputs = outputs
        self.error = error
        self.cost = state.cost
        self.driver = driver
        self._state = state

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.SUCCEEDED

    @property
    def anomalies(self) -> list[Anomaly]:
        return list(self._state.anomalies)

    def iter_steps(self) -> Iterator[dict[str, Any]]:
        """The entries of :attr:`steps`, one at a time (for streaming large runs)."""
        for key, record in self._state.steps.items():
            yield _step_json(key, record)

    def iter_lineage(self) -> Iterator[dict[str, Any]]:
        """The entries of :attr:`lineage`, one at a time."""
        for key, r in self._state.steps.items():
            if r.status is StepStatus.SUCCEEDED and r.model:
                yield _lineage(key, r)

    @functools.cached_property
    def steps(self) -> list[dict[str, Any]]:
        """One entry per step key: status, model, attempts, cost, cache hit, time, error."""
        return list(self.iter_steps())

    @functools.cached_property
    def lineage(self) -> list[dict[str, Any]]:
        """For each finished model call: which model produced it, and why it was chosen."""
        return list(self.iter_lineage())

    def summary_json(self) -> dict[str, Any]:
        """Everything of :meth:`to_json` but the per-step lists."""
        data: dict[str, Any] = {
            "run_id": self.run_id,
            "workflow": self.workflow,
            "status": str(self.status),
            "outputs": self.outputs,
            "cost": round(self.cost, 8),
            "error": self.error,
        }
        if self._state.anomalies:
            data["anomalies"] = [a.to_json() for a in self._state.anomalies]
        if self.driver:
            data["driver"] = self.driver
        return data

    def to_json(self) -> dict[str, Any]:
        return self.summary_json() | {"steps": self.steps, "lineage": self.lineage}

    def __repr__(self) -> str:
        return f"RunResult({self.run_id!r}, {self.workflow!r}, {self.status!s}, cost={self.cost:g})"


def _step_json(key: str, record: StepRecord) -> dict[str, Any]:
    duration = None
    if record.started_at and record.finished_at:
        duration = round((record.finished_at - record.started_at) * 1000, 3)
    return {
        "step": key,
        "status": str(record.status) if record.status else "pending",
        "model": record.model,
        "attempts": record.attempts,
        "cost": round(record.cost, 8),
        "cached": record.cached,
        "duration_ms": duration,
        "error": record.error,
    }


def _lineage(key: str, record: StepRecord) -> dict[str, Any]:
    """Which model version answered a step and how: its cost, a cache hit, the fallback
    taken, the cascade's stages, the ensemble's members with their weight, share and vote,
    and the step it belongs to (a map, loop or sub-workflow)."""
    model = record.model or ""
    entry: dict[str, Any] = {"step": key, "model": record.model, "cached": record.cached}
    name, at, version = model.partition("@")
    if at:
        entry["name"], entry["version"] = name, version
    entry["cost"] = round(record.cost, 10)
    if record.attempts > 1:
        entry["attempts"] = record.attempts
    parent = container_of(key)
    if parent is not None:
        entry["within"] = parent
    info = record.info
    for extra in ("fallback_from", "cascade", "instance", "hedged", "latency_ms", "executor"):
        if extra in info:
            entry[extra] = info[extra]
    if "members" in info:
        votes = {}
        output = record.output if isinstance(record.output, dict) else {}
        for member in output.get("members") or ():
            answer = member.get("output") if isinstance(member, dict) else None
            if isinstance(answer, dict):
                votes[member.get("model")] = answer.get("label", answer.get("value"))
        entry["members"] = [
            m | ({"vote": votes[m["model"]]} if m.get("model") in votes else {})
            for m in info["members"]
        ]
    if record.decision:
        entry["why"] = record.decision.get("reason")
    return entry


def container_of(key: str) -> str | None:
    """The step key a nested key belongs to: ``m[3]`` -> ``m``, ``l#2/x`` -> ``l``,
    ``sub/inner`` -> ``sub``, ``m[3]/x`` -> ``m[3]``; ``None`` for a top-level key."""
    cut = max(key.rfind("/"), key.rfind("["))
    if cut <= 0:
        return None
    head = key[:cut]
    return head.split("#", 1)[0] if head.endswith(tuple("0123456789")) and "#" in head else head
