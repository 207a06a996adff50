"""A run's lineage as a tree: each output, the steps it was computed from, and the model
versions that answered them, with how much each contributed.

Built from the run's result (its per-step lineage) and its workflow: an output reads some
steps (its ``${{ }}`` references), each step reads earlier ones, and a map, loop or
sub-workflow step holds the calls made inside it. "How much": an ensemble member's weight,
share and vote; a cascade's stages and which one answered; a fallback taken; a cache hit;
each model version's calls and share of the run's cost.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from podium.engine import RunResult, Workflow
from podium.engine._result import container_of

_MAX_DEPTH = 12


def lineage_tree(result: RunResult, workflow: Workflow | None) -> dict[str, Any]:
    """The lineage of ``result`` as one JSON document (``workflow``: the run's definition,
    for which steps each output and step read; without it, every step is listed)."""
    entries = {e["step"]: e for e in result.iter_lineage()}
    steps = {s["step"]: s for s in result.steps}
    inside: dict[str, list[str]] = defaultdict(list)
    for key in steps:
        parent = container_of(key)
        if parent is not None:
            inside[parent].append(key)

    def node(key: str, depth: int, seen: frozenset[str]) -> dict[str, Any]:
        found: dict[str, Any] = {"step": key, "status": steps.get(key, {}).get("status")}
        entry = entries.get(key)
        if entry is not None:
            found |= {k: v for k, v in entry.items() if k not in ("step", "within", "why")}
        children = [
            node(child, depth + 1, seen | {key})
            for child in inside.get(key, ())
            if _answered(child, entries, inside)
        ]
        if children:
            found["within"] = children
        if workflow is not None and depth < _MAX_DEPTH and key in workflow.steps:
            step = workflow.steps[key]
            upstream = sorted((step.deps | step.refs) & set(workflow.steps) - seen - {key})
            if upstream:
                found["from"] = [node(u, depth + 1, seen | {key}) for u in upstream]
        return found

    top = [k for k in steps if container_of(k) is None]
    outputs: list[dict[str, Any]] = []
    if workflow is not None:
        for name, template in workflow.outputs.items():
            reads = sorted(template.references & set(steps))
            outputs.append({"output": name, "from": [node(k, 1, frozenset()) for k in reads]})
    else:
        outputs = [{"output": None, "from": [node(k, 1, frozenset()) for k in top]}]
    return {
        "run_id": result.run_id,
        "workflow": result.workflow,
        "status": str(result.status),
        "cost": round(result.cost, 10),
        "outputs": outputs,
        "models": model_shares(entries.values(), result.cost),
    }


def _answered(key: str, entries: dict[str, Any], inside: dict[str, list[str]]) -> bool:
    """Whether a nested step holds a model's answer (itself, or steps inside it)."""
    return key in entries or any(_answered(c, entries, inside) for c in inside.get(key, ()))


def model_shares(entries: Any, total_cost: float) -> list[dict[str, Any]]:
    """Per model version: calls, cache hits, cost and share of the run's cost, and the
    ensemble weight it carried (summed over the ensembles it was a member of)."""
    tally: dict[str, dict[str, Any]] = {}

    def row(model: str) -> dict[str, Any]:
        return tally.setdefault(
            model, {"model": model, "calls": 0, "cached": 0, "cost": 0.0, "ensemble_weight": 0.0}
        )

    for entry in entries:
        model = str(entry.get("model") or "")
        if model.startswith("ensemble:"):  # its cost covers every member's call
            row(model)["cost"] += float(entry.get("cost") or 0.0)
            for member in entry.get("members") or ():
                counted = row(str(member.get("model")))
                counted["calls"] += 1
                share = member.get("contribution", member.get("weight")) or 0.0
                counted["ensemble_weight"] += float(share)
            continue
        found = row(model)
        found["calls"] += 1
        found["cached"] += 1 if entry.get("cached") else 0
        found["cost"] += float(entry.get("cost") or 0.0)
    for found in tally.values():
        found["cost"] = round(found["cost"], 10)
        found["share_of_cost"] = round(found["cost"] / total_cost, 4) if total_cost else 0.0
        found["ensemble_weight"] = round(found["ensemble_weight"], 6)
    return sorted(tally.values(), key=lambda r: (-r["cost"], r["model"]))
