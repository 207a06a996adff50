"""Workflows are parsed and validated once per content and registry state, in bounded memory."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from podium import Orchestrator
from podium.errors import WorkflowError

FLOW = """
name: cached
inputs: {text: string}
steps:
  a: {uses: model/shout, with: {text: "${{ inputs.text }}"}}
outputs: {text: "${{ steps.a.output.text }}"}
"""


@pytest.fixture
def orch(tmp_path: Path) -> Any:
    with Orchestrator(home=tmp_path / "home", durable=False, discover=False) as o:

        @o.model(capabilities=["t.shout"])
        def shout(text: str) -> dict[str, Any]:
            return {"text": text.upper()}

        yield o


def test_a_file_is_parsed_once_until_it_changes(orch: Any, tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW)
    first = orch.load(path)
    assert orch.load(path) is first and orch.load(str(path)) is first
    assert orch._workflows.misses == 1 and orch._workflows.hits == 2
    assert orch.run(path, {"text": "hi"}).outputs == {"text": "HI"}

    later = time.time() + 5  # touched, same content: still the cached parse
    os.utime(path, (later, later))
    assert orch.load(path) is first

    path.write_text(FLOW.replace("t.shout", "t.shout").replace("name: cached", "name: changed"))
    changed = orch.load(path)
    assert changed is not first and changed.name == "changed"


def test_a_changed_sub_workflow_is_noticed(orch: Any, tmp_path: Path) -> None:
    (tmp_path / "inner.yaml").write_text(FLOW)
    outer = tmp_path / "outer.yaml"
    outer.write_text(
        "name: outer\nsteps:\n  sub: {workflow: inner.yaml, with: {text: x}}\n"
        "outputs: {text: '${{ steps.sub.output.text }}'}\n"
    )
    first = orch.load(outer)
    assert orch.load(outer) is first
    (tmp_path / "inner.yaml").write_text(FLOW.replace("model/shout", "model/missing"))
    with pytest.raises(WorkflowError, match="missing"):
        orch.load(outer)


def test_a_newly_registered_model_is_seen_without_parsing_again(orch: Any) -> None:
    doc = {"steps": {"a": {"uses": "model/later", "with": {"text": "x"}}}}
    with pytest.raises(WorkflowError, match="later"):
        orch.load(doc)

    @orch.model(capabilities=["t.later"])
    def later(text: str) -> dict[str, Any]:
        return {"text": text}

    loaded = orch.load(doc)
    assert orch.load(dict(doc)) is loaded  # the same content is the same entry
    assert orch.run(doc).status.value == "succeeded"


def test_inline_workflows_do_not_grow_memory_without_bound(orch: Any) -> None:
    for i in range(300):
        doc = {"name": f"w{i}", "steps": {"a": {"uses": "model/shout", "with": {"text": "x"}}}}
        orch.load(doc)
    assert len(orch._workflows) <= orch._workflows.size


def test_a_workflow_object_is_checked_once_per_registry_state(orch: Any) -> None:
    loaded = orch.load({"steps": {"a": {"uses": "model/shout", "with": {"text": "x"}}}})
    calls = []
    import podium._orchestrator as module

    original = module.check_models

    def counting(workflow: Any, registry: Any) -> None:
        calls.append(workflow)
        original(workflow, registry)

    module.check_models = counting  # type: ignore[assignment]
    try:
        orch.load(loaded)
        orch.load(loaded)
        assert calls == []  # checked when it was loaded

        @orch.model(capabilities=["t.other"])
        def other(text: str) -> dict[str, Any]:
            return {"text": text}

        orch.load(loaded)
        orch.load(loaded)
        assert len(calls) == 1
    finally:
        module.check_models = original  # type: ignore[assignment]
