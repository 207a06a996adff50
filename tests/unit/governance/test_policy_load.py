"""Reading policy files: a good file loads; each mistake is one line naming file, line, field."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from podium.errors import PolicyError
from podium.governance import load_policy, policy_from_text
from podium.governance._policy import ApproveRule, ForbidRule, RequireRule

GOOD = """\
dry_run: false
data_classes:
  phi: [phi-ok]
  pii: [pii-safe, phi-ok]
  public: any
rules:
  - name: no-external-for-bank
    for: {tenants: [bank]}
    forbid: {tags: [external], models: [big-llm@^2]}
  - name: on-prem-only
    for: {capabilities: [text.summary]}
    require: {tags: [on-prem]}
  - name: risky
    approve:
      when: "${{ inputs.amount > 10000 or steps.score.output.risk > 0.8 }}"
      approvers: [operator]
      timeout_s: 60
budgets:
  - {name: per-run, per: run, max_cost: 0.05}
  - {name: acme-daily, per: tenant, for: {tenants: [acme]}, max_cost: 10, max_calls: 500}
"""


def test_a_good_policy_loads_with_its_rules_in_order(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(GOOD)
    policy = load_policy(path)
    assert [type(r) for r in policy.rules] == [ForbidRule, RequireRule, ApproveRule]
    assert policy.data_classes is not None
    assert policy.data_classes.allowed["public"] is None
    assert policy.data_classes.allowed["pii"] == frozenset({"pii-safe", "phi-ok"})
    per_run, daily = policy.budgets
    assert (per_run.per, per_run.period, per_run.max_cost) == ("run", "total", 0.05)
    assert (daily.period, daily.max_calls, daily.selector.tenants) == ("day", 500, {"acme"})
    assert math.isinf(per_run.max_cost) is False
    assert len(policy.digest) == 64


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        ("rules: [{name: a, forbid: {tags: [x]}}]\nbogus: 1\n", 2, "bogus", "unknown field"),
        ("rules:\n  - name: a\n    forbid: {}\n", 3, "rules[0].forbid", "name models or tags"),
        ("rules:\n  - forbid: {tags: [x]}\n", 2, "rules[0]", "needs a name"),
        (
            "rules:\n  - name: a\n    forbid: {tags: [x]}\n    require: {tags: [y]}\n",
            2,
            "rules[0]",
            "exactly one of",
        ),
        (
            "rules:\n  - {name: a, forbid: {tags: [x]}}\n  - {name: a, forbid: {tags: [y]}}\n",
            3,
            "rules[1].name",
            "comes earlier",
        ),
        (
            "rules:\n  - name: a\n    approve:\n      when: '${{ inputs.x > }}'\n",
            4,
            "rules[0].approve.when",
            "",
        ),
        (
            "rules:\n  - name: a\n    approve: {when: '${{ item > 1 }}'}\n",
            3,
            "rules[0].approve.when",
            "'item' is not known here",
        ),
        (
            "rules:\n  - name: a\n    for: {tenant: [x]}\n    forbid: {tags: [x]}\n",
            3,
            "rules[0].for.tenant",
            "unknown field",
        ),
        (
            "budgets:\n  - {name: b, per: week, max_cost: 1}\n",
            2,
            "budgets[0].per",
            "must be one of",
        ),
        ("budgets:\n  - {name: b, per: run}\n", 2, "budgets[0]", "max_cost or max_calls"),
        (
            "budgets:\n  - {name: b, per: run, max_cost: -1}\n",
            2,
            "budgets[0].max_cost",
            "0 or more",
        ),
        ("budgets:\n  - {name: b, per: run, max_calls: 1.5}\n", 2, "budgets[0].max_calls", "whole"),
        ("data_classes:\n  phi: 3\n", 2, "data_classes.phi", "list of names"),
        ("dry_run: maybe\n", 1, "dry_run", "true or false"),
        ("rules:\n  - name: a\n    forbid: {models: ['x@not a range']}\n", 3, None, "range"),
    ],
)
def test_mistakes_name_their_line_and_field(
    text: str, line: int, field: str | None, words: str
) -> None:
    with pytest.raises(PolicyError) as caught:
        policy_from_text(text, "policy.yaml")
    error = caught.value
    assert error.file == "policy.yaml"
    assert error.line == line, error.one_line()
    if field is not None:
        assert error.field == field, error.one_line()
    assert words in error.message
    assert "\n" not in error.one_line()


def test_a_missing_or_malformed_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="no such file"):
        load_policy(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(bad)
    assert caught.value.line is not None
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(PolicyError, match="empty"):
        load_policy(empty)
