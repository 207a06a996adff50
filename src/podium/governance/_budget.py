"""Budgets: cost and call ceilings per run, per workflow and per tenant.

Before a model call, the call's expected cost (the model's ``cost.per_call``, plus its
``per_1k_tokens`` price for the ``max_tokens`` the inputs ask, when they do) is reserved
against every budget that applies, all or none, in one transaction of the database: each
reservation is a conditional update of the budget's row, so runs in any number of processes
never together pass a limit. After the call the reservation becomes what the call cost
(a failed or refused call releases it). A call a budget would not cover is stopped before
it is made (:class:`~podium.errors.RefusedError`, rule ``budget:<name>``) and the stop is
in the audit log.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import ClassVar

from podium.governance._policy import CallFacts, Selector
from podium.registry import ModelSpec
from podium.store import BudgetHold
from podium.store._audit_events import BUDGET_RULE_PREFIX
from podium.store._budget import NO_CALL_LIMIT

#: ``per:`` -> how the budget's scope is named from the call (run id, workflow, tenant).
SCOPES = ("run", "workflow", "tenant")
#: ``period:`` values: the whole life of the scope, or each UTC day.
PERIODS = ("total", "day")


@dataclass(frozen=True, slots=True)
class BudgetRule:
    """``budgets:`` entry: at most ``max_cost`` (and ``max_calls``) per ``per`` scope, per
    ``period``, for the calls ``selector`` admits."""

    KEY: ClassVar[str] = "budget"
    name: str
    per: str
    max_cost: float = float("inf")
    max_calls: int = NO_CALL_LIMIT
    period: str = "total"
    selector: Selector = field(default_factory=Selector)
    dry_run: bool = False

    @property
    def rule(self) -> str:
        return f"{BUDGET_RULE_PREFIX}{self.name}"

    def scope_key(self, facts: CallFacts, now: float) -> str | None:
        """The budget row this call counts against, or ``None`` (no run for a per-run
        budget, no workflow for a per-workflow one)."""
        if self.per == "run":
            value = facts.run_id
        elif self.per == "workflow":
            value = facts.workflow
        else:
            value = facts.tenant or "-"
        if value is None:
            return None
        window = "all" if self.period == "total" else time.strftime("%Y-%m-%d", time.gmtime(now))
        return f"{self.name}|{self.per}:{value}:{window}"

    def hold(self, facts: CallFacts, amount: float, now: float) -> BudgetHold | None:
        key = self.scope_key(facts, now)
        if key is None or not self.selector.admits(facts):
            return None
        return BudgetHold(self.rule, key, amount, self.max_cost, self.max_calls)


def expected_cost(spec: ModelSpec, inputs: object) -> float:
    """What a call is expected to cost before it is made (see the module docstring)."""
    cost = spec.cost.per_call
    if spec.cost.per_1k_tokens and isinstance(inputs, dict):
        tokens = inputs.get("max_tokens")
        if isinstance(tokens, int | float) and not isinstance(tokens, bool):
            cost += spec.cost.per_1k_tokens * float(tokens) / 1000.0
    return float(cost)
