"""Planner value objects: constraints, cost weights, matches, and the planner's errors.

::

    UserError
     +-- PlanError             a goal cannot be planned (the CLI prints one line, exits 2)
          +-- PlanInputError   a malformed --given, an unknown --given or --want type
          +-- UnreachableError a wanted type cannot be produced from what is given
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from podium.errors import UserError
from podium.routing import RoutePolicy


class PlanError(UserError):
    """A goal cannot be turned into a workflow."""


class PlanInputError(PlanError):
    """What the user gave the planner is malformed or names an unknown semantic type."""


class UnreachableError(PlanError):
    """No set of calls produces every wanted type; ``missing`` maps each unreachable
    wanted type to the types that would have to be given to reach it."""

    def __init__(self, message: str, *, missing: Mapping[str, tuple[str, ...]]) -> None:
        self.missing = dict(missing)
        super().__init__(message)


@dataclass(frozen=True)
class PlanConstraints:
    """Hard limits a plan honours; the per-step ones become each step's ``route:``.

    ``max_cost`` bounds the expected cost of the whole plan per run, ``max_step_cost``,
    ``max_latency_ms`` and ``min_quality`` bound each model a step may be routed to.
    """

    policy: str = "best"
    max_cost: float | None = None
    max_step_cost: float | None = None
    max_latency_ms: float | None = None
    min_quality: float | None = None
    require_tags: tuple[str, ...] = ()
    forbid_tags: tuple[str, ...] = ()
    max_steps: int = 16

    @property
    def route(self) -> RoutePolicy:
        """The route policy every planned step carries."""
        return RoutePolicy(
            policy=self.policy,
            max_cost=self.max_step_cost,
            max_latency_ms=self.max_latency_ms,
            min_quality=self.min_quality,
            require_tags=self.require_tags,
            forbid_tags=self.forbid_tags,
        )

    def route_document(self) -> dict[str, Any] | None:
        """The ``route:`` mapping of a planned step, or ``None`` when all are defaults."""
        doc: dict[str, Any] = {}
        if self.policy != "best":
            doc["policy"] = self.policy
        for key, value in (
            ("max_cost", self.max_step_cost),
            ("max_latency_ms", self.max_latency_ms),
            ("min_quality", self.min_quality),
        ):
            if value is not None:
                doc[key] = value
        if self.require_tags:
            doc["require_tags"] = list(self.require_tags)
        if self.forbid_tags:
            doc["forbid_tags"] = list(self.forbid_tags)
        return doc or None

    @property
    def is_default(self) -> bool:
        return self.route_document() is None


@dataclass(frozen=True)
class CostWeights:
    """How the search weighs one step: ``cost`` per currency unit, ``latency`` per
    millisecond, ``quality`` per point of ``1 - quality``, plus ``step`` per call (which
    makes fewer calls win a tie)."""

    cost: float = 1.0
    latency: float = 0.0
    quality: float = 0.0
    step: float = 1e-6

    def weigh(self, cost: float, latency_ms: float, quality: float) -> float:
        return (
            self.cost * cost
            + self.latency * latency_ms
            + self.quality * (1.0 - quality)
            + self.step
        )


@dataclass(frozen=True)
class Match:
    """A phrase of the goal that asks for what an operator produces (``confidence``: the
    calibrated probability that the operator is the one asked for, when known)."""

    phrase: str
    ref: str
    types: tuple[str, ...]
    score: float
    confidence: float | None = None

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "phrase": self.phrase,
            "ref": self.ref,
            "types": list(self.types),
            "score": round(self.score, 4),
        }
        if self.confidence is not None:
            found["confidence"] = self.confidence
        return found


@dataclass(frozen=True)
class Estimate:
    """What one step is expected to cost: the model the route policy would pick."""

    model: str
    cost: float
    latency_ms: float
    quality: float
    rejected: tuple[tuple[str, str], ...] = field(default=(), compare=False)


def closest(name: str, options: Iterable[str]) -> str | None:
    """The option most like ``name``, if any is close."""
    found = difflib.get_close_matches(name, sorted(options), n=1, cutoff=0.6)
    return found[0] if found else None


def parse_given(given: Mapping[str, str] | Iterable[str] | None) -> dict[str, str] | None:
    """``{"message": "text"}``, ``["message:text"]`` or ``["text"]`` as ``{name: type}``."""
    if given is None:
        return None
    if isinstance(given, Mapping):
        items = [(str(k), str(v)) for k, v in given.items()]
    else:
        items = []
        for raw in given:
            text = str(raw).strip()
            name, sep, type_ = text.partition(":")
            if not sep:
                name, type_ = text, text
            name, type_ = name.strip(), type_.strip()
            if not name or not type_ or ":" in type_:
                raise PlanInputError(
                    f"'{raw}' must look like NAME:TYPE (e.g. message:text)", field="--given"
                )
            items.append((name, type_))
    found: dict[str, str] = {}
    for name, type_ in items:
        if not name.isidentifier():
            raise PlanInputError(
                f"input name '{name}' must be letters, digits and _ (not starting with a digit)",
                field="--given",
            )
        if name in found and found[name] != type_:
            raise PlanInputError(f"input '{name}' is given twice", field="--given")
        found[name] = type_
    return found
