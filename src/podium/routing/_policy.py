"""Route policies: how a step asks the router to choose among a capability's models."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class RoutePolicy:
    """A policy name and hard constraints, from a step's ``route:``.

    ``tenant`` is set by the engine, never by a workflow: the tenant of the run the call
    serves, whose runs alone may use the models marked with ``tenants``.
    """

    policy: str = "best"
    max_cost: float | None = None
    max_latency_ms: float | None = None
    min_quality: float | None = None
    require_tags: tuple[str, ...] = ()
    forbid_tags: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)
    tenant: str | None = None


_BOUND_MAX = 4096
_bound: dict[tuple[int, str], tuple[RoutePolicy, RoutePolicy]] = {}


def for_tenant(policy: RoutePolicy, tenant: str) -> RoutePolicy:
    """``policy`` for the runs of ``tenant``: the same object every time for one policy
    object, so the router's lookups by identity stay fast."""
    key = (id(policy), tenant)
    found = _bound.get(key)
    if found is not None and found[0] is policy:
        return found[1]
    bound = replace(policy, tenant=tenant)
    if len(_bound) >= _BOUND_MAX:
        _bound.clear()
    _bound[key] = (policy, bound)
    return bound
