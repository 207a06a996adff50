"""Ensemble steps: several models of one capability asked at once, their answers combined."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from podium.adapters import CallContext, Placement
from podium.engine._aggregate import COMBINERS, STACKING, Vote, stacking_features
from podium.engine._calls import CallResult, StepFailure
from podium.engine._ir import EnsembleStep
from podium.registry import ModelSpec
from podium.routing import RouteDecision

if TYPE_CHECKING:
    from podium.engine._executor import Executor, Outcome


async def run_ensemble(
    ex: Executor, step: EnsembleStep, inputs: Any, key: str, placement: Placement
) -> Outcome:
    """Call the ensemble's members concurrently (where ``placement`` says) and combine
    their answers."""
    hedge_after_s: float | None = None
    decision: RouteDecision | None = None
    routed: dict[str, Any] = {}
    if isinstance(step.members, tuple):
        members = [ex.registry.resolve(ref, tenant=ex.tenant)[0] for ref in step.members]
        reason = "listed members"
    else:
        decision = ex.router.route(step.uses, ex.route_of(step.route), inputs)
        members = [c.spec for c in decision.ranked[: step.members]]
        reason = decision.reason
        hedge_after_s = decision.hedge_after_s
        routed["decision"] = decision.to_json()
    capability = step.uses.name if step.uses.kind == "capability" else None
    attempt = ex._started(key, models=[m.key for m in members], reason=reason, **routed)
    remote = placement if placement.remote else None
    base = CallContext(ex.run_id, key, attempt, None, step.timeout_s, ex.run, remote)

    async def member(spec: ModelSpec) -> CallResult:
        return await ex.caller.call_with_retries(
            [spec],
            inputs,
            base,
            retry=step.retry,
            capability=capability,
            cache=step.cache,
            on_failure=ex.failure_hook(key),
            hedge_after_s=hedge_after_s,
            decision=decision,
        )

    results = await asyncio.gather(*(member(m) for m in members), return_exceptions=True)
    votes, failed, cost = [], [], 0.0
    calls: dict[str, dict[str, Any]] = {}  # member -> what its call cost, from the cache or not
    for spec, result in zip(members, results, strict=True):
        if isinstance(result, CallResult):
            cap = capability or spec.capabilities[0]
            votes.append(Vote(spec.key, result.output, spec.quality_for(cap)))
            cost += result.cost
            calls[spec.key] = {
                "cost": result.cost,
                "cached": result.cached,
                "latency_ms": round(result.latency_ms, 3),
            }
        elif isinstance(result, StepFailure):
            failed.append({"model": spec.key, "error": result.reason})
        else:
            raise result
    if not votes:
        raise StepFailure(
            key, "every ensemble member failed: " + "; ".join(f["error"] for f in failed)
        )
    if step.combine == STACKING:
        combined, stack_cost = await _stack(ex, step, votes, failed, base)
        cost += stack_cost
    else:
        combined = COMBINERS[step.combine].combine(votes)
    if failed:
        combined["failed"] = failed
    return ex._succeed(
        key,
        combined,
        **ex.input_digest(inputs),
        model=f"ensemble:{step.combine}",
        cost=cost,
        members=[
            {k: m[k] for k in ("model", "weight", "contribution") if k in m}
            | calls.get(m.get("model", ""), {})
            for m in combined.get("members", [])
        ],
    )


async def _stack(
    ex: Executor, step: EnsembleStep, votes: list[Vote], failed: list[Any], base: CallContext
) -> tuple[dict[str, Any], float]:
    """Ask the stacker (a model trained on the members' outputs) for the combined answer.

    The stacker was trained on every member in order; if one failed, its input cannot be
    formed, so the step falls back to ``weighted`` and says so.
    """
    if failed or step.stacker is None:
        combined = COMBINERS["weighted"].combine(votes)
        combined["combined_by"] = "weighted (stacking needs every member)"
        return combined, 0.0
    stacker = ex.registry.resolve(step.stacker, tenant=ex.tenant)[0]
    result = await ex.caller.call_with_retries(
        [stacker],
        {"features": stacking_features(votes)},
        base,
        retry=step.retry,
        capability=None,
        cache=step.cache,
        on_failure=ex.failure_hook(base.step or ""),
    )
    combined = {
        k: v
        for k, v in result.output.items()
        if k in ("label", "value", "confidence", "probabilities")
    }
    combined["members"] = [
        {"model": v.model, "output": v.output, "weight": round(v.weight, 6)} for v in votes
    ]
    combined["combined_by"] = stacker.key
    return combined, result.cost
