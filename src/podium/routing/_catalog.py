"""The registry of route policies by name, and the check the workflow loader runs."""

from __future__ import annotations

from podium.routing._cascade import Cascade
from podium.routing._learned import Learned
from podium.routing._policies import Balanced, Best, Cheapest, Fastest, OptionError, Policy
from podium.routing._policy import RoutePolicy

#: policy name -> class; add a :class:`Policy` subclass here to offer a new policy.
POLICIES: dict[str, type[Policy]] = {
    cls.name: cls for cls in (Best, Cheapest, Fastest, Balanced, Learned, Cascade)
}


def make_policy(route: RoutePolicy) -> Policy:
    """The policy object for a step's ``route:`` (raises :class:`OptionError` if invalid)."""
    cls = POLICIES.get(route.policy)
    if cls is None:
        raise OptionError("policy", f"unknown policy; expected one of {', '.join(POLICIES)}")
    return cls(route)


def check_route(route: RoutePolicy) -> tuple[str, str] | None:
    """``(field, message)`` if the policy name or one of its options is invalid."""
    try:
        make_policy(route)
    except OptionError as exc:
        return exc.field, str(exc)
    return None
