"""Which run events the audit log records, and what it keeps of each (pure: no I/O).

The store calls :func:`describe` on every batch of run events it writes and stores the
records in the same transaction, so no such event exists without its record:

============================  ===================  ===========================================
event                         record kind          details
============================  ===================  ===========================================
``run_started``               ``run.started``      hash of the inputs, who started it
``run_resumed``               ``run.resumed``      who resumed it
``run_waiting``               ``run.waiting``
``run_succeeded``/``_failed`` ``run.finished``     status, hash of the outputs or the error
``run_cancelled``             ``run.cancelled``    who cancelled it
``step_started`` (routed)     ``route.decision``   reference, policy, model chosen, reason
``step_succeeded`` (a call)   ``model.call``       model and version, instance, input and
                                                   output hashes, cost, latency, cache hit,
                                                   fallback, cascade stages, ensemble members
``attempt_failed``            ``model.failed``     model, attempt, error
``attempt_failed`` (refused)  ``policy.refused``   the rule and its reason (``budget.stopped``
                                                   for a budget's rule)
``approval_requested``        ``approval.requested``  prompt, approvers, the rule that asked
``approval_decided``          ``approval.decided`` approved or not, by whom, comment
============================  ===================  ===========================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from podium.store._audit import AuditNote, digest
from podium.store._protocol import Event

#: A refusal's rule named ``budget:...`` is a budget stop.
BUDGET_RULE_PREFIX = "budget:"


class RunInfo(NamedTuple):
    """Who a run is for, stamped on each of its records."""

    principal: str | None
    tenant: str | None
    workflow: str | None


def describe(
    run_id: str, run: RunInfo, events: Sequence[Event], principal: str | None = None
) -> list[AuditNote]:
    """The audit notes for a batch of ``run_id``'s events (in order); ``principal`` stands
    for the run's when an event names no one of its own."""
    notes: list[AuditNote] = []
    who = principal or run.principal
    tenant, workflow = run.tenant, run.workflow
    for event in events:
        make = _DESCRIBERS.get(event.type)
        if make is None:
            continue
        found = make(event)
        if found is None:
            continue
        for kind, subject, data, cost, by in found if isinstance(found, list) else (found,):
            notes.append(
                AuditNote(kind, event.ts, data, subject, by or who, tenant, workflow, run_id, cost)
            )
    return notes


_Note = tuple[str, str | None, dict[str, Any], float | None, str | None]
_Found = _Note | list[_Note] | None


def _run_started(e: Event) -> _Found:
    data: dict[str, Any] = {"inputs_sha256": digest(e.data.get("inputs") or {})}
    return "run.started", None, data, None, e.data.get("by")


def _run_resumed(e: Event) -> _Found:
    by = e.data.get("by")
    return "run.resumed", None, {"by": by} if by else {}, None, by


def _run_waiting(e: Event) -> _Found:
    return "run.waiting", None, {}, None, None


def _run_succeeded(e: Event) -> _Found:
    data = {"status": "succeeded", "outputs_sha256": digest(e.data.get("outputs"))}
    return "run.finished", None, data, None, None


def _run_failed(e: Event) -> _Found:
    return "run.finished", None, {"status": "failed", "error": e.data.get("error")}, None, None


def _run_cancelled(e: Event) -> _Found:
    by = e.data.get("by")
    data = {"error": e.data.get("error")} | ({"by": by} if by else {})
    return "run.cancelled", None, data, None, by


def _step_started(e: Event) -> _Found:
    decision = e.data.get("decision")
    if not isinstance(decision, dict) or "same_as" in decision or "chosen" not in decision:
        return None  # no routing, or a decision already recorded for an earlier step
    data = {
        "step": e.step,
        "ref": decision.get("ref"),
        "policy": decision.get("policy"),
        "chosen": decision.get("chosen"),
        "reason": decision.get("reason"),
        "candidates": len(decision.get("candidates") or ()),
    }
    return "route.decision", str(decision.get("chosen")), data, None, None


_CALL_EXTRAS = ("instance", "hedged", "fallback_from", "cascade", "attempt", "input_sha256")


def _step_succeeded(e: Event) -> _Found:
    d = e.data
    model = d.get("model")
    if not isinstance(model, str):
        return None  # a map, loop, sub-workflow or approval: no model call of its own
    if "latency_ms" not in d and not model.startswith("ensemble:"):
        return None
    if model.startswith("ensemble:"):
        return _ensemble(e, model)
    data: dict[str, Any] = {
        "step": e.step,
        "model": model,
        "cached": bool(d.get("cached")),
        "output_sha256": digest(d.get("output")),
    }
    if "latency_ms" in d:
        data["latency_ms"] = d["latency_ms"]
    for extra in _CALL_EXTRAS:
        if extra in d:
            data[extra] = d[extra]
    cost = d.get("cost")
    return "model.call", model, data, float(cost) if cost is not None else 0.0, None


def _ensemble(e: Event, model: str) -> list[_Note]:
    """An ensemble step: one ``model.call`` per member, then how they were combined (the
    cost left over is the stacking model's call, recorded as one when there is one)."""
    d = e.data
    raw_output = d.get("output")
    output: dict[str, Any] = raw_output if isinstance(raw_output, dict) else {}
    answers = {
        m.get("model"): m.get("output") for m in output.get("members") or () if isinstance(m, dict)
    }
    notes: list[_Note] = []
    spent = 0.0
    members = [m for m in d.get("members") or () if isinstance(m, dict)]
    for member in members:
        name = str(member.get("model"))
        cost = float(member.get("cost") or 0.0)
        spent += cost
        data: dict[str, Any] = {
            "step": e.step,
            "model": name,
            "cached": bool(member.get("cached")),
            "output_sha256": digest(answers.get(name)),
            "ensemble": model,
        }
        if "latency_ms" in member:
            data["latency_ms"] = member["latency_ms"]
        if "input_sha256" in d:
            data["input_sha256"] = d["input_sha256"]
        notes.append(("model.call", name, data, cost, None))
    total = float(d.get("cost") or 0.0)
    stacker = output.get("combined_by")
    if isinstance(stacker, str) and "@" in stacker and total - spent > 1e-12:
        data = {"step": e.step, "model": stacker, "ensemble": model, "stacking": True}
        notes.append(("model.call", stacker, data, total - spent, None))
    combined = {
        "step": e.step,
        "combine": model,
        "members": [
            {k: m[k] for k in ("model", "weight", "contribution") if k in m} for m in members
        ],
        "output_sha256": digest(d.get("output")),
    }
    notes.append(("ensemble.combined", model, combined, None, None))
    return notes


def _attempt_failed(e: Event) -> _Found:
    d = e.data
    rule = d.get("rule")
    if isinstance(rule, str):
        kind = "budget.stopped" if rule.startswith(BUDGET_RULE_PREFIX) else "policy.refused"
        data = {"step": e.step, "model": d.get("model"), "rule": rule, "reason": d.get("error")}
        return kind, rule, data, None, None
    data = {"step": e.step, "model": d.get("model"), "attempt": d.get("attempt")}
    data["error"] = d.get("error")
    return "model.failed", d.get("model"), data, None, None


def _approval_requested(e: Event) -> _Found:
    d = e.data
    data: dict[str, Any] = {"step": e.step, "prompt": d.get("prompt")}
    data["approvers"] = d.get("approvers") or []
    if "rule" in d:
        data["rule"] = d["rule"]
    return "approval.requested", e.step, data, None, None


def _approval_decided(e: Event) -> _Found:
    d = e.data
    data = {
        "step": e.step,
        "approved": bool(d.get("approved")),
        "by": d.get("by"),
        "comment": d.get("comment"),
    }
    by = d.get("by")
    return "approval.decided", e.step, data, None, by if isinstance(by, str) else None


_DESCRIBERS: dict[str, Callable[[Event], _Found]] = {
    "run_started": _run_started,
    "run_resumed": _run_resumed,
    "run_waiting": _run_waiting,
    "run_succeeded": _run_succeeded,
    "run_failed": _run_failed,
    "run_cancelled": _run_cancelled,
    "step_started": _step_started,
    "step_succeeded": _step_succeeded,
    "attempt_failed": _attempt_failed,
    "approval_requested": _approval_requested,
    "approval_decided": _approval_decided,
}

#: The event types that always have an audit record (``step_started`` only when it
#: carries a new routing decision, ``step_succeeded`` only for model calls).
AUDITED_EVENTS = frozenset(_DESCRIBERS)
