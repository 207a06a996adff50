"""The PII guard in real runs: models without the ``pii-safe`` tag never see the raw
e-mail address or card number; answers get the originals back only where configured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podium import Orchestrator
from podium.governance.pii import PiiGuard, PiiGuardConfig, PiiKind

EMAIL = "lena.hoffmann@example.de"
CARD = "4242 4242 4242 4242"
MESSAGE = f"Hi, I'm Lena ({EMAIL}). Please refund card {CARD}, order 4711."

FLOW = """\
name: pii-flow
inputs: {message: string, lines: array}
steps:
  lookup:
    uses: model/crm-lookup
    with: {text: "${{ inputs.message }}"}
  summary:
    uses: model/summarise
    with: {text: "${{ inputs.message }}"}
  draft:
    uses: model/summarise
    with: {text: "${{ inputs.message }}"}
  items:
    map: "${{ inputs.lines }}"
    step: {uses: model/summarise, with: {text: "${{ item }}"}}
outputs:
  lookup: "${{ steps.lookup.output.text }}"
  summary: "${{ steps.summary.output.text }}"
  draft: "${{ steps.draft.output.text }}"
  items: "${{ steps.items.output }}"
"""


@pytest.fixture
def seen() -> dict[str, list[str]]:
    return {"summarise": [], "crm-lookup": []}


@pytest.fixture
def orch(tmp_path: Path, seen: dict[str, list[str]]) -> Iterator[Orchestrator]:
    with Orchestrator(home=tmp_path / "home", discover=False) as o:

        @o.model(capabilities=["text.summary"], cost=0.0)
        def summarise(text: str) -> dict[str, Any]:
            seen["summarise"].append(text)
            return {"text": f"Summary: {text}"}

        @o.model(capabilities=["crm.lookup"], cost=0.0, tags=["pii-safe"])
        def crm_lookup(text: str) -> dict[str, Any]:
            seen["crm-lookup"].append(text)
            return {"text": text}

        yield o


def write_flow(tmp_path: Path) -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW, encoding="utf-8")
    return path


def test_untrusted_models_see_placeholders_and_chosen_steps_get_originals(
    orch: Orchestrator, seen: dict[str, list[str]], tmp_path: Path
) -> None:
    guard = PiiGuard(PiiGuardConfig(restore_steps=frozenset({"summary", "items"})))
    orch.add_interceptor(guard)
    lines = [f"write to {EMAIL}", "no personal data here", "call +49 30 1234567"]
    result = orch.run(write_flow(tmp_path), inputs={"message": MESSAGE, "lines": lines})
    assert result.ok, result.error

    received = seen["summarise"]
    assert len(received) == 5
    for text in received:
        assert EMAIL not in text and CARD not in text and "1234567" not in text
    assert received.count("Hi, I'm Lena (<EMAIL_1>). Please refund card <CARD_1>, order 4711.") == 2
    assert "write to <EMAIL_1>" in received and "call <PHONE_1>" in received
    assert "no personal data here" in received
    # the pii-safe model got the message as it was
    assert seen["crm-lookup"] == [MESSAGE]

    outputs = result.outputs
    assert outputs["lookup"] == MESSAGE
    assert outputs["summary"] == f"Summary: {MESSAGE}"  # restored: listed in restore_steps
    assert (
        outputs["draft"]
        == "Summary: Hi, I'm Lena (<EMAIL_1>). Please refund card <CARD_1>, order 4711."
    )
    assert [item["text"] for item in outputs["items"]] == [f"Summary: {line}" for line in lines]
    assert guard.stats.calls_masked == 4
    assert guard.stats.values_masked == {PiiKind.EMAIL: 3, PiiKind.CARD: 2, PiiKind.PHONE: 1}


def test_restore_everywhere_and_other_allowing_tags(
    orch: Orchestrator, seen: dict[str, list[str]], tmp_path: Path
) -> None:
    orch.add_interceptor(PiiGuard(PiiGuardConfig(restore=True, allow_tags=frozenset({"onprem"}))))
    result = orch.run(write_flow(tmp_path), inputs={"message": MESSAGE, "lines": []})
    assert result.ok, result.error
    # pii-safe is not an allowing tag here: the lookup model is masked too
    assert seen["crm-lookup"] == [
        "Hi, I'm Lena (<EMAIL_1>). Please refund card <CARD_1>, order 4711."
    ]
    assert result.outputs["draft"] == f"Summary: {MESSAGE}"
    assert result.outputs["lookup"] == MESSAGE
