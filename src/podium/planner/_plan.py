"""A plan: a :class:`~podium.engine.Workflow` that also says why each step is there."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from podium.engine import Workflow
from podium.planner._types import Match


@dataclass(frozen=True)
class StepInfo:
    """One planned step: what it calls, what it consumes and produces, why, and its cost.

    ``serves`` are the wanted types it delivers, ``feeds`` the steps that read its output,
    ``phrase`` the part of the goal that asked for it (if any). ``model``, ``cost``,
    ``latency_ms`` and ``quality`` are what the route policy is expected to pick.
    """

    id: str
    uses: str
    kind: str
    consumes: tuple[str, ...]
    produces: tuple[str, ...]
    after: tuple[str, ...]
    stage: int
    serves: tuple[str, ...]
    feeds: tuple[str, ...]
    phrase: str | None
    model: str
    cost: float
    latency_ms: float
    quality: float
    why: str

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for key in ("consumes", "produces", "after", "serves", "feeds"):
            data[key] = list(data[key])
        data["cost"] = round(self.cost, 8)
        return data


@dataclass(frozen=True)
class Explanation:
    """How a plan came about and what it is expected to cost per run.

    ``origin`` is ``typed`` (the typed search), ``llm`` (an LLM plan that passed
    validation) or ``template`` (a stored plan of a similar goal). ``stages`` group the
    steps that can run in parallel; ``latency_ms`` is the critical path. ``matching_ms``
    is the time spent matching the goal's words (loading the embedding model on first
    use included), ``planning_ms`` everything else.
    """

    goal: str
    origin: str
    given: Mapping[str, str]
    wanted: tuple[str, ...]
    steps: tuple[StepInfo, ...]
    stages: tuple[tuple[str, ...], ...]
    cost: float
    latency_ms: float
    matches: tuple[Match, ...] = ()
    matcher: str | None = None
    optimal: bool = True
    planning_ms: float = 0.0
    matching_ms: float = 0.0
    notes: tuple[str, ...] = ()
    template: str | None = None
    unused: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "goal": self.goal,
            "origin": self.origin,
            "matcher": self.matcher,
            "given": dict(self.given),
            "wanted": list(self.wanted),
            "matches": [m.to_json() for m in self.matches],
            "steps": [s.to_json() for s in self.steps],
            "stages": [list(s) for s in self.stages],
            "cost": round(self.cost, 8),
            "latency_ms": round(self.latency_ms, 3),
            "optimal": self.optimal,
            "planning_ms": round(self.planning_ms, 3),
            "matching_ms": round(self.matching_ms, 3),
            "notes": list(self.notes),
            "template": self.template,
            "unused_inputs": list(self.unused),
        }


@dataclass(frozen=True)
class Plan(Workflow):
    """A planned workflow: run it like any other, save it as YAML, read ``explanation``."""

    explanation: Explanation | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, workflow: Workflow, explanation: Explanation) -> Plan:
        values = {f.name: getattr(workflow, f.name) for f in dataclasses.fields(Workflow)}
        return cls(**values, explanation=explanation)

    @property
    def why(self) -> Explanation:
        assert self.explanation is not None
        return self.explanation

    def to_yaml(self) -> str:
        """The workflow file (with each step's reason as its ``description``)."""
        goal = self.why.goal or self.document.get("description") or self.name
        header = f"# planned by podium ({self.why.origin}) for: {goal}\n"
        body = yaml.safe_dump(dict(self.document), sort_keys=False, allow_unicode=True, width=100)
        return header + body

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_yaml` to ``path``; ``podium run PATH`` runs it."""
        target = Path(path)
        target.write_text(self.to_yaml(), encoding="utf-8")
        return target

    def to_json(self) -> dict[str, Any]:
        """The explanation plus the workflow document, as JSON."""
        return {**self.why.to_json(), "workflow": dict(self.document)}
