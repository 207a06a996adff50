"""Submitting runs to a queue, for workers to drive, and which queue a run belongs to.

A **whole run** goes to one queue, never its single steps: the run's event log is written
by the one process that holds its claim (that is what keeps a resumed run from repeating
a finished step), so the worker that drives a run drives all of its steps. Which queue:

1. the workflow's own ``queue:``;
2. else the ``queue:`` its steps name (they must agree);
3. else a binding (``podium queues bind gpu --tag gpu``): a step that may call a model
   with a bound tag, or that uses a bound capability, sends the run to that queue;
4. else ``default``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from podium._context import NOBODY, Caller
from podium._types import RunStatus
from podium.engine._ir import (
    CallStep,
    EnsembleStep,
    LoopStep,
    MapStep,
    Step,
    Workflow,
    WorkflowStep,
)
from podium.errors import ModelNotFoundError, WorkflowError
from podium.registry import ModelRef, Registry
from podium.store import Event, RunRecord, Store

DEFAULT_QUEUE = "default"
_BINDINGS = ("queues", "bindings")  # (document kind, key) where bindings are kept


@dataclass(frozen=True)
class QueueBindings:
    """Queues bound to model tags and capabilities, kept in the store so every process that
    submits runs agrees."""

    tags: Mapping[str, str] = field(default_factory=dict)
    capabilities: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, store: Store) -> QueueBindings:
        found = store.get_document(*_BINDINGS) or {}
        return cls(dict(found.get("tags") or {}), dict(found.get("capabilities") or {}))

    def save(self, store: Store) -> None:
        store.put_document(
            *_BINDINGS, {"tags": dict(self.tags), "capabilities": dict(self.capabilities)}
        )

    def bind(
        self, queue: str, *, tag: str | None = None, capability: str | None = None
    ) -> QueueBindings:
        tags, capabilities = dict(self.tags), dict(self.capabilities)
        if tag:
            tags[tag] = queue
        if capability:
            capabilities[capability] = queue
        return QueueBindings(tags, capabilities)

    def unbind(self, *, tag: str | None = None, capability: str | None = None) -> QueueBindings:
        tags, capabilities = dict(self.tags), dict(self.capabilities)
        if tag:
            tags.pop(tag, None)
        if capability:
            capabilities.pop(capability, None)
        return QueueBindings(tags, capabilities)

    def to_json(self) -> dict[str, Any]:
        return {"tags": dict(self.tags), "capabilities": dict(self.capabilities)}


def _walk(steps: Mapping[str, Step], path: str) -> Iterator[tuple[str, Step]]:
    """Every step, nested ones included, with its field path (``steps.a.step``)."""
    for sid, step in steps.items():
        here = f"{path}.{sid}"
        yield here, step
        if isinstance(step, MapStep):
            yield from _walk({"step": step.body}, here)
        elif isinstance(step, LoopStep):
            yield from _walk(step.steps, f"{here}.loop.steps")
        elif isinstance(step, WorkflowStep):
            yield from _walk(step.workflow.steps, f"{here}.workflow.steps")


def _bound(
    step: Step, registry: Registry, bindings: QueueBindings, tenant: str | None
) -> str | None:
    """The queue a binding sends this step to, if any."""
    refs: list[ModelRef] = []
    if isinstance(step, CallStep):
        refs = [step.uses, *step.fallback]
    elif isinstance(step, EnsembleStep):
        refs = [step.uses] if isinstance(step.members, int) else list(step.members)
    for ref in refs:
        if ref.kind == "capability" and ref.name in bindings.capabilities:
            return bindings.capabilities[ref.name]
        if not bindings.tags:
            continue
        try:
            models = registry.resolve(ref, tenant=tenant)
        except ModelNotFoundError:
            continue
        for spec in models:
            for tag in spec.tags:
                if tag in bindings.tags:
                    return bindings.tags[tag]
    return None


def queue_for(
    workflow: Workflow,
    registry: Registry,
    bindings: QueueBindings,
    *,
    tenant: str | None = None,
) -> str:
    """The queue a run of ``workflow`` goes to (see the module's docstring)."""
    if workflow.queue is not None:
        return workflow.queue
    chosen: tuple[str, str] | None = None  # (queue, the field that asked for it)
    shown = workflow.display or workflow.source
    for path, step in _walk(workflow.steps, "steps"):
        queue = step.queue
        where = f"{path}.queue"
        if queue is None:
            queue = _bound(step, registry, bindings, tenant)
            where = path
        if queue is None:
            continue
        if chosen is not None and chosen[0] != queue:
            raise WorkflowError(
                f"needs queue '{queue}' but {chosen[1]} needs '{chosen[0]}'; a run goes to one "
                "queue: set 'queue:' on the workflow",
                file=shown,
                field=where,
            )
        chosen = chosen or (queue, where)
    return chosen[0] if chosen is not None else DEFAULT_QUEUE


def submit(
    store: Store,
    workflow: Workflow,
    values: dict[str, Any],
    *,
    queue: str,
    run_id: str,
    caller: Caller | None = None,
) -> RunRecord:
    """Record a ``pending`` run of ``workflow`` (inputs already checked) in ``queue``."""
    who = caller or NOBODY
    now = time.time()
    data: dict[str, Any] = {"inputs": values, "workflow": workflow.name, "queue": queue}
    if who.principal:
        data["by"] = who.principal
    record = RunRecord(
        run_id,
        workflow.name,
        str(RunStatus.PENDING),
        now,
        inputs=values,
        definition=workflow.snapshot(),
        claim=0,
        principal=who.principal,
        tenant=who.tenant,
        caller=who.to_json(),
        queue=queue,
    )
    store.create_run(record, [Event("run_queued", None, data, now)])
    return record
