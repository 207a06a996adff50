"""The guard's decisions: which models get raw inputs, which steps get originals back."""

from __future__ import annotations

from podium.governance.pii import PiiGuard, PiiGuardConfig
from podium.registry import ModelSpec


def spec(tags: list[str]) -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "name": "m",
            "version": "1.0.0",
            "capabilities": ["t.x"],
            "runtime": {"kind": "python", "target": "x:y"},
            "tags": tags,
        }
    )


def test_models_with_an_allowing_tag_get_raw_inputs() -> None:
    guard = PiiGuard()
    assert guard.allows(spec(["pii-safe"]))
    assert not guard.allows(spec([]))
    assert not guard.allows(spec(["pii"]))
    assert PiiGuard(PiiGuardConfig(allow_tags=frozenset({"pii", "onprem"}))).allows(spec(["pii"]))


def test_restore_steps_match_step_ids_map_items_and_nested_paths() -> None:
    guard = PiiGuard(PiiGuardConfig(restore_steps=frozenset({"reply", "refine/draft"})))
    assert guard.restores("reply")
    assert guard.restores("reply[3]")
    assert guard.restores("sub/reply")
    assert guard.restores("refine#2/draft")
    assert not guard.restores("draft")
    assert not guard.restores("summary")
    assert not guard.restores(None)
    assert PiiGuard(PiiGuardConfig(restore=True)).restores("anything")
