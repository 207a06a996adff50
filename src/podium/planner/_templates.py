"""Learned templates: planned workflows that ran, with their goals and outcomes.

Every finished run of a planned workflow is recorded (``store.put_document`` under kind
``planner.template``, keyed by a hash of the workflow's steps and outputs): the goal
texts it served, the inputs it takes, the types it produces, how many runs succeeded and
what they cost. A later goal reuses the best template whose goal is similar enough and
whose smoothed success rate ``(successes + 1) / (runs + 2)`` is high enough, instead of
planning from scratch.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from podium.store import Store

KIND = "planner.template"
MAX_GOALS = 20
_INPUT_REF = re.compile(r"\binputs\.([A-Za-z_][A-Za-z0-9_]*)")


def template_key(document: Mapping[str, Any]) -> str:
    """A stable key for a planned workflow: its inputs, steps and outputs, hashed."""
    steps = {
        sid: {k: v for k, v in body.items() if k != "description"}
        if isinstance(body, dict)
        else body
        for sid, body in (document.get("steps") or {}).items()
    }
    core = {"inputs": document.get("inputs"), "steps": steps, "outputs": document.get("outputs")}
    text = json.dumps(core, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Template:
    """A stored planned workflow and how its runs went."""

    key: str
    goals: tuple[str, ...]
    document: Mapping[str, Any]
    given: Mapping[str, str]
    wanted: tuple[str, ...]
    runs: int = 0
    successes: int = 0
    total_cost: float = 0.0
    last_run: str | None = None

    @property
    def success_rate(self) -> float:
        """Successes over runs, smoothed so one lucky run does not count as certainty."""
        return (self.successes + 1) / (self.runs + 2)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "goals": list(self.goals),
            "document": dict(self.document),
            "given": dict(self.given),
            "wanted": list(self.wanted),
            "runs": self.runs,
            "successes": self.successes,
            "total_cost": self.total_cost,
            "last_run": self.last_run,
            "updated_at": time.time(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Template:
        return cls(
            key=str(data["key"]),
            goals=tuple(data.get("goals") or ()),
            document=dict(data["document"]),
            given=dict(data.get("given") or {}),
            wanted=tuple(data.get("wanted") or ()),
            runs=int(data.get("runs", 0)),
            successes=int(data.get("successes", 0)),
            total_cost=float(data.get("total_cost", 0.0)),
            last_run=data.get("last_run"),
        )


class Templates:
    """Reads and writes templates in a store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def all(self) -> list[Template]:
        return [Template.from_json(v) for v in self.store.documents(KIND).values()]

    def record(
        self,
        *,
        key: str,
        goal: str,
        document: Mapping[str, Any],
        given: Mapping[str, str],
        wanted: Sequence[str],
        ok: bool,
        run_id: str,
        cost: float,
    ) -> Template:
        """Add one run's outcome to the template ``key`` (creating it on first use)."""
        raw = self.store.get_document(KIND, key)
        old = Template.from_json(raw) if raw else None
        goals = tuple(old.goals) if old else ()
        if goal and goal not in goals:
            goals = (*goals, goal)[-MAX_GOALS:]
        updated = Template(
            key=key,
            goals=goals,
            document=dict(old.document) if old else dict(document),
            given=dict(old.given) if old else dict(given),
            wanted=tuple(old.wanted) if old else tuple(wanted),
            runs=(old.runs if old else 0) + 1,
            successes=(old.successes if old else 0) + (1 if ok else 0),
            total_cost=(old.total_cost if old else 0.0) + cost,
            last_run=run_id,
        )
        self.store.put_document(KIND, key, updated.to_json())
        return updated

    def best(
        self,
        goal: str,
        similarity: Callable[[str, Sequence[str]], list[float]],
        *,
        threshold: float,
        min_success: float,
        accept: Callable[[Template], bool],
    ) -> tuple[Template, float] | None:
        """The template to reuse for ``goal``: similarity times success rate, best first,
        among those above both thresholds that ``accept`` admits."""
        ranked: list[tuple[float, float, Template]] = []
        for template in self.all():
            if template.successes < 1 or template.success_rate < min_success:
                continue
            score = max(similarity(goal, list(template.goals)), default=0.0)
            if score >= threshold:
                ranked.append((score * template.success_rate, score, template))
        ranked.sort(key=lambda r: (-r[0], r[2].key))
        for _, score, template in ranked:
            if accept(template):
                return template, score
        return None


def rename_inputs(document: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """``document`` with workflow inputs renamed (``{old: new}``) in every expression."""

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return _INPUT_REF.sub(lambda m: "inputs." + names.get(m.group(1), m.group(1)), value)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    renamed: dict[str, Any] = walk(dict(document))
    if isinstance(document.get("inputs"), Mapping):
        renamed["inputs"] = {names.get(k, k): v for k, v in document["inputs"].items()}
    return renamed


def input_mapping(
    template_given: Mapping[str, str], given: Mapping[str, str] | None
) -> dict[str, str] | None:
    """How the template's inputs map onto the caller's (same name first, then same type);
    ``None`` if some input the template needs has no counterpart."""
    if given is None:
        return {name: name for name in template_given}
    free = dict(given)
    mapping: dict[str, str] = {}
    for name, type_ in template_given.items():
        if free.get(name) == type_:
            mapping[name] = name
            del free[name]
    for name, type_ in template_given.items():
        if name in mapping:
            continue
        other = next((n for n, t in free.items() if t == type_), None)
        if other is None:
            return None
        mapping[name] = other
        del free[other]
    return mapping
