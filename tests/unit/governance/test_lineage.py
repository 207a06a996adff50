"""Lineage of real runs: ensemble weights and votes, cascade stages, fallbacks, cache hits,
maps and sub-workflows, and each model version's share of the cost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import podium
from podium.governance._lineage import lineage_tree


def orchestrator(tmp_path: Path) -> podium.Orchestrator:
    orch = podium.Orchestrator(tmp_path, discover=False)

    def sure(text: str) -> dict[str, Any]:
        return {"label": "billing", "confidence": 0.95}

    def unsure(text: str) -> dict[str, Any]:
        return {"label": "tech", "confidence": 0.4}

    def broken(text: str) -> dict[str, Any]:
        raise RuntimeError("down")

    orch.register_callable(
        sure, capabilities=["text.intent"], cost=0.01, quality={"text.intent": 0.9}
    )
    orch.register_callable(
        unsure, capabilities=["text.intent"], cost=0.001, quality={"text.intent": 0.6}
    )
    orch.register_callable(broken, capabilities=["text.other"], cost=0.001)
    return orch


def test_ensemble_members_carry_weight_share_and_vote(tmp_path: Path) -> None:
    workflow = {
        "name": "vote",
        "inputs": {"text": "string"},
        "steps": {
            "vote": {
                "ensemble": "capability/text.intent",
                "models": 2,
                "combine": "weighted",
                "with": {"text": "${{ inputs.text }}"},
            }
        },
        "outputs": {"label": "${{ steps.vote.output.label }}"},
    }
    with orchestrator(tmp_path) as orch:
        result = orch.run(workflow, {"text": "refund"})
        tree = lineage_tree(result, orch.load(workflow))
    [output] = tree["outputs"]
    [vote] = output["from"]
    members = {m["model"]: m for m in vote["members"]}
    assert members["sure@0.1.0"]["vote"] == "billing"
    assert members["unsure@0.1.0"]["vote"] == "tech"
    assert members["sure@0.1.0"]["contribution"] > members["unsure@0.1.0"]["contribution"]
    shares = {m["model"]: m for m in tree["models"]}
    assert shares["sure@0.1.0"]["calls"] == 1
    assert shares["sure@0.1.0"]["ensemble_weight"] == members["sure@0.1.0"]["contribution"]


def test_cascade_fallback_cache_map_and_sub_workflow(tmp_path: Path) -> None:
    sub = tmp_path / "sub.yaml"
    sub.write_text(
        "name: inner\ninputs: {text: string}\n"
        "steps:\n  ask: {uses: model/sure, with: {text: '${{ inputs.text }}'}}\n"
        "outputs: {label: '${{ steps.ask.output.label }}'}\n"
    )
    workflow = {
        "name": "mixed",
        "inputs": {"text": "string"},
        "steps": {
            "cheap": {
                "uses": "capability/text.intent",
                "route": {"policy": "cascade", "threshold": 0.9},
                "with": {"text": "${{ inputs.text }}"},
            },
            "saved": {"uses": "model/broken", "fallback": ["model/sure"], "with": {"text": "x"}},
            "again": {"uses": "model/sure", "cache": True, "with": {"text": "same"}},
            "each": {
                "map": "${{ ['a', 'b'] }}",
                "step": {"uses": "model/unsure", "with": {"text": "${{ item }}"}},
            },
            "nested": {"workflow": str(sub), "with": {"text": "${{ steps.cheap.output.label }}"}},
        },
        "outputs": {
            "label": "${{ steps.nested.output.label }}",
            "rest": "${{ [steps.saved.output, steps.again.output, steps.each.output] }}",
        },
    }
    with orchestrator(tmp_path) as orch:
        orch.run(workflow, {"text": "t"})  # fills the cache for "again"
        result = orch.run(workflow, {"text": "t"})
        assert result.ok, result.error
        tree = lineage_tree(result, orch.load(workflow))
    label, rest = tree["outputs"]
    [nested] = label["from"]
    assert [c["step"] for c in nested["within"]] == ["nested/ask"]
    assert nested["within"][0]["model"] == "sure@0.1.0"
    [cheap] = nested["from"]
    stages = cheap["cascade"]
    assert [s["model"] for s in stages] == ["unsure@0.1.0", "sure@0.1.0"]
    assert [s["answered"] for s in stages] == [False, True]
    steps = {s["step"]: s for s in rest["from"]}
    assert steps["saved"]["fallback_from"] == "broken@0.1.0"
    assert steps["saved"]["model"] == "sure@0.1.0"
    assert steps["again"]["cached"] is True and steps["again"]["cost"] == 0
    assert [c["step"] for c in steps["each"]["within"]] == ["each[0]", "each[1]"]
    shares = {m["model"]: m for m in tree["models"]}
    assert shares["sure@0.1.0"]["cached"] == 1
    assert abs(sum(m["share_of_cost"] for m in tree["models"]) - 1.0) < 1e-3
