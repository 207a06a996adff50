"""Each kind of policy rule in real runs over a SQLite store: what it refuses, what it lets
through, and that each refusal is in the audit log under the rule's name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import podium
from podium._context import Caller
from podium.governance import policy_from_text
from podium.governance._audit import verify

CALLS: list[str] = []


def plain(text: str) -> dict[str, Any]:
    CALLS.append("plain")
    return {"text": text.upper(), "risk": 0.9 if "risky" in text else 0.1}


def careful(text: str) -> dict[str, Any]:
    CALLS.append("careful")
    return {"text": text.lower(), "risk": 0.9 if "risky" in text else 0.1}


def flow(**inputs: Any) -> dict[str, Any]:
    return {
        "name": "policed",
        "inputs": inputs or {"note": "string"},
        "steps": {
            "first": {"uses": "capability/text.read", "with": {"text": "${{ inputs.note }}"}},
            "second": {
                "uses": "model/plain",
                "with": {"text": "${{ steps.first.output.text }}"},
                "fallback": ["model/careful"],
            },
        },
        "outputs": {"text": "${{ steps.second.output.text }}"},
    }


def orchestrator(tmp_path: Path, policy: str) -> podium.Orchestrator:
    orch = podium.Orchestrator(tmp_path, discover=False, policy=policy_from_text(policy))
    orch.register_callable(plain, capabilities=["text.read"], cost=0.1, tags=["external"])
    orch.register_callable(
        careful,
        capabilities=["text.read"],
        cost=0.2,
        tags=["phi-ok", "on-prem"],
        quality={"text.read": 0.2},
    )
    return orch


@pytest.fixture(autouse=True)
def _calls() -> Iterator[None]:
    CALLS.clear()
    yield


def records(orch: podium.Orchestrator, kind: str) -> list[dict[str, Any]]:
    return [r.to_json() for r in orch.store.audit_records() if r.kind == kind]


def test_a_declared_data_class_goes_only_to_models_allowed_to_receive_it(tmp_path: Path) -> None:
    policy = "data_classes: {phi: [phi-ok]}\n"
    with orchestrator(tmp_path, policy) as orch:
        workflow = flow(note={"type": "string", "class": "phi"})
        result = orch.run(workflow, {"note": "hello"})
        # the router prefers plain (external), which may not get PHI; every step that reads
        # the note (the second through the first's output) falls back to careful
        assert result.ok, result.error
        assert [s["model"] for s in result.steps] == ["careful@0.1.0", "careful@0.1.0"]
        assert "plain" not in CALLS
        refused = records(orch, "policy.refused")
        assert refused and {r["data"]["rule"] for r in refused} == {"data-classes:phi"}
        # public data goes anywhere
        assert orch.run(flow(), {"note": "hello"}).steps[0]["model"] == "plain@0.1.0"
        assert verify(orch.store).ok


class MentionsMail:
    """A data guard for this test: text with an '@' is personal data."""

    def classes(self, inputs: dict[str, Any]) -> set[str]:
        return {"pii"} if "@" in json.dumps(inputs) else set()


def test_a_class_found_by_a_guard_is_treated_like_a_declared_one(tmp_path: Path) -> None:
    policy = policy_from_text("data_classes: {pii: []}\n").with_guards(MentionsMail())
    with orchestrator(tmp_path, "{}") as orch:
        orch.use_policy(policy)
        assert orch.run(flow(), {"note": "no address"}).ok
        failed = orch.run(flow(), {"note": "write to ann@example.com"})
        assert failed.status == "failed"
        assert "refused by rule 'data-classes:pii'" in str(failed.error)
        assert CALLS == ["plain", "plain"]  # nothing was sent once the guard found PII


def test_forbid_applies_to_the_tenants_it_names(tmp_path: Path) -> None:
    policy = """
rules:
  - name: no-external-for-bank
    for: {tenants: [bank]}
    forbid: {tags: [external]}
"""
    with orchestrator(tmp_path, policy) as orch:
        bank = orch.run(flow(), {"note": "x"}, caller=Caller("key:b", "bank"))
        assert bank.ok and {s["model"] for s in bank.steps} == {"careful@0.1.0"}
        other = orch.run(flow(), {"note": "x"}, caller=Caller("key:o", "shop"))
        assert {s["model"] for s in other.steps} == {"plain@0.1.0"}
        [first, *_] = records(orch, "policy.refused")
        assert first["tenant"] == "bank" and first["principal"] == "key:b"
        assert first["subject"] == "no-external-for-bank"


def test_require_refuses_every_model_without_the_tag(tmp_path: Path) -> None:
    policy = """
rules:
  - name: on-prem-only
    for: {workflows: [policed]}
    require: {tags: [on-prem]}
"""
    with orchestrator(tmp_path, policy) as orch:
        result = orch.run(flow(), {"note": "x"})
        assert result.ok and CALLS == ["careful", "careful"]
        workflow = flow()
        workflow["steps"]["second"].pop("fallback")
        failed = orch.run(workflow, {"note": "x"})
        assert failed.status == "failed"
        assert "refused by rule 'on-prem-only': plain@0.1.0 is not one of the required" in str(
            failed.error
        )


APPROVE = """
rules:
  - name: risky-needs-review
    for: {capabilities: [text.read]}
    approve:
      when: "${{ contains(inputs.text, 'risky') }}"
      prompt: "Risky text: go on?"
      approvers: [operator]
  - name: second-look
    approve:
      when: "${{ steps.first.output.risk > 0.8 }}"
"""


def test_an_approval_rule_pauses_the_run_durably_until_approved(tmp_path: Path) -> None:
    with orchestrator(tmp_path, APPROVE) as orch:
        assert orch.run(flow(), {"note": "calm"}).ok
        paused = orch.run(flow(), {"note": "risky"})
        assert paused.status == "waiting"
        assert CALLS == ["plain", "plain"]  # the risky call was not made
        [step] = [s for s in paused.steps if s["status"] == "waiting"]
        assert step["step"] == "first"
        run_id = paused.run_id
    # another process (here: another orchestrator on the same file) approves and continues
    with orchestrator(tmp_path, APPROVE) as orch:
        after_first = orch.approve(run_id, "first", by="ops-lead")
        # the second step reads the first's risky output: another rule asks again
        assert after_first.status == "waiting"
        assert [s["step"] for s in after_first.steps if s["status"] == "waiting"] == ["second"]
        done = orch.approve(run_id, "second", by="ops-lead", comment="seen")
        assert done.ok, done.error
        asked = records(orch, "approval.requested")
        assert [(r["data"]["rule"], r["data"]["step"]) for r in asked] == [
            ("risky-needs-review", "first"),
            ("second-look", "second"),
        ]
        decided = records(orch, "approval.decided")
        assert {r["principal"] for r in decided} == {"ops-lead"}
        assert verify(orch.store).ok


def test_a_rejected_approval_fails_the_step_naming_the_rule(tmp_path: Path) -> None:
    with orchestrator(tmp_path, APPROVE) as orch:
        paused = orch.run(flow(), {"note": "risky"})
        rejected = orch.approve(paused.run_id, "first", approved=False, by="ops-lead")
        assert rejected.status == "failed"
        assert "refused by rule 'risky-needs-review'" in str(rejected.error)
        assert "ops-lead rejected the call" in str(rejected.error)


BUDGETS = """
budgets:
  - {name: three-calls, per: run, max_calls: 3}
  - {name: workflow-cap, per: workflow, for: {workflows: [policed]}, max_cost: 0.45}
"""


def test_budgets_stop_a_call_before_it_is_made(tmp_path: Path) -> None:
    with orchestrator(tmp_path, BUDGETS) as orch:
        workflow = flow()
        workflow["steps"]["second"].pop("fallback")
        assert orch.run(workflow, {"note": "a"}).ok  # 0.2 of 0.45
        assert orch.run(workflow, {"note": "b"}).ok  # 0.4 of 0.45
        stopped = orch.run(workflow, {"note": "c"})
        assert stopped.status == "failed"
        assert "refused by rule 'budget:workflow-cap'" in str(stopped.error)
        assert len(CALLS) == 4  # the fifth call was never made
        stops = records(orch, "budget.stopped")  # plain, then the runner-up careful
        assert [(r["data"]["step"], r["data"]["model"]) for r in stops] == [
            ("first", "plain@0.1.0"),
            ("first", "careful@0.1.0"),
        ]
        assert orch.store.budget_spent("workflow-cap|workflow:policed:" + _today()) == (0.4, 4)


def test_a_per_tenant_budget_counts_each_tenant_apart(tmp_path: Path) -> None:
    policy = "budgets:\n  - {name: daily, per: tenant, max_calls: 2}\n"
    with orchestrator(tmp_path, policy) as orch:
        assert orch.run(flow(), {"note": "x"}, caller=Caller("k1", "acme")).ok
        assert orch.run(flow(), {"note": "x"}, caller=Caller("k2", "other")).ok
        assert orch.run(flow(), {"note": "x"}, caller=Caller("k1", "acme")).status == "failed"


def test_dry_run_records_what_would_be_refused_and_refuses_nothing(tmp_path: Path) -> None:
    policy = """
dry_run: true
data_classes: {phi: []}
rules:
  - {name: no-plain, forbid: {models: [plain]}}
budgets:
  - {name: tiny, per: run, max_cost: 0.1}
"""
    with orchestrator(tmp_path, policy) as orch:
        result = orch.run(flow(note={"type": "string", "class": "phi"}), {"note": "x"})
        assert result.ok
        found = {r["data"]["rule"] for r in records(orch, "policy.dry_run")}
        assert found == {"data-classes:phi", "no-plain", "budget:tiny"}
        assert records(orch, "policy.refused") == []


def test_a_policy_change_is_audited_once(tmp_path: Path) -> None:
    with orchestrator(tmp_path, BUDGETS) as orch:
        orch.use_policy(policy_from_text(BUDGETS))  # the same policy again: no new record
        orch.use_policy(policy_from_text(APPROVE))
        changes = records(orch, "policy.changed")
        assert len(changes) == 2
        assert changes[1]["data"]["previous"] == changes[0]["data"]["sha256"]


def _today() -> str:
    import time

    return time.strftime("%Y-%m-%d", time.gmtime())


def test_detect_pii_classes_inputs_by_what_the_pii_detector_finds(tmp_path: Path) -> None:
    policy = "detect: [pii]\ndata_classes: {pii: [on-prem]}\n"
    with orchestrator(tmp_path, policy) as orch:
        assert orch.run(flow(), {"note": "the weather"}).steps[0]["model"] == "plain@0.1.0"
        found = orch.run(flow(), {"note": "card 4111 1111 1111 1111 please"})
        assert found.ok and {s["model"] for s in found.steps} == {"careful@0.1.0"}


def test_the_dry_run_switch_turns_any_policy_into_a_dry_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODIUM_POLICY_DRY_RUN", "on")
    policy = "rules:\n  - {name: no-plain, forbid: {models: [plain, careful]}}\n"
    with orchestrator(tmp_path, policy) as orch:
        assert orch.policy is not None and orch.policy.dry_run
        assert orch.run(flow(), {"note": "x"}).ok
        assert {r["data"]["rule"] for r in records(orch, "policy.dry_run")} == {"no-plain"}
