"""Approvals a rule asks for before a model call (a policy's approval rule).

The step waits like an approval step: the request is in the log before anyone can answer
it, the run stops durably in ``waiting`` when nothing else can progress, and
``podium approve`` continues it; the call is then made again and the rule finds the
decision.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from podium.engine._calls import StepFailure
from podium.errors import ApprovalRequired

if TYPE_CHECKING:
    from podium.engine._executor import Executor


async def await_rule_approval(ex: Executor, key: str, needed: ApprovalRequired) -> bool:
    """A rule asked for approval before the step's model call: wait for a decision like
    an approval step does (durably, for ``podium approve``). ``True``: decided, call
    again (the rule finds the decision); ``False``: the run stops waiting."""
    record = ex.state.step(key)
    requested = record.approval if record else None
    if requested is not None and requested.get("decision") is not None:
        message = f"rule '{needed.rule}' asked for approval again after the step was decided"
        raise StepFailure(key, message)
    if requested is None:
        ex.journal.record(
            "approval_requested",
            key,
            prompt=needed.prompt,
            approvers=list(needed.approvers),
            timeout_s=needed.timeout_s,
            rule=needed.rule,
            reason=needed.reason,
        )
        requested = ex.state.step(key).approval  # type: ignore[union-attr]
    return await ex.await_decision(key, requested, needed.timeout_s) is not None
