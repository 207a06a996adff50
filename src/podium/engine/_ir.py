"""The workflow intermediate representation: what the loader builds and the scheduler runs."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from podium.adapters import Placement
from podium.registry import ModelRef
from podium.routing import RoutePolicy

if TYPE_CHECKING:
    from podium.engine._expr import Template


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failed model call is tried again, and how long to wait in between.

    The delay before attempt ``n + 1`` is ``backoff_s * 2 ** (n - 1)``, capped at
    ``max_backoff_s``, then scaled by a random factor in ``[1 - jitter, 1 + jitter]``.
    """

    attempts: int = 1
    backoff_s: float = 0.0
    max_backoff_s: float = 30.0
    jitter: float = 0.2

    def delay(self, failed_attempt: int, rng: random.Random | None = None) -> float:
        base = min(self.backoff_s * 2 ** (failed_attempt - 1), self.max_backoff_s)
        if base <= 0:
            return 0.0
        spread = float((rng or random).uniform(1 - self.jitter, 1 + self.jitter))
        return float(base) * spread


@dataclass(frozen=True)
class Approval:
    """A durable pause until someone runs ``podium approve``."""

    prompt: str = "Approve?"
    approvers: tuple[str, ...] = ()
    timeout_s: float | None = None


@dataclass(frozen=True, kw_only=True)
class Step:
    """What every step kind shares.

    ``refs`` are every step id its expressions (and nested steps) name; ``deps`` the sibling
    ids among them plus ``after``: the steps it waits for; ``guarded`` the deps it names
    only inside ``coalesce`` (so it still runs when they are skipped). ``executor``: where
    its model calls (and those of the steps nested in it) run; ``None``: as the enclosing
    step, workflow or ``PODIUM_EXECUTOR`` says.
    """

    id: str
    line: int | None = None
    condition: Template | None = None
    with_: Template | None = None
    after: tuple[str, ...] = ()
    refs: frozenset[str] = frozenset()
    deps: frozenset[str] = frozenset()
    guarded: frozenset[str] = frozenset()
    retry: RetryPolicy = RetryPolicy()
    timeout_s: float | None = None
    executor: Placement | None = None
    queue: str | None = None
    """The worker queue this step needs; the run goes to it (see :mod:`podium.worker`)."""

    @property
    def kind(self) -> str:
        return type(self).__name__.removesuffix("Step").lower()


@dataclass(frozen=True, kw_only=True)
class CallStep(Step):
    """Call one model: ``uses: model/NAME@SPEC`` or ``capability/X``, with fallbacks."""

    uses: ModelRef
    fallback: tuple[ModelRef, ...] = ()
    route: RoutePolicy = field(default_factory=RoutePolicy)
    cache: bool = False


@dataclass(frozen=True, kw_only=True)
class MapStep(Step):
    """Run ``body`` once per element of ``over`` (``item`` is the element)."""

    over: Template
    body: Step
    concurrency: int = 16


@dataclass(frozen=True, kw_only=True)
class EnsembleStep(Step):
    """Call several models of one capability and combine their answers."""

    uses: ModelRef
    members: int | tuple[ModelRef, ...] = 3
    combine: str = "majority"
    stacker: ModelRef | None = None
    route: RoutePolicy = field(default_factory=RoutePolicy)
    cache: bool = False


@dataclass(frozen=True, kw_only=True)
class LoopStep(Step):
    """Run a nested map of steps repeatedly until ``until`` holds or ``max_iterations``."""

    steps: Mapping[str, Step]
    max_iterations: int
    until: Template | None = None


@dataclass(frozen=True, kw_only=True)
class WorkflowStep(Step):
    """Run another workflow file as one step; its ``outputs`` are this step's output."""

    path: str
    workflow: Workflow


@dataclass(frozen=True, kw_only=True)
class ApprovalStep(Step):
    """Pause the run until it is approved or rejected."""

    approval: Approval


@dataclass(frozen=True)
class Workflow:
    """A validated workflow: typed inputs, a DAG of steps, and output expressions.

    ``executor``: where its steps' model calls run unless a step says otherwise.
    """

    name: str
    steps: Mapping[str, Step]
    inputs: Mapping[str, Any] = field(default_factory=dict)
    outputs: Mapping[str, Template] = field(default_factory=dict)
    source: str | None = None
    document: Mapping[str, Any] = field(default_factory=dict)
    documents: Mapping[str, Any] = field(default_factory=dict)
    display: str | None = None
    located: Any = field(default=None, compare=False, repr=False)
    executor: Placement | None = None
    queue: str | None = None
    """The worker queue its runs go to when submitted (``queue:`` at the top level)."""

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to rebuild this workflow when a run resumes elsewhere."""
        return {"source": self.source, "document": self.document, "documents": self.documents}
