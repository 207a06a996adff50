"""The interceptor that applies a :class:`Policy` before every model call.

It sits outermost in the chain, so it sees each call first (cache hits included, which
skip the data-class rule and budgets: no data leaves and nothing is spent). The order is
the policy's: data classes, then the rules as listed, then budgets.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from podium._context import current_actor
from podium._types import JSONObject, StepStatus
from podium.engine._calls import ModelCall, Proceed, call_cost
from podium.engine._state import RunState
from podium.errors import ApprovalRequired, RefusedError
from podium.governance._budget import expected_cost
from podium.governance._data_classes import classes_for_key
from podium.governance._policy import ApprovalNeeded, CallFacts, Policy, Refusal, Verdict
from podium.store import AuditNote, BudgetHold, Store

ACTIVE_POLICY = ("governance.policy", "active")


class PolicyGate:
    """Applies ``policy`` to each call: refuses (:class:`RefusedError` naming the rule),
    asks for approval (:class:`ApprovalRequired`), or reserves the budgets and goes on."""

    def __init__(self, policy: Policy, store: Store) -> None:
        self.policy = policy
        self.store = store

    async def __call__(self, call: ModelCall, proceed: Proceed) -> JSONObject:
        facts = self._facts(call)
        policy = self.policy
        if policy.data_classes is not None and not call.cached:
            self._apply(policy.data_classes.check(facts), facts)
        for rule in policy.rules:
            if rule.selector.admits(facts):
                self._apply(rule.check(facts), facts)
        holds = [] if call.cached else self._holds(facts, call)
        if not holds:
            return await proceed(call)
        reservation = self.store.reserve(holds)
        if not reservation.granted:
            stopper = reservation.rule or "budget"
            reason = reservation.reason or "over budget"
            dry = policy.dry_run or any(b.dry_run for b in policy.budgets if b.rule == stopper)
            if not dry:
                raise RefusedError(stopper, reason)
            self._dry_run(Refusal(stopper, reason, True), facts)
            return await proceed(call)
        try:
            output = await proceed(call)
        except BaseException:
            self.store.settle(holds, None)
            raise
        self.store.settle(holds, call_cost(call.spec, output))
        return output

    # facts ------------------------------------------------------------------------------------
    def _facts(self, call: ModelCall) -> CallFacts:
        run = call.run
        step = call.context.step
        run_id = call.context.run_id
        classes: frozenset[str] = frozenset()
        if self.policy.data_classes is not None:
            definition = run.definition if run is not None else None
            if definition is not None:
                classes = classes_for_key(definition, step)
            for guard in self.policy.guards:
                classes |= frozenset(guard.classes(call.inputs))

        def earlier() -> Mapping[str, Any]:
            if run_id is None:
                return {}
            state = RunState.replay(self.store.events(run_id))
            return {
                key: {"output": record.output}
                for key, record in state.steps.items()
                if record.status is StepStatus.SUCCEEDED
            }

        return CallFacts(
            model=call.spec,
            inputs=call.inputs,
            capability=call.capability,
            tenant=run.tenant if run is not None else None,
            workflow=run.workflow if run is not None else None,
            run_id=run_id,
            step=step,
            classes=classes,
            earlier=earlier,
        )

    def _holds(self, facts: CallFacts, call: ModelCall) -> list[BudgetHold]:
        if not self.policy.budgets:
            return []
        amount = expected_cost(call.spec, call.inputs)
        now = time.time()
        found = (b.hold(facts, amount, now) for b in self.policy.budgets)
        return [h for h in found if h is not None]

    # verdicts ---------------------------------------------------------------------------------
    def _apply(self, verdict: Verdict, facts: CallFacts) -> None:
        if verdict is None:
            return
        if isinstance(verdict, ApprovalNeeded):
            self._approval(verdict, facts)
            return
        if verdict.dry_run or self.policy.dry_run:
            self._dry_run(verdict, facts)
            return
        raise RefusedError(verdict.rule, verdict.reason)

    def _approval(self, needed: ApprovalNeeded, facts: CallFacts) -> None:
        """Go on if the step was approved; refuse if it was rejected; else ask."""
        if facts.run_id is not None and facts.step is not None:
            decision = self.store.decisions(facts.run_id).get(facts.step)
            if decision is not None:
                if decision.get("approved"):
                    return
                by = decision.get("by") or "someone"
                raise RefusedError(needed.rule, f"{needed.reason}, and {by} rejected the call")
        if needed.dry_run or self.policy.dry_run:
            self._dry_run(Refusal(needed.rule, f"{needed.reason}: would ask for approval"), facts)
            return
        if facts.run_id is None or facts.step is None:
            reason = f"{needed.reason}: it needs an approval, and only a run's step can wait"
            raise RefusedError(needed.rule, reason)
        raise ApprovalRequired(
            needed.rule,
            needed.reason,
            prompt=needed.prompt,
            approvers=needed.approvers,
            timeout_s=needed.timeout_s,
        )

    def _dry_run(self, refusal: Refusal, facts: CallFacts) -> None:
        """Record what would have been refused (its own transaction), and go on."""
        principal = current_actor().principal
        self.store.audit(
            [
                AuditNote(
                    "policy.dry_run",
                    time.time(),
                    {
                        "rule": refusal.rule,
                        "reason": refusal.reason,
                        "model": facts.model.key,
                        "step": facts.step,
                    },
                    subject=refusal.rule,
                    principal=principal,
                    tenant=facts.tenant,
                    workflow=facts.workflow,
                    run_id=facts.run_id,
                )
            ]
        )


def record_activation(store: Store, policy: Policy) -> bool:
    """Note in the audit log that ``policy`` is now the one in force, unless it already
    was: ``True`` when that was a change (a new policy, or a changed file)."""
    kind, key = ACTIVE_POLICY
    current = store.get_document(kind, key)
    summary = policy.summary()
    same = ("sha256", "dry_run")
    if current is not None and all(current.get(k) == summary[k] for k in same):
        return False
    actor = current_actor()
    note = AuditNote(
        "policy.changed",
        time.time(),
        summary | {"previous": (current or {}).get("sha256")},
        subject=policy.source,
        principal=actor.principal,
        tenant=actor.tenant,
    )
    store.put_document(kind, key, summary, audit=note)
    return True
