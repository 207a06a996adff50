"""Budget reservations: what a call holds against a budget until it is settled (pure)."""

from __future__ import annotations

from dataclasses import dataclass

#: A budget with no limit on calls (the largest count a 32-bit column holds).
NO_CALL_LIMIT = 2**31 - 1


@dataclass(frozen=True, slots=True)
class BudgetHold:
    """``amount`` (the call's expected cost) held against the budget stored under ``key``,
    whose limits are ``max_cost`` and ``max_calls``. ``rule`` names the budget for errors."""

    rule: str
    key: str
    amount: float
    max_cost: float = float("inf")
    max_calls: int = NO_CALL_LIMIT


@dataclass(frozen=True, slots=True)
class Reservation:
    """Whether a reservation was granted; if not, which budget refused it and why."""

    granted: bool
    rule: str | None = None
    reason: str | None = None


def refused_by(hold: BudgetHold, row: tuple[float, float, int, int]) -> Reservation:
    """The refusal of ``hold`` given its budget's ``(spent, reserved, calls, reserved_calls)``."""
    spent, reserved, calls, reserved_calls = row
    if calls + reserved_calls + 1 > hold.max_calls:
        reason = (
            f"{hold.key}: {calls} calls made and {reserved_calls} in flight; "
            f"the limit is {hold.max_calls}"
        )
    else:
        reason = (
            f"{hold.key}: {spent:g} spent and {reserved:g} reserved; this call's "
            f"{hold.amount:g} would pass the limit of {hold.max_cost:g}"
        )
    return Reservation(False, hold.rule, reason)
